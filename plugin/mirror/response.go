package mirror

import (
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/header"
	"github.com/meshmirror/meshmirror/plugin/inflate"
	"github.com/meshmirror/meshmirror/plugin/internal/text"
	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
)

// Observing the primary's response for its pairs, as it streams back, and what a side
// keeps of an answer's headers.

// ResponseHeaders takes the primary's response headers: the status, the compared
// headers, the content type, which says how an auto body is compared, the content
// encoding, and the grpc-status of a trailers-only gRPC answer.
func (m *Mirror) ResponseHeaders(r *Request, h header.List) {
	for _, p := range r.resp.pairs[:r.resp.n] {
		if p.slot < 0 {
			continue
		}
		p.primary.answerHeaders(m.cfg.Targets[p.target].Compare, h, p.grpc)
		r.resp.grpc = r.resp.grpc || p.grpc
	}
	if length, ok := h.Get("content-length"); ok && len(length) <= 9 {
		r.resp.length = digits(length)
	}
	m.wants(r)
}

// ResponseTrailers takes the primary's response trailers: a gRPC answer's status is
// in them unless it was in the headers.
func (m *Mirror) ResponseTrailers(r *Request, trailers header.List) {
	for _, p := range r.resp.pairs[:r.resp.n] {
		if p.slot >= 0 && p.grpc && p.primary.grpcStatus < 0 {
			p.primary.grpcStatus = grpcStatus(trailers)
		}
	}
}

// answerHeaders takes what the comparison needs of an answer's headers.
func (s *side) answerHeaders(c *config.Compare, h header.List, grpc bool) {
	status, _ := h.Get(":status")
	s.status = parseStatus(status)
	contentType, _ := h.Get("content-type")
	s.json = jsoncmp.IsJSONType(contentType)
	coding, _ := h.Get("content-encoding")
	s.encoding, s.coding = inflate.ParseEncoding(coding)
	compared(c, h, s.headers)
	if grpc {
		s.grpcStatus = grpcStatus(h)
	}
}

// parseStatus reads a three-digit :status; anything else is 0.
func parseStatus(s string) int {
	if len(s) != 3 {
		return 0
	}
	return max(digits(s), 0)
}

// grpcStatus reads the grpc-status in h: -1 when there is none, or it is not a
// number.
func grpcStatus(h header.List) int { return parseGRPCStatus(h.Get("grpc-status")) }

// parseGRPCStatus reads a grpc-status value, -1 when there is none (!ok).
func parseGRPCStatus(v string, ok bool) int {
	if !ok || len(v) > 9 {
		return -1
	}
	return digits(v)
}

