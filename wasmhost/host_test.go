package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const wasmPath = "../build/meshmirror.wasm"

// recorder is a cluster that keeps what it receives and answers with answer.
type recorder struct {
	mu     sync.Mutex
	got    []*Callout
	answer func(ctx context.Context, c *Callout) (*Response, error)
}

func (r *recorder) Call(ctx context.Context, c *Callout) (*Response, error) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
	if r.answer == nil {
		return &Response{Headers: [][2]string{{":status", "200"}}}, nil
	}
	return r.answer(ctx, c)
}

func (r *recorder) callouts() []*Callout {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Callout(nil), r.got...)
}

func newHost(t *testing.T, config string, clusters map[string]Caller) *Host {
	t.Helper()
	return newHostWith(t, Options{PluginConfig: []byte(config), Clusters: clusters})
}

// newHostWith starts the module with opts, whose Module and Log it sets.
func newHostWith(t *testing.T, opts Options) *Host {
	t.Helper()
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("the compiled module is needed (make build): %v", err)
	}
	var logs []string
	var mu sync.Mutex
	opts.Module = module
	opts.Log = func(_ uint32, msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() }
	h, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting the plugin: %v (logs: %q)", err, logs)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var get = [][2]string{{":method", "GET"}, {":path", "/x"}, {":authority", "app"}, {":scheme", "http"}}

