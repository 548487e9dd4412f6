package mirror

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A pair is a dispatched copy of a target with compare and its primary request. The
// mirror (one per plugin context) owns every pair, so either side may complete first,
// and the primary's stream may be gone when the copy is answered (RATIONALE.md).

// Pair is the comparison of one copy's answer with its primary's response. Copy.Pair
// points to it; the SDK glue hands it back with the copy's answer.
type Pair struct {
	target int
	// slot is the pair's index in Mirror.live, -1 once it is decided or skipped.
	slot         int
	method, path string
	start        int64 // the end of the request, in nanoseconds
	primary      side
	shadow       side
}

// side is what a comparison keeps of one answer: never more body than maxBytes.
type side struct {
	done    bool
	status  string
	headers []headerValue // Compare.Headers, in order
	json    bool          // its content type is JSON
	size    int
	// body is held for a JSON comparison; hash (FNV-1a) is kept instead for an exact one.
	body      []byte
	held      bool
	hash      uint64
	hashed    bool
	latencyMs int64
}

type headerValue struct {
	value   string
	present bool
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

// Observing reports whether the primary's response is observed for a comparison: a
// copy of the request waits to be compared with it.
func (r *Request) Observing() bool { return r.resp.n > 0 }

// WantsResponseBody reports whether a comparison still needs the response's body.
func (r *Request) WantsResponseBody() bool { return r.resp.hold || r.resp.hash }

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
	p := &Pair{target: target, slot: len(m.live), method: method, path: path, start: now}
	m.live = append(m.live, p)
	s.pairs++
	return p
}

