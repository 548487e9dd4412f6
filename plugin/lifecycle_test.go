package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// The end of a plugin context, as Envoy drives it when a newer configuration has
// replaced it (proxy-wasm-cpp-host src/wasm.cc, WasmBase::startShutdown and done):
// proxy_on_done, then proxy_on_delete at once if it returned true, else once the
// module calls proxy_done; deleting the context cancels its calls with no callback
// (Envoy's Context::~Context).

func inFlight(t *testing.T, host proxytest.HostEmulator) uint64 {
	t.Helper()
	v, err := host.GetGaugeMetric(mirror.InFlightName("shadow"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPluginContext_OnPluginDone_idle(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		host.CompleteHttpContext(request(t, host, [][2]string{{":method", "GET"}, {":path", "/"},
			{":authority", "a"}, {"x-meshmirror", "other"}})) // not copied
		if !host.FinishVM() {
			t.Error("proxy_on_done = false with nothing queued or in flight: the context need not wait")
		}
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period %d after the end", p)
		}
	})
}

// TestPluginContext_OnPluginDone_sendsQueuedAndAwaitsAnswers: a copy queued when the
// context is told to end is sent on its next tick, and the context ends, with
// proxy_done, once its answer is in.
func TestPluginContext_OnPluginDone_sendsQueuedAndAwaitsAnswers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "timeoutMs": 2000}]}`)
		host.CompleteHttpContext(request(t, host, getRequest))
		if host.FinishVM() {
			t.Fatal("proxy_on_done = true with a copy queued: Envoy would delete the context and lose it")
		}
		if p := host.GetTickPeriod(); p != tickMs {
			t.Fatalf("tick period %d while the copy waits, want %d", p, tickMs)
		}
		host.Tick()
		sent := callouts(host)
		if len(sent) != 1 {
			t.Fatalf("%d copies sent by the ending context, want 1", len(sent))
		}
		if p := host.GetTickPeriod(); p != 2000+1000 {
			t.Errorf("tick period %d while awaiting the answer, want the deadline 3000 (timeout + 1 s)", p)
		}
		if v := inFlight(t, host); v != 1 {
			t.Fatalf("in_flight = %d, want 1", v)
		}
		host.CallOnHttpCallResponse(sent[0].CalloutID, [][2]string{{":status", "200"}}, nil, nil)
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period %d after the last answer: the ended context keeps ticking", p)
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 1, mirror.Dispatched: 1, mirror.Response2xx: 1})
		if v := inFlight(t, host); v != 0 {
			t.Errorf("in_flight = %d after the end", v)
		}
	})
}

// TestPluginContext_OnPluginDone_deadline: a copy still unanswered when the deadline
// tick comes is counted as cancelled, and the context ends.
func TestPluginContext_OnPluginDone_deadline(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		host.CompleteHttpContext(request(t, host, getRequest))
		host.Tick()
		if n := len(callouts(host)); n != 1 {
			t.Fatalf("%d copies sent, want 1", n)
		}
		if host.FinishVM() {
			t.Fatal("proxy_on_done = true with a copy in flight")
		}
		if p := host.GetTickPeriod(); p != 5000+1000 {
			t.Fatalf("tick period %d, want the deadline 6000", p)
		}
		host.Tick() // the deadline
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 1, mirror.Dispatched: 1, mirror.Cancelled: 1})
		if v := inFlight(t, host); v != 0 {
			t.Errorf("in_flight = %d after the end, want 0", v)
		}
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period %d after the end", p)
		}
	})
}
