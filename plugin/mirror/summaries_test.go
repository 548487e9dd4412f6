package mirror

import (
	"encoding/json"
	"testing"
)

// TestSummaries: a summary is due summarySeconds after its interval began, covers
// back-to-back intervals while pairs keep coming, begins a new one at the first pair
// after a pause, and counts each pair as the compare counters do.
func TestSummaries(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{"report":{"cluster":"reports","summarySeconds":10}}`))
	if m.NextSummary() != 0 || len(m.Summaries(nil, 1e12, true)) != 0 {
		t.Fatal("a summary before any pair")
	}
	decided := func(now int64, shadow string) {
		p := startPair(t, m, now)
		p.primary(jsonHeaders, `{"a":1}`)
		p.shadow(jsonHeaders, shadow)
	}
	const start = 1_765_150_000e9
	decided(start, `{"a":1}`)
	decided(start+1e9, `{"a":2}`)
	if due := m.NextSummary(); due != start+10e9+3e6 {
		t.Fatalf("next summary due at %d, want 10 s after the first pair's end (%d)", due, int64(start+10e9+3e6))
	}
	if got := m.Summaries(nil, start+9e9, false); len(got) != 0 {
		t.Fatalf("%d summaries before they are due", len(got))
	}
	got := m.Summaries(nil, start+11e9, false)
	if len(got) != 1 || !got[0].Summary || got[0].Cluster != "reports" {
		t.Fatalf("summaries %+v, want one to the report cluster", got)
	}
	var doc struct {
		Kind      string
		From, To  int64
		Endpoints []struct{ Same, Differs, Noise, Skipped int }
	}
	if err := json.Unmarshal(got[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Endpoints[0]
	if doc.From != (start+3e6)/1e6 || doc.To != (start+11e9)/1e6 || e.Same != rec.compare(0, CompareSame) || e.Differs != rec.compare(0, CompareDiffers) || e.Same+e.Differs != 2 {
		t.Errorf("summary %s; counters same %d differs %d", got[0].Body, rec.compare(0, CompareSame), rec.compare(0, CompareDiffers))
	}
	// Back to back: a pair soon after begins where the last summary ended...
	decided(start+12e9, `{"a":1}`)
	if due := m.NextSummary(); due != start+21e9 {
		t.Errorf("next summary due at %d, want 10 s after the last (%d)", due, int64(start+21e9))
	}
	m.Summaries(nil, start+21e9, false)
	// ...and one after a pause begins its own interval.
	decided(start+100e9, `{"a":1}`)
	if due := m.NextSummary(); due != start+110e9+3e6 {
		t.Errorf("after a pause, next summary due at %d, want %d", due, int64(start+110e9+3e6))
	}
	// A configuration that ends sends what it counted, due or not.
	if got := m.Summaries(nil, start+101e9, true); len(got) != 1 || m.NextSummary() != 0 {
		t.Errorf("%d summaries at the end, next due %d; want one and none left", len(got), m.NextSummary())
	}
}

// TestSummaries_onlyWithReportCluster: a target without a report cluster counts no
// summary, so it costs nothing.
func TestSummaries_onlyWithReportCluster(t *testing.T) {
	m, _ := newMirror(t, compareConfig(`{}`))
	p := startPair(t, m, 1e9)
	p.primary(jsonHeaders, `{"a":1}`)
	p.shadow(jsonHeaders, `{"a":2}`)
	if m.NextSummary() != 0 || len(m.Summaries(nil, 1e12, true)) != 0 {
		t.Error("a summary without a report cluster")
	}
}
