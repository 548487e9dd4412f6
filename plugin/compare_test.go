package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tidwall/gjson"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshmirror/meshmirror/internal/reports"
	"github.com/meshmirror/meshmirror/plugin/mirror"
)

func compareConfig(compare string) string {
	return `{"targets": [{"name": "shadow", "cluster": "shadow-cluster", "compare": ` + compare + `}]}`
}

var jsonResponse = [][2]string{{":status", "200"}, {"content-type", "application/json"}}

// respond streams the primary's response in chunks of chunk bytes and checks that the
// plugin continues every callback and changes nothing.
func respond(t *testing.T, host proxytest.HostEmulator, id uint32, headers [][2]string, body []byte, chunk int) {
	t.Helper()
	if a := host.CallOnResponseHeaders(id, headers, len(body) == 0); a != types.ActionContinue {
		t.Fatalf("response headers action = %v, want continue", a)
	}
	if got := host.GetCurrentResponseHeaders(id); fmt.Sprint(got) != fmt.Sprint(headers) {
		t.Fatalf("the primary's response headers changed:\n got %v\nwant %v", got, headers)
	}
	for off := 0; off < len(body); off += chunk {
		part := body[off:min(off+chunk, len(body))]
		if a := host.CallOnResponseBody(id, part, off+chunk >= len(body)); a != types.ActionContinue {
			t.Fatalf("response body action = %v, want continue: the primary must never wait", a)
		}
		if got := host.GetCurrentResponseBody(id); !bytes.Equal(got, part) {
			t.Fatalf("the primary's response body changed, or Envoy was asked to buffer it: %q, want %q", got, part)
		}
	}
}

func compareCounters(t *testing.T, host proxytest.HostEmulator, target string, want map[mirror.CompareCounter]uint64) {
	t.Helper()
	// compare_summaries, the last, is defined only with a report cluster: summaryCount.
	wantEach(t, host, mirror.CompareSummaries, func(c mirror.CompareCounter) string { return mirror.CompareCounterName(target, c) }, want)
}

// summaryCount is a target's compare_summaries.
func summaryCount(t *testing.T, host proxytest.HostEmulator, target string) uint64 {
	t.Helper()
	n, err := host.GetCounterMetric(mirror.CompareCounterName(target, mirror.CompareSummaries))
	if err != nil {
		t.Fatalf("compare_summaries of %s: %v", target, err)
	}
	return n
}

// copyOf sends a GET through the plugin and returns the stream and its copy.
func copyOf(t *testing.T, host proxytest.HostEmulator) (uint32, proxytest.HttpCalloutAttribute) {
	t.Helper()
	before := len(callouts(host))
	id := request(t, host, getRequest)
	host.Tick()
	sent := callouts(host)
	if len(sent) != before+1 {
		t.Fatalf("%d copies sent, want 1", len(sent)-before)
	}
	return id, sent[len(sent)-1]
}

