package mirror

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
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
func run(m *Mirror, h Headers, now int64, chunks ...string) []Copy {
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
		h          Headers
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

func TestMirrorCopyHeaders(t *testing.T) {
	h := Headers{
		{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default"}, {":scheme", "http"},
		{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
		{"content-length", "4"}, {"transfer-encoding", "chunked"}, {"x-keep", "1"}, {"x-keep", "2"},
	}
	tests := []struct {
		name  string
		extra string
		want  [][2]string
	}{
		{
			name: "no mutations",
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default"}, {":scheme", "http"},
				{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "authority",
			extra: `,"authority":"reviews-shadow.default.svc.cluster.local"`,
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews-shadow.default.svc.cluster.local"},
				{":scheme", "http"}, {"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "authoritySuffix",
			extra: `,"authoritySuffix":"-shadow"`,
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default-shadow"}, {":scheme", "http"},
				{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "set and remove",
			extra: `,"headers":{"set":{"X-Env":"shadow","x-new":"n",":path":"/shadow"},"remove":["Authorization","cookie","x-absent"]}`,
			want: [][2]string{
				{":method", "POST"}, {":authority", "reviews.default"}, {":scheme", "http"},
				{"x-keep", "1"}, {"x-keep", "2"},
				{"x-env", "shadow"}, {"x-new", "n"}, {":path", "/shadow"}, {"x-meshmirror", "t"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, oneTarget(tt.extra))
			out := run(m, h, 0)
			if len(out) != 1 {
				t.Fatalf("got %d copies, want 1", len(out))
			}
			c := out[0]
			got := c.Headers
			// Set headers follow in the order of the JSON object, the marker last.
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headers\n got %v\nwant %v", got, tt.want)
			}
			for _, name := range []string{"content-length", "transfer-encoding"} {
				if v := headerValues(got, name); v != nil {
					t.Errorf("copy carries %s: %v", name, v)
				}
			}
			if v := headerValues(got, "x-meshmirror"); !reflect.DeepEqual(v, []string{"t"}) {
				t.Errorf("marker = %v, want [t]", v)
			}
			if c.Cluster != "c" || c.TimeoutMs != 5000 || c.Target != 0 {
				t.Errorf("copy = %+v", c)
			}
			// The primary's headers are not changed.
			if h[2][1] != "reviews.default" || h[4][0] != "authorization" || len(h) != 12 {
				t.Errorf("request headers changed: %v", h)
			}
			rec.only(t, 0, map[Counter]int{Matched: 1})
		})
	}
}

func TestMirrorCopyAuthorityWithoutOriginal(t *testing.T) {
	h := Headers{{":method", "GET"}, {":path", "/"}}
	m, _ := newMirror(t, oneTarget(`,"authority":"shadow.local"`))
	out := run(m, h, 0)
	if len(out) != 1 || !reflect.DeepEqual(headerValues(out[0].Headers, ":authority"), []string{"shadow.local"}) {
		t.Errorf("copies %+v, want :authority shadow.local", out)
	}
	m, _ = newMirror(t, oneTarget(`,"authoritySuffix":"-shadow"`))
	out = run(m, h, 0)
	if len(out) != 1 || headerValues(out[0].Headers, ":authority") != nil {
		t.Errorf("copies %+v, want no :authority", out)
	}
}

func TestMirrorMarkerOnCopyPerTarget(t *testing.T) {
	m, _ := newMirror(t, `{"marker":"x-shadow","targets":[{"name":"a","cluster":"ca"},{"name":"b","cluster":"cb"}]}`)
	out := run(m, req("GET", "/"), 0)
	if len(out) != 2 {
		t.Fatalf("got %d copies, want 2", len(out))
	}
	for i, name := range []string{"a", "b"} {
		if out[i].Target != i {
			t.Errorf("copy %d: Target = %d", i, out[i].Target)
		}
		if v := headerValues(out[i].Headers, "x-shadow"); !reflect.DeepEqual(v, []string{name}) {
			t.Errorf("copy %d: marker %v, want [%s]", i, v, name)
		}
		if v := headerValues(out[i].Headers, "x-meshmirror"); v != nil {
			t.Errorf("copy %d carries the default marker %v", i, v)
		}
	}
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

func TestMirrorAnswered(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		latency int64
		want    Counter
	}{
		{"200", "200", 12, Response2xx},
		{"204", "204", 12, Response2xx},
		{"302", "302", 12, Response3xx},
		{"404", "404", 12, Response4xx},
		{"503", "503", 12, Response5xx},
		{"fast 504", "504", 999, Response5xx},
		{"504 at the timeout", "504", 1000, ResponseFailed},
		{"504 after the timeout", "504", 1500, ResponseFailed},
		{"503 after the timeout", "503", 1500, Response5xx},
		{"no response", "", 3, ResponseFailed},
		{"1xx", "100", 3, ResponseFailed},
		{"malformed", "2x0", 3, ResponseFailed},
		{"too long", "2000", 3, ResponseFailed},
		{"600", "600", 3, ResponseFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, oneTarget(`,"timeoutMs":1000`))
			out := run(m, req("GET", "/"), 0)
			if len(out) != 1 || rec.inFlight[0] != 1 {
				t.Fatalf("copies %d, in_flight %d; want 1, 1", len(out), rec.inFlight[0])
			}
			m.Sent(0)
			m.Answered(0, false, &Answer{Status: tt.status}, tt.latency)
			rec.only(t, 0, map[Counter]int{Matched: 1, Dispatched: 1, tt.want: 1})
			if !reflect.DeepEqual(rec.latency[0], []int64{tt.latency}) {
				t.Errorf("latencies = %v, want [%d]", rec.latency[0], tt.latency)
			}
			if !reflect.DeepEqual(rec.deltas, []int{1, -1}) {
				t.Errorf("in-flight deltas = %v, want [1 -1]", rec.deltas)
			}
		})
	}
}

func TestMirrorInFlightNeverNegative(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"ca"},{"name":"b","cluster":"cb"}]}`)
	// Answers and refusals without a copy in flight do not move the gauge.
	m.Answered(0, false, &Answer{Status: "200"}, 1)
	m.Refused(1)
	if len(rec.deltas) != 0 {
		t.Errorf("in-flight deltas %v without any copy", rec.deltas)
	}
	rec.only(t, 0, map[Counter]int{Response2xx: 1})
	rec.only(t, 1, map[Counter]int{DispatchFailed: 1})

	out := run(m, req("GET", "/"), 0)
	if len(out) != 2 {
		t.Fatalf("got %d copies", len(out))
	}
	m.Refused(0)
	m.Refused(0)
	m.Answered(1, false, &Answer{Status: ""}, 5000)
	m.Answered(1, false, &Answer{Status: ""}, 5000)
	if rec.inFlight[0] != 0 || rec.inFlight[1] != 0 || rec.minGauge < 0 {
		t.Errorf("gauges %v (min %d), want 0 and never negative", rec.inFlight, rec.minGauge)
	}
	rec.only(t, 0, map[Counter]int{Matched: 1, Response2xx: 1, DispatchFailed: 2})
	rec.only(t, 1, map[Counter]int{Matched: 1, DispatchFailed: 1, ResponseFailed: 2})
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

func TestWithSuffix(t *testing.T) {
	tests := []struct{ authority, want string }{
		{"reviews", "reviews-shadow"},
		{"reviews:9080", "reviews-shadow:9080"},
		{"reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local-shadow:9080"},
		{"[::1]", "[::1]-shadow"},
		{"[::1]:8080", "[::1]-shadow:8080"},
	}
	for _, tc := range tests {
		if got := withSuffix(tc.authority, "-shadow"); got != tc.want {
			t.Errorf("withSuffix(%q) = %q, want %q", tc.authority, got, tc.want)
		}
	}
}

// TestMirrorHeldBytes follows the bytes held for bodies through every way a body is
// let go: sent (Recycle), dropped as too large, abandoned, and no copy admitted.
func TestMirrorHeldBytes(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[
		{"name":"small","cluster":"c","body":{"maxBytes":100}},
		{"name":"big","cluster":"c","body":{"maxBytes":1000},"maxInFlight":1}]}`)
	h := Headers{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}
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
	h := Headers{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}
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

