package mirror

import (
	"strconv"
	"strings"
	"unicode/utf8"
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
	diffs   []Difference
}

// side is what a comparison keeps of one answer: never more body than maxBytes.
type side struct {
	done   bool
	status int // :status; 0 when there is none
	// grpcStatus is the gRPC status of a gRPC pair's answer, -1 when it has none.
	grpcStatus int
	headers    []headerValue // Compare.Headers, in order
	json       bool          // its content type is JSON
	encoding   encoding
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
	pairs [MaxTargets]*Pair
	n     int
	// hold and hash say whether an undecided pair needs the body's bytes or hash;
	// limit is the largest maxBytes of the pairs that hold it.
	hold, hash bool
	limit      int
	body       []byte
	size       int
	sum        uint64
	// grpc says whether a pair compares grpc-status, which trailers may carry.
	grpc bool
}

// pairStaleNs is how long a pair may wait for its primary's response before its slot
// is taken back when it is needed: a stream that Envoy ends without a log (HTTP/3 with
// deferred logging, reset) tells the plugin no other way.
const pairStaleNs = 60e9

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a continues a 64-bit FNV-1a hash over b: bodies compared exactly are hashed as
// they stream, never held.
func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// fnv1aString is fnv1a over the bytes of s.
func fnv1aString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

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
func (m *Mirror) newPair(target int, r *Request, now int64) *Pair {
	t, s := &m.cfg.Targets[target], &m.targets[target]
	if s.pairs >= t.MaxInFlight {
		m.sweep(target, now)
	}
	if r.early || s.pairs >= t.MaxInFlight {
		m.rec.CountCompare(target, CompareSkipped)
		return nil
	}
	method, _ := r.headers.Get(":method")
	path, _ := r.headers.Get(":path")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // the query may hold personal data: never logged
	}
	requestID, _ := r.headers.Get("x-request-id")
	p := &Pair{target: target, slot: len(m.live), grpc: isGRPC(r.headers), stream: r.Stream,
		method: cutTo(method, maxMethodBytes), path: cutTo(path, maxPathBytes),
		requestID: cutTo(requestID, maxRequestIDBytes), start: now}
	p.primary.grpcStatus, p.shadow.grpcStatus = -1, -1
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
	if !m.targets[b.target].baselineOf {
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

// ResponseHeaders takes the primary's response headers: the status, the compared
// headers, the content type, which says how an auto body is compared, the content
// encoding, and the grpc-status of a trailers-only gRPC answer.
func (m *Mirror) ResponseHeaders(r *Request, h Headers) {
	for _, p := range r.resp.pairs[:r.resp.n] {
		if p.slot < 0 {
			continue
		}
		p.primary.answerHeaders(m.cfg.Targets[p.target].Compare, h, p.grpc)
		r.resp.grpc = r.resp.grpc || p.grpc
	}
	m.wants(r)
}

// ResponseTrailers takes the primary's response trailers: a gRPC answer's status is
// in them unless it was in the headers.
func (m *Mirror) ResponseTrailers(r *Request, trailers Headers) {
	for _, p := range r.resp.pairs[:r.resp.n] {
		if p.slot >= 0 && p.grpc && p.primary.grpcStatus < 0 {
			p.primary.grpcStatus = grpcStatus(trailers)
		}
	}
}

// answerHeaders takes what the comparison needs of an answer's headers.
func (s *side) answerHeaders(c *Compare, h Headers, grpc bool) {
	status, _ := h.Get(":status")
	s.status = parseStatus(status)
	contentType, _ := h.Get("content-type")
	s.json = isJSONType(contentType)
	coding, _ := h.Get("content-encoding")
	s.encoding, s.coding = parseEncoding(coding)
	s.headers = compared(c, h)
	if grpc {
		s.grpcStatus = grpcStatus(h)
	}
}

// parseStatus reads a three-digit :status; anything else is 0.
func parseStatus(s string) int {
	if len(s) != 3 {
		return 0
	}
	n := 0
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// grpcStatus reads the grpc-status in h: -1 when there is none, or it is not a
// number.
func grpcStatus(h Headers) int { return parseGRPCStatus(h.Get("grpc-status")) }

// parseGRPCStatus reads a grpc-status value, -1 when there is none (!ok).
func parseGRPCStatus(v string, ok bool) int {
	if !ok || v == "" || len(v) > 9 {
		return -1
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1
		}
		n = n*10 + int(v[i]-'0')
	}
	return n
}

// compared returns the compared headers of c.
func compared(c *Compare, h Headers) []headerValue {
	if len(c.Headers) == 0 {
		return nil
	}
	out := make([]headerValue, len(c.Headers))
	for i, name := range c.Headers {
		value, present := h.Get(name)
		if !present {
			continue
		}
		compared := value
		if name == "content-type" {
			compared = mediaType(value)
		}
		out[i] = headerValue{sum: fnv1aString(fnvOffset, compared), present: true}
		if c.IncludeValues {
			out[i].shown = cut(value)
		}
	}
	return out
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
func keeps(c *Compare, json bool, e encoding, shadow bool) (hold, hash bool) {
	switch {
	case c.Body == BodyNone:
		return false, false
	case e == otherEncoding:
		return false, c.Body == BodyExact
	case e != identity, c.Body == BodyJSON, c.Body == BodyAuto && (json || shadow):
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
// chunk itself when WantsResponseBody: hashed, held, or both, as the request's pairs
// need. A pair whose primary body passes its maxBytes is skipped at once.
func (m *Mirror) ResponseBody(r *Request, size int, chunk []byte) {
	o := &r.resp
	if o.n == 0 {
		return
	}
	if o.size == 0 {
		o.sum = fnvOffset
	}
	o.size += size
	changed := false
	for _, p := range o.pairs[:o.n] {
		switch {
		case p.slot < 0: // skipped meanwhile (its copy failed or was refused): it needs nothing
			changed = true
		case m.cfg.Targets[p.target].Compare.Body != BodyNone && o.size > m.cfg.Targets[p.target].Compare.MaxBytes:
			m.skip(p)
			changed = true
		}
	}
	if changed {
		m.wants(r)
	}
	if len(chunk) == 0 {
		return
	}
	if o.hash {
		o.sum = fnv1a(o.sum, chunk)
	}
	if o.hold {
		if need := len(o.body) + len(chunk); need > cap(o.body) {
			// Grow no further than the pairs that hold it can take: append would
			// double it past maxBytes.
			grown := make([]byte, len(o.body), min(max(2*cap(o.body), need), max(o.limit, need)))
			copy(grown, o.body)
			o.body = grown
		}
		o.body = append(o.body, chunk...)
	}
}

// ResponseEnd ends the primary's response at now (nanoseconds): each of its pairs
// whose copy has been answered is decided.
func (m *Mirror) ResponseEnd(r *Request, now int64) {
	o := &r.resp
	if o.size == 0 {
		o.sum = fnvOffset
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

// WantsBody reports whether the comparison needs the body of the copy's answer, of
// size bytes; if not, ShadowAnswered takes a nil body.
func (p *Pair) WantsBody(m *Mirror, size int) bool {
	if p == nil || p.slot < 0 || size == 0 {
		return false
	}
	c := m.cfg.Targets[p.target].Compare
	return c.Body != BodyNone && size <= c.MaxBytes
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
	if failed || (c.Body != BodyNone && (a.Size > c.MaxBytes || len(a.Body) != a.Size)) {
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
		s.hash, s.hashed = fnv1a(fnvOffset, a.Body), true
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
		d := Difference{Part: PartStatus, place: statusPlace}
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
		d := Difference{Part: PartHeader, Where: name, place: placeOf(PartHeader, name)}
		switch {
		case !b.present:
			d.Kind = Missing
		case !a.present:
			d.Kind = Extra
		}
		if values {
			d.Primary, d.Shadow = a.shown, b.shown
		}
		diffs = append(diffs, d)
	}
	if c.Body != BodyNone {
		var ok bool
		if diffs, ok = m.compareBodies(c, &p.primary, &p.shadow, diffs); !ok {
			m.diffs = diffs[:0]
			m.skip(p) // a body that decodes past maxBytes
			return
		}
	}
	diffs = diffs[:min(len(diffs), MaxDifferences)]
	m.diffs = diffs
	m.rec.PrimaryLatency(target, p.primary.latencyMs)
	if m.targets[target].baselineOf {
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
func (m *Mirror) conclude(p *Pair, diffs []Difference, now int64) {
	target := p.target
	t := &m.cfg.Targets[target]
	c := t.Compare
	s := &m.targets[target]
	if s.noise != nil {
		if len(diffs) > 0 && p.base != nil && p.base.baseState == basePending {
			p.diffs, p.waiting = append([]Difference(nil), diffs...), true
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
	switch {
	case len(diffs) == 0:
		m.rec.CountCompare(target, CompareSame)
		return
	case !real[PartStatus] && !real[PartHeader] && !real[PartBody]:
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
		v.Differences = append([]Difference(nil), diffs...)
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
func (m *Mirror) compareBodies(c *Compare, a, b *side, out []Difference) ([]Difference, bool) {
	if a.encoding == otherEncoding || b.encoding == otherEncoding {
		if c.Body != BodyExact || a.encoding != b.encoding || a.coding != b.coding {
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
	if mode == BodyAuto {
		mode = BodyExact
		if a.json && b.json {
			mode = BodyJSON
		}
	}
	if mode == BodyJSON && va.held && vb.held {
		return compareJSONExtra(va.data, vb.data, c.Ignore, c.IncludeValues, c.AllowExtra, out), true
	}
	same := va.size == vb.size
	if same && va.held && vb.held {
		same = equalBytes(va.data, vb.data)
	} else if same {
		same = va.sum() == vb.sum()
	}
	if same {
		return out, true
	}
	// Values of a body compared as a whole are shown only when both are at hand.
	d := Difference{Part: PartBody, place: bodyPlace}
	if c.IncludeValues && va.held && vb.held {
		d = bodyDifference(va.data, vb.data, true)
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
		return fnv1a(fnvOffset, v.data)
	}
	return v.hash
}

// view decodes a side's body into the inflater's buffer i; false when it decodes past
// c.MaxBytes. A body that does not decode as its coding says is compared as it came:
// it differs from any that does.
func (m *Mirror) view(c *Compare, s *side, i int) (bodyView, bool) {
	if !s.held {
		return bodyView{size: s.size, hash: s.hash}, true
	}
	data := s.body
	if s.encoding == gzipEncoded || s.encoding == deflateEncoded {
		decoded, err := m.inflater.decode(s.encoding, s.body, c.MaxBytes, i)
		switch err {
		case nil:
			data = decoded
		case errTooLarge:
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

// Verdict is what the SDK glue is to do about a differing pair: log it, report it,
// or both. Its Differences are the first MaxDifferences found.
type Verdict struct {
	Target       int
	Method, Path string
	Differences  []Difference
	// Log says whether the log's rate limit lets a line through; LogsHeld is the
	// number of differing pairs not logged since the last line.
	Log      bool
	LogsHeld int
	// Report is the report to send from the plugin context, or nil.
	Report *Copy
}

// Verdicts returns the verdicts of the pairs decided since the last call, and
// forgets them.
func (m *Mirror) Verdicts() []Verdict {
	v := m.verdicts
	m.verdicts = nil
	return v
}

// LogLine is the warning logged for a verdict: the target, the request, the first
// difference and, only with includeValues, its values.
func (m *Mirror) LogLine(v *Verdict) string {
	var b strings.Builder
	b.WriteString("meshmirror: target ")
	b.WriteString(m.cfg.Targets[v.Target].Name)
	b.WriteString(": the shadow answered ")
	b.WriteString(v.Method)
	b.WriteByte(' ')
	b.WriteString(v.Path)
	b.WriteString(" differently")
	if len(v.Differences) > 0 {
		d := &v.Differences[0]
		for i := range v.Differences { // the first real one: a verdict has one
			if !v.Differences[i].Noise {
				d = &v.Differences[i]
				break
			}
		}
		b.WriteString(": ")
		b.WriteString(d.Kind.String())
		b.WriteString(" at ")
		b.WriteString(d.Place())
		if m.cfg.Targets[v.Target].Compare.IncludeValues {
			b.WriteString(" (primary ")
			b.WriteString(strconv.Quote(d.Primary))
			b.WriteString(", shadow ")
			b.WriteString(strconv.Quote(d.Shadow))
			b.WriteByte(')')
		}
		if n := len(v.Differences); n > 1 {
			b.WriteString(", ")
			b.WriteString(strconv.Itoa(n))
			b.WriteString(" differences in all")
		}
	}
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(v.LogsHeld))
	b.WriteString(" more differing answers not logged)")
	return b.String()
}

// report builds the report of a differing pair (README, "Comparing responses"): a
// POST of a JSON document to the report cluster, with the marker, so that a sidecar
// of the report's receiver running meshmirror does not mirror it.
//
// With format otlp the document is sent as an OpenTelemetry log record of time now.
func (m *Mirror) report(t *Target, v *Verdict, p *Pair, diffs []Difference, primary, shadow *side, now int64) *Copy {
	c := t.Compare
	b := make([]byte, 0, 256+len(p.requestID)+len(diffs)*(96+2*MaxValueBytes))
	b = append(b, `{"target":`...)
	b = appendJSONString(b, t.Name)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, v.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, v.Path)
	if p.requestID != "" {
		b = append(b, `,"requestId":`...)
		b = appendJSONString(b, p.requestID)
	}
	for _, s := range [...]struct {
		name string
		side *side
	}{{"primary", primary}, {"shadow", shadow}} {
		b = append(b, `,"`...)
		b = append(b, s.name...)
		b = append(b, `":{"status":`...)
		if s.side.status != 0 {
			b = strconv.AppendInt(b, int64(s.side.status), 10)
		} else {
			b = append(b, "null"...)
		}
		if p.grpc {
			b = append(b, `,"grpcStatus":`...)
			if s.side.grpcStatus >= 0 {
				b = strconv.AppendInt(b, int64(s.side.grpcStatus), 10)
			} else {
				b = append(b, "null"...)
			}
		}
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(s.side.size), 10)
		b = append(b, `,"latencyMs":`...)
		b = strconv.AppendInt(b, s.side.latencyMs, 10)
		b = append(b, '}')
	}
	b = append(b, `,"differences":[`...)
	for i := range diffs {
		d := &diffs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"part":"`...)
		b = append(b, d.Part.String()...)
		b = append(b, `","kind":"`...)
		b = append(b, d.Kind.String()...)
		b = append(b, `","where":`...)
		b = appendJSONString(b, d.Where)
		if d.Noise {
			b = append(b, `,"noise":true`...)
		} else {
			b = append(b, `,"noise":false`...)
		}
		if c.IncludeValues {
			b = appendValue(append(b, `,"primary":`...), d.Primary, d.Kind == Extra)
			b = appendValue(append(b, `,"shadow":`...), d.Shadow, d.Kind == Missing)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	if c.ReportFormat == ReportOTLP {
		b = otlpLogs(b, t.Name, v.Method, v.Path, primary.status, shadow.status, len(diffs), p.requestID, now)
	}
	return &Copy{
		Target:  v.Target,
		Cluster: c.ReportCluster,
		Headers: [][2]string{
			{":method", "POST"}, {":path", c.ReportPath}, {":authority", reportAuthority(c.ReportCluster)},
			{"content-type", "application/json"}, {m.cfg.Marker, t.Name},
		},
		Body:      b,
		TimeoutMs: t.TimeoutMs,
	}
}

// reportAuthority is the :authority of reports to cluster: the service of an Istio
// cluster name (outbound|80||reports.default.svc.cluster.local), else the name.
func reportAuthority(cluster string) string {
	if rest, ok := strings.CutPrefix(cluster, "outbound|"); ok {
		if i := strings.LastIndexByte(rest, '|'); i >= 0 && i < len(rest)-1 {
			return rest[i+1:]
		}
	}
	return cluster
}

// appendValue appends a difference's value, or null for the side that has none.
func appendValue(b []byte, value string, none bool) []byte {
	if none {
		return append(b, "null"...)
	}
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string; bytes that are not UTF-8 become U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// Reported records the answer to a report: status is its :status, "" for none.
func (m *Mirror) Reported(target int, status string) {
	if statusCounter(status) != Response2xx {
		m.rec.CountCompare(target, ReportFailed)
	}
}

// ReportSent records whether the host accepted a report for target.
func (m *Mirror) ReportSent(target int, accepted bool) {
	if accepted {
		m.rec.CountCompare(target, ReportsSent)
	} else {
		m.rec.CountCompare(target, ReportFailed)
	}
}
