package mirror

import (
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/header"

	"github.com/tidwall/gjson"
)

var jsonHeaders = header.List{{":status", "200"}, {"content-type", "application/json"}}

// pairRun drives one request with a compared copy through the mirror.
type pairRun struct {
	t   *testing.T
	m   *Mirror
	r   Request
	cp  Copy
	now int64
}

func startPair(t *testing.T, m *Mirror, now int64) *pairRun {
	t.Helper()
	p := &pairRun{t: t, m: m, now: now}
	if !m.Start(&p.r, header.List{{":method", "GET"}, {":path", "/api/items?user=alice"}, {":authority", "a"}}) {
		t.Fatal("the request was not selected")
	}
	copies := m.Finish(&p.r, nil, now, nil)
	if len(copies) != 1 {
		t.Fatalf("%d copies, want 1", len(copies))
	}
	p.cp = copies[0]
	m.Sent(p.cp.Target)
	return p
}

func (p *pairRun) primary(h header.List, chunks ...string) {
	if !p.r.Observing() {
		p.t.Fatal("the primary's response is not observed")
	}
	p.m.ResponseHeaders(&p.r, h)
	for _, c := range chunks {
		var chunk []byte // read only when asked for, as the SDK glue does
		if p.r.WantsResponseBody() {
			chunk = []byte(c)
		}
		p.m.ResponseBody(&p.r, len(c), chunk)
	}
	p.m.ResponseEnd(&p.r, p.now+7e6)
}

// shadow answers the pair's copy as the SDK glue does: the body is read only when the
// mirror asks for it.
func (p *pairRun) shadow(h header.List, body string) {
	p.answer(h, body, 3)
}

func (p *pairRun) answer(h header.List, body string, latencyMs int64) {
	a := Answer{Headers: h, Size: len(body)}
	a.Status, _ = h.Get(":status")
	a.GRPCStatus, _ = h.Get("grpc-status")
	a.GRPCMessage, _ = h.Get("grpc-message")
	if p.m.WantsAnswerBody(p.cp.Pair, &a) {
		a.Body = []byte(body)
	}
	failed := p.m.Answered(p.cp.Target, p.cp.GRPC, &a, latencyMs) == ResponseFailed
	p.m.ShadowAnswered(p.cp.Pair, failed, &a, latencyMs, p.now+latencyMs*1e6)
}

func (f *fakeRecorder) compare(target int, c CompareCounter) int {
	return f.compares[[2]int{target, int(c)}]
}

func (f *fakeRecorder) onlyCompare(t *testing.T, target int, want map[CompareCounter]int) {
	t.Helper()
	for c := CompareCounter(0); c < NumCompareCounters; c++ {
		if got := f.compare(target, c); got != want[c] {
			t.Errorf("target %d: %s = %d, want %d", target, compareCounterNames[c], got, want[c])
		}
	}
}

const comparedTarget = `{"targets":[{"name":"t","cluster":"c","compare":%s}]}`

func compareConfig(compare string) string { return strings.Replace(comparedTarget, "%s", compare, 1) }

func TestPairEitherOrder(t *testing.T) {
	for _, shadowFirst := range []bool{false, true} {
		m, rec := newMirror(t, compareConfig(`{}`))
		p := startPair(t, m, 1e9)
		primary := func() { p.primary(jsonHeaders, `{"a":1,`, `"b":[1,2]}`) }
		shadow := func() { p.shadow(jsonHeaders, `{"b":[1,2.0],"a":1}`) }
		if shadowFirst {
			shadow()
			primary()
		} else {
			primary()
			shadow()
		}
		rec.onlyCompare(t, 0, map[CompareCounter]int{CompareSame: 1})
		if got := rec.primary[0]; len(got) != 1 || got[0] != 7 {
			t.Errorf("primary_latency_ms = %v, want [7]: from the request's end to the response's", got)
		}
		if m.Pairs() != 0 || m.targets[0].pairs != 0 {
			t.Errorf("%d pairs held after the decision", m.Pairs())
		}
		if v := m.Verdicts(); len(v) != 0 {
			t.Errorf("verdicts for a pair that does not differ: %+v", v)
		}
	}
}

