package mirror

import (
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"
)

// A copy's headers: the request's, less those a copy must not carry, with the
// target's mutations and the marker.

// isGRPC reports whether a request is a gRPC call: content-type application/grpc,
// or application/grpc+proto and the like (the gRPC over HTTP/2 specification).
func isGRPC(h header.Raw) bool {
	ct, _ := h.Get("content-type")
	const grpc = "application/grpc"
	return len(ct) >= len(grpc) && ct[:len(grpc)] == grpc && (len(ct) == len(grpc) || ct[len(grpc)] == '+' || ct[len(grpc)] == ';')
}

// copyHeaders builds the copy's headers: the request's, less those the copy must not
// carry (see dropped), with the target's mutations and the marker. content-length and
// transfer-encoding are left to Envoy, which sets content-length for a non-empty
// body. It fills buf, or a new slice when buf is too small, of the largest size it
// can need rather than appending, and compares names by length first (see
// Headers.Get): under TinyGo, each append and each string comparison is a call into
// the runtime. s keeps the last rewritten :authority.
func copyHeaders(t *config.Target, h header.Raw, marker string, s *targetState, buf [][2]string) [][2]string {
	out := buf[:0]
	if need := h.Len() + len(t.SetHeaders) + 2; cap(out) >= need {
		out = out[:need]
	} else {
		out = make([][2]string, need)
	}
	n, hasAuthority := 0, false
	it := h.Iter() // outside the loop: a loop variable whose address is taken is a new allocation per iteration
	for {
		var kv [2]string
		var ok bool
		if kv[0], kv[1], ok = it.Next(); !ok {
			break
		}
		switch name := kv[0]; len(name) {
		case len(":authority"):
			if name == ":authority" {
				hasAuthority = true
				kv[1] = authority(t, kv[1], s)
			}
		case len("content-length"):
			if name == "content-length" {
				continue
			}
		case len("transfer-encoding"):
			if name == "transfer-encoding" {
				continue
			}
		}
		if removes(t, kv[0], marker) || dropped(kv[0], t.KeepTracing) {
			continue
		}
		out[n] = kv
		n++
	}
	if !hasAuthority && t.Authority != "" {
		out[n] = [2]string{":authority", t.Authority}
		n++
	}
	n += copy(out[n:], t.SetHeaders)
	out[n] = [2]string{marker, t.Name}
	return out[:n+1]
}

func authority(t *config.Target, original string, s *targetState) string {
	switch {
	case t.Authority != "":
		return t.Authority
	case t.AuthoritySuffix == "":
		return original
	case original != s.authIn || s.authOut == "":
		// A copy of original: it is a view of the request's buffer, which the
		// cache would otherwise keep alive.
		s.authIn, s.authOut = strings.Clone(original), withSuffix(original, t.AuthoritySuffix)
	}
	return s.authOut
}

// withSuffix appends suffix to the host of an authority, before its port, as Envoy's
// request mirror policy does: reviews:9080 becomes reviews-shadow:9080.
func withSuffix(authority, suffix string) string {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 || strings.IndexByte(authority[i:], ']') >= 0 { // no port, or inside [IPv6]
		return authority + suffix
	}
	return authority[:i] + suffix + authority[i:]
}

// removes reports whether the copy drops the request's header name: the marker,
// removed, or replaced by a set.
func removes(t *config.Target, name, marker string) bool {
	if len(name) == len(marker) && name == marker {
		return true
	}
	for _, r := range t.RemoveHeaders {
		if len(r) == len(name) && r == name {
			return true
		}
	}
	for _, kv := range t.SetHeaders {
		if len(kv[0]) == len(name) && kv[0] == name {
			return true
		}
	}
	return false
}

// dropped reports whether the request header name stays off every copy: the router's
// x-envoy- headers always, trace context unless the target keeps it. It runs for every
// header of every copy, so a name is told apart by a byte or two before any string
// comparison, which is a call into TinyGo's runtime.
func dropped(name string, keepTracing bool) bool {
	if len(name) < 2 {
		return false
	}
	switch name[0] {
	case 'x':
		if len(name) < 3 {
			return false
		}
		switch name[2] {
		case 'e': // x-envoy-
			return listed(routerHeaders, name) || !keepTracing && name == "x-envoy-force-trace"
		case 'd': // x-datadog-
			return !keepTracing && len(name) > len("x-datadog-") && name[:len("x-datadog-")] == "x-datadog-"
		case 'a', 'b', 'o', 'c': // x-amzn-trace-id, x-b3-, x-ot-span-context, x-cloud-trace-context
			return !keepTracing && listed(traceHeaders, name)
		}
		return false
	case 't': // traceparent, tracestate
		return !keepTracing && name[1] == 'r' && listed(traceHeaders, name)
	case 'b', 'u', 'g': // b3, uber-trace-id, grpc-trace-bin
		return !keepTracing && (len(name) == 2 || len(name) == 13 || len(name) == 14) && listed(traceHeaders, name)
	case 's': // sw8, sw8-correlation, sw8-x
		return !keepTracing && name[1] == 'w' && listed(traceHeaders, name)
	}
	return false
}

// listed reports whether name is in names, comparing lengths first.
func listed(names []string, name string) bool {
	for _, n := range names {
		if len(n) == len(name) && n == name {
			return true
		}
	}
	return false
}

// routerHeaders are the request headers Envoy's router acts on: timeouts, retries,
// hedging, stats (the ones ConnectionManagerUtility::cleanInternalHeaders strips from
// an external request, source/common/http/conn_manager_utility.cc). On a copy they
// would override timeoutMs (0: no timeout at all) or make Envoy retry it.
var routerHeaders = []string{
	"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
	"x-envoy-expected-rq-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
	"x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-retry-grpc-on",
	"x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
	"x-envoy-hedge-on-per-try-timeout", "x-envoy-upstream-alt-stat-name",
}

// traceHeaders carry trace context: W3C, B3 (single and multi), OpenTracing, Jaeger,
// Google Cloud, gRPC, SkyWalking, AWS X-Ray; the x-datadog- headers are matched by prefix, and
// x-envoy-force-trace asks Envoy to sample the trace. x-request-id is not among them.
var traceHeaders = []string{
	"traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
	"x-b3-sampled", "x-b3-flags", "x-ot-span-context", "uber-trace-id",
	"x-cloud-trace-context", "grpc-trace-bin", "sw8", "sw8-correlation", "sw8-x",
	"x-amzn-trace-id", "x-envoy-force-trace",
}
