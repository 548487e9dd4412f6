package mirror

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"
)

// fakeRecorder records what the mirror reports.
type fakeRecorder struct {
	counts      map[[2]int]int // by target and Counter
	loops       int
	unsupported int
	inFlight    map[int]int // current gauge per target, the sum of the deltas
	minGauge    int         // the lowest any gauge went
	deltas      []int
	latency     map[int][]int64
	compares    map[[2]int]int // by target and CompareCounter
	primary     map[int][]int64
}

func (f *fakeRecorder) Count(target int, c Counter) {
	if f.counts == nil {
		f.counts = map[[2]int]int{}
	}
	f.counts[[2]int{target, int(c)}]++
}

func (f *fakeRecorder) LoopSkipped() { f.loops++ }

func (f *fakeRecorder) UnsupportedSkipped() { f.unsupported++ }

func (f *fakeRecorder) InFlight(target, delta int) {
	if f.inFlight == nil {
		f.inFlight = map[int]int{}
	}
	f.inFlight[target] += delta
	f.minGauge = min(f.minGauge, f.inFlight[target])
	f.deltas = append(f.deltas, delta)
}

func (f *fakeRecorder) Latency(target int, ms int64) {
	if f.latency == nil {
		f.latency = map[int][]int64{}
	}
	f.latency[target] = append(f.latency[target], ms)
}

func (f *fakeRecorder) CountCompare(target int, c CompareCounter) {
	if f.compares == nil {
		f.compares = map[[2]int]int{}
	}
	f.compares[[2]int{target, int(c)}]++
}

func (f *fakeRecorder) PrimaryLatency(target int, ms int64) {
	if f.primary == nil {
		f.primary = map[int][]int64{}
	}
	f.primary[target] = append(f.primary[target], ms)
}

func (f *fakeRecorder) count(target int, c Counter) int { return f.counts[[2]int{target, int(c)}] }

// only checks that the target's counters are exactly want, all others zero.
func (f *fakeRecorder) only(t *testing.T, target int, want map[Counter]int) {
	t.Helper()
	for c := Counter(0); c < NumCounters; c++ {
		if got := f.count(target, c); got != want[c] {
			t.Errorf("target %d: %s = %d, want %d", target, counterNames[c], got, want[c])
		}
	}
}

func newMirror(t *testing.T, doc string) (*Mirror, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	return New(mustParse(t, doc), rec, 1), rec
}

// run starts, feeds and finishes one request and returns its copies.
func run(m *Mirror, h header.List, now int64, chunks ...string) []Copy {
	var r Request
	if !m.Start(&r, h) {
		return nil
	}
	for _, c := range chunks {
		m.Body(&r, []byte(c))
	}
	return m.Finish(&r, nil, now, nil)
}

func headerValues(h [][2]string, name string) []string {
	var out []string
	for _, kv := range h {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out
}

func TestMirrorLoopSkipped(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		header string
	}{
		{"default marker", oneTarget(""), "x-meshmirror"},
		{"custom marker", `{"marker":"X-Shadow","targets":[{"name":"t","cluster":"c"}]}`, "x-shadow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, tt.doc)
			var r Request
			if m.Start(&r, req("GET", "/", [2]string{tt.header, "other"})) {
				t.Fatal("Start with the marker = true, want false")
			}
			if rec.loops != 1 {
				t.Errorf("loop_skipped = %d, want 1", rec.loops)
			}
			rec.only(t, 0, nil)
			if r.WantsBody() {
				t.Error("WantsBody after a loop skip")
			}
			m.Body(&r, []byte("body"))
			if out := m.Finish(&r, nil, 0, nil); len(out) != 0 {
				t.Errorf("Finish after a loop skip = %+v, want no copy", out)
			}
			// Without the marker the request is mirrored.
			if !m.Start(&r, req("GET", "/")) {
				t.Error("Start without the marker = false")
			}
			if rec.loops != 1 {
				t.Errorf("loop_skipped = %d after a clean request, want 1", rec.loops)
			}
		})
	}
}

