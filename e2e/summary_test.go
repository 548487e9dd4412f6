package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/internal/reports"
	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// TestSummaries: over real sockets, the reports cluster receives summaries whose
// counts per endpoint add up to the compare counters, with an endpoint per {id} rule,
// the places that differ, and both sides' latencies for the compared pairs.
func TestSummaries(t *testing.T) {
	received := backend(t, "reports", nil)
	// Every third item's price differs; item 7's copy times out (a skipped pair).
	shadow := backend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/items/"))
		body := catalog
		if err == nil && id%3 == 0 {
			body = bytes2(catalog, "9.99", "10.99")
		}
		delay := time.Duration(0)
		if id == 7 {
			delay = 400 * time.Millisecond
		}
		jsonAnswer(200, "", body, delay)(w, r)
	})
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "timeoutMs": 300, "compare":
		{"report": {"cluster": "reports", "summarySeconds": 1, "perSecond": 1000}}}]}`,
		backend(t, "primary", jsonAnswer(200, "", catalog, 0)), map[string]string{"shadow": shadow.Addr, "reports": received.Addr})
	const requests = 12
	for i := 1; i <= requests; i++ {
		if resp, _, _ := send(t, m.addr, "GET", "/api/items/"+strconv.Itoa(i)+"?page=1", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("the primary answered %d", resp.StatusCode)
		}
	}
	send(t, m.addr, "POST", "/api/orders", nil, []byte(`{}`))
	counter := func(c mirror.CompareCounter) int64 { return int64(m.metric(t, mirror.CompareCounterName("shadow", c))) }
	got := map[string]*reports.SummaryEndpoint{}
	summaries := 0
	waitFor(t, "summaries of every pair", func() bool {
		clear(got)
		summaries = 0
		for _, r := range received.Requests() {
			doc, err := reports.ParseSummary(r.Body)
			if err != nil {
				continue // a report of a differing pair
			}
			summaries++
			for _, e := range doc.Endpoints {
				key := e.Method + " " + e.Endpoint
				if got[key] == nil {
					got[key] = &reports.SummaryEndpoint{}
				}
				g := got[key]
				g.Same, g.Differs, g.Noise, g.Skipped = g.Same+e.Same, g.Differs+e.Differs, g.Noise+e.Noise, g.Skipped+e.Skipped
				g.Places = append(g.Places, e.Places...)
				for b := range e.ShadowMs {
					g.PrimaryMs[b] += e.PrimaryMs[b]
					g.ShadowMs[b] += e.ShadowMs[b]
				}
			}
		}
		items, orders := got["GET /api/items/{id}"], got["POST /api/orders"]
		return items != nil && orders != nil && items.Same+items.Differs+items.Skipped == requests && orders.Same == 1
	})
	items := got["GET /api/items/{id}"]
	if items.Same+got["POST /api/orders"].Same != counter(mirror.CompareSame) || items.Differs != counter(mirror.CompareDiffers) ||
		items.Skipped != counter(mirror.CompareSkipped) || items.Differs != 4 || items.Skipped != 1 {
		t.Errorf("summaries say %+v; counters same %d, differs %d, skipped %d", items,
			counter(mirror.CompareSame), counter(mirror.CompareDiffers), counter(mirror.CompareSkipped))
	}
	places := int64(0)
	for _, p := range items.Places {
		if p.Place != "body items.#.price" {
			t.Errorf("place %q, want body items.#.price", p.Place)
		}
		places += p.Differs
	}
	if places != 4 {
		t.Errorf("%d pairs differ at body items.#.price, want 4", places)
	}
	compared := int64(0)
	for _, n := range items.ShadowMs {
		compared += n
	}
	if compared != items.Same+items.Differs {
		t.Errorf("shadow latencies count %d pairs, want the %d compared", compared, items.Same+items.Differs)
	}
	if n := counter(mirror.CompareSummaries); n != int64(summaries) {
		t.Errorf("compare_summaries = %d, the reports cluster received %d", n, summaries)
	}
}
