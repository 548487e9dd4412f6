package mirror

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"strings"
	"testing"
	"unsafe"

	"github.com/meshmirror/meshmirror/plugin/header"

	"github.com/tidwall/gjson"
)

// Equal answers must look equal, and different ones different: the cases of issue
// 16, each of which a user met with compare on.

func startPairWith(t *testing.T, m *Mirror, now int64, h header.List) *pairRun {
	t.Helper()
	p := &pairRun{t: t, m: m, now: now}
	if !m.Start(&p.r, h) {
		t.Fatal("the request was not selected")
	}
	copies := m.Finish(&p.r, nil, now, nil)
	if len(copies) != 1 || copies[0].Pair == nil {
		t.Fatalf("%d copies, want 1 with a pair", len(copies))
	}
	p.cp = copies[0]
	m.Sent(p.cp.Target)
	return p
}

func gzipped(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Name = "body.json" // a header field the decoder must skip
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zlibbed(t *testing.T, s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func rawDeflated(t *testing.T, s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func withEncoding(h header.List, coding string) header.List {
	return append(h[:len(h):len(h)], [2]string{"content-encoding", coding})
}

// TestPairContentEncoding: gzip and deflate bodies are compared decoded; a body that
// inflates past maxBytes is skipped, not expanded; other codings only byte for byte,
// with body exact, against the same coding.
func TestPairContentEncoding(t *testing.T) {
	const doc, reordered, changed = `{"a":1,"b":[1,2]}`, `{"b":[1,2.0], "a":1}`, `{"a":1,"b":[1,3]}`
	bomb := gzipped(t, strings.Repeat("0", 1<<20)) // 1 MiB of zeros in about 1 KiB
	tests := []struct {
		name                   string
		compare                string
		primary, shadow        header.List
		primaryBody, shadowBod string
		want                   CompareCounter
	}{
		{"gzip against identity", `{}`, jsonHeaders, withEncoding(jsonHeaders, "gzip"), doc, gzipped(t, reordered), CompareSame},
		{"gzip on both sides", `{}`, withEncoding(jsonHeaders, "gzip"), withEncoding(jsonHeaders, "gzip"), gzipped(t, doc), gzipped(t, reordered), CompareSame},
		{"gzip, a real difference", `{}`, withEncoding(jsonHeaders, "gzip"), withEncoding(jsonHeaders, "gzip"), gzipped(t, doc), gzipped(t, changed), CompareDiffers},
		{"zlib deflate against identity", `{}`, jsonHeaders, withEncoding(jsonHeaders, "deflate"), doc, zlibbed(t, reordered), CompareSame},
		{"raw deflate against identity", `{}`, jsonHeaders, withEncoding(jsonHeaders, "deflate"), doc, rawDeflated(t, reordered), CompareSame},
		{"exact, gzip against identity", `{"body":"exact"}`, jsonHeaders, withEncoding(jsonHeaders, "gzip"), doc, gzipped(t, doc), CompareSame},
		{"corrupt gzip differs", `{}`, jsonHeaders, withEncoding(jsonHeaders, "gzip"), doc, gzipped(t, doc)[:20], CompareDiffers},
		{"a bomb is skipped", `{}`, jsonHeaders, withEncoding(jsonHeaders, "gzip"), doc, bomb, CompareSkipped},
		{"br, exact, same bytes", `{"body":"exact"}`, withEncoding(jsonHeaders, "br"), withEncoding(jsonHeaders, "br"), "\x0b\x02\x80x", "\x0b\x02\x80x", CompareSame},
		{"br, exact, other bytes", `{"body":"exact"}`, withEncoding(jsonHeaders, "br"), withEncoding(jsonHeaders, "br"), "\x0b\x02\x80x", "\x0b\x02\x80y", CompareDiffers},
		// Bodies not compared: status and headers still are.
		{"br, auto: not compared", `{}`, withEncoding(jsonHeaders, "br"), withEncoding(jsonHeaders, "br"), "\x0b\x02\x80x", "\x0b\x02\x80y", CompareSame},
		{"br against identity: not compared", `{"body":"exact"}`, jsonHeaders, withEncoding(jsonHeaders, "br"), doc, "\x0b\x02\x80x", CompareSame},
		{"br against gzip: not compared", `{"body":"exact"}`, withEncoding(jsonHeaders, "gzip"), withEncoding(jsonHeaders, "br"), gzipped(t, doc), "x", CompareSame},
		{"br against zstd, status differs", `{"body":"exact"}`, withEncoding(jsonHeaders, "zstd"),
			withEncoding(header.List{{":status", "500"}, {"content-type", "application/json"}}, "br"), "a", "b", CompareDiffers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newMirror(t, compareConfig(tc.compare))
			p := startPair(t, m, 1e9)
			p.shadow(tc.shadow, tc.shadowBod)
			p.primary(tc.primary, tc.primaryBody[:len(tc.primaryBody)/2], tc.primaryBody[len(tc.primaryBody)/2:])
			if got := rec.compare(0, tc.want); got != 1 {
				t.Errorf("%s = %d, want 1 (same %d, differs %d, skipped %d)", compareCounterNames[tc.want], got,
					rec.compare(0, CompareSame), rec.compare(0, CompareDiffers), rec.compare(0, CompareSkipped))
			}
			if m.Pairs() != 0 {
				t.Errorf("%d pairs left", m.Pairs())
			}
			if n := m.inflater.Held(); n > 2*(65536+1)*2 {
				t.Errorf("the decoder holds %d bytes: it inflated past maxBytes", n)
			}
		})
	}
}

// TestPairContentTypeByMediaType: content-type compares by media type.
func TestPairContentTypeByMediaType(t *testing.T) {
	for _, tc := range []struct {
		shadow string
		want   CompareCounter
	}{{"application/json; charset=utf-8", CompareSame}, {"Application/JSON", CompareSame}, {"text/html", CompareDiffers}} {
		m, rec := newMirror(t, compareConfig(`{}`))
		p := startPair(t, m, 1e9)
		p.primary(jsonHeaders, `{}`)
		p.shadow(header.List{{":status", "200"}, {"content-type", tc.shadow}}, `{}`)
		if rec.compare(0, tc.want) != 1 {
			t.Errorf("application/json against %q: want %s", tc.shadow, compareCounterNames[tc.want])
		}
	}
}

var grpcCall = header.List{{":method", "POST"}, {":path", "/shop.Cart/Get"}, {":authority", "cart"},
	{"content-type", "application/grpc"}, {"x-request-id", "r-17"}}

// TestPairGRPCStatus: grpc-status, in the headers of a trailers-only answer or in
// the trailers, is compared at place status.
func TestPairGRPCStatus(t *testing.T) {
	grpcAnswer := func(status string) header.List {
		return header.List{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", status}}
	}
	for _, tc := range []struct {
		name            string
		primaryTrailers bool
		primary, shadow string
		want            CompareCounter
	}{
		{"NOT_FOUND against INTERNAL, trailers-only", false, "5", "13", CompareDiffers},
		{"NOT_FOUND against INTERNAL, in the primary's trailers", true, "5", "13", CompareDiffers},
		{"OK on both", true, "0", "0", CompareSame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newMirror(t, compareConfig(`{"body":"none","includeValues":true,"report":{"cluster":"r"}}`))
			p := startPairWith(t, m, 1e9, grpcCall)
			if !p.r.WantsResponseTrailers() {
				t.Fatal("a gRPC pair does not ask for the primary's trailers")
			}
			if tc.primaryTrailers {
				m.ResponseHeaders(&p.r, header.List{{":status", "200"}, {"content-type", "application/grpc"}})
				m.ResponseBody(&p.r, 5, nil)
				m.ResponseTrailers(&p.r, header.List{{"grpc-status", tc.primary}})
				m.ResponseEnd(&p.r, p.now+1e6)
			} else {
				p.primary(grpcAnswer(tc.primary))
			}
			p.shadow(grpcAnswer(tc.shadow), "")
			if rec.compare(0, tc.want) != 1 {
				t.Fatalf("want %s; same %d differs %d", compareCounterNames[tc.want], rec.compare(0, CompareSame), rec.compare(0, CompareDiffers))
			}
			if tc.want == CompareDiffers {
				v := m.Verdicts()
				if len(v) != 1 || v[0].Differences[0].Place() != "status" || v[0].Differences[0].Shadow != "200 grpc-status 13" {
					t.Fatalf("verdicts %+v, want one difference at status", v)
				}
				report := gjson.ParseBytes(v[0].Report.Body)
				if report.Get("primary.grpcStatus").Int() != 5 || report.Get("shadow.grpcStatus").Int() != 13 ||
					report.Get("requestId").String() != "r-17" {
					t.Errorf("report %s: want grpcStatus 5 and 13, requestId r-17", v[0].Report.Body)
				}
			}
		})
	}
}

// TestAnsweredLocalReplies: Envoy's own local replies are failures, and their pairs
// are skipped; the same statuses from the shadow itself are answers.
func TestAnsweredLocalReplies(t *testing.T) {
	text := header.List{{":status", "503"}, {"content-type", "text/plain"}}
	grpcLocal := func(message string) header.List {
		return header.List{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "14"}, {"grpc-message", message}}
	}
	for _, tc := range []struct {
		name    string
		request header.List
		answer  header.List
		body    string
		outcome Counter
		pair    CompareCounter
	}{
		{"gRPC timeout", grpcCall, grpcLocal("upstream request timeout"), "", ResponseFailed, CompareSkipped},
		{"gRPC connect failure", grpcCall, grpcLocal("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"), "", ResponseFailed, CompareSkipped},
		{"the shadow's own UNAVAILABLE", grpcCall, grpcLocal("draining"), "", ResponseGRPCError, CompareDiffers},
		{"HTTP connect failure", getItems, text, "upstream connect error or disconnect/reset before headers. reset reason: connection termination", ResponseFailed, CompareSkipped},
		{"HTTP timeout before the deadline's end", getItems, header.List{{":status", "504"}, {"content-type", "text/plain"}}, "upstream request timeout", ResponseFailed, CompareSkipped},
		{"HTTP protocol error before the answer", getItems, header.List{{":status", "502"}, {"content-type", "text/plain"}},
			"upstream connect error or disconnect/reset before headers. reset reason: protocol error", ResponseFailed, CompareSkipped},
		{"the shadow's own 503", getItems, header.List{{":status", "503"}, {"content-type", "application/json"}}, `{"error":"down"}`, Response5xx, CompareDiffers},
		{"a text 503 of the shadow's", getItems, text, "maintenance window", Response5xx, CompareDiffers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newMirror(t, compareConfig(`{"body":"none"}`))
			p := startPairWith(t, m, 1e9, tc.request)
			p.primary(header.List{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "0"}})
			p.answer(tc.answer, tc.body, 12)
			if rec.count(0, tc.outcome) != 1 {
				t.Errorf("want the answer in %s", counterNames[tc.outcome])
			}
			if rec.compare(0, tc.pair) != 1 {
				t.Errorf("want the pair in %s", compareCounterNames[tc.pair])
			}
		})
	}
}