func TestMirrorStartCounters(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[
		{"name":"api","cluster":"c1","match":{"paths":[{"prefix":"/api/"}]}},
		{"name":"posts","cluster":"c2","match":{"methods":["POST"]}},
		{"name":"none","cluster":"c3","percentage":0},
		{"name":"all","cluster":"c4"}
	]}`)
	requests := []struct {
		h          header.List
		want       bool
		wantCopyTo []string
	}{
		{req("GET", "/api/x"), true, []string{"c1"}},
		{req("POST", "/web"), true, []string{"c2"}},
		{req("POST", "/api/y"), true, []string{"c1", "c2"}},
		{req("GET", "/web"), true, nil},
	}
	for i, rq := range requests {
		var r Request
		if got := m.Start(&r, rq.h); got != rq.want {
			t.Errorf("request %d: Start = %v, want %v", i, got, rq.want)
		}
		out := m.Finish(&r, nil, 0, nil)
		var clusters []string
		for _, c := range out {
			if c.Cluster != "c4" {
				clusters = append(clusters, c.Cluster)
			}
			if m.Config().Targets[c.Target].Cluster != c.Cluster {
				t.Errorf("copy %+v: Target and Cluster disagree", c)
			}
			m.Answered(c.Target, false, &Answer{Status: "200"}, 1)
		}
		if !reflect.DeepEqual(clusters, rq.wantCopyTo) {
			t.Errorf("request %d: copies to %v (besides c4), want %v", i, clusters, rq.wantCopyTo)
		}
		if len(out) == 0 || out[len(out)-1].Cluster != "c4" {
			t.Errorf("request %d: no copy for the match-all target", i)
		}
	}
	rec.only(t, 0, map[Counter]int{Matched: 2, Response2xx: 2})
	rec.only(t, 1, map[Counter]int{Matched: 2, Response2xx: 2})
	rec.only(t, 2, map[Counter]int{Matched: 4, SampledOut: 4})
	rec.only(t, 3, map[Counter]int{Matched: 4, Response2xx: 4})

	// No target matches: Start is false and nothing is pending.
	m, rec = newMirror(t, oneTarget(`,"match":{"methods":["PUT"]}`))
	var r Request
	if m.Start(&r, req("GET", "/")) || r.WantsBody() {
		t.Error("Start for an unmatched request = true")
	}
	rec.only(t, 0, nil)
}

func TestMirrorBody(t *testing.T) {
	tests := []struct {
		name      string
		extra     string
		chunks    []string
		wantCopy  bool
		wantBody  string
		wantWants bool
		counters  map[Counter]int
	}{
		{"chunks appended", "", []string{"hello ", "wor", "ld"}, true, "hello world", true, map[Counter]int{Matched: 1}},
		{"no body", "", nil, true, "", true, map[Counter]int{Matched: 1}},
		{"empty chunk", "", []string{""}, true, "", true, map[Counter]int{Matched: 1}},
		{"exactly maxBytes", `,"body":{"maxBytes":10}`, []string{"01234", "56789"}, true, "0123456789", true, map[Counter]int{Matched: 1}},
		{"over maxBytes", `,"body":{"maxBytes":10}`, []string{"01234", "56789", "x", "more", "more"}, false, "", true,
			map[Counter]int{Matched: 1, DroppedBodyTooLarge: 1}},
		{"over maxBytes in one chunk", `,"body":{"maxBytes":3}`, []string{"0123"}, false, "", true,
			map[Counter]int{Matched: 1, DroppedBodyTooLarge: 1}},
		{"maxBytes 0 with a body", `,"body":{"maxBytes":0}`, []string{"x"}, false, "", true,
			map[Counter]int{Matched: 1, DroppedBodyTooLarge: 1}},
		{"maxBytes 0 without a body", `,"body":{"maxBytes":0}`, nil, true, "", true, map[Counter]int{Matched: 1}},
		{"body disabled", `,"body":{"enabled":false,"maxBytes":1}`, []string{"a large body"}, true, "", false, map[Counter]int{Matched: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, oneTarget(tt.extra))
			var r Request
			if !m.Start(&r, req("POST", "/", [2]string{"content-length", "11"})) {
				t.Fatal("Start = false")
			}
			if r.WantsBody() != tt.wantWants {
				t.Errorf("WantsBody = %v, want %v", r.WantsBody(), tt.wantWants)
			}
			for _, c := range tt.chunks {
				m.Body(&r, []byte(c))
			}
			out := m.Finish(&r, nil, 0, nil)
			if got := len(out) == 1; got != tt.wantCopy || len(out) > 1 {
				t.Fatalf("copies = %+v, want copy %v", out, tt.wantCopy)
			}
			if tt.wantCopy {
				if string(out[0].Body) != tt.wantBody {
					t.Errorf("body = %q, want %q", out[0].Body, tt.wantBody)
				}
				if tt.wantBody == "" && out[0].Body != nil {
					t.Errorf("body = %q (non-nil), want nil", out[0].Body)
				}
				if v := headerValues(out[0].Headers, "content-length"); v != nil {
					t.Errorf("copy carries content-length %v", v)
				}
			}
			rec.only(t, 0, tt.counters)
			if len(rec.deltas) != len(out) {
				t.Errorf("in-flight deltas %v for %d copies", rec.deltas, len(out))
			}
		})
	}
}

func TestMirrorBodyPerTarget(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[
		{"name":"small","cluster":"c0","body":{"maxBytes":4}},
		{"name":"large","cluster":"c1","body":{"maxBytes":100}},
		{"name":"headers-only","cluster":"c2","body":{"enabled":false}}
	]}`)
	var r Request
	m.Start(&r, req("POST", "/"))
	m.Body(&r, []byte("abc"))
	m.Body(&r, []byte("def"))
	if !r.WantsBody() {
		t.Error("WantsBody = false while the large target still copies the body")
	}
	m.Body(&r, []byte("ghi"))
	out := m.Finish(&r, [][2]string{{"x-trailer", "1"}}, 0, nil)
	if len(out) != 2 || out[0].Target != 1 || out[1].Target != 2 {
		t.Fatalf("copies = %+v, want targets 1 and 2", out)
	}
	if string(out[0].Body) != "abcdefghi" || out[1].Body != nil {
		t.Errorf("bodies = %q, %q; want abcdefghi and none", out[0].Body, out[1].Body)
	}
	for _, c := range out {
		if !reflect.DeepEqual(c.Trailers, [][2]string{{"x-trailer", "1"}}) {
			t.Errorf("copy %d trailers = %v", c.Target, c.Trailers)
		}
	}
	rec.only(t, 0, map[Counter]int{Matched: 1, DroppedBodyTooLarge: 1})
	rec.only(t, 1, map[Counter]int{Matched: 1})
	rec.only(t, 2, map[Counter]int{Matched: 1})

	// Once the only body-copying target is dropped, the body is no longer wanted.
	m, _ = newMirror(t, `{"targets":[
		{"name":"small","cluster":"c0","body":{"maxBytes":2}},
		{"name":"headers-only","cluster":"c2","body":{"enabled":false}}
	]}`)
	m.Start(&r, req("POST", "/"))
	m.Body(&r, []byte("abc"))
	if r.WantsBody() {
		t.Error("WantsBody = true after the body target was dropped")
	}
	m.Body(&r, []byte("def"))
	if out := m.Finish(&r, nil, 0, nil); len(out) != 1 || out[0].Target != 1 || out[0].Body != nil {
		t.Errorf("copies = %+v, want one header-only copy for target 1", out)
	}
}