// TestMirrorHeadersReused: a recycled copy's header slice serves the next copy,
// which holds its own request's headers, and the rewritten :authority of the last
// request is reused only for the same authority.
func TestMirrorHeadersReused(t *testing.T) {
	m, _ := newMirror(t, `{"targets":[{"name":"a","cluster":"c","authoritySuffix":"-shadow"}]}`)
	var r Request
	copyOf := func(authority, path string) []Copy {
		t.Helper()
		if !m.Start(&r, Headers{{":method", "GET"}, {":path", path}, {":authority", authority}}) {
			t.Fatalf("%s%s not copied", authority, path)
		}
		return m.Finish(&r, nil, 0, nil)
	}
	want := func(c Copy, authority, path string) {
		t.Helper()
		got := Headers(c.Headers)
		if a, _ := got.Get(":authority"); a != authority {
			t.Errorf(":authority = %q, want %q", a, authority)
		}
		if p, _ := got.Get(":path"); p != path {
			t.Errorf(":path = %q, want %q", p, path)
		}
	}
	first := copyOf("reviews:9080", "/one")
	want(first[0], "reviews-shadow:9080", "/one")
	m.Recycle(first)
	second := copyOf("reviews:9080", "/two")
	if &second[0].Headers[0] != &first[0].Headers[0] {
		t.Error("the second copy did not reuse the first one's header slice")
	}
	want(second[0], "reviews-shadow:9080", "/two")
	m.Recycle(second)
	want(copyOf("ratings", "/three")[0], "ratings-shadow", "/three")
	want(copyOf("reviews:9080", "/four")[0], "reviews-shadow:9080", "/four")
}

