package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

var postRequest = [][2]string{
	{":method", "POST"}, {":path", "/api/orders"}, {":authority", "shop.example.com"},
	{"content-type", "application/octet-stream"}, {"content-length", "65536"},
}

func randomBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sendBody streams body in chunks of size chunk, checking that the primary is never
// paused or changed; it returns the stream's id. end closes the stream.
func sendBody(t *testing.T, host proxytest.HostEmulator, id uint32, body []byte, chunk int, end bool) {
	t.Helper()
	for off := 0; off < len(body); off += chunk {
		part := body[off:min(off+chunk, len(body))]
		last := end && off+chunk >= len(body)
		if action := host.CallOnRequestBody(id, part, last); action != types.ActionContinue {
			t.Fatalf("body action = %v, want continue: the primary must never wait", action)
		}
		if got := host.GetCurrentRequestBody(id); !bytes.Equal(got, part) {
			t.Fatalf("the primary's body chunk changed")
		}
	}
}

func startPost(t *testing.T, host proxytest.HostEmulator) uint32 {
	t.Helper()
	id := host.InitializeHttpContext()
	if action := host.CallOnRequestHeaders(id, postRequest, false); action != types.ActionContinue {
		t.Fatalf("headers action = %v, want continue", action)
	}
	return id
}

// wantBodyCopied sends a POST with body as the only copy so far and checks its copy.
func wantBodyCopied(t *testing.T, host proxytest.HostEmulator, body []byte, when string) {
	t.Helper()
	id := startPost(t, host)
	sendBody(t, host, id, body, 1000, true)
	host.Tick()
	if sent := callouts(host); len(sent) != 1 || !bytes.Equal(sent[0].Body, body) {
		t.Fatalf("%s, a body within the limit was not copied: %d copies", when, len(sent))
	}
}

func TestHttpContext_bodyCopiedByteExact(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		body := randomBody(1, 64<<10)
		id := startPost(t, host)
		sendBody(t, host, id, body, 4<<10, true) // 16 chunks
		host.Tick()
		host.CompleteHttpContext(id)
		sent := callouts(host)
		if len(sent) != 1 {
			t.Fatalf("sent %d copies, want 1", len(sent))
		}
		if !bytes.Equal(sent[0].Body, body) {
			t.Fatalf("the copy's body differs from the request's (%d bytes, want %d)", len(sent[0].Body), len(body))
		}
		if v, ok := get(sent[0].Headers, "content-length"); ok {
			t.Errorf("the copy carries content-length %q; Envoy sets it from the body", v)
		}
		host.CallOnHttpCallResponse(sent[0].CalloutID, [][2]string{{":status", "201"}}, nil, nil)
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 1, mirror.Dispatched: 1, mirror.Response2xx: 1})
	})
}

// TestHttpContext_bodyTooLarge drops the copy of a body over maxBytes, and shows that
// what was held is released: the budget (maxInFlight × maxBytes = 10000 bytes) still
// takes a body of 9000 bytes afterwards.
func TestHttpContext_bodyTooLarge(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "maxInFlight": 1, "body": {"maxBytes": 10000}}]}`)
		id := startPost(t, host)
		sendBody(t, host, id, randomBody(2, 64<<10), 4<<10, true)
		host.Tick()
		if n := len(callouts(host)); n != 0 {
			t.Fatalf("an oversize body was copied %d times", n)
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 1, mirror.DroppedBodyTooLarge: 1})
		host.CompleteHttpContext(id)

		wantBodyCopied(t, host, randomBody(3, 9000), "after a dropped body")
	})
}

// TestHttpContext_bodyBudget fills the VM's body budget with a request that streams
// slowly: a second request's copy is dropped as over the in-flight budget, and the
// budget comes back when the first request is reset.
func TestHttpContext_bodyBudget(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "maxInFlight": 1, "body": {"maxBytes": 10000}}]}`)
		slow := startPost(t, host)
		sendBody(t, host, slow, randomBody(4, 6000), 1000, false)
		second := startPost(t, host)
		sendBody(t, host, second, randomBody(5, 6000), 1000, true)
		host.Tick()
		if n := len(callouts(host)); n != 0 {
			t.Fatalf("%d copies sent past the body budget", n)
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.DroppedInFlight: 1})
		host.CompleteHttpContext(second)
		host.CompleteHttpContext(slow) // reset before its end: not copied, budget released

		wantBodyCopied(t, host, randomBody(6, 9000), "after the reset of a request that held the budget")
	})
}