func TestMirrorFinishAppendsAndResets(t *testing.T) {
	m, _ := newMirror(t, oneTarget(""))
	prev := []Copy{{Cluster: "earlier"}}
	var r Request
	m.Start(&r, req("POST", "/"))
	m.Body(&r, []byte("abc"))
	out := m.Finish(&r, nil, 0, prev)
	if len(out) != 2 || out[0].Cluster != "earlier" || out[1].Cluster != "c" {
		t.Errorf("Finish did not append: %+v", out)
	}
	if r.WantsBody() || !reflect.DeepEqual(r, Request{}) {
		t.Errorf("request not reset after Finish: %+v", r)
	}
	if again := m.Finish(&r, nil, 0, nil); len(again) != 0 {
		t.Errorf("second Finish = %+v, want no copy", again)
	}
}

func TestMirrorRateLimit(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[
		{"name":"limited","cluster":"c0","rateLimit":{"perSecond":1,"burst":2}},
		{"name":"free","cluster":"c1"}
	]}`)
	now := int64(1_700_000_000) * sec
	var per [2]int
	for i := 0; i < 5; i++ {
		for _, c := range run(m, req("GET", "/"), now) {
			per[c.Target]++
			m.Sent(c.Target)
			m.Answered(c.Target, false, &Answer{Status: "200"}, 1)
		}
	}
	if per != [2]int{2, 5} {
		t.Errorf("copies per target = %v, want [2 5]", per)
	}
	rec.only(t, 0, map[Counter]int{Matched: 5, DroppedRateLimited: 3, Dispatched: 2, Response2xx: 2})
	rec.only(t, 1, map[Counter]int{Matched: 5, Dispatched: 5, Response2xx: 5})

	// A second later one more token.
	if out := run(m, req("GET", "/"), now+sec); len(out) != 2 {
		t.Errorf("a second later: %d copies, want 2", len(out))
	}
}

func TestMirrorMaxInFlight(t *testing.T) {
	m, rec := newMirror(t, oneTarget(`,"maxInFlight":2`))
	var out []Copy
	for i := 0; i < 3; i++ {
		out = append(out, run(m, req("GET", "/"), 0)...)
	}
	if len(out) != 2 {
		t.Fatalf("got %d copies, want 2", len(out))
	}
	rec.only(t, 0, map[Counter]int{Matched: 3, DroppedInFlight: 1})
	if rec.inFlight[0] != 2 {
		t.Errorf("in_flight = %d, want 2", rec.inFlight[0])
	}
	// An answer frees a slot.
	m.Answered(0, false, &Answer{Status: "200"}, 3)
	if got := run(m, req("GET", "/"), 0); len(got) != 1 {
		t.Errorf("after an answer: %d copies, want 1", len(got))
	}
	// A refusal frees a slot too.
	m.Refused(0)
	if got := run(m, req("GET", "/"), 0); len(got) != 1 {
		t.Errorf("after a refusal: %d copies, want 1", len(got))
	}
	if got := run(m, req("GET", "/"), 0); len(got) != 0 {
		t.Errorf("at the cap: %d copies, want 0", len(got))
	}
	rec.only(t, 0, map[Counter]int{Matched: 6, DroppedInFlight: 2, Response2xx: 1, DispatchFailed: 1})
	if rec.inFlight[0] != 2 || rec.minGauge < 0 {
		t.Errorf("in_flight = %d (min %d), want 2", rec.inFlight[0], rec.minGauge)
	}
}

func TestMirrorOrderOfDecisions(t *testing.T) {
	// A sampled-out request does not take a rate-limit token or an in-flight slot.
	m, rec := newMirror(t, oneTarget(`,"percentage":0,"rateLimit":{"perSecond":1,"burst":1},"maxInFlight":1`))
	for i := 0; i < 3; i++ {
		run(m, req("GET", "/"), 0)
	}
	rec.only(t, 0, map[Counter]int{Matched: 3, SampledOut: 3})

	// A body dropped as too large does not take a token either.
	m, rec = newMirror(t, oneTarget(`,"body":{"maxBytes":1},"rateLimit":{"perSecond":1,"burst":1}`))
	if out := run(m, req("POST", "/"), 0, "toolarge"); len(out) != 0 {
		t.Errorf("copies %+v for a too-large body", out)
	}
	if out := run(m, req("POST", "/"), 0, "k"); len(out) != 1 {
		t.Errorf("got %d copies, want 1: the dropped body must not use the token", len(out))
	}
	rec.only(t, 0, map[Counter]int{Matched: 2, DroppedBodyTooLarge: 1})
}

func TestMirrorSharedBodyNotAliased(t *testing.T) {
	// The body is copied from the chunks: reusing the chunk buffer must not change a copy.
	m, _ := newMirror(t, oneTarget(""))
	var r Request
	m.Start(&r, req("POST", "/"))
	buf := []byte("abc")
	m.Body(&r, buf)
	copy(buf, "xyz")
	out := m.Finish(&r, nil, 0, nil)
	if len(out) != 1 || !bytes.Equal(out[0].Body, []byte("abc")) {
		t.Errorf("body = %q, want abc", out[0].Body)
	}
}

func TestMetricNames(t *testing.T) {
	want := []string{
		"matched", "sampled_out", "dispatched", "dropped_body_too_large", "dropped_rate_limited",
		"dropped_in_flight", "dispatch_failed", "response_2xx", "response_3xx", "response_4xx",
		"response_5xx", "response_failed", "response_grpc_error", "cancelled",
	}
	if int(NumCounters) != len(want) {
		t.Fatalf("NumCounters = %d, want %d", NumCounters, len(want))
	}
	for i, w := range want {
		if got := CounterName("reviews-v2", Counter(i)); got != "meshmirror.reviews-v2."+w {
			t.Errorf("CounterName(%d) = %q", i, got)
		}
	}
	if got := InFlightName("t"); got != "meshmirror.t.in_flight" {
		t.Errorf("InFlightName = %q", got)
	}
	if got := LatencyName("t"); got != "meshmirror.t.latency_ms" {
		t.Errorf("LatencyName = %q", got)
	}
	if LoopSkippedMetric != "meshmirror.loop_skipped" {
		t.Errorf("LoopSkippedMetric = %q", LoopSkippedMetric)
	}
	if !strings.HasPrefix(CounterName("a", Response5xx), "meshmirror.a.") {
		t.Error("CounterName prefix")
	}
}

// TestMirrorHeldBytes follows the bytes held for bodies through every way a body is
// let go: sent (Recycle), dropped as too large, abandoned, and no copy admitted.
func TestMirrorHeldBytes(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[
		{"name":"small","cluster":"c","body":{"maxBytes":100}},
		{"name":"big","cluster":"c","body":{"maxBytes":1000},"maxInFlight":1}]}`)
	h := header.List{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}
	if got, want := BodyBudget(m.Config()), 256*100+1*1000; got != want {
		t.Fatalf("BodyBudget = %d, want %d", got, want)
	}

	var r Request
	m.Start(&r, h)
	m.Body(&r, make([]byte, 60))
	m.Body(&r, make([]byte, 60)) // small drops out at 120; big keeps the body
	if m.Held() != 120 {
		t.Fatalf("held %d bytes, want 120", m.Held())
	}
	copies := m.Finish(&r, nil, 0, nil)
	if len(copies) != 1 || len(copies[0].Body) != 120 {
		t.Fatalf("copies = %+v", copies)
	}
	m.Recycle(copies)
	if m.Held() != 0 {
		t.Fatalf("held %d bytes after the copies were sent, want 0", m.Held())
	}

	m.Start(&r, h)
	m.Body(&r, make([]byte, 50))
	m.Abandon(&r)
	if m.Held() != 0 {
		t.Fatalf("held %d bytes after a reset, want 0", m.Held())
	}

	m.Start(&r, h) // big is still in flight: its copy is refused at Finish
	m.Body(&r, make([]byte, 200))
	if copies := m.Finish(&r, nil, 0, nil); len(copies) != 0 {
		t.Fatalf("copies past the in-flight cap: %d", len(copies))
	}
	if m.Held() != 0 {
		t.Fatalf("held %d bytes after no copy was admitted, want 0", m.Held())
	}
	if rec.count(1, DroppedInFlight) != 1 || rec.count(0, DroppedBodyTooLarge) != 2 {
		t.Errorf("counters: big dropped_in_flight %d, small dropped_body_too_large %d",
			rec.count(1, DroppedInFlight), rec.count(0, DroppedBodyTooLarge))
	}
}