// BenchmarkMirrorBody measures the body path of the decision logic: a 64 KiB body in
// 16 chunks, copied to one target and recycled.
func BenchmarkMirrorBody(b *testing.B) {
	cfg, err := ParseConfig([]byte(`{"targets":[{"name":"a","cluster":"c"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	m := New(cfg, nopRecorder{}, 1)
	h := Headers{{":method", "POST"}, {":path", "/upload"}, {":authority", "a"}, {"content-length", "65536"}}
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

// TestMirrorCancel: copies whose calls the host cancels count once each in cancelled
// and leave in_flight; copies answered before do not.
func TestMirrorCancel(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c"},{"name":"b","cluster":"d"}]}`)
	for range 3 {
		var r Request
		m.Start(&r, Headers{{":method", "GET"}, {":path", "/"}, {":authority", "x"}})
		m.Finish(&r, nil, 0, nil)
	}
	m.Sent(0)
	m.Sent(0)
	m.Sent(0)
	m.Answered(0, false, &Answer{Status: "200"}, 1)
	m.Cancel()
	m.Cancel() // nothing left the second time
	rec.only(t, 0, map[Counter]int{Matched: 3, Dispatched: 3, Response2xx: 1, Cancelled: 2})
	rec.only(t, 1, map[Counter]int{Matched: 3, Cancelled: 3})
	if rec.inFlight[0] != 0 || rec.inFlight[1] != 0 || rec.minGauge < 0 {
		t.Errorf("in_flight = %v (lowest %d), want 0 and never negative", rec.inFlight, rec.minGauge)
	}
}

// TestMirrorUnsupported: CONNECT and upgrade requests are never copied, and count once
// each, whatever the targets.
func TestMirrorUnsupported(t *testing.T) {
	get := Headers{{":method", "GET"}, {":path", "/chat"}, {":authority", "a"}}
	tests := []struct {
		name    string
		headers Headers
		want    bool // unsupported
	}{
		{"CONNECT", Headers{{":method", "CONNECT"}, {":authority", "db:5432"}}, true},
		{"WebSocket upgrade", append(get[:3:3], [2]string{"connection", "Upgrade"}, [2]string{"upgrade", "websocket"}), true},
		{"HTTP/2 extended CONNECT", Headers{{":method", "CONNECT"}, {":protocol", "websocket"}, {":path", "/chat"}, {":authority", "a"}}, true},
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

// TestCopyDropsRouterAndTraceHeaders: the copy never carries the x-envoy- headers
// Envoy's router acts on, and carries trace context only with tracing "keep";
// x-request-id and other x-envoy- headers stay.
func TestCopyDropsRouterAndTraceHeaders(t *testing.T) {
	request := Headers{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"user-agent", "u"},
		{"x-request-id", "rid"}, {"x-envoy-original-path", "/old"}, {"sec-fetch-mode", "cors"}, {"grpc-timeout", "1S"}}
	for _, name := range routerHeaders {
		request = append(request, [2]string{name, "0"})
	}
	for _, name := range append(traceHeaders, "x-datadog-trace-id", "x-datadog-parent-id") {
		request = append(request, [2]string{name, "trace"})
	}
	kept := []string{":method", ":path", ":authority", "user-agent", "x-request-id", "x-envoy-original-path",
		"sec-fetch-mode", "grpc-timeout", "x-meshmirror"}
	for _, tc := range []struct {
		tracing string
		want    []string
	}{
		{"drop", kept},
		{"keep", append(append(kept[:len(kept):len(kept)], traceHeaders...), "x-datadog-trace-id", "x-datadog-parent-id")},
	} {
		cfg := mustParse(t, `{"targets":[{"name":"t","cluster":"c","tracing":"`+tc.tracing+`",
			"headers":{"set":{"traceparent":"00-set-by-the-target"}}}]}`)
		got := map[string]bool{}
		for _, kv := range cfg.Targets[0].copyHeaders(RawHeadersOf(request), cfg.Marker, &targetState{}, nil) {
			got[kv[0]] = true
		}
		want := map[string]bool{"traceparent": true} // set by the target: always there
		for _, name := range tc.want {
			want[name] = true
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tracing %s: copy headers %v, want %v", tc.tracing, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}

// TestMirrorAnsweredGRPC: a gRPC copy answered with HTTP 200 is a success only with
// grpc-status 0; a non-gRPC copy ignores grpc-status.
func TestMirrorAnsweredGRPC(t *testing.T) {
	tests := []struct {
		grpc   bool
		answer Answer
		want   Counter
	}{
		{true, Answer{Status: "200", GRPCStatus: "0"}, Response2xx},
		{true, Answer{Status: "200", GRPCStatus: "14"}, ResponseGRPCError},
		{true, Answer{Status: "200"}, ResponseGRPCError}, // no grpc-status: INTERNAL for a client
		{true, Answer{Status: "204", GRPCStatus: "0"}, ResponseGRPCError},
		{true, Answer{Status: "503"}, Response5xx},
		{true, Answer{}, ResponseFailed},
		{false, Answer{Status: "200", GRPCStatus: "14"}, Response2xx},
	}
	for _, tt := range tests {
		m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c"}]}`)
		m.Answered(0, tt.grpc, &tt.answer, 1)
		rec.only(t, 0, map[Counter]int{tt.want: 1})
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{"application/grpc": true, "application/grpc+proto": true,
		"application/grpc;charset=utf-8": true, "application/grpc-web": false, "application/json": false, "": false} {
		if got := isGRPC(RawHeadersOf(Headers{{"content-type", ct}})); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
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
