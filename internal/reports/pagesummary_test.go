package reports

import (
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPage_windows: the page's window comes from ?window= (15m, 1h, 6h, 24h; another
// is 1h), and its charts have a point per step of that window: a minute up to 1h, 5
// minutes over 6h, 15 over 24h, each at the difference rate of the summaries in it.
func TestPage_windows(t *testing.T) {
	ts, _, _ := receiver(t)
	now := time.Now()
	// Every 10 minutes over 5 hours; one of 100 pairs differs in each.
	for m := 0; m < 300; m += 10 {
		post(t, ts.URL, summaryJSON("v2", now.Add(-time.Duration(m)*time.Minute), ends("GET", "/a", 99, 1, 0, 2, 3)))
	}
	chartOf := regexp.MustCompile(`<div class="chart" data-chart="([^"]*)"`)
	for _, tc := range []struct {
		query, window string
		points        int
		step          int64
	}{
		{"", "1h", 6, 60},
		{"?window=15m", "15m", 2, 60},
		{"?window=6h", "6h", 30, 300},
		{"?window=24h", "24h", 20, 900}, // 15-minute steps: some hold two summaries
		{"?window=2h", "1h", 6, 60},
	} {
		code, page := get(t, ts.URL+"/"+tc.query)
		if code != 200 || !strings.Contains(page, `<a href="?window=`+tc.window+`" class="selected"`) {
			t.Errorf("GET /%s: %d, want the window %s selected", tc.query, code, tc.window)
			continue
		}
		m := chartOf.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("GET /%s: no chart", tc.query)
		}
		var d chartData
		if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.T) < tc.points || len(d.T) > tc.points+1 || len(d.Differ) != len(d.T) {
			t.Errorf("GET /%s: %d points, want %d (one per step that holds a summary)", tc.query, len(d.T), tc.points)
		}
		for i, at := range d.T {
			if at%tc.step != 0 || d.Differ[i] != 1 || d.Primary[i] != Quantile(0.99, v0(2, 100)) {
				t.Errorf("GET /%s: point %d at %d (step %d s): %g%%, p99 %g", tc.query, i, at, tc.step, d.Differ[i], d.Primary[i])
			}
		}
		if d.To-d.From < int64(tc.step) || d.T[0] < d.From {
			t.Errorf("GET /%s: the x axis %d to %d does not hold the points from %d", tc.query, d.From, d.To, d.T[0])
		}
	}
}