var getItems = header.List{{":method", "GET"}, {":path", "/api/items"}, {":authority", "a"}}

// TestPairBytesWithBodyNone: a report counts the bytes of both answers in every body
// mode, body none too.
func TestPairBytesWithBodyNone(t *testing.T) {
	m, _ := newMirror(t, compareConfig(`{"body":"none","report":{"cluster":"r"}}`))
	p := startPair(t, m, 1e9)
	p.primary(jsonHeaders, `{"a":`, `1}`)
	p.shadow(header.List{{":status", "500"}}, `{"error":"x"}`)
	v := m.Verdicts()
	if len(v) != 1 || v[0].Report == nil {
		t.Fatal("no report")
	}
	r := gjson.ParseBytes(v[0].Report.Body)
	if r.Get("primary.bytes").Int() != 7 || r.Get("shadow.bytes").Int() != 13 {
		t.Errorf("report %s: want 7 and 13 bytes", v[0].Report.Body)
	}
}

// TestPairKeepsNoHeaderMap: the SDK hands over header maps whose strings all point
// into one buffer; nothing a pair keeps may point into it, or a pair would pin the
// whole map (48 KiB of request headers each, 93 MiB for 512 pairs).
func TestPairKeepsNoHeaderMap(t *testing.T) {
	var buf []byte
	// mapOf builds headers as the SDK's DeserializeMap does: strings into buf.
	mapOf := func(kvs ...string) header.List {
		buf = []byte(strings.Join(kvs, "") + strings.Repeat("-", 48<<10))
		h, off := header.List{}, 0
		for i := 0; i < len(kvs); i += 2 {
			k := unsafe.String(&buf[off], len(kvs[i]))
			off += len(kvs[i])
			v := unsafe.String(&buf[off], len(kvs[i+1]))
			off += len(kvs[i+1])
			h = append(h, [2]string{k, v})
		}
		return h
	}
	inside := func(s string) bool {
		if len(s) == 0 {
			return false
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&buf[0]))
		return p >= start && p < start+uintptr(len(buf))
	}
	m, _ := newMirror(t, compareConfig(`{"headers":["content-type","etag"],"includeValues":true}`))
	request := mapOf(":method", "GET", ":path", "/api/items?q=1", ":authority", "a", "x-request-id", "r-1")
	reqBuf := buf
	p := startPairWith(t, m, 1e9, request)
	pair := p.cp.Pair
	buf = reqBuf
	for _, s := range []string{pair.method, pair.path, pair.requestID} {
		if inside(s) {
			t.Errorf("the pair keeps %q from the request's header map", s)
		}
	}
	m.ResponseHeaders(&p.r, mapOf(":status", "200", "content-type", "application/json", "etag", "v1"))
	for _, h := range pair.primary.headers {
		if inside(h.shown) {
			t.Errorf("the pair keeps %q from the response's header map", h.shown)
		}
	}
}