func TestPairDifferences(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{"headers":["content-type","x-version"],"includeValues":true}`))
	p := startPair(t, m, 1e9)
	p.primary(header.List{{":status", "200"}, {"content-type", "application/json"}, {"x-version", "1"}},
		`{"items":[{"price":1},{"price":2},{"price":3},{"price":9.99}]}`)
	p.shadow(header.List{{":status", "201"}, {"content-type", "application/json"}},
		`{"items":[{"price":1},{"price":2},{"price":3},{"price":10.99}]}`)
	rec.onlyCompare(t, 0, map[CompareCounter]int{CompareDiffers: 1, CompareStatusDiffers: 1, CompareHeadersDiffer: 1, CompareBodyDiffers: 1})
	v := m.Verdicts()
	if len(v) != 1 || !v[0].Log || v[0].Report != nil {
		t.Fatalf("verdicts %+v, want one to log and none to report", v)
	}
	if got, want := places(v[0].Differences), "changed status; missing header x-version; changed body items.3.price"; got != want {
		t.Errorf("differences %q, want %q", got, want)
	}
	line := m.LogLine(&v[0])
	for _, want := range []string{"target t", "GET /api/items differently", `changed at status (primary "200", shadow "201")`, "3 differences in all"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "alice") {
		t.Errorf("log line %q shows the query", line)
	}
}

// TestPairPrivacy: without includeValues neither the log nor the report holds a
// header or body value.
func TestPairPrivacy(t *testing.T) {
	m, _ := newMirror(t, compareConfig(`{"headers":["x-user"],"report":{"cluster":"reports"}}`))
	p := startPair(t, m, 1e9)
	p.primary(header.List{{":status", "200"}, {"content-type", "application/json"}, {"x-user", "alice@example.com"}}, `{"email":"alice@example.com"}`)
	p.shadow(header.List{{":status", "200"}, {"content-type", "application/json"}, {"x-user", "bob@example.com"}}, `{"email":"bob@example.com"}`)
	v := m.Verdicts()
	if len(v) != 1 || v[0].Report == nil {
		t.Fatalf("verdicts %+v, want one with a report", v)
	}
	for _, s := range []string{m.LogLine(&v[0]), string(v[0].Report.Body)} {
		if strings.Contains(s, "example.com") {
			t.Errorf("%q holds a value without includeValues", s)
		}
	}
}

func TestPairReport(t *testing.T) {
	m, _ := newMirror(t, compareConfig(`{"includeValues":true,"report":{"cluster":"outbound|80||reports.default.svc.cluster.local","path":"/r"}}`))
	p := startPair(t, m, 1e9)
	p.primary(jsonHeaders, `{"a":"x\"\u0001"}`)
	p.shadow(jsonHeaders, `{"a":2,"b":true}`)
	v := m.Verdicts()
	if len(v) != 1 || v[0].Report == nil {
		t.Fatalf("verdicts %+v, want one with a report", v)
	}
	r := v[0].Report
	if r.Cluster != "outbound|80||reports.default.svc.cluster.local" {
		t.Errorf("report cluster %q", r.Cluster)
	}
	for name, want := range map[string]string{":method": "POST", ":path": "/r", ":authority": "reports.default.svc.cluster.local",
		"content-type": "application/json", "x-meshmirror": "t"} {
		if got, _ := header.List(r.Headers).Get(name); got != want {
			t.Errorf("report header %s = %q, want %q", name, got, want)
		}
	}
	body := string(r.Body)
	if !gjson.Valid(body) {
		t.Fatalf("report is not JSON: %s", body)
	}
	doc := gjson.Parse(body)
	if v := doc.Get("differences.1.primary"); v.Type != gjson.Null || !v.Exists() {
		t.Errorf("the primary's value of an extra member is %s, want null", v.Raw)
	}
	for path, want := range map[string]string{
		"target": "t", "method": "GET", "path": "/api/items",
		"primary.status": "200", "primary.bytes": "17", "primary.latencyMs": "7",
		"shadow.status": "200", "shadow.latencyMs": "3", "differences.#": "2",
		"differences.0.part": "body", "differences.0.kind": "changed", "differences.0.where": "a",
		"differences.0.primary": `"x\"\u0001"`, "differences.0.shadow": "2",
		"differences.1.kind": "extra", "differences.1.where": "b", "differences.1.primary": "", "differences.1.shadow": "true",
	} {
		if got := doc.Get(path).String(); got != want {
			t.Errorf("report %s = %q, want %q\n%s", path, got, want, body)
		}
	}
}

// TestPairRateLimits: a differing pair is logged at most once a second, and reported
// at most report.perSecond, per target.
func TestPairRateLimits(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{"report":{"cluster":"r","perSecond":0.5}}`))
	logs, reports := 0, 0
	for i := range 10 {
		p := startPair(t, m, 1e9+int64(i)*3e8) // 10 pairs over 3 s
		p.primary(jsonHeaders, `1`)
		p.shadow(jsonHeaders, `2`)
		for _, v := range m.Verdicts() {
			if v.Log {
				logs++
			}
			if v.Report != nil {
				reports++
			}
		}
	}
	if logs != 3 || reports != 2 {
		t.Errorf("%d logs and %d reports over 3 s, want 3 (once a second) and 2 (0.5 a second, burst 1)", logs, reports)
	}
	if got := rec.compare(0, CompareDiffers); got != 10 {
		t.Errorf("compare_differs = %d, want 10: every pair counts", got)
	}
}