// digits is the decimal number s spells, -1 for an empty s or one with another byte.
func digits(s string) int {
	if s == "" {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// compared sets out, one for each of c.Headers, to the compared headers of h.
func compared(c *config.Compare, h header.List, out []headerValue) {
	for i, name := range c.Headers[:min(len(out), len(c.Headers))] {
		value, present := h.Get(name)
		if !present {
			out[i] = headerValue{}
			continue
		}
		compared := value
		if name == "content-type" {
			compared = mediaType(value)
		}
		out[i] = headerValue{sum: text.FNV1aString(text.FNVOffset, compared), present: true}
		if c.IncludeValues {
			out[i].shown = diff.Cut(value)
		}
	}
}

// mediaType is a content type without its parameters, lower-cased:
// application/json; charset=utf-8 and Application/JSON are application/json.
func mediaType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// keeps says what a side of a pair keeps of its body: its bytes (a JSON comparison;
// auto, for a JSON primary, and always for the shadow, which may be compared either
// way; a gzip or deflate body, decoded once both sides are in), or their hash (an
// exact comparison), or nothing (body none; a coding other than gzip and deflate,
// which only an exact comparison compares).
func keeps(c *config.Compare, json bool, e inflate.Encoding, shadow bool) (hold, hash bool) {
	switch {
	case c.Body == config.BodyNone:
		return false, false
	case e == inflate.Other:
		return false, c.Body == config.BodyExact
	case e != inflate.Identity, c.Body == config.BodyJSON, c.Body == config.BodyAuto && (json || shadow):
		return true, false
	}
	return false, true
}

// wants sets what the request's undecided pairs need of the response's body.
func (m *Mirror) wants(r *Request) {
	o := &r.resp
	o.hold, o.hash, o.limit = false, false, 0
	live := o.pairs[:0] // the undecided pairs stay; the others need nothing more
	for _, p := range o.pairs[:o.n] {
		if p.slot < 0 {
			continue
		}
		live = append(live, p)
		c := m.cfg.Targets[p.target].Compare
		hold, hash := keeps(c, p.primary.json, p.primary.encoding, false)
		if hold {
			o.hold, o.limit = true, max(o.limit, c.MaxBytes)
		}
		o.hash = o.hash || hash
	}
	clear(o.pairs[len(live):o.n])
	o.n = len(live)
	if !o.hold {
		o.body = nil
	}
}

// ResponseBody takes the next size bytes of the primary's response body, and the
// chunk itself when WantsResponseBody (see ResponseBodyRoom).
func (m *Mirror) ResponseBody(r *Request, size int, chunk []byte) {
	if room := m.ResponseBodyRoom(r, size); room != nil {
		copy(room, chunk)
		m.ResponseBodyRead(r, room)
	}
}

// ResponseBodyRoom accounts for the next size bytes of the primary's response body
// and returns where the caller is to read them, then to hand them to
// ResponseBodyRead: the end of the held body when a pair needs the bytes themselves,
// else a scratch buffer for the hash; nil when no pair needs them. A pair whose
// primary body passes its maxBytes is skipped at once.
func (m *Mirror) ResponseBodyRoom(r *Request, size int) []byte {
	o := &r.resp
	if o.n == 0 {
		return nil
	}
	if o.size == 0 {
		o.sum = text.FNVOffset
	}
	o.size += size
	changed := false
	for _, p := range o.pairs[:o.n] {
		switch {
		case p.slot < 0: // skipped meanwhile (its copy failed or was refused): it needs nothing
			changed = true
		case m.cfg.Targets[p.target].Compare.Body != config.BodyNone && o.size > m.cfg.Targets[p.target].Compare.MaxBytes:
			m.skip(p)
			changed = true
		}
	}
	if changed {
		m.wants(r)
	}
	switch {
	case size <= 0 || !o.hold && !o.hash:
		return nil
	case !o.hold:
		if cap(m.scratch) < size {
			m.scratch = make([]byte, size)
		}
		return m.scratch[:size]
	}
	if need := len(o.body) + size; need > cap(o.body) {
		// Grow no further than the pairs that hold it can take: append would double
		// it past maxBytes. A body of the length its headers gave, within that, takes
		// one allocation.
		grown := make([]byte, len(o.body), min(max(2*cap(o.body), need, o.length), max(o.limit, need)))
		copy(grown, o.body)
		o.body = grown
	}
	at := len(o.body)
	o.body = o.body[:at+size]
	return o.body[at:]
}

// ResponseBodyRead takes the chunk ResponseBodyRoom gave room for, once read.
func (m *Mirror) ResponseBodyRead(r *Request, chunk []byte) {
	if r.resp.hash {
		r.resp.sum = text.FNV1a(r.resp.sum, chunk)
	}
	if cap(m.scratch) > poolBufferCap {
		m.scratch = nil // one huge chunk keeps no huge buffer
	}
}

// ResponseEnd ends the primary's response at now (nanoseconds): each of its pairs
// whose copy has been answered is decided.
func (m *Mirror) ResponseEnd(r *Request, now int64) {
	o := &r.resp
	if o.size == 0 {
		o.sum = text.FNVOffset
	}
	for _, p := range o.pairs[:o.n] {
		if p.slot < 0 {
			continue
		}
		ps := &p.primary
		ps.done, ps.size = true, o.size
		ps.latencyMs = max(0, (now-p.start)/1e6)
		switch hold, hash := keeps(m.cfg.Targets[p.target].Compare, ps.json, ps.encoding, false); {
		case hold:
			ps.body, ps.held = o.body, true // shared, read only, by the pairs of the request
		case hash:
			ps.hash, ps.hashed = o.sum, true
		}
		if p.shadow.done {
			m.decide(p, now)
		}
	}
	r.resp = primaryResponse{}
}

// ResponseReset records that the primary's stream ended before its response did: its
// pairs are skipped.
func (m *Mirror) ResponseReset(r *Request) {
	for _, p := range r.resp.pairs[:r.resp.n] {
		m.skip(p)
	}
	r.resp = primaryResponse{}
}
