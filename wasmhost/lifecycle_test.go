package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each test here follows a part of Envoy's host that the plugin can tell apart; the
// source it imitates is named in its comment.

// TestAllocator follows WasmBase::getFunctions (proxy-wasm-cpp-host src/wasm.cc): the
// module's malloc when it exports one, proxy_on_memory_allocate otherwise, and a
// module with neither fails to load ("Wasm module is missing malloc function").
func TestAllocator(t *testing.T) {
	for _, tc := range []struct {
		exports []string
		want    string
	}{
		{[]string{"malloc", "proxy_on_memory_allocate"}, "malloc"},
		{[]string{"proxy_on_memory_allocate"}, "proxy_on_memory_allocate"},
		{[]string{"malloc"}, "malloc"},
		{[]string{"free"}, ""},
	} {
		exports := map[string]bool{}
		for _, e := range tc.exports {
			exports[e] = true
		}
		if got := Allocator(exports); got != tc.want {
			t.Errorf("Allocator(%v) = %q, want %q", tc.exports, got, tc.want)
		}
	}
	h := newHost(t, oneTarget, nil)
	if got, want := h.alloc, h.exports[Allocator(h.exports)]; got != want {
		t.Error("the host does not allocate through the export Envoy would use")
	}
}

const oneTarget = `{"targets": [{"name": "s", "cluster": "shadow"}]}`

// logRecorder keeps the module's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) log(_ uint32, msg string) {
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
}

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func startWithLog(t *testing.T, opts Options) (*Host, *logRecorder) {
	t.Helper()
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("the compiled module is needed (make build): %v", err)
	}
	logs := &logRecorder{}
	opts.Module, opts.Log = module, logs.log
	h, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting the plugin: %v (logs: %q)", err, logs.lines)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, logs
}

// TestHost_canary follows createWasm and WasmHandleBase::canary (cpp-host
// src/wasm.cc): a configuration is started and configured in a VM of its own before
// the worker VM runs it, once per configuration.
func TestHost_canary(t *testing.T) {
	h, logs := startWithLog(t, Options{PluginConfig: []byte(oneTarget), Clusters: map[string]Caller{"shadow": &recorder{}}})
	if n := logs.count("mirroring to 1 targets"); n != 2 {
		t.Errorf("the plugin started %d times, want 2: the canary, then the worker", n)
	}
	if got := h.RootContexts(); len(got) != 1 {
		t.Errorf("root contexts %v in the worker, want one", got)
	}
	if err := h.Reconfigure(context.Background(), []byte(oneTarget+" ")); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("mirroring to 1 targets"); n != 4 {
		t.Errorf("after a new configuration the plugin started %d times, want 4", n)
	}
	if err := h.Reconfigure(context.Background(), []byte(oneTarget)); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("mirroring to 1 targets"); n != 5 {
		t.Errorf("a configuration seen before was checked again (%d starts, want 5)", n)
	}
	// meshmirror never refuses a configuration (SPEC.md "Validation"): an invalid one
	// passes the canary and runs, mirroring nothing.
	if err := h.Reconfigure(context.Background(), []byte(`{"targets": []}`)); err != nil {
		t.Fatalf("an invalid configuration was refused: %v", err)
	}
	if v := metricValue(t, h, "meshmirror.config_errors"); v != 1 {
		t.Errorf("config_errors = %d, want 1", v)
	}
	if got := h.RootContexts(); len(got) != 1 {
		t.Errorf("root contexts %v, want the one that runs", got)
	}
}