func TestPairSkipped(t *testing.T) {
	tests := []struct {
		name    string
		compare string
		run     func(p *pairRun)
	}{
		{"primary reset", `{}`, func(p *pairRun) {
			p.m.ResponseHeaders(&p.r, jsonHeaders)
			p.m.ResponseReset(&p.r)
			p.shadow(jsonHeaders, `1`)
		}},
		{"shadow reset", `{}`, func(p *pairRun) { p.shadow(nil, ``); p.primary(jsonHeaders, `1`) }},
		{"shadow timed out", `{}`, func(p *pairRun) {
			p.answer(header.List{{":status", "504"}}, "", 5000)
			p.primary(jsonHeaders, `1`)
		}},
		{"cancelled", `{}`, func(p *pairRun) { p.m.Cancel(); p.primary(jsonHeaders, `1`) }},
		{"primary body too large", `{"maxBytes":10}`, func(p *pairRun) {
			p.primary(jsonHeaders, `[1,2,3,4,`, `5,6]`)
			p.shadow(jsonHeaders, `[1]`)
		}},
		{"shadow body too large", `{"maxBytes":10}`, func(p *pairRun) {
			p.shadow(jsonHeaders, `[1,2,3,4,5,6]`)
			p.primary(jsonHeaders, `[1]`)
		}},
		{"exact body too large", `{"maxBytes":3,"body":"exact"}`, func(p *pairRun) {
			p.primary(jsonHeaders, `1234`)
			p.shadow(jsonHeaders, `1234`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newMirror(t, compareConfig(tc.compare))
			p := startPair(t, m, 1e9)
			tc.run(p)
			rec.onlyCompare(t, 0, map[CompareCounter]int{CompareSkipped: 1})
			if m.Pairs() != 0 || m.targets[0].pairs != 0 || p.r.resp.body != nil {
				t.Errorf("%d pairs, body of %d bytes held after the skip", m.Pairs(), len(p.r.resp.body))
			}
		})
	}
	// body none: maxBytes does not apply.
	m, rec := newMirror(t, compareConfig(`{"maxBytes":1,"body":"none"}`))
	p := startPair(t, m, 1e9)
	p.primary(jsonHeaders, `[1,2,3]`)
	p.shadow(jsonHeaders, `[4,5,6]`)
	rec.onlyCompare(t, 0, map[CompareCounter]int{CompareSame: 1})
}

func TestPairExactAndAuto(t *testing.T) {
	text := header.List{{":status", "200"}, {"content-type", "text/plain"}}
	tests := []struct {
		name, compare    string
		ph               header.List
		primary          []string
		sh               header.List
		shadow           string
		differs, holding bool // whether the pair differs, and the primary's body is held
	}{
		{"exact same", `{"body":"exact"}`, jsonHeaders, []string{`{"a":`, `1}`}, jsonHeaders, `{"a":1}`, false, false},
		{"exact formatting counts", `{"body":"exact"}`, jsonHeaders, []string{`{"a":1}`}, jsonHeaders, `{"a": 1}`, true, false},
		{"exact same size", `{"body":"exact"}`, text, []string{`abc`}, text, `abd`, true, false},
		{"auto text", `{}`, text, []string{`ab`, `c`}, text, `abc`, false, false},
		{"auto JSON", `{}`, jsonHeaders, []string{`{"a":1}`}, jsonHeaders, `{"a": 1.0}`, false, true},
		{"auto JSON against text", `{"headers":[]}`, jsonHeaders, []string{`{"a":1}`}, text, `{"a":1}`, false, true},
		{"auto text against JSON", `{"headers":[]}`, text, []string{`{"a":1}`}, jsonHeaders, `{"a": 1}`, true, false},
		{"json forced on text", `{"body":"json","headers":[]}`, text, []string{`[1]`}, text, `[1.0]`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newMirror(t, compareConfig(tc.compare))
			p := startPair(t, m, 1e9)
			p.m.ResponseHeaders(&p.r, tc.ph)
			for _, c := range tc.primary {
				p.m.ResponseBody(&p.r, len(c), []byte(c))
			}
			if held := p.r.resp.body != nil; held != tc.holding {
				t.Errorf("primary body held = %v, want %v", held, tc.holding)
			}
			p.m.ResponseEnd(&p.r, p.now)
			p.shadow(tc.sh, tc.shadow)
			want := map[CompareCounter]int{CompareSame: 1}
			if tc.differs {
				want = map[CompareCounter]int{CompareDiffers: 1, CompareBodyDiffers: 1}
			}
			rec.onlyCompare(t, 0, want)
		})
	}
}

