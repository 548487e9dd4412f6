package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

// TestWebSocket: a WebSocket session through the runner works for the primary, and is
// never copied: it counts once in unsupported_skipped. The runner passes the upgrade's
// headers and then its bytes through the filter, as Envoy does (docs/root/intro/
// arch_overview/http/upgrades.rst: "Upgrades pass both the HTTP headers and the
// upgrade payload through an HTTP filter chain").
func TestWebSocket(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		var msg string
		for websocket.Message.Receive(ws, &msg) == nil {
			websocket.Message.Send(ws, "echo: "+msg)
		}
	}))
	t.Cleanup(echo.Close)
	shadow := backend(t, "shadow", nil)
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow"}]}`,
		&runner.Backend{Addr: strings.TrimPrefix(echo.URL, "http://")}, map[string]string{"shadow": shadow.Addr})
	ws, err := websocket.Dial("ws://"+m.addr+"/chat", "", "http://"+m.addr)
	if err != nil {
		t.Fatalf("the WebSocket handshake through the runner failed: %v", err)
	}
	for _, msg := range []string{"hello", "world"} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		if err := websocket.Message.Receive(ws, &got); err != nil || got != "echo: "+msg {
			t.Fatalf("received %q, %v; want the primary's echo of %q", got, err, msg)
		}
	}
	ws.Close()
	waitFor(t, mirror.UnsupportedSkippedMetric, func() bool { return m.metric(t, mirror.UnsupportedSkippedMetric) == 1 })
	time.Sleep(20 * time.Millisecond) // a copy would leave on the next tick
	if n := len(shadow.Requests()); n != 0 {
		t.Errorf("the shadow received %d copies of a WebSocket session", n)
	}
	if v := m.metric(t, mirror.CounterName("shadow", mirror.Matched)); v != 0 {
		t.Errorf("matched = %d", v)
	}
}

// TestRouterTimeoutHeader: a request's x-envoy-upstream-rq-timeout-ms: 0 would give
// its copy no timeout at all in Envoy; the copy goes without it, so a hanging shadow
// still times out at timeoutMs and frees its slot.
func TestRouterTimeoutHeader(t *testing.T) {
	hangs := backend(t, "hangs", func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Second) })
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "timeoutMs": 200}]}`,
		backend(t, "primary", nil), map[string]string{"shadow": hangs.Addr})
	header := http.Header{"X-Envoy-Upstream-Rq-Timeout-Ms": {"0"}, "X-Envoy-Max-Retries": {"5"}}
	resp, _, _ := send(t, m.addr, "GET", "/api/x", header, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("primary answered %d", resp.StatusCode)
	}
	start := time.Now()
	name := mirror.CounterName("shadow", mirror.ResponseFailed)
	waitFor(t, name, func() bool { return m.metric(t, name) == 1 })
	if took := time.Since(start); took > time.Second {
		t.Errorf("the copy failed after %v; its timeout is 200 ms", took)
	}
	got := hangs.Requests()
	if len(got) != 1 {
		t.Fatalf("the shadow received %d copies", len(got))
	}
	for _, h := range []string{"X-Envoy-Upstream-Rq-Timeout-Ms", "X-Envoy-Max-Retries"} {
		if v := got[0].Header.Get(h); v != "" {
			t.Errorf("the copy carries %s: %s", h, v)
		}
	}
	if v := m.metric(t, mirror.InFlightName("shadow")); v != 0 {
		t.Errorf("in_flight = %d after the timeout", v)
	}
}

// TestTracingDrop: with tracing "drop" (the default) the shadow sees no trace context
// but the primary's x-request-id; with "keep" it sees the trace context unchanged.
func TestTracingDrop(t *testing.T) {
	trace := http.Header{
		"Traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Tracestate":   {"rojo=00f067aa0ba902b7"},
		"X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"},
		"X-B3-Sampled": {"1"}, "B3": {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"},
		"X-Request-Id": {"3e2b1c9a-trace-me"},
	}
	for tracing, kept := range map[string]bool{"drop": false, "keep": true} {
		t.Run(tracing, func(t *testing.T) {
			primary, shadow := backend(t, "primary", nil), backend(t, "shadow", nil)
			m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "tracing": "`+tracing+`"}]}`,
				primary, map[string]string{"shadow": shadow.Addr})
			send(t, m.addr, "GET", "/api/x", trace, nil)
			waitFor(t, "the copy", func() bool { return len(shadow.Requests()) == 1 })
			copied, original := shadow.Requests()[0].Header, primary.Requests()[0].Header
			for name, want := range trace {
				if name == "X-Request-Id" {
					if copied.Get(name) != original.Get(name) || copied.Get(name) != want[0] {
						t.Errorf("x-request-id: copy %q, primary %q, want both %q", copied.Get(name), original.Get(name), want[0])
					}
					continue
				}
				if got := copied.Get(name) != ""; got != kept {
					t.Errorf("tracing %s: the copy carries %s: %v", tracing, name, got)
				}
				if original.Get(name) != want[0] {
					t.Errorf("the primary's %s changed: %q", name, original.Get(name))
				}
			}
		})
	}
}
