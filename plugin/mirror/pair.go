package mirror

import (
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/inflate"
	"github.com/meshmirror/meshmirror/plugin/internal/text"
	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
	"github.com/meshmirror/meshmirror/plugin/summary"
)

// A pair is a dispatched copy of a target with compare and its primary request. The
// mirror (one per plugin context) owns every pair, so either side may complete first,
// and the primary's stream may be gone when the copy is answered (RATIONALE.md).

// Pair is the comparison of one copy's answer with its primary's response. Copy.Pair
// points to it; the SDK glue hands it back with the copy's answer. Everything it keeps
// of a request or an answer is copied out of the host's header maps, cut short: a
// string the SDK hands over points into a buffer holding the whole map.
type Pair struct {
	target int
	// slot is the pair's index in Mirror.live, -1 once it is decided or skipped.
	slot int
	grpc bool // a gRPC request: grpc-status is compared with the status
	// stream is the host's id of the primary's stream (Request.Stream).
	stream       uint32
	method, path string
	requestID    string // the primary request's x-request-id
	start        int64  // the end of the request, in nanoseconds
	primary      side
	shadow       side
	// base is the pair of the same request to the target's baseline (noise.go).
	base *Pair
	// For a baseline's pair: whether it was compared, and the places it differed at.
	baseState  uint8
	basePlaces []uint64
	// waiting says the pair is decided, with diffs, and waits for its base.
	waiting bool
	diffs   []diff.Difference
	// headerValues holds both sides' compared headers when there are few.
	headerValues [4]headerValue
}

// side is what a comparison keeps of one answer: never more body than maxBytes.
type side struct {
	done   bool
	status int // :status; 0 when there is none
	// grpcStatus is the gRPC status of a gRPC pair's answer, -1 when it has none.
	grpcStatus int
	headers    []headerValue // Compare.Headers, in order; absent until seen
	json       bool          // its content type is JSON
	encoding   inflate.Encoding
	coding     uint64 // the hash of an otherEncoding, to tell two sides' apart
	size       int    // the body's bytes as sent, still encoded
	// body is held for a JSON comparison or to be decoded; hash (FNV-1a) is kept
	// instead for an exact one.
	body      []byte
	held      bool
	hash      uint64
	hashed    bool
	latencyMs int64
}

// headerValue is a compared header: the hash of its value (of its media type, for
// content-type), and the value itself, cut short, only where logs may show it.
type headerValue struct {
	sum     uint64
	present bool
	shown   string
}

// primaryResponse observes the primary's response for the pairs of its request.
type primaryResponse struct {
	pairs [config.MaxTargets]*Pair
	n     int
	// hold and hash say whether an undecided pair needs the body's bytes or hash;
	// limit is the largest maxBytes of the pairs that hold it.
	hold, hash bool
	limit      int
	body       []byte
	size       int
	sum        uint64
	// length is the body's content-length; -1 or 0 when not known.
	length int
	// grpc says whether a pair compares grpc-status, which trailers may carry.
	grpc bool
}

// pairStaleNs is how long a pair may wait for its primary's response before its slot
// is taken back when it is needed: a stream that Envoy ends without a log (HTTP/3 with
// deferred logging, reset) tells the plugin no other way.
const pairStaleNs = 60e9

// Observing reports whether the primary's response is observed for a comparison: a
// copy of the request waits to be compared with it.
func (r *Request) Observing() bool { return r.resp.n > 0 }

// WantsResponseBody reports whether a comparison still needs the response's body.
func (r *Request) WantsResponseBody() bool { return r.resp.hold || r.resp.hash }

// WantsResponseTrailers reports whether a comparison needs the response's trailers:
// a gRPC answer's status is in them.
func (r *Request) WantsResponseTrailers() bool { return r.resp.grpc && r.resp.n > 0 }

// RespondedEarly records that the primary's response began before the request ended
// (a streaming API): its copies are not compared, since the response's start was
// not observed.
func (r *Request) RespondedEarly() { r.early = true }