func TestPluginContext_OnPluginStart_compareMetrics(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "a", "cluster": "c", "compare": {}}, {"name": "b", "cluster": "c"},
			{"name": "r", "cluster": "c", "compare": {"report": {"cluster": "reports"}}}]}`)
		compareCounters(t, host, "a", nil) // defined, at zero
		compareCounters(t, host, "r", nil)
		if n := summaryCount(t, host, "r"); n != 0 {
			t.Errorf("compare_summaries of r = %d at start", n)
		}
		if _, err := host.GetCounterMetric(mirror.CompareCounterName("a", mirror.CompareSummaries)); err == nil {
			t.Error("a target without a report cluster has compare_summaries")
		}
		if _, err := host.GetHistogramMetric(mirror.PrimaryLatencyName("a")); err != nil {
			t.Errorf("%s: %v", mirror.PrimaryLatencyName("a"), err)
		}
		if _, err := host.GetCounterMetric(mirror.CompareCounterName("b", mirror.CompareSame)); err == nil {
			t.Error("a target without compare has comparison metrics")
		}
	})
}

func TestHttpContext_compare(t *testing.T) {
	items := func(price string) []byte {
		return []byte(`{"items": [{"id": 1, "price": 1}, {"id": 2, "price": 2}, {"id": 3, "price": 3}, {"id": 4, "price": ` +
			price + `}], "meta": {"requestId": "r-` + price + `"}}`)
	}
	tests := []struct {
		name          string
		compare       string
		shadowHeaders [][2]string
		shadowBody    []byte
		shadowFirst   bool
		want          map[mirror.CompareCounter]uint64
		log           string // in the warn log, "" for none
	}{
		{"same, shadow after", `{"ignore": ["meta.requestId"]}`, jsonResponse,
			[]byte(`{"meta": {"requestId": "other"}, "items": [{"price": 1.0, "id": 1}, {"id": 2, "price": 2}, {"id": 3, "price": 3}, {"id": 4, "price": 9.99}]}`),
			false, map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"same, shadow first", `{"ignore": ["meta.requestId"]}`, jsonResponse, items("9.99"), true,
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"changed field", `{"ignore": ["meta.requestId"]}`, jsonResponse, items("10.99"), false,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1},
			"GET /api/items differently: changed at body items.3.price (0 more"},
		{"changed field, shadow first, with values", `{"ignore": ["meta.requestId"], "includeValues": true}`, jsonResponse, items("10.99"), true,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1},
			`changed at body items.3.price (primary "9.99", shadow "10.99")`},
		{"ignore not given", `{}`, jsonResponse, items("9.99"), false,
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"status", `{"body": "none"}`, [][2]string{{":status", "503"}, {"content-type", "application/json"}}, nil, false,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareStatusDiffers: 1}, "changed at status"},
		{"header", `{"body": "none"}`, [][2]string{{":status", "200"}, {"content-type", "text/html"}}, nil, false,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareHeadersDiffer: 1}, "changed at header content-type"},
		// Bodies that part at their first bytes: the one-pass check against the primary's
		// nodes settles the first; the second it hands to the full walk, which places it.
		{"same, written otherwise, keys in order", `{"ignore": ["meta.requestId"]}`, jsonResponse,
			bytes.ReplaceAll(items("9.99"), []byte(": "), []byte(":")), false,
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"changed field, written otherwise", `{"ignore": ["meta.requestId"]}`, jsonResponse,
			bytes.ReplaceAll(items("10.99"), []byte(": "), []byte(":")), false,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1},
			"GET /api/items differently: changed at body items.3.price (0 more"},
		{"exact: the same JSON, formatted otherwise", `{"body": "exact"}`, jsonResponse, bytes.ReplaceAll(items("9.99"), []byte(": "), []byte(":")), false,
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1}, "changed at body ("},
		{"shadow body over maxBytes", `{"maxBytes": 100}`, jsonResponse, append(items("9.99"), strings.Repeat(" ", 100)...), false,
			map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
		{"shadow reset", `{}`, nil, nil, false, map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := start(t, vm, compareConfig(tc.compare))
				id, c := copyOf(t, host)
				answer := func() { host.CallOnHttpCallResponse(c.CalloutID, tc.shadowHeaders, nil, tc.shadowBody) }
				if tc.shadowFirst {
					answer()
				}
				respond(t, host, id, jsonResponse, items("9.99"), 40)
				host.CompleteHttpContext(id) // the primary's stream is gone
				if !tc.shadowFirst {
					answer()
				}
				compareCounters(t, host, "shadow", tc.want)
				logs := strings.Join(host.GetWarnLogs(), "\n")
				if tc.log == "" && logs != "" || !strings.Contains(logs, tc.log) {
					t.Errorf("warn logs %q, want %q", logs, tc.log)
				}
				if strings.Contains(logs, "page=2") {
					t.Errorf("the log shows the query: %q", logs)
				}
			})
		})
	}
}

// TestHttpContext_compareSkipped: the primary is reset, or its body passes maxBytes.
func TestHttpContext_compareSkipped(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"maxBytes": 100}`))
		id, c := copyOf(t, host)
		host.CallOnResponseHeaders(id, jsonResponse, false)
		host.CallOnResponseBody(id, []byte(`{"a":`), false)
		host.CompleteHttpContext(id) // reset before the response ended
		host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(`{"a":1}`))
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1})

		id, c = copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`[`+strings.Repeat(`1,`, 100)+`1]`), 64)
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(`[1]`))
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 2})
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.Dispatched: 2, mirror.Response2xx: 2})
	})
}

// reportOf sends a GET whose primary answers JSON primary and whose copy is answered
// shadowHeaders and shadow, and returns the report the next tick sends to cluster.
func reportOf(t *testing.T, host proxytest.HostEmulator, cluster string, primary []byte, shadowHeaders [][2]string, shadow []byte) proxytest.HttpCalloutAttribute {
	t.Helper()
	id, c := copyOf(t, host)
	respond(t, host, id, jsonResponse, primary, 100)
	host.CompleteHttpContext(id)
	host.CallOnHttpCallResponse(c.CalloutID, shadowHeaders, nil, shadow)
	if p := host.GetTickPeriod(); p == 0 {
		t.Fatal("a report waits but the tick period is 0")
	}
	host.Tick()
	sent := callouts(host)
	if len(sent) != 2 || sent[1].Upstream != cluster {
		t.Fatalf("callouts %d, want the copy and a report to cluster %s", len(sent), cluster)
	}
	return sent[1]
}