// TestPairBound: a target holds at most maxInFlight undecided pairs, so that what
// comparison holds stays within maxInFlight × 2 × maxBytes; a pair whose primary
// never ends gives its slot back after a minute.
func TestPairBound(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{}`))
	m.cfg.Targets[0].MaxInFlight = 2
	first := startPair(t, m, 1e9)
	first.shadow(jsonHeaders, `1`) // answered: in_flight is free again, the pair is not
	startPair(t, m, 1e9).shadow(jsonHeaders, `1`)
	third := startPair(t, m, 2e9)
	if third.cp.Pair != nil || rec.compare(0, CompareSkipped) != 1 {
		t.Fatalf("a third pair over maxInFlight 2: pair %v, compare_skipped %d", third.cp.Pair, rec.compare(0, CompareSkipped))
	}
	if third.r.Observing() {
		t.Error("a request whose copy is not compared observes its response")
	}
	late := startPair(t, m, 1e9+pairStaleNs+1)
	if late.cp.Pair == nil || rec.compare(0, CompareSkipped) != 3 {
		t.Errorf("after a minute, stale pairs are skipped for a new one: pair %v, compare_skipped %d", late.cp.Pair, rec.compare(0, CompareSkipped))
	}
}

// TestPairEarlyResponse: a response that began before its request ended was not
// observed from its start: its copy is sent but not compared.
func TestPairEarlyResponse(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{}`))
	var r Request
	m.Start(&r, header.List{{":method", "POST"}, {":path", "/stream"}, {":authority", "a"}})
	r.RespondedEarly()
	copies := m.Finish(&r, nil, 1, nil)
	if len(copies) != 1 || copies[0].Pair != nil || r.Observing() {
		t.Fatalf("copies %+v, observing %v; want one copy, not compared", copies, r.Observing())
	}
	rec.onlyCompare(t, 0, map[CompareCounter]int{CompareSkipped: 1})
}