// sweep skips the target's pairs whose primary response has not ended long after
// its request did.
func (m *Mirror) sweep(target int, now int64) {
	for i := len(m.live) - 1; i >= 0; i-- {
		if p := m.live[i]; p.target == target && !p.primary.done && now-p.start > pairStaleNs {
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

// remove takes p out of the live pairs and lets go of what it holds.
func (m *Mirror) remove(p *Pair) {
	last := len(m.live) - 1
	m.live[p.slot] = m.live[last]
	m.live[p.slot].slot = p.slot
	m.live[last] = nil
	m.live = m.live[:last]
	m.targets[p.target].pairs--
	p.slot = -1
	p.primary, p.shadow = side{}, side{}
}

// SkipPair skips the comparison of a copy that will have no answer (Envoy refused
// it). p may be nil.
func (m *Mirror) SkipPair(p *Pair) { m.skip(p) }

// Pairs is the number of pairs awaiting a side, over every target.
func (m *Mirror) Pairs() int { return len(m.live) }

// ResponseHeaders takes the primary's response headers: the status, the compared
// headers, and the content type, which says how an auto body is compared.
func (m *Mirror) ResponseHeaders(r *Request, h Headers) {
	status, _ := h.Get(":status")
	contentType, _ := h.Get("content-type")
	json := isJSONType(contentType)
	for _, p := range r.resp.pairs[:r.resp.n] {
		if p.slot < 0 {
			continue
		}
		c := m.cfg.Targets[p.target].Compare
		p.primary.status, p.primary.json = status, json
		p.primary.headers = compared(c.Headers, h)
	}
	m.wants(r)
}

// compared returns the values of the headers names.
func compared(names []string, h Headers) []headerValue {
	if len(names) == 0 {
		return nil
	}
	out := make([]headerValue, len(names))
	for i, name := range names {
		out[i].value, out[i].present = h.Get(name)
	}
	return out
}

// holds reports whether a side of a pair keeps its body's bytes (a JSON comparison,
// or auto, for a JSON primary; auto keeps the shadow's bytes, which may be compared
// either way) rather than their hash.
func holds(c *Compare, json, shadow bool) bool {
	switch c.Body {
	case BodyJSON:
		return true
	case BodyAuto:
		return json || shadow
	}
	return false
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
		switch {
		case c.Body == BodyNone:
		case holds(c, p.primary.json, false):
			o.hold, o.limit = true, max(o.limit, c.MaxBytes)
		default:
			o.hash = true
		}
	}
	clear(o.pairs[len(live):o.n])
	o.n = len(live)
	if !o.hold {
		o.body = nil
	}
}

// ResponseBody takes the next chunk of the primary's response body: hashed, held, or
// both, as the request's pairs need. A pair whose primary body passes its maxBytes is
// skipped at once.
func (m *Mirror) ResponseBody(r *Request, chunk []byte) {
	o := &r.resp
	if !o.hold && !o.hash {
		return
	}
	if o.size == 0 {
		o.sum = fnvOffset
	}
	o.size += len(chunk)
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
		if o.hold && holds(m.cfg.Targets[p.target].Compare, ps.json, false) {
			ps.body, ps.held = o.body, true // shared, read only, by the pairs of the request
		} else {
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

// ShadowAnswered takes the answer to the pair's copy: failed for a reset, a timeout
// or no status (Answered's response_failed), else its headers, and its body of size
// bytes (nil unless WantsBody). When the primary's response has ended, the pair is
// decided; now is in nanoseconds.
func (m *Mirror) ShadowAnswered(p *Pair, failed bool, h Headers, body []byte, size int, latencyMs, now int64) {
	if p == nil || p.slot < 0 {
		return
	}
	c := m.cfg.Targets[p.target].Compare
	if failed || (c.Body != BodyNone && (size > c.MaxBytes || len(body) != size)) {
		m.skip(p)
		return
	}
	s := &p.shadow
	s.status, _ = h.Get(":status")
	contentType, _ := h.Get("content-type")
	s.json = isJSONType(contentType)
	s.headers = compared(c.Headers, h)
	s.size, s.latencyMs, s.done = size, latencyMs, true
	switch {
	case c.Body == BodyNone:
	case holds(c, s.json, true):
		s.body, s.held = body, true
	default:
		s.hash, s.hashed = fnv1a(fnvOffset, body), true
	}
	if p.primary.done {
		m.decide(p, now)
	}
}

// decide compares a pair whose sides are both complete, records the outcome, and
// queues a Verdict when the pair differs and a log or a report is due.
func (m *Mirror) decide(p *Pair, now int64) {
	target := p.target
	t := &m.cfg.Targets[target]
	c := t.Compare
	diffs := m.diffs[:0]
	values := c.IncludeValues
	statusDiffers, headersDiffer, bodyDiffers := false, false, false
	if c.Status && p.primary.status != p.shadow.status {
		d := Difference{Part: PartStatus}
		if values {
			d.Primary, d.Shadow = p.primary.status, p.shadow.status
		}
		diffs, statusDiffers = append(diffs, d), true
	}
	for i, name := range c.Headers {
		a, b := p.primary.header(i), p.shadow.header(i)
		if a == b {
			continue
		}
		d := Difference{Part: PartHeader, Where: name}
		switch {
		case !b.present:
			d.Kind = Missing
		case !a.present:
			d.Kind = Extra
		}
		if values {
			d.Primary, d.Shadow = cut(a.value), cut(b.value)
		}
		diffs, headersDiffer = append(diffs, d), true
	}
	if c.Body != BodyNone {
		n := len(diffs)
		diffs = compareBodies(c, &p.primary, &p.shadow, diffs)
		bodyDiffers = len(diffs) > n
	}
	diffs = diffs[:min(len(diffs), MaxDifferences)]
	m.diffs = diffs
	primary, shadow := p.primary, p.shadow
	m.remove(p)

	m.rec.PrimaryLatency(target, primary.latencyMs)
	if !statusDiffers && !headersDiffer && !bodyDiffers {
		m.rec.CountCompare(target, CompareSame)
		return
	}
	m.rec.CountCompare(target, CompareDiffers)
	for _, f := range [...]struct {
		differs bool
		c       CompareCounter
	}{{statusDiffers, CompareStatusDiffers}, {headersDiffer, CompareHeadersDiffer}, {bodyDiffers, CompareBodyDiffers}} {
		if f.differs {
			m.rec.CountCompare(target, f.c)
		}
	}
	s := &m.targets[target]
	v := Verdict{Target: target, Method: p.method, Path: p.path}
	v.Log, v.LogsHeld = s.logs.Allow(now)
	if c.ReportCluster != "" && s.reports.take(now) {
		v.Report = m.report(t, &v, diffs, &primary, &shadow, now)
	}
	if v.Log || v.Report != nil {
		v.Differences = append([]Difference(nil), diffs...)
		m.verdicts = append(m.verdicts, v)
	}
}

// compareBodies appends the differences of two complete bodies, as c.Body says.
func compareBodies(c *Compare, a, b *side, out []Difference) []Difference {
	mode := c.Body
	if mode == BodyAuto {
		mode = BodyExact
		if a.json && b.json {
			mode = BodyJSON
		}
	}
	if mode == BodyJSON && a.held && b.held {
		return compareJSON(a.body, b.body, c.Ignore, c.IncludeValues, out)
	}
	same := a.size == b.size
	if same && a.held && b.held {
		same = bytes.Equal(a.body, b.body)
	} else if same {
		same = a.sum() == b.sum()
	}
	if same {
		return out
	}
	// Values of a body compared as a whole are shown only when both are at hand.
	d := Difference{Part: PartBody}
	if c.IncludeValues && a.held && b.held {
		d = bodyDifference(a.body, b.body, true)
	}
	return append(out, d)
}

// header is the value of the i-th compared header; absent when the side's headers
// were never seen, so that no order of the host's calls can index past them.
func (s *side) header(i int) headerValue {
	if i < len(s.headers) {
		return s.headers[i]
	}
	return headerValue{}
}

// sum is the FNV-1a hash of the side's body, from its bytes if they were held.
func (s *side) sum() uint64 {
	if s.hashed {
		return s.hash
	}
	return fnv1a(fnvOffset, s.body)
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
func (m *Mirror) report(t *Target, v *Verdict, diffs []Difference, primary, shadow *side, now int64) *Copy {
	c := t.Compare
	b := make([]byte, 0, 256+len(diffs)*(96+2*MaxValueBytes))
	b = append(b, `{"target":`...)
	b = appendJSONString(b, t.Name)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, v.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, v.Path)
	for _, s := range [...]struct {
		name string
		side *side
	}{{"primary", primary}, {"shadow", shadow}} {
		b = append(b, `,"`...)
		b = append(b, s.name...)
		b = append(b, `":{"status":`...)
		if n, err := strconv.Atoi(s.side.status); err == nil && len(s.side.status) == 3 {
			b = strconv.AppendInt(b, int64(n), 10)
		} else {
			b = append(b, "null"...)
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
		if c.IncludeValues {
			b = appendValue(append(b, `,"primary":`...), d.Primary, d.Kind == Extra)
			b = appendValue(append(b, `,"shadow":`...), d.Shadow, d.Kind == Missing)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	if c.ReportFormat == ReportOTLP {
		// The request id is wired with the report's requestId (issue 16).
		b = otlpLogs(b, t.Name, v.Method, v.Path, primary.status, shadow.status, len(diffs), "", now)
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