// TestHttpContext_compareReport: a differing pair is reported to the report cluster
// from the plugin context, on the next tick, and the report's answer is counted.
func TestHttpContext_compareReport(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports", "path": "/diffs"}}`))
		r := reportOf(t, host, "reports", []byte(`{"a": 1}`), jsonResponse, []byte(`{"a": 2}`))
		if path, _ := get(r.Headers, ":path"); path != "/diffs" {
			t.Errorf("report path %q", path)
		}
		body := string(r.Body)
		if !gjson.Valid(body) || gjson.Get(body, "differences.0.where").String() != "a" || gjson.Get(body, "target").String() != "shadow" {
			t.Errorf("report body %s", body)
		}
		if strings.Contains(body, `"primary":"1"`) || strings.Contains(body, `"shadow":"2"`) {
			t.Errorf("the report holds values without includeValues: %s", body)
		}
		// The receiver (meshmirror reports) takes the report as the plugin wrote it.
		if rep, err := reports.Parse(r.Body); err != nil || rep.Target != "shadow" || rep.Differences[0].Place() != "body a" {
			t.Errorf("meshmirror reports refuses the report: %v, %+v\n%s", err, rep, body)
		}
		host.CallOnHttpCallResponse(r.CalloutID, [][2]string{{":status", "503"}}, nil, nil)
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1,
			mirror.ReportsSent: 1, mirror.ReportFailed: 1})
		// An idle worker ticks again only when the pair's summary is due, in 10 s.
		if p := host.GetTickPeriod(); p < 9000 || p > 10001 {
			t.Errorf("tick period = %d after the report was sent, want the summary's 10 s", p)
		}
		if v, err := host.GetHistogramMetric(mirror.PrimaryLatencyName("shadow")); err != nil {
			t.Errorf("%s: %d, %v", mirror.PrimaryLatencyName("shadow"), v, err)
		}
	})
}

// TestHttpContext_compareReportOTLP: with format otlp, the report goes to /v1/logs as
// an OTLP/HTTP JSON log record that the Collector's own decoder reads, its body the
// same document the meshmirror format sends.
func TestHttpContext_compareReportOTLP(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "otel-collector", "format": "otlp"}}`))
		r := reportOf(t, host, "otel-collector", []byte(`{"a": 1, "b": [1]}`),
			[][2]string{{":status", "201"}, {"content-type", "application/json"}}, []byte(`{"a": 2, "b": []}`))
		if path, _ := get(r.Headers, ":path"); path != "/v1/logs" {
			t.Errorf("report path %q, want /v1/logs", path)
		}
		if ct, _ := get(r.Headers, "content-type"); ct != "application/json" {
			t.Errorf("content-type %q", ct)
		}
		logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(r.Body)
		if err != nil || logs.LogRecordCount() != 1 {
			t.Fatalf("the Collector's decoder: %v, %d records:\n%s", err, logs.LogRecordCount(), r.Body)
		}
		rec := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		doc := rec.Body().Str()
		if gjson.Get(doc, "target").String() != "shadow" || gjson.Get(doc, "differences.#").Int() != 3 {
			t.Errorf("log body %q, want the report document", doc)
		}
		attrs := rec.Attributes().AsRaw()
		want := map[string]any{"meshmirror.target": "shadow", "http.request.method": "GET", "url.path": "/api/items",
			"http.response.status_code": int64(200), "meshmirror.shadow.status_code": int64(201), "meshmirror.differences": int64(3)}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("attribute %s = %#v, want %#v", k, attrs[k], v)
			}
		}
		if rec.SeverityText() != "WARN" || rec.Timestamp() == 0 {
			t.Errorf("severity %q, time %d", rec.SeverityText(), rec.Timestamp())
		}
		host.CallOnHttpCallResponse(r.CalloutID, [][2]string{{":status", "200"}}, nil, []byte(`{"partialSuccess":{}}`))
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareStatusDiffers: 1,
			mirror.CompareBodyDiffers: 1, mirror.ReportsSent: 1})
	})
}

// TestHttpContext_compareDeepJSON: bodies nested far beyond the comparison's bound
// do not crash the module (FACTS.md: gjson.Valid traps at about 10,000 levels).
func TestHttpContext_compareDeepJSON(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"maxBytes": 65536}`))
		deep := []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))
		within := []byte(strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64))
		for _, body := range [][]byte{deep, within} {
			id, c := copyOf(t, host)
			respond(t, host, id, jsonResponse, body, 4096)
			host.CompleteHttpContext(id)
			host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, body)
		}
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSame: 2})
	})
}