// request runs one request through the filter and waits until the plugin has sent
// its copies (on its tick) and their answers are in.
func request(t *testing.T, h *Host, headers [][2]string, body []byte) {
	t.Helper()
	s, err := h.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.RequestHeaders(headers, body == nil); err != nil || a != ActionContinue {
		t.Fatalf("request headers: %v, %v", a, err)
	}
	if body != nil {
		if a, err := s.RequestBody(body, true); err != nil || a != ActionContinue {
			t.Fatalf("request body: %v, %v", a, err)
		}
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	waitTicks(t, h)
	h.Wait()
}

// waitTicks waits until the plugin has stopped its tick: nothing is queued.
func waitTicks(t *testing.T, h *Host) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if h.TickPeriod() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin kept ticking for 2 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func metricValue(t *testing.T, h *Host, name string) uint64 {
	t.Helper()
	v, ok := h.Metric(name)
	if !ok {
		t.Fatalf("metric %s is not defined; defined: %v", name, h.MetricNames())
	}
	return v
}

func TestHost_copyWithBody(t *testing.T) {
	shadow := &recorder{}
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": shadow})
	body := []byte(strings.Repeat("x", 5000))
	request(t, h, append(get[:len(get):len(get)], [2]string{"content-length", "5000"}), body)
	got := shadow.callouts()
	if len(got) != 1 {
		t.Fatalf("%d callouts, want 1", len(got))
	}
	if string(got[0].Body) != string(body) {
		t.Errorf("callout body of %d bytes, want %d", len(got[0].Body), len(body))
	}
	if cl, _ := lookup(got[0].Headers, "content-length"); cl != "5000" {
		t.Errorf("content-length = %q: Envoy sets it for a non-empty body", cl)
	}
	if got[0].Timeout != 5*time.Second {
		t.Errorf("timeout = %v, want the plugin's default 5s", got[0].Timeout)
	}
	if v := metricValue(t, h, "meshmirror.s.response_2xx"); v != 1 {
		t.Errorf("response_2xx = %d, want 1", v)
	}
}

// TestHost_badArgument covers the calls Envoy refuses: the plugin counts them.
func TestHost_badArgument(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "unknown", "cluster": "nowhere"}, {"name": "known", "cluster": "shadow"}]}`,
		map[string]Caller{"shadow": &recorder{}})
	request(t, h, get, nil)
	request(t, h, [][2]string{{":method", "GET"}, {":path", "/"}}, nil) // no :authority
	if v := metricValue(t, h, "meshmirror.unknown.dispatch_failed"); v != 2 {
		t.Errorf("unknown cluster: dispatch_failed = %d, want 2", v)
	}
	if v := metricValue(t, h, "meshmirror.known.dispatch_failed"); v != 1 {
		t.Errorf("missing :authority: dispatch_failed = %d, want 1", v)
	}
	if v := metricValue(t, h, "meshmirror.known.in_flight"); v != 0 {
		t.Errorf("in_flight = %d after refusals, want 0", v)
	}
}

func TestHost_httpCallChecks(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": &recorder{}})
	h.mu.Lock()
	defer h.mu.Unlock()
	tests := []struct {
		name    string
		cluster string
		headers [][2]string
		timeout uint32
		want    Status
	}{
		{"ok", "shadow", get, 100, StatusOK},
		{"unknown cluster", "nope", get, 100, StatusBadArgument},
		{"negative timeout", "shadow", get, 1 << 31, StatusBadArgument},
		{"no :path", "shadow", get[1:], 100, StatusBadArgument},
		{"no :method", "shadow", [][2]string{{":path", "/"}, {":authority", "a"}}, 100, StatusBadArgument},
		{"no :authority", "shadow", [][2]string{{":path", "/"}, {":method", "GET"}}, 100, StatusBadArgument},
	}
	for _, tc := range tests {
		if _, st := h.httpCall(h.active, tc.cluster, tc.headers, nil, nil, tc.timeout); st != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.want)
		}
	}
}

func TestHost_timeoutZeroMeansNone(t *testing.T) {
	deadline := make(chan bool, 1)
	caller := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		_, has := ctx.Deadline()
		deadline <- has
		return &Response{Headers: [][2]string{{":status", "200"}}}, nil
	})
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": caller})
	h.mu.Lock()
	_, st := h.httpCall(h.active, "shadow", get, nil, nil, 0)
	h.mu.Unlock()
	if st != StatusOK {
		t.Fatalf("status %d", st)
	}
	if <-deadline {
		t.Error("a callout with timeout 0 got a deadline; Envoy sets none")
	}
	h.Wait()
}

// TestHost_failures: a timeout is Envoy's own 504, a failure before the response its
// 503, and a reset after the response began arrives with no headers and no body.
func TestHost_failures(t *testing.T) {
	hang := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	refused := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		return nil, errors.New("connection refused")
	})
	reset := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		return nil, fmt.Errorf("reading: %w", ErrReset)
	})
	h := newHost(t, `{"targets": [
		{"name": "hang", "cluster": "hang", "timeoutMs": 30},
		{"name": "refused", "cluster": "refused"},
		{"name": "reset", "cluster": "reset"}]}`,
		map[string]Caller{"hang": hang, "refused": refused, "reset": reset})
	start := time.Now()
	request(t, h, get, nil)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("the hanging copy was answered after %v, before its 30 ms timeout", d)
	}
	for name, want := range map[string]string{
		"meshmirror.hang.response_failed":    "timeout",
		"meshmirror.refused.response_failed": "Envoy's own 503",
		"meshmirror.reset.response_failed":   "reset",
		"meshmirror.hang.dispatched":         "sent",
		"meshmirror.refused.dispatched":      "sent",
		"meshmirror.reset.dispatched":        "sent",
		"meshmirror.reset.in_flight":         "",
		"meshmirror.hang.dropped_in_flight":  "",
		"meshmirror.refused.response_5xx":    "",
	} {
		wantValue := uint64(1)
		if want == "" {
			wantValue = 0
		}
		if v := metricValue(t, h, name); v != wantValue {
			t.Errorf("%s = %d, want %d (%s)", name, v, wantValue, want)
		}
	}
}

// TestHost_answersInAnyOrder sends many copies whose answers come back shuffled.
func TestHost_answersInAnyOrder(t *testing.T) {
	const n = 200
	release := make(chan struct{})
	shadow := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		<-release
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		status := "200"
		if v, _ := lookup(c.Headers, "x-fail"); v == "1" {
			status = "500"
		}
		return &Response{Headers: [][2]string{{":status", status}}, Body: []byte("ok")}, nil
	})
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow", "maxInFlight": 1000}]}`,
		map[string]Caller{"shadow": shadow})
	for i := range n {
		s, _ := h.NewStream()
		headers := append(get[:len(get):len(get)], [2]string{"x-fail", fmt.Sprint(i % 4 / 3)})
		s.RequestHeaders(headers, true)
		s.Done()
	}
	waitTicks(t, h)
	if v := metricValue(t, h, "meshmirror.s.in_flight"); v != n {
		t.Fatalf("in_flight = %d, want %d", v, n)
	}
	close(release)
	h.Wait()
	if ok, fail := metricValue(t, h, "meshmirror.s.response_2xx"), metricValue(t, h, "meshmirror.s.response_5xx"); ok != n*3/4 || fail != n/4 {
		t.Errorf("2xx = %d, 5xx = %d; want %d and %d", ok, fail, n*3/4, n/4)
	}
	if v := metricValue(t, h, "meshmirror.s.in_flight"); v != 0 {
		t.Errorf("in_flight = %d after every answer", v)
	}
}

