package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshmirror/meshmirror/internal/reports"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// pairsOfEachOutcome sends three requests whose pairs end the same, skipped (the
// copy reset) and differing, each copy answered.
func pairsOfEachOutcome(t *testing.T, host proxytest.HostEmulator) {
	t.Helper()
	for _, shadow := range []string{`{"a": 1}`, "", `{"a": 2}`} { // the differing pair last: its report goes out on the next tick
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 100)
		host.CompleteHttpContext(id)
		if shadow == "" {
			host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil) // a reset
		} else {
			host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(shadow))
		}
	}
}

// awaitSummary ticks until the plugin sends a callout to cluster reports after the
// first n, for at most 3 s: the wasm module's clock moves a millisecond a reading.
func awaitSummary(t *testing.T, host proxytest.HostEmulator, n int) proxytest.HttpCalloutAttribute {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		host.Tick()
		if sent := callouts(host); len(sent) > n {
			if len(sent) != n+1 || sent[n].Upstream != "reports" {
				t.Fatalf("%d callouts after the %d expected, the last to %s", len(sent)-n, n, sent[len(sent)-1].Upstream)
			}
			return sent[n]
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no summary within 3 s of summarySeconds 1")
	return proxytest.HttpCalloutAttribute{}
}

// TestPluginContext_summary: a worker sends a summary of its pairs once
// summarySeconds have passed, from its tick, whose counts are the compare counters'.
func TestPluginContext_summary(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports", "summarySeconds": 1, "perSecond": 1000}}`))
		pairsOfEachOutcome(t, host)
		host.Tick() // sends the differing pair's report
		if p := host.GetTickPeriod(); p == 0 || p > 1001 {
			t.Fatalf("tick period %d with pairs to summarize, want at most summarySeconds", p)
		}
		reported := len(callouts(host))
		c := awaitSummary(t, host, reported)
		if path, _ := get(c.Headers, ":path"); path != "/meshmirror/reports" {
			t.Errorf("summary sent to %s, want the report path", path)
		}
		if marker, _ := get(c.Headers, "x-meshmirror"); marker != "shadow" {
			t.Errorf("summary marker %q, want the target", marker)
		}
		// Read by the receiver's own parser, which holds it to SPEC's shape.
		doc, err := reports.ParseSummary(c.Body)
		if err != nil {
			t.Fatalf("meshmirror reports refuses the summary: %v\n%s", err, c.Body)
		}
		if kindOf(c.Body) != "summary" || doc.Target != "shadow" || doc.To <= doc.From || len(doc.Endpoints) != 1 {
			t.Fatalf("summary %s", c.Body)
		}
		e := doc.Endpoints[0]
		counts := func(cc mirror.CompareCounter) int64 {
			n, _ := host.GetCounterMetric(mirror.CompareCounterName("shadow", cc))
			return int64(n)
		}
		if e.Method != "GET" || e.Endpoint != "/api/items" || e.Same != counts(mirror.CompareSame) || e.Differs != counts(mirror.CompareDiffers) ||
			e.Skipped != counts(mirror.CompareSkipped) || e.Same+e.Differs+e.Skipped != 3 || e.Noise != 0 {
			t.Errorf("endpoint %+v, counters same %d differs %d skipped %d", e, counts(mirror.CompareSame), counts(mirror.CompareDiffers), counts(mirror.CompareSkipped))
		}
		if len(e.Places) != 1 || e.Places[0].Place != "body a" || e.Places[0].Differs != 1 {
			t.Errorf("places %+v, want body a once", e.Places)
		}
		if sum(e.PrimaryMs[:]) != 2 || sum(e.ShadowMs[:]) != 2 {
			t.Errorf("latency buckets %v and %v, want the 2 compared pairs", e.PrimaryMs, e.ShadowMs)
		}
		if n := summaryCount(t, host, "shadow"); n != 1 {
			t.Errorf("compare_summaries = %d, want 1", n)
		}
		host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "202"}}, nil, nil)
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSame: 1, mirror.CompareDiffers: 1,
			mirror.CompareBodyDiffers: 1, mirror.CompareSkipped: 1, mirror.ReportsSent: 1})
		// Nothing more to summarize: the worker stops ticking.
		host.Tick()
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period %d with nothing to send", p)
		}
	})
}

// TestPluginContext_summaryOTLP: with format otlp a summary is a log record that the
// Collector's decoder reads, with event.name meshmirror.summary and the document.
func TestPluginContext_summaryOTLP(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports", "format": "otlp", "summarySeconds": 1, "perSecond": 1000}}`))
		pairsOfEachOutcome(t, host)
		host.Tick()
		c := awaitSummary(t, host, len(callouts(host)))
		if path, _ := get(c.Headers, ":path"); path != "/v1/logs" {
			t.Errorf("summary sent to %s, want /v1/logs", path)
		}
		logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(c.Body)
		if err != nil || logs.LogRecordCount() != 1 {
			t.Fatalf("the Collector's decoder reads %d records: %v\n%s", logs.LogRecordCount(), err, c.Body)
		}
		rec := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		event, _ := rec.Attributes().Get("event.name")
		doc, err := reports.ParseSummary([]byte(rec.Body().Str()))
		if event.Str() != "meshmirror.summary" || rec.SeverityText() != "INFO" || err != nil || kindOf([]byte(rec.Body().Str())) != "summary" ||
			len(doc.Endpoints) != 1 || doc.Endpoints[0].Differs != 1 {
			t.Errorf("record event %q severity %s body %s", event.Str(), rec.SeverityText(), rec.Body().Str())
		}
	})
}

func sum(counts []int64) int64 {
	n := int64(0)
	for _, c := range counts {
		n += c
	}
	return n
}

// kindOf is a document's kind: "summary", or "pair" for a report.
func kindOf(doc []byte) string {
	var head struct{ Kind string }
	json.Unmarshal(doc, &head)
	return head.Kind
}

// TestPluginContext_OnPluginDone_summaryOfLateAnswer: a pair decided while its
// context ends, its copy answered after proxy_on_done, is summarized before the
// context ends, though the tick is then the deadline of the answers.
func TestPluginContext_OnPluginDone_summaryOfLateAnswer(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports"}}`))
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 100)
		host.CompleteHttpContext(id)
		if host.FinishVM() {
			t.Fatal("proxy_on_done = true with a copy unanswered")
		}
		host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(`{"a": 1}`))
		host.Tick()
		sent := callouts(host)
		if len(sent) != 2 || sent[1].Upstream != "reports" || summaryCount(t, host, "shadow") != 1 {
			t.Fatalf("%d callouts, %d summaries: want the late pair's summary sent", len(sent), summaryCount(t, host, "shadow"))
		}
		if doc, err := reports.ParseSummary(sent[1].Body); err != nil || doc.Endpoints[0].Same != 1 {
			t.Errorf("summary %s: %v", sent[1].Body, err)
		}
	})
}