// TestHttpContext_compareNotAskedFor: without compare, the response is not read.
func TestHttpContext_compareNotAskedFor(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 3)
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(`{"a": 2}`))
		if _, err := host.GetCounterMetric(mirror.CompareCounterName("shadow", mirror.CompareDiffers)); err == nil {
			t.Error("comparison metrics without compare")
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 1, mirror.Dispatched: 1, mirror.Response2xx: 1})
	})
}

// TestPluginContext_OnPluginDone_reportUnanswered: an ending context waits for its
// report's answer too; one still missing at the deadline counts as failed, since Envoy
// cancels the call when it deletes the context.
func TestPluginContext_OnPluginDone_reportUnanswered(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports"}}`))
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 100)
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(`{"a": 2}`))
		host.Tick() // sends the report
		if n := len(callouts(host)); n != 2 {
			t.Fatalf("%d callouts, want the copy and its report", n)
		}
		if host.FinishVM() {
			t.Fatal("proxy_on_done = true with a report unanswered")
		}
		host.Tick() // sends the pair's summary, which an ending context does not keep
		if n := len(callouts(host)); n != 3 || summaryCount(t, host, "shadow") != 1 {
			t.Fatalf("%d callouts, %d summaries: want the summary sent at the end", n, summaryCount(t, host, "shadow"))
		}
		host.Tick() // the deadline
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1,
			mirror.ReportsSent: 1, mirror.ReportFailed: 2})
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period %d after the end", p)
		}
	})
}

// TestHttpContext_compareCopyFailsMidResponse: a copy that fails while the primary's
// response still streams skips its pair at once; the rest of the response (4 MiB,
// far over maxBytes) passes untouched and is not counted again.
func TestHttpContext_compareCopyFailsMidResponse(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"maxBytes": 1024}`))
		id, c := copyOf(t, host)
		if a := host.CallOnResponseHeaders(id, jsonResponse, false); a != types.ActionContinue {
			t.Fatalf("response headers action %v", a)
		}
		host.CallOnResponseBody(id, []byte(`{"items": [`), false)
		host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil) // reset: no headers
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1})
		chunk := bytes.Repeat([]byte(`1, `), 64<<10/3)
		for range 64 {
			if a := host.CallOnResponseBody(id, chunk, false); a != types.ActionContinue {
				t.Fatalf("response body action %v: the primary must never wait", a)
			}
		}
		host.CallOnResponseBody(id, []byte(`1]}`), true)
		host.CompleteHttpContext(id)
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1})
	})
}

// TestHttpContext_compareFidelity: on the module as on the native build, equal answers
// look equal and different ones different (issue 16): a gzip body against the same
// JSON written differently, grpc-status, Envoy's own gRPC local reply, and the bytes
// of a report under body none.
func TestHttpContext_compareFidelity(t *testing.T) {
	gzipBody := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	grpcRequest := [][2]string{{":method", "POST"}, {":path", "/shop.Cart/Get"}, {":authority", "cart"},
		{"content-type", "application/grpc"}, {"x-request-id", "r-9"}}
	grpcAnswer := func(status, message string) [][2]string {
		h := [][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", status}}
		if message != "" {
			h = append(h, [2]string{"grpc-message", message})
		}
		return h
	}
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"report": {"cluster": "reports"}}`))
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1, "b": [1, 2]}`), 8)
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, append(jsonResponse[:2:2], [2]string{"content-encoding", "gzip"}), nil,
			gzipBody(`{"b":[1,2.0],"a":1}`))
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSame: 1})

		// gRPC: NOT_FOUND against INTERNAL differs at status; Envoy's own timeout is a
		// failure, its pair skipped.
		for i, shadow := range [][][2]string{grpcAnswer("13", ""), grpcAnswer("14", "upstream request timeout")} {
			id := request(t, host, grpcRequest)
			host.CallOnRequestBody(id, []byte{0, 0, 0, 0, 0}, true)
			host.Tick()
			sent := callouts(host)
			host.CallOnResponseHeaders(id, grpcAnswer("5", ""), true)
			host.CompleteHttpContext(id)
			host.CallOnHttpCallResponse(sent[len(sent)-1].CalloutID, shadow, nil, nil)
			if i == 0 {
				host.Tick() // the report
				sent = callouts(host)
				report := string(sent[len(sent)-1].Body)
				if gjson.Get(report, "differences.0.part").String() != "status" || gjson.Get(report, "requestId").String() != "r-9" ||
					gjson.Get(report, "shadow.grpcStatus").Int() != 13 {
					t.Errorf("report %s: want a difference at status, requestId r-9, shadow grpcStatus 13", report)
				}
			}
		}
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSame: 1, mirror.CompareDiffers: 1,
			mirror.CompareStatusDiffers: 1, mirror.CompareSkipped: 1, mirror.ReportsSent: 1})
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 3, mirror.Dispatched: 3,
			mirror.Response2xx: 1, mirror.ResponseGRPCError: 1, mirror.ResponseFailed: 1})
	})
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"body": "none", "report": {"cluster": "reports"}}`))
		id, c := copyOf(t, host)
		respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 3)
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "500"}}, nil, []byte(`oops`))
		host.Tick()
		sent := callouts(host)
		report := string(sent[len(sent)-1].Body)
		if gjson.Get(report, "primary.bytes").Int() != 8 || gjson.Get(report, "shadow.bytes").Int() != 4 {
			t.Errorf("report %s: want 8 and 4 bytes under body none", report)
		}
	})
}