// TestMirrorBodyBuffersReused checks that a sent body's buffer serves the next request.
func TestMirrorBodyBuffersReused(t *testing.T) {
	m, _ := newMirror(t, `{"targets":[{"name":"a","cluster":"c"}]}`)
	h := header.List{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}
	var r Request
	m.Start(&r, h)
	m.Body(&r, make([]byte, 4096))
	first := m.Finish(&r, nil, 0, nil)
	m.Recycle(first)
	m.Start(&r, h)
	m.Body(&r, []byte("next"))
	second := m.Finish(&r, nil, 0, nil)
	if &second[0].Body[0] != &first[0].Body[0] {
		t.Error("the second body did not reuse the first one's buffer")
	}
	if string(second[0].Body) != "next" {
		t.Errorf("reused buffer holds %q", second[0].Body)
	}
}

// BenchmarkMirrorBody measures the body path of the decision logic: a 64 KiB body in
// 16 chunks, copied to one target and recycled.
func BenchmarkMirrorBody(b *testing.B) {
	cfg, err := config.Parse([]byte(`{"targets":[{"name":"a","cluster":"c"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	m := New(cfg, nopRecorder{}, 1)
	h := header.List{{":method", "POST"}, {":path", "/upload"}, {":authority", "a"}, {"content-length", "65536"}}
	chunk := make([]byte, 4096)
	var r Request
	var queue []Copy
	b.SetBytes(16 * int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		m.Start(&r, h)
		for range 16 {
			m.Body(&r, chunk)
		}
		queue = m.Finish(&r, nil, 0, queue[:0])
		m.Recycle(queue)
		m.Answered(0, false, &Answer{Status: "200"}, 1)
	}
}

type nopRecorder struct{}

func (nopRecorder) Count(int, Counter)               {}
func (nopRecorder) LoopSkipped()                     {}
func (nopRecorder) InFlight(int, int)                {}
func (nopRecorder) Latency(int, int64)               {}
func (nopRecorder) CountCompare(int, CompareCounter) {}
func (nopRecorder) PrimaryLatency(int, int64)        {}
func (nopRecorder) UnsupportedSkipped()              {}

// TestMirrorUnsupported: CONNECT and upgrade requests are never copied, and count once
// each, whatever the targets.
func TestMirrorUnsupported(t *testing.T) {
	get := header.List{{":method", "GET"}, {":path", "/chat"}, {":authority", "a"}}
	tests := []struct {
		name    string
		headers header.List
		want    bool // unsupported
	}{
		{"CONNECT", header.List{{":method", "CONNECT"}, {":authority", "db:5432"}}, true},
		{"WebSocket upgrade", append(get[:3:3], [2]string{"connection", "Upgrade"}, [2]string{"upgrade", "websocket"}), true},
		{"HTTP/2 extended CONNECT", header.List{{":method", "CONNECT"}, {":protocol", "websocket"}, {":path", "/chat"}, {":authority", "a"}}, true},
		{"plain GET", get, false},
		{"a header named like the method", append(get[:3:3], [2]string{"x-method", "CONNECT"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c"},{"name":"b","cluster":"d"}]}`)
			var r Request
			if got := m.Start(&r, tt.headers); got == tt.want {
				t.Errorf("Start = %v", got)
			}
			if want := map[bool]int{true: 1}[tt.want]; rec.unsupported != want {
				t.Errorf("unsupported_skipped = %d, want %d", rec.unsupported, want)
			}
			if tt.want && (rec.count(0, Matched) != 0 || rec.count(1, Matched) != 0) {
				t.Error("an unsupported request counted as matched")
			}
		})
	}
}