// newPair starts the comparison of the copy of r for target, or returns nil and
// counts compare_skipped when there is no room for it.
func (m *Mirror) newPair(target int, r *Request, grpc bool, now int64) *Pair {
	t, s := &m.cfg.Targets[target], &m.targets[target]
	if s.pairs >= t.MaxInFlight {
		m.sweep(target, now)
	}
	method, _ := r.headers.Get(":method")
	path, _ := r.headers.Get(":path")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // the query may hold personal data: never logged
	}
	method, path = text.PrefixTo(method, maxMethodBytes), text.PrefixTo(path, maxPathBytes)
	if r.early || s.pairs >= t.MaxInFlight {
		m.rec.CountCompare(target, CompareSkipped)
		m.summarize(target, method, path, summary.Skipped, nil, 0, 0, now)
		return nil
	}
	requestID, _ := r.headers.Get("x-request-id")
	requestID = text.PrefixTo(requestID, maxRequestIDBytes)
	// One copy of the three, out of the host's header map: one allocation, not three.
	kept := make([]byte, 0, len(method)+len(path)+len(requestID))
	text := text.InPlace(append(append(append(kept, method...), path...), requestID...))
	p := &Pair{target: target, slot: len(m.live), grpc: grpc, stream: r.Stream,
		method: text[:len(method)], path: text[len(method) : len(method)+len(path)],
		requestID: text[len(method)+len(path):], start: now}
	p.primary.grpcStatus, p.shadow.grpcStatus = -1, -1
	n := len(t.Compare.Headers)
	hv := p.headerValues[:]
	if 2*n > len(hv) {
		hv = make([]headerValue, 2*n)
	}
	p.primary.headers, p.shadow.headers = hv[:n:n], hv[n:2*n:2*n]
	m.live = append(m.live, p)
	s.pairs++
	return p
}

// The most bytes of a request's method, path and request id a pair keeps.
const (
	maxMethodBytes    = 32
	maxPathBytes      = 512
	maxRequestIDBytes = 128
)

// sweep skips the target's pairs whose primary response will not end: its stream is
// gone (a stream Envoy ends without a log, as HTTP/3 with deferred logging does after
// a reset, tells the plugin no other way), or it has not ended long after its request
// did.
func (m *Mirror) sweep(target int, now int64) {
	probes := probesPerReclaim
	for i := len(m.live) - 1; i >= 0; i-- { // skip moves the last pair to i, already seen
		p := m.live[i]
		if p.target != target || p.primary.done {
			continue
		}
		stale := now-p.start > pairStaleNs
		if !stale && probes > 0 {
			probes--
			stale = !m.streamAlive(p.stream)
		}
		if stale {
			m.skip(p)
		}
	}
}

// skip lets go of an undecided pair without comparing it.
func (m *Mirror) skip(p *Pair) {
	if p == nil || p.slot < 0 {
		return
	}
	m.rec.CountCompare(p.target, CompareSkipped)
	m.summarize(p.target, p.method, p.path, summary.Skipped, nil, 0, 0, max(m.now, p.start))
	m.remove(p)
}

// remove takes p out of the live pairs and lets go of what it holds. The pairs of its
// request that wait for it, when it is a baseline's pair, are concluded.
func (m *Mirror) remove(p *Pair) {
	defer m.baselineGone(p)
	last := len(m.live) - 1
	m.live[p.slot] = m.live[last]
	m.live[p.slot].slot = p.slot
	m.live[last] = nil
	m.live = m.live[:last]
	m.targets[p.target].pairs--
	p.slot = -1
	p.primary, p.shadow = side{}, side{}
}

// baselineGone concludes the pairs waiting for the baseline's pair b, which is decided
// or will never be.
func (m *Mirror) baselineGone(b *Pair) {
	if len(m.targets[b.target].dependents) == 0 {
		return
	}
	if b.baseState == basePending {
		b.baseState = baseNotCompared
	}
	if len(m.waiting) > 0 {
		m.resolveWaiting(b, max(m.now, b.start))
	}
}

// DropPair forgets the pair of a copy Envoy refused at dispatch: a copy never sent is
// not a pair, and counts in dispatch_failed only. p may be nil.
func (m *Mirror) DropPair(p *Pair) {
	if p != nil && p.slot >= 0 {
		m.remove(p)
	}
}

// Pairs is the number of pairs awaiting a side, over every target.
func (m *Mirror) Pairs() int { return len(m.live) }

// WantsBody reports whether the comparison needs the body of the copy's answer, of
// size bytes; if not, ShadowAnswered takes a nil body.
func (p *Pair) WantsBody(m *Mirror, size int) bool {
	if p == nil || p.slot < 0 || size == 0 {
		return false
	}
	c := m.cfg.Targets[p.target].Compare
	return c.Body != config.BodyNone && size <= c.MaxBytes
}