func TestHttpContext_interleavedBodies(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		const streams, chunk, size = 4, 1000, 8000
		ids := make([]uint32, streams)
		bodies := make([][]byte, streams)
		for s := range streams {
			bodies[s] = randomBody(uint64(10+s), size)
			ids[s] = host.InitializeHttpContext()
			headers := append([][2]string{{"x-stream", fmt.Sprint(s)}}, postRequest...)
			host.CallOnRequestHeaders(ids[s], headers, false)
		}
		for off := 0; off < size; off += chunk {
			for s := range streams {
				host.CallOnRequestBody(ids[s], bodies[s][off:off+chunk], off+chunk == size)
			}
		}
		host.Tick()
		sent := callouts(host)
		if len(sent) != streams {
			t.Fatalf("sent %d copies, want %d", len(sent), streams)
		}
		for _, c := range sent {
			stream, _ := get(c.Headers, "x-stream")
			var s int
			fmt.Sscan(stream, &s)
			if !bytes.Equal(c.Body, bodies[s]) {
				t.Errorf("the copy of stream %s does not carry that stream's body", stream)
			}
		}
	})
}

func TestHttpContext_bodyDisabled(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "body": {"enabled": false}}]}`)
		id := startPost(t, host)
		sendBody(t, host, id, randomBody(7, 5000), 1000, true)
		host.Tick()
		sent := callouts(host)
		if len(sent) != 1 {
			t.Fatalf("sent %d copies, want 1", len(sent))
		}
		if len(sent[0].Body) != 0 {
			t.Errorf("a header-only copy carries %d body bytes", len(sent[0].Body))
		}
		if v, ok := get(sent[0].Headers, "content-length"); ok {
			t.Errorf("a header-only copy carries content-length %q", v)
		}
		if m, _ := get(sent[0].Headers, ":method"); m != "POST" {
			t.Errorf("copy method = %q", m)
		}
	})
}

func TestHttpContext_trailersEndTheRequest(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		body := randomBody(8, 3000)
		id := startPost(t, host)
		sendBody(t, host, id, body, 1000, false)
		host.Tick()
		if n := len(callouts(host)); n != 0 {
			t.Fatalf("a copy was sent before the request ended (%d)", n)
		}
		trailers := [][2]string{{"grpc-status", "0"}}
		if action := host.CallOnRequestTrailers(id, trailers); action != types.ActionContinue {
			t.Fatalf("trailers action = %v", action)
		}
		host.Tick()
		sent := callouts(host)
		if len(sent) != 1 || !bytes.Equal(sent[0].Body, body) {
			t.Fatalf("want one copy with the body at the trailers, got %d", len(sent))
		}
		if v, _ := get(sent[0].Trailers, "grpc-status"); v != "0" {
			t.Errorf("copy trailers = %v, want %v", sent[0].Trailers, trailers)
		}
	})
}

// TestHttpContext_rateLimit sends a burst: exactly burst copies pass at once, the rest
// are counted; then, as time passes, copies pass again. (The steady rate itself is
// tested on the token bucket with a controlled clock: the module's clock in wazero is
// a fake one that advances 1 ms per read.)
func TestHttpContext_rateLimit(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "rateLimit": {"perSecond": 20, "burst": 3}}]}`)
		for range 10 {
			host.CompleteHttpContext(request(t, host, getRequest))
		}
		host.Tick()
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 10, mirror.Dispatched: 3, mirror.DroppedRateLimited: 7})
		for i := 0; counter(t, host, mirror.CounterName("shadow", mirror.Dispatched)) == 3; i++ {
			if i == 200 {
				t.Fatal("no copy passed the rate limit again after 200 requests and 1 s")
			}
			time.Sleep(5 * time.Millisecond)
			host.CompleteHttpContext(request(t, host, getRequest))
			host.Tick()
		}
	})
}

