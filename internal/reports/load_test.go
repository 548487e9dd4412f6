package reports

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigSummary is a summary as a worker with 64 busy endpoints sends it, ending at to.
func bigSummary(target string, to time.Time) string {
	var eps []endpointCounts
	for e := range 64 {
		ep := ends("GET", fmt.Sprintf("/api/e%d/{id}", e), 40, int64(e%3), 1, 3, 4)
		eps = append(eps, ep)
	}
	return summaryJSON(target, to, eps...)
}

// TestRun_killedWithSummaries: reports and summaries acknowledged with 202 are all in
// the file after the receiver is killed (SIGKILL) while both keep coming, a summary of
// 64 endpoints for every three reports.
func TestRun_killedWithSummaries(t *testing.T) {
	addr, db, cmd := startChild(t)
	var (
		mu                  sync.Mutex
		reportsOK           []string
		summariesOK         []int64 // their to, in ms: unique per summary
		sent                atomic.Int64
		wg                  sync.WaitGroup
		base                = time.Now().Add(-30 * time.Minute).UnixMilli()
		nextTo              atomic.Int64
		acceptedBeforeLimit = 300
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var body, id string
				var to int64
				if (w+i)%4 == 3 {
					to = base + nextTo.Add(1)
					body = bigSummary("v2", time.UnixMilli(to))
				} else {
					id = fmt.Sprintf("w%d-%d", w, i)
					body = doc("v2", "GET", "/a", id, "status:changed:")
				}
				resp, err := client.Post("http://"+addr+Path, "application/json", strings.NewReader(body))
				if err != nil {
					return // killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					if id != "" {
						reportsOK = append(reportsOK, id)
					} else {
						summariesOK = append(summariesOK, to)
					}
					mu.Unlock()
				}
				if sent.Add(1) > 5000 {
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(reportsOK) + len(summariesOK)
		mu.Unlock()
		if n >= acceptedBeforeLimit || time.Now().After(deadline) {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	wg.Wait()
	if len(reportsOK) == 0 || len(summariesOK) == 0 {
		t.Fatalf("only %d reports and %d summaries accepted before the kill", len(reportsOK), len(summariesOK))
	}
	store, err := Open(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored := storedRequestIDs(t, store)
	lost := 0
	for _, id := range reportsOK {
		if !stored[id] {
			lost++
		}
	}
	// A summary is stored whole or not at all: its 64 rows, and its minute's sums.
	rowsOf := map[int64]int{}
	rows, err := store.db.Query(`SELECT to_ms, COUNT(*) FROM summary_endpoints GROUP BY to_ms`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var to int64
		var n int
		rows.Scan(&to, &n)
		rowsOf[to] = n
	}
	rows.Close()
	lostSummaries := 0
	for _, to := range summariesOK {
		if rowsOf[to] != 64 {
			lostSummaries++
		}
	}
	for to, n := range rowsOf {
		if n != 64 {
			t.Errorf("the summary ending at %d has %d of its 64 endpoints stored", to, n)
		}
	}
	var minuteSums, rowSums int64
	store.db.QueryRow(`SELECT COALESCE(SUM(same), 0) FROM summary_minutes`).Scan(&minuteSums)
	store.db.QueryRow(`SELECT COALESCE(SUM(same), 0) FROM summary_endpoints`).Scan(&rowSums)
	if minuteSums != rowSums {
		t.Errorf("the minutes' sums count %d same pairs, the summaries %d", minuteSums, rowSums)
	}
	if lost > 0 || lostSummaries > 0 {
		t.Errorf("lost by the kill: %d of %d accepted reports, %d of %d accepted summaries", lost, len(reportsOK), lostSummaries, len(summariesOK))
	}
	t.Logf("%d reports and %d summaries accepted, %d and %d stored", len(reportsOK), len(summariesOK), len(stored), len(rowsOf))
}

// BenchmarkReceiveMixed is BenchmarkReceive with summaries mixed in: one summary of 64
// endpoints for every nine reports, far more summaries than a mesh sends (one per
// target and worker every 10 s). docs/s counts both; reports/s the reports alone.
func BenchmarkReceiveMixed(b *testing.B) {
	ts, _, _ := receiver(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	report := doc("v2", "GET", "/api/items/42", "7f1c-22", "body:changed:items.3.price", "header:missing:etag", "status:changed:")
	summary := bigSummary("v2", time.Now())
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := report
			if n.Add(1)%10 == 0 {
				body = summary
			}
			if !postAccepted(b, client, ts.URL, body) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(b.N)*0.9/b.Elapsed().Seconds(), "reports/s")
}