func TestMirror_NeedsClock(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// path selects the targets the request is pending for.
		path string
		want bool
	}{
		{"no rate limit, no compare", `{"targets":[{"name":"a","cluster":"c"}]}`, "/", false},
		{"rate limit", `{"targets":[{"name":"a","cluster":"c","rateLimit":{"perSecond":1,"burst":1}}]}`, "/", true},
		{"compare", `{"targets":[{"name":"a","cluster":"c","compare":{}}]}`, "/", true},
		{"only the target without either is pending", `{"targets":[
			{"name":"a","cluster":"c"},
			{"name":"b","cluster":"c","match":{"paths":[{"prefix":"/b"}]},"rateLimit":{"perSecond":1,"burst":1}}]}`, "/a", false},
		{"the limited target is pending too", `{"targets":[
			{"name":"a","cluster":"c"},
			{"name":"b","cluster":"c","match":{"paths":[{"prefix":"/b"}]},"rateLimit":{"perSecond":1,"burst":1}}]}`, "/b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newMirror(t, tt.doc)
			var r Request
			if !m.Start(&r, req("GET", tt.path)) {
				t.Fatal("Start = false, want a pending copy")
			}
			if got := m.NeedsClock(&r); got != tt.want {
				t.Errorf("NeedsClock = %v, want %v", got, tt.want)
			}
		})
	}
}