// TestHost_reconfigure follows a configuration change in Envoy: the new root context
// starts in the same VM (WasmBase::start, configure) and takes the new streams; a
// stream holds the plugin handle of the root it began under (ContextBase's
// plugin_handle_, cpp-host include/proxy-wasm/context.h), so the old root ends
// (PluginHandleBase's destructor → WasmBase::startShutdown) only after its last
// stream.
func TestHost_reconfigure(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	h, _ := startWithLog(t, Options{PluginConfig: []byte(`{"targets": [{"name": "a", "cluster": "a"}]}`),
		Clusters: map[string]Caller{"a": a, "b": b}})
	first := h.RootContexts()
	old, err := h.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Reconfigure(context.Background(), []byte(`{"targets": [{"name": "b", "cluster": "b"}]}`)); err != nil {
		t.Fatal(err)
	}
	both := h.RootContexts()
	if len(both) != 2 || both[0] != first[0] {
		t.Fatalf("root contexts %v after the change, want the old %v and a new one", both, first)
	}
	request(t, h, get, nil) // under the new configuration
	if _, err := old.RequestHeaders(get, true); err != nil {
		t.Fatal(err)
	}
	if err := old.Done(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old root context to end", func() bool { return len(h.RootContexts()) == 1 })
	h.Wait()
	if got := h.RootContexts(); got[0] != both[1] {
		t.Errorf("root contexts %v, want the new one %d", got, both[1])
	}
	if len(a.callouts()) != 1 || len(b.callouts()) != 1 {
		t.Errorf("copies: %d to a (the old stream's), %d to b; want 1 each", len(a.callouts()), len(b.callouts()))
	}
	for name, want := range map[string]uint64{"meshmirror.a.response_2xx": 1, "meshmirror.b.response_2xx": 1,
		"meshmirror.a.in_flight": 0, "meshmirror.a.cancelled": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// slowShadow starts the plugin with one target whose cluster answers 200 once release
// is closed.
func slowShadow(t *testing.T) (*Host, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	slow := CallerFunc(func(ctx context.Context, c *Callout) (*Response, error) {
		<-release
		return &Response{Headers: [][2]string{{":status", "200"}}}, nil
	})
	h, _ := startWithLog(t, Options{PluginConfig: []byte(`{"targets": [{"name": "s", "cluster": "slow"}]}`),
		Clusters: map[string]Caller{"slow": slow}})
	return h, release
}

// TestHost_reconfigureWithCopiesOut: the old root defers its end (proxy_on_done
// returns false), sends what it queued, and calls proxy_done when its answers are in
// (WasmBase::done: proxy_on_delete after the VM call); its tick timer is left at 0,
// or Envoy's tickHandler would re-arm it for good (Envoy source/extensions/common/
// wasm/wasm.cc).
func TestHost_reconfigureWithCopiesOut(t *testing.T) {
	h, release := slowShadow(t)
	old := h.RootContexts()[0]
	for range 3 {
		s, _ := h.NewStream()
		s.RequestHeaders(get, true)
		s.Done()
	}
	waitFor(t, "the copies to be sent", func() bool { v, _ := h.Metric("meshmirror.s.dispatched"); return v == 3 })
	if err := h.Reconfigure(context.Background(), []byte(`{"targets": [{"name": "s", "cluster": "slow"}] }`)); err != nil {
		t.Fatal(err)
	}
	if got := h.RootContexts(); !slices.Contains(got, old) {
		t.Fatalf("the old root context %d was deleted with 3 copies out: %v", old, got)
	}
	if p := h.Timers()[old]; p != 6*time.Second {
		t.Errorf("the old root's tick is %v while it awaits answers, want its 6 s deadline", p)
	}
	close(release)
	h.Wait()
	waitFor(t, "the old root context to end", func() bool { return !slices.Contains(h.RootContexts(), old) })
	if p, ok := h.Timers()[old]; ok {
		t.Errorf("the deleted root context's timer is still set (%v): Envoy would tick it for good", p)
	}
	for name, want := range map[string]uint64{"meshmirror.s.response_2xx": 3, "meshmirror.s.in_flight": 0,
		"meshmirror.s.cancelled": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}

// TestHost_deleteCancelsCalls: Envoy's Context::~Context cancels the outstanding
// calls of a deleted root context, and AsyncRequestImpl::cancel calls no callback
// (source/common/http/async_client_impl.cc). A Manual host runs every armed timer on
// Tick, so the old root's deadline comes at once: it counts its unanswered copy as
// cancelled, ends, and the call is never answered.
func TestHost_deleteCancelsCalls(t *testing.T) {
	shadow := &recorder{}
	h, _ := startWithLog(t, Options{Manual: true, PluginConfig: []byte(oneTarget),
		Clusters: map[string]Caller{"shadow": shadow}})
	old := h.RootContexts()[0]
	s, _ := h.NewStream()
	s.RequestHeaders(get, true)
	s.Done()
	if err := h.Tick(); err != nil {
		t.Fatal(err)
	}
	if err := h.Reconfigure(context.Background(), []byte(oneTarget+" ")); err != nil {
		t.Fatal(err)
	}
	if err := h.Tick(); err != nil { // the old root's deadline
		t.Fatal(err)
	}
	if got := h.RootContexts(); slices.Contains(got, old) {
		t.Fatalf("the old root context is still there after its deadline: %v", got)
	}
	if n, err := h.Answer(); n != 0 || err != nil {
		t.Errorf("Answer() = %d, %v: a cancelled call was sent or answered", n, err)
	}
	if len(shadow.callouts()) != 0 {
		t.Error("the cancelled call reached its cluster")
	}
	for name, want := range map[string]uint64{"meshmirror.s.dispatched": 1, "meshmirror.s.cancelled": 1,
		"meshmirror.s.in_flight": 0, "meshmirror.s.response_2xx": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}

// TestHost_timers follows Envoy's Wasm::setTimerPeriod and tickHandler: one timer per
// root context id, set by the root of the effective context, re-armed after each
// tick while its period is set, even once the context is gone.
func TestHost_timers(t *testing.T) {
	h, _ := startWithLog(t, Options{Manual: true, PluginConfig: []byte(oneTarget),
		Clusters: map[string]Caller{"shadow": &recorder{}}})
	first := h.RootContexts()[0]
	s, _ := h.NewStream()
	s.RequestHeaders(get, true) // the stream queues a copy: its root's timer is set
	if got := h.Timers(); len(got) != 1 || got[first] != time.Millisecond {
		t.Fatalf("timers %v, want the first root's at 1ms", got)
	}
	s.Done()
	h.mu.Lock()
	h.setTimerPeriod(99, time.Second) // a timer whose root context does not exist
	h.mu.Unlock()
	if err := h.Tick(); err != nil {
		t.Fatal(err)
	}
	if got := h.Timers(); len(got) != 1 || got[99] != time.Second {
		t.Errorf("timers %v after the tick: want only the orphan timer, kept as Envoy keeps it", got)
	}
	if v := metricValue(t, h, "meshmirror.s.dispatched"); v != 1 {
		t.Errorf("dispatched = %d: the root context did not tick", v)
	}
}

// TestHost_sharedStats follows Envoy's Context::defineMetric: each definition gets an
// id, and the same name is the same stat in the filter's scope, whichever root
// context defined it; a gauge adds up the changes of every context.
func TestHost_sharedStats(t *testing.T) {
	h, release := slowShadow(t)
	request := func() {
		s, _ := h.NewStream()
		s.RequestHeaders(get, true)
		s.Done()
	}
	request()
	if err := h.Reconfigure(context.Background(), []byte(`{"targets": [{"name": "s", "cluster": "slow", "timeoutMs": 900}]}`)); err != nil {
		t.Fatal(err)
	}
	request()
	waitFor(t, "both copies to be sent", func() bool { v, _ := h.Metric("meshmirror.s.dispatched"); return v == 2 })
	if v := metricValue(t, h, "meshmirror.s.in_flight"); v != 2 {
		t.Errorf("in_flight = %d with a copy out from each root context, want 2", v)
	}
	h.mu.Lock()
	ids := 0
	for _, m := range h.metrics {
		if m.name == "meshmirror.s.in_flight" {
			ids++
		}
	}
	h.mu.Unlock()
	if ids < 2 {
		t.Errorf("%d ids for meshmirror.s.in_flight, want one per definition (two root contexts)", ids)
	}
	close(release)
	h.Wait()
	waitFor(t, "the old root context to end", func() bool { return len(h.RootContexts()) == 1 })
	if v := metricValue(t, h, "meshmirror.s.response_2xx"); v != 2 {
		t.Errorf("response_2xx = %d, want 2: one stat counts for both root contexts", v)
	}
	if v := metricValue(t, h, "meshmirror.s.in_flight"); v != 0 {
		t.Errorf("in_flight = %d, want 0", v)
	}
}

// TestHost_streamEndOrders: HTTP/1 and HTTP/2 end a stream with proxy_on_log,
// proxy_on_done, proxy_on_delete (Envoy's doDeferredStreamDestroy: log, then
// destroyFilters → Context::onDestroy: onDone, onDelete); HTTP/3 with deferred logging
// logs after the delete (QuicStatsGatherer). Either way the stream releases its root
// context after its last call.
func TestHost_streamEndOrders(t *testing.T) {
	h, _ := startWithLog(t, Options{Manual: true, PluginConfig: []byte(oneTarget),
		Clusters: map[string]Caller{"shadow": &recorder{}}})
	var calls []string
	for _, end := range []func(*Stream) error{(*Stream).Done, (*Stream).DoneDeferredLog} {
		s, _ := h.NewStream()
		s.RequestHeaders(get, false)
		if err := end(s); err != nil {
			t.Fatal(err)
		}
		if a, err := s.RequestBody([]byte("late"), true); err != nil || a != ActionContinue {
			t.Errorf("a callback after the end: %v, %v", a, err)
		}
		h.mu.Lock()
		_, live := h.streams[s.id]
		calls = append(calls, fmt.Sprint(s.done, live, h.active.streams))
		h.mu.Unlock()
	}
	if want := "[true false 0 true false 0]"; fmt.Sprint(calls) != want {
		t.Errorf("after each end: done, live, streams of the root = %v, want %s", calls, want)
	}
}

// TestHost_noEndpoint: a cluster with no healthy endpoint makes Envoy's
// AsyncClient::send fail inline (AsyncClientImpl: "The request may get immediately
// failed"), and Context::httpCall returns InternalFailure with no callback; the
// plugin counts it in dispatch_failed.
func TestHost_noEndpoint(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "empty"}]}`, map[string]Caller{"empty": nil})
	h.mu.Lock()
	_, st := h.httpCall(h.active, "empty", get, nil, nil, 100)
	h.mu.Unlock()
	if st != StatusInternalFailure {
		t.Errorf("status %d, want InternalFailure", st)
	}
	request(t, h, get, nil)
	for name, want := range map[string]uint64{"meshmirror.s.dispatch_failed": 1, "meshmirror.s.in_flight": 0,
		"meshmirror.s.dispatched": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}

// TestHost_effectiveContext follows cpp-host src/exports.cc: set_effective_context
// refuses a context that does not exist (BadArgument), and proxy_done answers
// NotFound for a context that is not waiting to end.
func TestHost_effectiveContext(t *testing.T) {
	h := newHost(t, oneTarget, map[string]Caller{"shadow": &recorder{}})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calling, h.effective = h.active.id, h.active.id
	if st := h.done(); st != StatusNotFound {
		t.Errorf("proxy_done on the running root context = %d, want NotFound", st)
	}
	if r := h.effectiveRoot(); r != h.active {
		t.Errorf("effective root %v, want the active one", r)
	}
	h.effective = 12345 // gone: the context of the call is used
	if r := h.effectiveRoot(); r != h.active {
		t.Errorf("effective root with a vanished effective context = %v, want the calling one", r)
	}
}

// TestHost_bodyBudgetInEveryEndOrder: a request that never reaches its end gives
// its body bytes back however its stream ends. Reset, it ends with log, done, delete
// (HTTP/1, HTTP/2). Answered before it ended (an early 413), Envoy resets it
// (ConnectionManagerImpl::doEndStream) and, for HTTP/3 with deferred logging, ends it
// with done, delete, then a log the SDK drops: the plugin sees only the response end.
func TestHost_bodyBudgetInEveryEndOrder(t *testing.T) {
	post := [][2]string{{":method", "POST"}, {":path", "/"}, {":authority", "app"}, {":scheme", "http"}}
	config := []byte(`{"targets": [{"name": "s", "cluster": "shadow", "body": {"maxBytes": 1000}, "maxInFlight": 1}]}`)
	for _, tc := range []struct {
		name string
		end  func(*Stream) error
	}{
		{"reset: log, done, delete", (*Stream).Done},
		// The SDK never calls OnHttpStreamDone in this order, and a request reset
		// mid-body has no response end: the plugin hears nothing.
		{"reset mid-body, HTTP/3: done, delete, log", (*Stream).DoneDeferredLog},
		{"answered early: done, delete, log", func(s *Stream) error {
			if _, err := s.ResponseHeaders([][2]string{{":status", "413"}}, true); err != nil {
				return err
			}
			return s.DoneDeferredLog()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := startWithLog(t, Options{Manual: true, PluginConfig: config,
				Clusters: map[string]Caller{"shadow": &recorder{}}})
			send := func(end bool) *Stream {
				s, _ := h.NewStream()
				s.RequestHeaders(post, false)
				s.RequestBody(make([]byte, 800), end)
				return s
			}
			if err := tc.end(send(false)); err != nil { // held 800 of the 1000 bytes
				t.Fatal(err)
			}
			send(true).Done()
			for h.TickPeriod() > 0 {
				h.Tick()
			}
			h.Answer()
			if n := metricValue(t, h, "meshmirror.s.dispatched"); n != 1 {
				t.Errorf("dispatched = %d, want 1: the unfinished request's bytes were not given back", n)
			}
		})
	}
}

// TestHost_http3ResetsGiveBodiesBack is the repro of issue 16: three POSTs reset
// mid-body and ended in HTTP/3's deferred-log order (done, delete, then a log the SDK
// drops: Envoy's QuicStatsGatherer logs after destroyFilters, conn_manager_impl.cc
// doDeferredStreamDestroy), then three complete POSTs. Each reset stream's context is
// destroyed after its log (cpp-host ContextBase::~ContextBase erases it), so the
// plugin, asking set_effective_context, finds it gone and takes its bytes back: all
// three complete POSTs are copied, as in the HTTP/1 order.
func TestHost_http3ResetsGiveBodiesBack(t *testing.T) {
	post := [][2]string{{":method", "POST"}, {":path", "/"}, {":authority", "app"}, {":scheme", "http"}}
	config := []byte(`{"targets":[{"name":"rst-h3","cluster":"shadow","maxInFlight":2,"body":{"maxBytes":4096}}]}`)
	for _, order := range []struct {
		name string
		end  func(*Stream) error
	}{{"HTTP/1: log, done, delete", (*Stream).Done}, {"HTTP/3: done, delete, log", (*Stream).DoneDeferredLog}} {
		t.Run(order.name, func(t *testing.T) {
			h, _ := startWithLog(t, Options{Manual: true, PluginConfig: config,
				Clusters: map[string]Caller{"shadow": &recorder{}}})
			for range 3 {
				s, _ := h.NewStream()
				s.RequestHeaders(post, false)
				s.RequestBody(make([]byte, 3000), false)
				if err := order.end(s); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				s, _ := h.NewStream()
				s.RequestHeaders(post, false)
				s.RequestBody(make([]byte, 3000), true)
				s.Done()
				for h.TickPeriod() > 0 {
					h.Tick()
				}
				h.Answer()
			}
			for name, want := range map[string]uint64{"meshmirror.rst-h3.dispatched": 3,
				"meshmirror.rst-h3.dropped_in_flight": 0, "meshmirror.rst-h3.in_flight": 0} {
				if v := metricValue(t, h, name); v != want {
					t.Errorf("%s = %d, want %d", name, v, want)
				}
			}
		})
	}
}

// TestHost_grpcLocalReply: for a gRPC request, Envoy's async client answers its own
// timeout or connect failure as a trailers-only HTTP 200 with grpc-status 14 and the
// router's text as grpc-message (AsyncStreamImpl::sendHeaders sets is_grpc_request_,
// sendLocalReply hands it to Utility::prepareLocalReply, source/common/http/
// async_client_impl.cc and utility.cc; httpToGrpcStatus maps 503 and 504 to 14,
// source/common/grpc/status.cc). That is Envoy's answer, not the shadow's: the copy counts in
// response_failed and its pair is skipped, while a shadow's own UNAVAILABLE counts in
// response_grpc_error and is compared.
func TestHost_grpcLocalReply(t *testing.T) {
	call := [][2]string{{":method", "POST"}, {":path", "/grpc.health.v1.Health/Check"}, {":authority", "app"},
		{":scheme", "http"}, {"content-type", "application/grpc"}, {"te", "trailers"}}
	ok := [][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "14"},
		{"grpc-message", "backend is draining"}}
	for _, tc := range []struct {
		name   string
		answer func(ctx context.Context, c *Callout) (*Response, error)
		want   map[string]uint64
	}{
		{"connect failure", func(context.Context, *Callout) (*Response, error) { return nil, errors.New("refused") },
			map[string]uint64{"response_failed": 1, "response_grpc_error": 0, "compare_skipped": 1, "compare_same": 0}},
		{"timeout", func(context.Context, *Callout) (*Response, error) { return nil, context.DeadlineExceeded },
			map[string]uint64{"response_failed": 1, "response_grpc_error": 0, "compare_skipped": 1, "compare_same": 0}},
		{"the shadow's own UNAVAILABLE", func(context.Context, *Callout) (*Response, error) {
			return &Response{Headers: ok}, nil
		}, map[string]uint64{"response_failed": 0, "response_grpc_error": 1, "compare_skipped": 0, "compare_same": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := startWithLog(t, Options{Manual: true,
				PluginConfig: []byte(`{"targets":[{"name":"g","cluster":"shadow","compare":{"body":"none"}}]}`),
				Clusters:     map[string]Caller{"shadow": &recorder{answer: tc.answer}}})
			s, _ := h.NewStream()
			s.RequestHeaders(call, false)
			s.RequestBody([]byte{0, 0, 0, 0, 0}, true)
			for h.TickPeriod() > 0 {
				h.Tick()
			}
			h.Answer()
			s.ResponseHeaders(ok, true) // the primary's own trailers-only UNAVAILABLE
			s.Done()
			for name, want := range tc.want {
				if v := metricValue(t, h, "meshmirror.g."+name); v != want {
					t.Errorf("%s = %d, want %d", name, v, want)
				}
			}
		})
	}
}

// TestHost_refusedCopyIsNoPair: Envoy's httpCall refuses a copy to a cluster it does
// not know (BadArgument, context.cc); a copy never sent is not a pair, so it counts in
// dispatch_failed only, not in compare_skipped.
func TestHost_refusedCopyIsNoPair(t *testing.T) {
	h := newHost(t, `{"targets": [{"name": "s", "cluster": "unknown", "compare": {}}]}`, map[string]Caller{})
	for range 3 {
		s, _ := h.NewStream()
		s.RequestHeaders(get, true)
		s.ResponseHeaders([][2]string{{":status", "200"}}, true)
		s.Done()
		waitTicks(t, h)
	}
	for name, want := range map[string]uint64{"meshmirror.s.dispatch_failed": 3, "meshmirror.s.dispatched": 0,
		"meshmirror.s.compare_skipped": 0} {
		if v := metricValue(t, h, name); v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
}