// TestHttpContext_noise: on the module as natively, a target's difference where its
// baseline (a second instance of the primary's version) differs too is noise, in
// either order of the copies' answers; a regression beside it is reported with each
// difference marked.
func TestHttpContext_noise(t *testing.T) {
	const config = `{"targets": [
		{"name": "v2", "cluster": "v2", "compare": {"baseline": "v1", "report": {"cluster": "reports", "perSecond": 100}}},
		{"name": "v1", "cluster": "v1", "compare": {}}]}`
	page := func(at, price string) []byte { return []byte(`{"at": "` + at + `", "price": ` + price + `}`) }
	for _, targetFirst := range []bool{false, true} {
		vmTest(t, func(t *testing.T, vm types.VMContext) {
			host := start(t, vm, config)
			for i, target := range [][]byte{page("12:01", "9.99"), page("12:01", "10.99")} {
				id := request(t, host, getRequest)
				host.Tick()
				sent := callouts(host)
				v2, v1 := sent[len(sent)-2], sent[len(sent)-1]
				if v2.Upstream != "v2" || v1.Upstream != "v1" {
					t.Fatalf("copies to %s and %s", v2.Upstream, v1.Upstream)
				}
				respond(t, host, id, jsonResponse, page("12:00", "9.99"), 100)
				host.CompleteHttpContext(id)
				answers := []proxytest.HttpCalloutAttribute{v1, v2}
				if targetFirst {
					answers = []proxytest.HttpCalloutAttribute{v2, v1}
				}
				for _, c := range answers {
					body := page("12:02", "9.99")
					if c.Upstream == "v2" {
						body = target
					}
					host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, body)
				}
				host.Tick()
				if i == 1 {
					sent = callouts(host)
					report := string(sent[len(sent)-1].Body)
					if sent[len(sent)-1].Upstream != "reports" || gjson.Get(report, `differences.#(where=="at").noise`).Bool() != true ||
						gjson.Get(report, `differences.#(where=="price").noise`).Bool() != false {
						t.Errorf("report %s: want at marked noise and price not", report)
					}
				}
			}
			compareCounters(t, host, "v2", map[mirror.CompareCounter]uint64{mirror.CompareNoise: 1, mirror.CompareDiffers: 1,
				mirror.CompareBodyDiffers: 1, mirror.ReportsSent: 1})
			compareCounters(t, host, "v1", map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 2, mirror.CompareBodyDiffers: 2})
		})
	}
}

// TestHttpContext_allowExtra: on the module as natively, with allowExtra a key the
// shadow adds is no difference, and one it drops still is.
func TestHttpContext_allowExtra(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{"allowExtra": true}`))
		for _, shadow := range []string{`{"a": 1, "added": {"b": 2}}`, `{}`} {
			id, c := copyOf(t, host)
			respond(t, host, id, jsonResponse, []byte(`{"a": 1}`), 100)
			host.CompleteHttpContext(id)
			host.CallOnHttpCallResponse(c.CalloutID, jsonResponse, nil, []byte(shadow))
		}
		compareCounters(t, host, "shadow", map[mirror.CompareCounter]uint64{mirror.CompareSame: 1,
			mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1})
	})
}