// TestDropPair: a copy Envoy refuses at dispatch is not a pair: no compare counter
// moves.
func TestDropPair(t *testing.T) {
	m, rec := newMirror(t, compareConfig(`{}`))
	var r Request
	m.Start(&r, getItems)
	cp := m.Finish(&r, nil, 1, nil)[0]
	m.Refused(0)
	m.DropPair(cp.Pair)
	m.ResponseHeaders(&r, jsonHeaders)
	m.ResponseBody(&r, 2, []byte(`{}`))
	m.ResponseEnd(&r, 2)
	rec.onlyCompare(t, 0, nil)
	if m.Pairs() != 0 {
		t.Errorf("%d pairs", m.Pairs())
	}
}

// TestBodyBytesOfVanishedStreams: a stream that ends without a word (HTTP/3's
// deferred log after a reset) gives its body bytes back once the host says it is
// gone; one that still exists keeps them.
func TestBodyBytesOfVanishedStreams(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"t","cluster":"c","maxInFlight":2,"body":{"maxBytes":4096}}]}`)
	gone := map[uint32]bool{}
	asked := 0
	m.SetLiveness(func(id uint32) bool { asked++; return !gone[id] })
	post := header.List{{":method", "POST"}, {":path", "/"}, {":authority", "a"}}
	reset := make([]*Request, 3)
	for i := range reset {
		reset[i] = &Request{Stream: uint32(10 + i)}
		m.Start(reset[i], post)
		m.Body(reset[i], make([]byte, 3000)) // then nothing: the stream vanished
	}
	if rec.count(0, DroppedInFlight) != 1 {
		t.Fatalf("dropped_in_flight = %d before the streams are gone, want 1 (the budget is 8192)", rec.count(0, DroppedInFlight))
	}
	gone[10], gone[11], gone[12] = true, true, true
	for i := range 3 {
		r := &Request{Stream: uint32(20 + i)}
		m.Start(r, post)
		m.Body(r, make([]byte, 3000))
		copies := m.Finish(r, nil, 1, nil)
		if len(copies) != 1 || len(copies[0].Body) != 3000 {
			t.Fatalf("request %d after the resets: %d copies, want 1 with its body", i, len(copies))
		}
		m.Recycle(copies)
		m.Answered(0, false, &Answer{Status: "200"}, 1)
	}
	if n := rec.count(0, DroppedInFlight); n != 1 {
		t.Errorf("dropped_in_flight = %d, want still 1: the vanished streams' bytes came back", n)
	}
	if m.Held() != 0 || len(m.leases)-len(m.freeLeases) != 0 {
		t.Errorf("%d bytes held, %d leases after every stream ended or vanished", m.Held(), len(m.leases)-len(m.freeLeases))
	}
	if asked > 10 {
		t.Errorf("asked the host %d times", asked)
	}
}
