package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// TestHttpContext_unsupported: CONNECT and upgrade requests pass untouched and are
// never copied, each counted once in unsupported_skipped.
func TestHttpContext_unsupported(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c"}, {"name": "other", "cluster": "d"}]}`)
		websocket := [][2]string{{":method", "GET"}, {":path", "/chat"}, {":authority", "a"},
			{"connection", "Upgrade"}, {"upgrade", "websocket"}, {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}}
		connect := [][2]string{{":method", "CONNECT"}, {":authority", "db.example.com:5432"}}
		for _, headers := range [][][2]string{websocket, connect} {
			id := host.InitializeHttpContext()
			if a := host.CallOnRequestHeaders(id, headers, false); a != types.ActionContinue {
				t.Fatalf("headers action %v", a)
			}
			if a := host.CallOnRequestBody(id, []byte("tunnelled bytes"), true); a != types.ActionContinue {
				t.Fatalf("body action %v", a)
			}
			host.CompleteHttpContext(id)
		}
		host.Tick()
		if n := len(callouts(host)); n != 0 {
			t.Errorf("%d copies of CONNECT and upgrade requests", n)
		}
		if v := counter(t, host, mirror.UnsupportedSkippedMetric); v != 2 {
			t.Errorf("%s = %d, want 2", mirror.UnsupportedSkippedMetric, v)
		}
		wantCounters(t, host, "shadow", nil)
	})
}

// TestHttpContext_copyHeaders: the router's x-envoy- headers never reach the copy;
// trace context only with tracing "keep"; x-request-id always.
func TestHttpContext_copyHeaders(t *testing.T) {
	headers := append(getRequest[:len(getRequest):len(getRequest)],
		[2]string{"x-request-id", "7d1c"}, [2]string{"x-envoy-upstream-rq-timeout-ms", "0"},
		[2]string{"x-envoy-max-retries", "3"}, [2]string{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		[2]string{"x-b3-traceid", "80f198ee56343ba8"}, [2]string{"x-datadog-trace-id", "1"},
		[2]string{"x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"})
	for tracing, traced := range map[string]bool{"drop": false, "keep": true} {
		t.Run(tracing, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "tracing": "`+tracing+`"}]}`)
				request(t, host, headers)
				host.Tick()
				sent := callouts(host)
				if len(sent) != 1 {
					t.Fatalf("%d copies", len(sent))
				}
				for _, name := range []string{"x-envoy-upstream-rq-timeout-ms", "x-envoy-max-retries"} {
					if _, ok := get(sent[0].Headers, name); ok {
						t.Errorf("the copy carries %s", name)
					}
				}
				for _, name := range []string{"traceparent", "x-b3-traceid", "x-datadog-trace-id", "x-amzn-trace-id"} {
					if _, ok := get(sent[0].Headers, name); ok != traced {
						t.Errorf("tracing %s: the copy carries %s: %v", tracing, name, ok)
					}
				}
				if v, _ := get(sent[0].Headers, "x-request-id"); v != "7d1c" {
					t.Errorf("x-request-id = %q, want the primary's", v)
				}
			})
		})
	}
}

// TestHttpContext_grpcAnswers: a gRPC copy answered with HTTP 200 is classified by
// grpc-status, in the headers of a trailers-only answer or in the trailers.
func TestHttpContext_grpcAnswers(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c"}]}`)
		grpc := [][2]string{{":method", "POST"}, {":path", "/grpc.health.v1.Health/Check"},
			{":authority", "health"}, {":scheme", "http"}, {"content-type", "application/grpc"}, {"te", "trailers"}}
		ok := [][2]string{{":status", "200"}, {"content-type", "application/grpc"}}
		answers := []struct {
			headers, trailers [][2]string
		}{
			{ok, [][2]string{{"grpc-status", "0"}}},                                // success
			{append(ok[:2:2], [2]string{"grpc-status", "14"}), nil},                // trailers-only UNAVAILABLE
			{ok, [][2]string{{"grpc-status", "5"}, {"grpc-message", "not found"}}}, // NOT_FOUND
			{ok, nil},                              // no grpc-status at all
			{[][2]string{{":status", "503"}}, nil}, // HTTP failure
		}
		for range answers {
			id := host.InitializeHttpContext()
			host.CallOnRequestHeaders(id, grpc, false)
			host.CallOnRequestBody(id, []byte{0, 0, 0, 0, 0}, true)
			host.CompleteHttpContext(id)
		}
		host.Tick()
		sent := callouts(host)
		if len(sent) != len(answers) {
			t.Fatalf("%d copies, want %d", len(sent), len(answers))
		}
		for i := len(sent) - 1; i >= 0; i-- { // the emulator reuses answered ids: newest first
			host.CallOnHttpCallResponse(sent[i].CalloutID, answers[i].headers, answers[i].trailers, nil)
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 5, mirror.Dispatched: 5,
			mirror.Response2xx: 1, mirror.ResponseGRPCError: 3, mirror.Response5xx: 1})
	})
}