// TestHost_manual: a Manual host ticks only on Tick and sends callouts only on
// Answer, in the calling goroutine.
func TestHost_manual(t *testing.T) {
	shadow := &recorder{}
	hang := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		return nil, fmt.Errorf("no answer: %w", context.DeadlineExceeded)
	})
	h := newHostWith(t, Options{Manual: true,
		PluginConfig: []byte(`{"targets": [{"name": "s", "cluster": "shadow"}, {"name": "hang", "cluster": "hang", "timeoutMs": 30}]}`),
		Clusters:     map[string]Caller{"shadow": shadow, "hang": hang}})
	s, err := h.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestHeaders(get, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if p := h.TickPeriod(); p != time.Millisecond {
		t.Fatalf("tick period %v with copies waiting, want 1ms", p)
	}
	if v := metricValue(t, h, "meshmirror.s.dispatched"); v != 0 {
		t.Fatalf("dispatched = %d before any Tick: a manual host ticked on its own", v)
	}
	if err := h.Tick(); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, h, "meshmirror.s.dispatched"); v != 1 {
		t.Fatalf("dispatched = %d after Tick, want 1", v)
	}
	if h.TickPeriod() != 0 {
		t.Errorf("tick period %v with nothing queued", h.TickPeriod())
	}
	if got := shadow.callouts(); len(got) != 0 {
		t.Fatalf("%d callouts reached the cluster before Answer", len(got))
	}
	if n, err := h.Answer(); n != 2 || err != nil {
		t.Fatalf("Answer() = %d, %v; want 2 callouts", n, err)
	}
	if got := shadow.callouts(); len(got) != 1 {
		t.Fatalf("%d callouts reached the cluster, want 1", len(got))
	}
	for name, want := range map[string]uint64{"meshmirror.s.response_2xx": 1, "meshmirror.s.in_flight": 0,
		// Envoy's 504 for the timeout comes at once, before timeoutMs: the plugin
		// knows it by its text, Envoy's router's.
		"meshmirror.hang.response_failed": 1, "meshmirror.hang.response_5xx": 0, "meshmirror.hang.in_flight": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	if n, err := h.Answer(); n != 0 || err != nil {
		t.Errorf("second Answer() = %d, %v; want nothing left", n, err)
	}
}

func TestHost_refusedConfiguration(t *testing.T) {
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	// The plugin starts all the same (SPEC.md, Validation) and says why in a gauge.
	h, err := New(context.Background(), Options{Module: module, PluginConfig: []byte(`{"targets": []}`),
		Log: func(_ uint32, msg string) { logs = append(logs, msg) }})
	if err != nil {
		t.Fatalf("the plugin failed to start on an invalid configuration: %v", err)
	}
	defer h.Close(context.Background())
	if !strings.Contains(strings.Join(logs, "\n"), "targets: must hold 1 to 16 targets, got 0") {
		t.Errorf("the plugin's log does not say why: %q", logs)
	}
	if v, ok := h.Metric("meshmirror.config_errors"); !ok || v != 1 {
		t.Errorf("meshmirror.config_errors = %d, %v; want 1", v, ok)
	}
}