// TestHttpContext_inFlightCap fills the cap, then frees it with answers that come
// after the primaries have ended.
func TestHttpContext_inFlightCap(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "maxInFlight": 2}]}`)
		for range 3 {
			host.CompleteHttpContext(request(t, host, getRequest))
		}
		host.Tick()
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 3, mirror.Dispatched: 2, mirror.DroppedInFlight: 1})
		sent := callouts(host)
		host.CallOnHttpCallResponse(sent[1].CalloutID, nil, nil, nil) // a reset frees a slot too
		if v, _ := host.GetGaugeMetric(mirror.InFlightName("shadow")); v != 1 {
			t.Fatalf("in_flight = %d, want 1", v)
		}
		host.CompleteHttpContext(request(t, host, getRequest))
		host.Tick()
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 4, mirror.Dispatched: 3, mirror.DroppedInFlight: 1, mirror.ResponseFailed: 1})
		if v, _ := host.GetGaugeMetric(mirror.InFlightName("shadow")); v != 2 {
			t.Errorf("in_flight = %d, want 2", v)
		}
		if v, _ := host.GetHistogramMetric(mirror.LatencyName("shadow")); v > 1000 {
			t.Errorf("latency_ms = %d, want the time of one test step", v)
		}
	})
}

// TestHttpContext_largeBudgets copies bodies with configurations whose body budget
// passes 2^31 bytes: in the module, int is 32 bits.
func TestHttpContext_largeBudgets(t *testing.T) {
	eight := `{"targets": [` + strings.TrimSuffix(strings.Repeat(`{"name": "t%d", "cluster": "c"},`, 8), ",") + `]}`
	for i := range 8 {
		eight = strings.Replace(eight, "%d", fmt.Sprint(i), 1)
	}
	configs := map[string]struct {
		config string
		copies int
	}{
		"16 MiB bodies":         {`{"targets": [{"name": "s", "cluster": "c", "body": {"maxBytes": 16777216}}]}`, 1},
		"eight default targets": {eight, 8},
		"huge maxInFlight":      {`{"targets": [{"name": "s", "cluster": "c", "maxInFlight": 2147483647}]}`, 1},
	}
	for name, tc := range configs {
		t.Run(name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := start(t, vm, tc.config)
				body := randomBody(9, 3000)
				id := startPost(t, host)
				sendBody(t, host, id, body, 1000, true)
				host.Tick()
				sent := callouts(host)
				if len(sent) != tc.copies {
					t.Fatalf("sent %d copies, want %d", len(sent), tc.copies)
				}
				for _, c := range sent {
					if !bytes.Equal(c.Body, body) {
						t.Errorf("a copy to %s lacks the body", c.Upstream)
					}
				}
			})
		})
	}
}

// TestHttpContext_answeredBeforeTheRequestEnded: a response that ends while its
// request is still streaming means the request never ends (Envoy resets the stream,
// ConnectionManagerImpl::doEndStream), and with HTTP/3's deferred logging the SDK
// drops the stream's log: the body budget is given back at the response's end.
func TestHttpContext_answeredBeforeTheRequestEnded(t *testing.T) {
	ends := map[string]func(proxytest.HostEmulator, uint32){
		"headers": func(h proxytest.HostEmulator, id uint32) {
			h.CallOnResponseHeaders(id, [][2]string{{":status", "413"}}, true)
		},
		"body": func(h proxytest.HostEmulator, id uint32) {
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			h.CallOnResponseBody(id, []byte("no"), true)
		},
		"trailers": func(h proxytest.HostEmulator, id uint32) {
			h.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
			h.CallOnResponseTrailers(id, nil)
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "maxInFlight": 1, "body": {"maxBytes": 10000}}]}`)
				early := startPost(t, host)
				sendBody(t, host, early, randomBody(7, 6000), 1000, false)
				end(host, early) // no log follows: the SDK drops it
				wantBodyCopied(t, host, randomBody(8, 9000), "after a request answered before its end")
				wantCounters(t, host, "shadow", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.Dispatched: 1})
			})
		})
	}
}