// ShadowAnswered takes the answer to the pair's copy: failed for a reset, a timeout,
// no status or Envoy's own local reply (Answered's response_failed), else its headers,
// grpc-status and body (a.Body, nil unless WantsBody). When the primary's response has
// ended, the pair is decided; now is in nanoseconds.
func (m *Mirror) ShadowAnswered(p *Pair, failed bool, a *Answer, latencyMs, now int64) {
	if p == nil || p.slot < 0 {
		return
	}
	c := m.cfg.Targets[p.target].Compare
	if failed || (c.Body != config.BodyNone && (a.Size > c.MaxBytes || len(a.Body) != a.Size)) {
		m.skip(p)
		return
	}
	s := &p.shadow
	s.answerHeaders(c, a.Headers, false)
	if p.grpc {
		s.grpcStatus = parseGRPCStatus(a.GRPCStatus, a.GRPCStatus != "")
	}
	s.size, s.latencyMs, s.done = a.Size, latencyMs, true
	switch hold, hash := keeps(c, s.json, s.encoding, true); {
	case hold:
		s.body, s.held = a.Body, true
	case hash:
		s.hash, s.hashed = text.FNV1a(text.FNVOffset, a.Body), true
	}
	if p.primary.done {
		m.decide(p, now)
	}
}

// decide compares a pair whose sides are both complete and concludes it.
func (m *Mirror) decide(p *Pair, now int64) {
	m.now = max(m.now, now)
	target := p.target
	c := m.cfg.Targets[target].Compare
	diffs := m.diffs[:0]
	values := c.IncludeValues
	if c.Status && (p.primary.status != p.shadow.status || p.grpc && p.primary.grpcStatus != p.shadow.grpcStatus) {
		d := diff.Difference{Part: diff.PartStatus, Hash: diff.StatusPlace}
		if values {
			d.Primary, d.Shadow = p.primary.statusText(p.grpc), p.shadow.statusText(p.grpc)
		}
		diffs = append(diffs, d)
	}
	for i, name := range c.Headers {
		a, b := p.primary.header(i), p.shadow.header(i)
		if a.present == b.present && a.sum == b.sum {
			continue
		}
		d := diff.Difference{Part: diff.PartHeader, Where: name, Hash: diff.PlaceOf(diff.PartHeader, name)}
		switch {
		case !b.present:
			d.Kind = diff.Missing
		case !a.present:
			d.Kind = diff.Extra
		}
		if values {
			d.Primary, d.Shadow = a.shown, b.shown
		}
		diffs = append(diffs, d)
	}
	if c.Body != config.BodyNone {
		var ok bool
		if diffs, ok = m.compareBodies(c, &p.primary, &p.shadow, diffs); !ok {
			m.diffs = diffs[:0]
			m.skip(p) // a body that decodes past maxBytes
			return
		}
	}
	diffs = diffs[:min(len(diffs), diff.MaxDifferences)]
	m.diffs = diffs
	m.rec.PrimaryLatency(target, p.primary.latencyMs)
	if len(m.targets[target].dependents) > 0 {
		m.baselineDecided(p, diffs)
	}
	p.primary.body, p.shadow.body, p.primary.headers, p.shadow.headers = nil, nil, nil, nil
	primary, shadow := p.primary, p.shadow
	m.remove(p)
	p.primary, p.shadow = primary, shadow // what a report says of each side, no body
	m.conclude(p, diffs, now)
}

// conclude counts a compared pair with its differences, marks those that are noise,
// and queues a Verdict when a real difference is to be logged or reported. A pair whose
// baseline's pair of the same request is still undecided waits for it.
func (m *Mirror) conclude(p *Pair, diffs []diff.Difference, now int64) {
	target := p.target
	t := &m.cfg.Targets[target]
	c := t.Compare
	s := &m.targets[target]
	if s.noise != nil {
		if len(diffs) > 0 && p.base != nil && p.base.baseState == basePending {
			p.diffs, p.waiting = append([]diff.Difference(nil), diffs...), true
			m.waiting = append(m.waiting, p)
			return
		}
		m.markNoise(target, p, diffs)
	}
	p.base = nil
	real := [3]bool{} // by Part
	for i := range diffs {
		if !diffs[i].Noise {
			real[diffs[i].Part] = true
		}
	}
	outcome := summary.Differs
	switch {
	case len(diffs) == 0:
		outcome = summary.Same
	case !real[diff.PartStatus] && !real[diff.PartHeader] && !real[diff.PartBody]:
		outcome = summary.Noise
	}
	m.summarize(target, p.method, p.path, outcome, diffs, p.primary.latencyMs, p.shadow.latencyMs, now)
	switch outcome {
	case summary.Same:
		m.rec.CountCompare(target, CompareSame)
		return
	case summary.Noise:
		m.rec.CountCompare(target, CompareNoise)
		return
	}
	m.rec.CountCompare(target, CompareDiffers)
	for part, counter := range [...]CompareCounter{CompareStatusDiffers, CompareHeadersDiffer, CompareBodyDiffers} {
		if real[part] {
			m.rec.CountCompare(target, counter)
		}
	}
	v := Verdict{Target: target, Method: p.method, Path: p.path}
	v.Log, v.LogsHeld = s.logs.Allow(now)
	if c.ReportCluster != "" && s.reports.take(now) {
		v.Report = m.report(t, &v, p, diffs, &p.primary, &p.shadow, now)
	}
	if v.Log || v.Report != nil {
		v.Differences = append([]diff.Difference(nil), diffs...)
		m.verdicts = append(m.verdicts, v)
	}
}