func TestSerializeMap(t *testing.T) {
	pairs := [][2]string{{":path", "/"}, {"x", ""}, {"", "v"}}
	got, ok := deserializeMap(serializeMap(pairs))
	if !ok || fmt.Sprint(got) != fmt.Sprint(pairs) {
		t.Errorf("round trip = %v, %v", got, ok)
	}
	for _, bad := range [][]byte{{1, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}} {
		if _, ok := deserializeMap(bad); ok {
			t.Errorf("deserializeMap(%v) accepted a broken map", bad)
		}
	}
}

// TestHost_editHeader covers add and replace of a header map value as Envoy answers
// them: NotFound outside a stream, the map changed inside one.
func TestHost_editHeader(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": &recorder{}})
	h.mu.Lock()
	defer h.mu.Unlock()
	res, err := h.alloc.Call(context.Background(), 16)
	if err != nil {
		t.Fatal(err)
	}
	ptr := uint32(res[0])
	h.mod.Memory().Write(ptr, []byte("X-Key"+"value"))
	add := func(pairs [][2]string, key, value string) [][2]string { return append(pairs, [2]string{key, value}) }
	if st := h.editHeader(h.mod, mapRequestHeaders, ptr, 5, ptr+5, 5, add); st != uint32(StatusNotFound) {
		t.Errorf("outside a stream: status %d, want NotFound", st)
	}
	h.current = &Stream{request: [][2]string{{"x-key", "old"}}}
	defer func() { h.current = nil }()
	if st := h.editHeader(h.mod, mapRequestHeaders, ptr, 5, ptr+5, 5, add); st != uint32(StatusOK) {
		t.Fatalf("add: status %d", st)
	}
	if st := h.editHeader(h.mod, mapRequestHeaders, ptr, 5, 1<<31, 5, setHeader); st != uint32(StatusBadArgument) {
		t.Errorf("value outside memory: status %d, want BadArgument", st)
	}
	if st := h.editHeader(h.mod, mapRequestHeaders, ptr, 5, ptr+5, 5, setHeader); st != uint32(StatusOK) {
		t.Fatalf("replace: status %d", st)
	}
	if got := fmt.Sprint(h.current.request); got != "[[x-key value]]" {
		t.Errorf("headers = %s, want x-key replaced once", got)
	}
}

// TestHost_routerTimeoutHeader: Envoy's router takes a call's timeout from its
// x-envoy-upstream-rq-timeout-ms header when there is one, 0 meaning none
// (FilterUtility::finalTimeout, source/common/router/router.cc).
func TestHost_routerTimeoutHeader(t *testing.T) {
	shadow := &recorder{}
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": shadow})
	h.mu.Lock()
	for _, v := range []string{"0", "250"} {
		h.httpCall(h.active, "shadow", append(get[:len(get):len(get)], [2]string{"x-envoy-upstream-rq-timeout-ms", v}), nil, nil, 100)
	}
	h.mu.Unlock()
	h.Wait()
	var timeouts []time.Duration
	for _, c := range shadow.callouts() {
		timeouts = append(timeouts, c.Timeout)
	}
	slices.Sort(timeouts)
	if fmt.Sprint(timeouts) != "[0s 250ms]" {
		t.Errorf("timeouts %v, want 0 (none) and 250ms, from the header", timeouts)
	}
}

// TestHost_percentiles: a histogram keeps its samples for percentiles, as Envoy's
// admin reports a histogram's quantiles rather than its last value.
func TestHost_percentiles(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "shadow"}]}`, map[string]Caller{"shadow": &recorder{}})
	h.mu.Lock()
	for v := uint64(100); v >= 1; v-- {
		h.stats["meshmirror.s.latency_ms"].record(v)
	}
	h.mu.Unlock()
	got, n, ok := h.Percentiles("meshmirror.s.latency_ms", 50, 99, 100)
	if !ok || n != 100 || fmt.Sprint(got) != "[50 99 100]" {
		t.Errorf("Percentiles = %v, %d, %v; want [50 99 100] of 100", got, n, ok)
	}
	if _, _, ok := h.Percentiles("meshmirror.s.matched", 50); ok {
		t.Error("a counter has percentiles")
	}
}