func TestReportAuthority(t *testing.T) {
	for cluster, want := range map[string]string{
		"outbound|80||reports.default.svc.cluster.local":   "reports.default.svc.cluster.local",
		"outbound|80|v1|reports.default.svc.cluster.local": "reports.default.svc.cluster.local",
		"reports": "reports", "outbound|80|": "outbound|80|",
	} {
		if got := reportAuthority(cluster); got != want {
			t.Errorf("reportAuthority(%q) = %q, want %q", cluster, got, want)
		}
	}
}

// TestPairWithoutResponseHeaders: a response that ends with no headers seen (no host
// does so) is compared, headers absent, rather than crashing the module.
func TestPairWithoutResponseHeaders(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{"headers":["etag"]}`))
	p := startPair(t, m, 1e9)
	m.ResponseEnd(&p.r, p.now)
	p.shadow(header.List{{":status", "200"}, {"etag", "x"}}, ``)
	rec.onlyCompare(t, 0, map[CompareCounter]int{CompareDiffers: 1, CompareStatusDiffers: 1, CompareHeadersDiffer: 1})
}

// TestPairPrimaryBodyLetGoOnceSkipped: a pair skipped from outside while the
// primary's response streams (its copy failed) stops the mirror from keeping the
// response's body: it is not held past maxBytes, nor read at all once no pair needs it.
func TestPairPrimaryBodyLetGoOnceSkipped(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c","compare":{"maxBytes":1024}}]}`)
	p := startPair(t, m, 0)
	m.ResponseHeaders(&p.r, jsonHeaders)
	m.ResponseBody(&p.r, 512, make([]byte, 512))
	if p.r.resp.body == nil {
		t.Fatal("a JSON response of a compared pair is not held")
	}
	m.Answered(p.cp.Target, false, &Answer{}, 5000) // a reset: no headers
	m.ShadowAnswered(p.cp.Pair, true, &Answer{}, 5000, 1)
	for range 64 { // 4 MiB more of the primary's response
		if p.r.WantsResponseBody() {
			m.ResponseBody(&p.r, 64<<10, make([]byte, 64<<10))
		}
	}
	if len(p.r.resp.body) != 0 || p.r.WantsResponseBody() || p.r.Observing() {
		t.Errorf("after the skip: %d bytes held, wants the body %v, observing %v", len(p.r.resp.body),
			p.r.WantsResponseBody(), p.r.Observing())
	}
	m.ResponseEnd(&p.r, 2)
	rec.onlyCompare(t, 0, map[CompareCounter]int{CompareSkipped: 1})
}

// TestPairPrimaryBodyCapacity: the held body grows no further than the largest
// maxBytes of the pairs that hold it.
func TestPairPrimaryBodyCapacity(t *testing.T) {
	m, _ := newMirror(t, `{"targets":[{"name":"a","cluster":"c","compare":{"maxBytes":3000}}]}`)
	p := startPair(t, m, 0)
	m.ResponseHeaders(&p.r, jsonHeaders)
	for range 29 {
		m.ResponseBody(&p.r, 100, make([]byte, 100))
	}
	if c := cap(p.r.resp.body); c > 3000 {
		t.Errorf("the held body has a capacity of %d bytes for a maxBytes of 3000", c)
	}
}

// places lists differences as "kind place", in order.
func places(diffs []diff.Difference) string {
	var s []string
	for _, d := range diffs {
		s = append(s, d.Kind.String()+" "+d.Place())
	}
	return strings.Join(s, "; ")
}
