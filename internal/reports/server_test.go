package reports

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// doc is a report document as the plugin writes it; diffs are part:kind:where, with
// a trailing :noise for a noise difference.
func doc(target, method, path, requestID string, diffs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"target":%q,"method":%q,"path":%q,`, target, method, path)
	if requestID != "" {
		fmt.Fprintf(&b, `"requestId":%q,`, requestID)
	}
	b.WriteString(`"primary":{"status":200,"bytes":512,"latencyMs":12},"shadow":{"status":200,"bytes":498,"latencyMs":31},"differences":[`)
	for i, d := range diffs {
		f := strings.SplitN(d, ":", 4)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"part":%q,"kind":%q,"where":%q`, f[0], f[1], f[2])
		if f[0] == "body" && f[1] == "changed" {
			b.WriteString(`,"primary":"9.99","shadow":"10.99"`)
		}
		if len(f) == 4 {
			b.WriteString(`,"noise":true`)
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.String()
}

// receiver serves a new store in a temporary file on a real loopback server.
func receiver(t testing.TB) (*httptest.Server, *Server, *Store) {
	t.Helper()
	store, err := Open(filepath.Join(t.TempDir(), "reports.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(store, t.Logf)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	return ts, s, store
}

func post(t testing.TB, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+Path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServer_receive(t *testing.T) {
	ts, s, _ := receiver(t)
	reports := []string{
		doc("v2", "GET", "/api/items/1", "r-1", "body:changed:items.0.price", "header:missing:etag:noise"),
		doc("v2", "GET", "/api/items/2", "", "body:changed:items.3.price", "header:missing:etag:noise"),
		doc("v2", "GET", "/api/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "", "status:changed:", "body:changed:items.1.price", "body:changed:items.2.price"),
		doc("v2", "POST", "/api/orders", "", "header:changed:content-type"),
		doc("v3", "GET", "/api/items/9", "", "body:changed:"),
	}
	for _, r := range reports {
		if code, msg := post(t, ts.URL, r); code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", r, code, msg)
		}
	}
	if code, msg := post(t, ts.URL, `{"target":"v2"}`); code != http.StatusBadRequest || !strings.Contains(msg, "method: required") {
		t.Errorf("a document that is not a report: %d %q", code, msg)
	}
	if code, msg := post(t, ts.URL, strings.Repeat(" ", MaxBytes)+"{}"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("over 1 MiB: %d %q", code, msg)
	}
	// Without a content-length the limit holds as the body is read.
	req, _ := http.NewRequest("POST", ts.URL+Path, io.MultiReader(strings.NewReader(strings.Repeat(" ", MaxBytes)), strings.NewReader("{}")))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("over 1 MiB, chunked: %v %v", resp, err)
	}
	if code, _ := get(t, ts.URL+Path); code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", Path, code)
	}

	code, body := get(t, ts.URL+"/api/endpoints")
	if code != http.StatusOK {
		t.Fatalf("/api/endpoints: %d %s", code, body)
	}
	// Exactly SPEC's shape: most reported first, places by count, {id} in paths.
	want := `[{"target":"v2","method":"GET","endpoint":"/api/items/{id}","reports":3,"places":[` +
		`{"place":"body items.#.price","kind":"changed","count":3,"noise":false},` +
		`{"place":"header etag","kind":"missing","count":2,"noise":true},` +
		`{"place":"status","kind":"changed","count":1,"noise":false}]},` +
		`{"target":"v2","method":"POST","endpoint":"/api/orders","reports":1,"places":[{"place":"header content-type","kind":"changed","count":1,"noise":false}]},` +
		`{"target":"v3","method":"GET","endpoint":"/api/items/{id}","reports":1,"places":[{"place":"body","kind":"changed","count":1,"noise":false}]}]`
	if strings.TrimSpace(body) != want {
		t.Errorf("/api/endpoints:\n got %s\nwant %s", body, want)
	}

	code, page := get(t, ts.URL+"/")
	for _, s := range []string{`http-equiv="refresh"`, "/api/items/{id}", "body items.#.price", "noise", "r-1", "9.99", "10.99", "5 differing pairs"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	if code != http.StatusOK {
		t.Errorf("/: %d", code)
	}
	if code, body := get(t, ts.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	_, metrics := get(t, ts.URL+"/metrics")
	for _, line := range []string{`meshmirror_reports_requests_total{code="202"} 5`, `meshmirror_reports_requests_total{code="400"} 1`,
		`meshmirror_reports_requests_total{code="413"} 2`, "meshmirror_reports_stored_total 5", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if code, _ := get(t, ts.URL+"/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}

	// Busy: every slot is held, so the next report is refused at once, not queued.
	for range maxPending {
		s.pending <- struct{}{}
	}
	code, msg := post(t, ts.URL, reports[0])
	for range maxPending {
		<-s.pending
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "busy") {
		t.Errorf("with %d reports held: %d %q, want 503", maxPending, code, msg)
	}
}

// TestStore_Close: a report that arrives while the store closes is refused, never
// acknowledged, and never panics.
func TestStore_Close(t *testing.T) {
	store, err := Open(filepath.Join(t.TempDir(), "reports.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := Parse([]byte(plugin))
	if err := store.Add(context.Background(), r, []byte(plugin), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Add(context.Background(), r, []byte(plugin), time.Now()); err != ErrClosed {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if err := store.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestServer_emptyPage(t *testing.T) {
	ts, _, _ := receiver(t)
	if code, page := get(t, ts.URL+"/"); code != http.StatusOK || !strings.Contains(page, "No reports yet") {
		t.Errorf("empty page: %d %s", code, page)
	}
	if _, body := get(t, ts.URL+"/api/endpoints"); strings.TrimSpace(body) != "[]" {
		t.Errorf("/api/endpoints with no reports: %s", body)
	}
}

// TestOpen_retain: reports older than retain are deleted when the store opens (and
// every retain/10 while it is open).
func TestOpen_retain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	store, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Minute)} {
		r, err := Parse([]byte(doc("v2", "GET", "/a", fmt.Sprint("r", i), "status:changed:")))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Add(context.Background(), r, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	store, err = Open(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, oldest, err := store.Totals(context.Background())
	if err != nil || n != 1 || now.Sub(oldest) > 2*time.Minute {
		t.Errorf("after -retain 1h: %d reports, oldest %v, %v; want the last one only", n, oldest, err)
	}
	var diffs int
	store.db.QueryRow(`SELECT COUNT(*) FROM differences`).Scan(&diffs)
	if diffs != 1 {
		t.Errorf("%d differences left, want the last report's 1", diffs)
	}

	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir.db"), 0); err == nil {
		t.Error("a database in a missing directory opened")
	}
}

// TestRun_killed: reports acknowledged with 202 are all in the file after the receiver
// is killed (SIGKILL) while reports keep coming.
func TestRun_killed(t *testing.T) {
	if db := os.Getenv("MESHMIRROR_REPORTS_CHILD_DB"); db != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		Run(context.Background(), ln, db, 0, t.Logf, func() { fmt.Println("listening", ln.Addr()) })
		return
	}
	addr, db, cmd := startChild(t)
	var (
		mu       sync.Mutex
		accepted []string
		sent     atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				resp, err := client.Post("http://"+addr+Path, "application/json", strings.NewReader(doc("v2", "GET", "/a", id, "status:changed:")))
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
				if sent.Add(1) > 5000 {
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	wg.Wait()
	if len(accepted) < 200 {
		t.Fatalf("only %d reports accepted before the kill", len(accepted))
	}
	store, err := Open(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored := storedRequestIDs(t, store)
	lost := 0
	for _, id := range accepted {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d accepted reports lost by the kill", lost, len(accepted))
	}
	t.Logf("%d reports accepted, %d stored (some stored ones may not have been answered yet)", len(accepted), len(stored))
}

// startChild starts a receiver on a new file in a child process (TestRun_killed's
// child mode, so that it can be killed as a process is) and returns its address, the
// file and the process, which is killed at the end of the test at the latest.
func startChild(t *testing.T) (addr, db string, cmd *exec.Cmd) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "reports.db")
	cmd = exec.Command(os.Args[0], "-test.run=^TestRun_killed$")
	cmd.Env = append(os.Environ(), "MESHMIRROR_REPORTS_CHILD_DB="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("the receiver said %q, %v", line, err)
	}
	return addr, db, cmd
}

// storedRequestIDs are the request ids of the reports in store.
func storedRequestIDs(t *testing.T, store *Store) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	rows, err := store.db.Query(`SELECT request_id FROM reports`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	return stored
}

// FuzzServer: no body makes the receiver crash or answer other than 202, 400 or 413,
// and whatever it takes (reports and summaries), the page and the JSON still render.
func FuzzServer(f *testing.F) {
	f.Add([]byte(doc("v2", "GET", "/api/items/1", "r-1", "body:changed:items.0.price", "header:missing:etag:noise")))
	f.Add([]byte(plugin))
	f.Add([]byte(`{"target":"a","method":"GET","path":"/","primary":{"status":null},"shadow":{},"differences":[{"part":"body","kind":"extra","where":"a.0"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"target":"a","differences":[{"noise":1}]}`))
	f.Add([]byte(summaryDoc))
	f.Add([]byte(`{"kind":"summary","target":"a","from":1,"to":2,"endpoints":[{"method":"","endpoint":"(other)","same":1,"differs":0,"noise":0,"skipped":0,"primaryMs":[1,0,0,0,0,0,0,0,0,0,0,0,0,0],"shadowMs":[0,0,0,0,0,0,0,0,0,0,0,0,0,1]}]}`))
	store, err := Open(filepath.Join(f.TempDir(), "reports.db"), 0)
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	s := NewServer(store, f.Logf)
	if err := s.AllowHosts("example.com"); err != nil { // httptest.NewRequest's Host
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("POST", Path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		s.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusAccepted:
			if _, err := parseDocument(body); err != nil {
				t.Fatalf("202 for a body parseDocument refuses: %v", err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if w.Body.Len() == 0 {
				t.Fatalf("%d without a reason", w.Code)
			}
		default:
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		for _, path := range []string{"/", "/api/endpoints"} {
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s after %q: %d %s", path, body, w.Code, w.Body)
			}
			if path == "/api/endpoints" && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("/api/endpoints is not JSON: %s", w.Body)
			}
		}
	})
}

// postAccepted posts a document to the receiver at url and reports whether it was
// accepted (202), failing the benchmark when not.
func postAccepted(b *testing.B, client *http.Client, url, body string) bool {
	resp, err := client.Post(url+Path, "application/json", strings.NewReader(body))
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("%d", resp.StatusCode)
		return false
	}
	return true
}

// BenchmarkReceive posts reports to a real receiver on loopback from parallel clients:
// reports/s is what it takes, each committed before its 202. It reports the process's
// peak RSS (the benchmark's client side included). MESHMIRROR_REPORTS_URL points it at a
// receiver running elsewhere (meshmirror reports), whose own memory is then measured
// apart from the clients'.
func BenchmarkReceive(b *testing.B) {
	url := os.Getenv("MESHMIRROR_REPORTS_URL")
	if url == "" {
		ts, _, _ := receiver(b)
		url = ts.URL
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := doc("v2", "GET", "/api/items/42", "7f1c-22", "body:changed:items.3.price", "header:missing:etag", "status:changed:")
	b.SetParallelism(8) // 8 × GOMAXPROCS clients, as many sidecars would
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !postAccepted(b, client, url, body) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			var kb float64
			if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
				b.ReportMetric(kb/1024, "peak-RSS-MiB")
			}
		}
	}
}