// statusText is a side's status as logs and reports show it: 200, or for gRPC
// 200 grpc-status 5.
func (s *side) statusText(grpc bool) string {
	text := strconv.Itoa(s.status)
	if s.status == 0 {
		text = "none"
	}
	if !grpc {
		return text
	}
	if s.grpcStatus < 0 {
		return text + " grpc-status none"
	}
	return text + " grpc-status " + strconv.Itoa(s.grpcStatus)
}

// compareBodies appends the differences of two complete bodies, as c.Body says, once
// each is decoded from gzip or deflate. It returns false when a body decodes to more
// than c.MaxBytes: the pair is not compared, and nothing is inflated past the limit.
// Bodies in another coding are compared only byte for byte, with body "exact", and
// only against the same coding; otherwise they are not compared at all.
func (m *Mirror) compareBodies(c *config.Compare, a, b *side, out []diff.Difference) ([]diff.Difference, bool) {
	if a.encoding == inflate.Other || b.encoding == inflate.Other {
		if c.Body != config.BodyExact || a.encoding != b.encoding || a.coding != b.coding {
			return out, true
		}
	}
	va, ok := m.view(c, a, 0)
	if !ok {
		return out, false
	}
	vb, ok := m.view(c, b, 1)
	if !ok {
		return out, false
	}
	mode := c.Body
	if mode == config.BodyAuto {
		mode = config.BodyExact
		if a.json && b.json {
			mode = config.BodyJSON
		}
	}
	if mode == config.BodyJSON && va.held && vb.held {
		return jsoncmp.Compare(va.data, vb.data, c.Ignore, c.IncludeValues, c.AllowExtra, out), true
	}
	same := va.size == vb.size
	if same && va.held && vb.held {
		same = jsoncmp.Equal(va.data, vb.data)
	} else if same {
		same = va.sum() == vb.sum()
	}
	if same {
		return out, true
	}
	// Values of a body compared as a whole are shown only when both are at hand.
	d := diff.Difference{Part: diff.PartBody, Hash: diff.BodyPlace}
	if c.IncludeValues && va.held && vb.held {
		d = diff.Whole(va.data, vb.data, true)
	}
	return append(out, d), true
}

// bodyView is a side's body as compared: decoded bytes, or the hash of bytes that
// were not kept.
type bodyView struct {
	data []byte
	held bool
	size int
	hash uint64
}

func (v *bodyView) sum() uint64 {
	if v.held {
		return text.FNV1a(text.FNVOffset, v.data)
	}
	return v.hash
}

// view decodes a side's body into the inflater's buffer i; false when it decodes past
// c.MaxBytes. A body that does not decode as its coding says is compared as it came:
// it differs from any that does.
func (m *Mirror) view(c *config.Compare, s *side, i int) (bodyView, bool) {
	if !s.held {
		return bodyView{size: s.size, hash: s.hash}, true
	}
	data := s.body
	if s.encoding == inflate.Gzip || s.encoding == inflate.Deflate {
		decoded, err := m.inflater.Decode(s.encoding, s.body, c.MaxBytes, i)
		switch err {
		case nil:
			data = decoded
		case inflate.ErrTooLarge:
			return bodyView{}, false
		}
	}
	return bodyView{data: data, held: true, size: len(data)}, true
}

// header is the value of the i-th compared header; absent when the side's headers
// were never seen, so that no order of the host's calls can index past them.
func (s *side) header(i int) headerValue {
	if i < len(s.headers) {
		return s.headers[i]
	}
	return headerValue{}
}
