package mirror

import (
	"math/rand/v2"
	"slices"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/header"
	"github.com/meshmirror/meshmirror/plugin/inflate"
	"github.com/meshmirror/meshmirror/plugin/summary"
)

// Counter names one of a target's counters.
type Counter uint8

// A target's counters, in SPEC.md's order. Envoy exposes each as
// wasmcustom.meshmirror.<target>.<counter>.
const (
	Matched Counter = iota
	SampledOut
	Dispatched
	DroppedBodyTooLarge
	DroppedRateLimited
	DroppedInFlight
	DispatchFailed
	Response2xx
	Response3xx
	Response4xx
	Response5xx
	ResponseFailed
	// ResponseGRPCError counts gRPC copies answered with HTTP 200 and a grpc-status
	// other than 0, or none.
	ResponseGRPCError
	// Cancelled counts copies whose call Envoy cancelled without an answer: the
	// configuration that sent them ended first.
	Cancelled
	// NumCounters is the number of counters per target.
	NumCounters
)

var counterNames = [NumCounters]string{
	"matched", "sampled_out", "dispatched", "dropped_body_too_large", "dropped_rate_limited",
	"dropped_in_flight", "dispatch_failed", "response_2xx", "response_3xx", "response_4xx",
	"response_5xx", "response_failed", "response_grpc_error", "cancelled",
}

// CompareCounter names one of the counters of a target with compare (SPEC.md,
// "Comparison"), defined only for such targets. Envoy exposes each as
// wasmcustom.meshmirror.<target>.<counter>.
type CompareCounter uint8

// The counters of a target with compare.
const (
	// CompareSame counts pairs whose answers are the same.
	CompareSame CompareCounter = iota
	// CompareDiffers counts pairs whose answers differ; each also counts in those of
	// CompareStatusDiffers, CompareHeadersDiffer and CompareBodyDiffers that apply.
	CompareDiffers
	CompareStatusDiffers
	CompareHeadersDiffer
	CompareBodyDiffers
	// CompareNoise counts pairs whose every difference is noise: the baseline differs
	// there too (SPEC.md, "Noise"). They count in none of the counters above.
	CompareNoise
	// CompareSkipped counts pairs not compared: the primary reset, the copy failed,
	// timed out, was refused or cancelled, a body passed maxBytes, the pairs held
	// reached maxInFlight, or the response began before its request ended.
	CompareSkipped
	// ReportsSent counts reports Envoy accepted to send.
	ReportsSent
	// ReportFailed counts reports and summaries Envoy refused, or that were reset,
	// timed out or answered with other than 2xx.
	ReportFailed
	// CompareSummaries counts summaries Envoy accepted to send; defined only for a
	// target with compare.report.cluster.
	CompareSummaries
	// NumCompareCounters is the number of counters of a target with compare.
	NumCompareCounters
)

var compareCounterNames = [NumCompareCounters]string{
	"compare_same", "compare_differs", "compare_status_differs", "compare_headers_differ",
	"compare_body_differs", "compare_noise", "compare_skipped", "compare_reports", "compare_reports_failed", "compare_summaries",
}

// Metric names that are not per-target counters.
const (
	// LoopSkippedMetric counts requests that already carried the marker.
	LoopSkippedMetric = "meshmirror.loop_skipped"
	// UnsupportedSkippedMetric counts CONNECT and upgrade requests, never copied.
	UnsupportedSkippedMetric = "meshmirror.unsupported_skipped"
	// ConfigErrorsMetric is the gauge of problems in the configuration: 0 when it is
	// valid, more when it is not and the plugin mirrors nothing.
	ConfigErrorsMetric = "meshmirror.config_errors"
	inFlightSuffix     = "in_flight"
	latencySuffix      = "latency_ms"
	primaryLatency     = "primary_latency_ms"
)

// CounterName is the full name of a target's counter, e.g. meshmirror.reviews-v2.matched.
func CounterName(target string, c Counter) string { return metricName(target, counterNames[c]) }

// InFlightName is the full name of a target's in_flight gauge.
func InFlightName(target string) string { return metricName(target, inFlightSuffix) }

// LatencyName is the full name of a target's latency_ms histogram.
func LatencyName(target string) string { return metricName(target, latencySuffix) }

// CompareCounterName is the full name of a counter of a target with compare, e.g.
// meshmirror.reviews-v2.compare_differs.
func CompareCounterName(target string, c CompareCounter) string {
	return metricName(target, compareCounterNames[c])
}

// PrimaryLatencyName is the full name of a compared target's primary_latency_ms
// histogram: the primary's time from the end of its request to the end of its
// response, for compared pairs.
func PrimaryLatencyName(target string) string { return metricName(target, primaryLatency) }

func metricName(target, metric string) string { return "meshmirror." + target + "." + metric }

// Recorder receives what the mirror observes; the SDK glue forwards it to the host's
// metrics. Targets are indexes into Config.Targets.
type Recorder interface {
	Count(target int, c Counter)
	LoopSkipped()
	UnsupportedSkipped()
	// InFlight moves the target's count of copies awaiting an answer by delta.
	InFlight(target, delta int)
	Latency(target int, ms int64)
	// CountCompare and PrimaryLatency are called only for targets with compare.
	CountCompare(target int, c CompareCounter)
	PrimaryLatency(target int, ms int64)
}

// Mirror is the per-VM decision state: one per plugin context, used by one thread.
type Mirror struct {
	cfg     *config.Config
	rec     Recorder
	rnd     *rand.Rand
	targets []targetState
	bodies  bodyStore
	scratch []byte // room for a response chunk that is only hashed
	// live are the undecided pairs, over every target.
	// clocked are the targets whose copies need the time at the end of the request:
	// those with a rate limit or a comparison, by bit.
	clocked  uint32
	live     []*Pair
	verdicts []Verdict
	diffs    []diff.Difference // the scratch of decide
	inflater inflate.Inflater
	// waiting are the decided pairs that wait for their baseline's pair (noise.go).
	waiting []*Pair
	notices []string
	now     int64 // the latest time a pair was decided at, in nanoseconds
	// headerBufs are the header slices of copies handed to the host, for reuse.
	headerBufs [][][2]string
	// leases account for the body bytes of requests, and alive tells whether a
	// stream still exists: the bytes of one that is gone are taken back (reclaim).
	leases     []lease
	freeLeases []int
	alive      func(stream uint32) bool
	probeNext  int // where reclaim goes on asking
}

type targetState struct {
	bucket   tokenBucket
	inFlight int
	pairs    int         // undecided pairs
	logs     Throttle    // of differing pairs
	reports  tokenBucket // of differing pairs
	noise    *noiseTable // for a target with a baseline
	// dependents are the targets whose baseline this target is.
	dependents []int
	// authIn and authOut are the last :authority rewritten for a copy and what it
	// became: requests to a service carry the same one, and rewriting it anew is two
	// allocations a copy.
	authIn, authOut string
	// summary counts the pairs since the last summary, for a target with a report
	// cluster; summaryFrom is when its interval began, in nanoseconds.
	summary     *summary.Table
	summaryFrom int64
}

// New returns a Mirror for cfg; seed feeds the random sampling.
func New(cfg *config.Config, rec Recorder, seed uint64) *Mirror {
	m := &Mirror{cfg: cfg, rec: rec, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	m.targets = make([]targetState, len(cfg.Targets))
	for i, t := range cfg.Targets {
		m.targets[i].bucket = newTokenBucket(t.RatePerSecond, t.RateBurst)
		if t.RatePerSecond > 0 || t.Compare != nil {
			m.clocked |= 1 << i
		}
		if c := t.Compare; c != nil {
			m.targets[i].logs.Every = 1e9
			m.targets[i].reports = newTokenBucket(c.ReportPerSecond, 1)
			if c.ReportCluster != "" {
				m.targets[i].summary = &summary.Table{}
			}
			if c.Baseline >= 0 {
				m.targets[i].noise = &noiseTable{}
				m.targets[c.Baseline].dependents = append(m.targets[c.Baseline].dependents, i)
			}
		}
	}
	m.bodies.budget = BodyBudget(cfg)
	return m
}

// Config returns the configuration the mirror runs.
func (m *Mirror) Config() *config.Config { return m.cfg }

// Request is what the mirror keeps of one primary request until its end of stream.
// The zero value is ready.
type Request struct {
	// Stream is the host's id of the request's stream, set by the SDK glue: with it
	// the mirror asks the host whether a stream that never said it ended still exists
	// (SetLiveness). Start keeps it.
	Stream uint32
	// lease is the index of the request's lease in Mirror.leases, plus one (0 for
	// none), and leaseGen its generation then.
	lease    int
	leaseGen uint32
	headers  header.Raw // kept only while a copy is pending
	pending  uint32     // targets selected for a copy, by bit
	withBody uint32     // the pending targets that copy the body
	body     []byte
	bodySize int
	early    bool // the response began before the request ended
	resp     primaryResponse
}

// Start is StartRaw for headers held as a slice: it serializes them as the host
// would. The module reads them serialized and calls StartRaw.
func (m *Mirror) Start(r *Request, h header.List) bool { return m.StartRaw(r, header.RawOf(h)) }

// StartRaw decides, per target, whether the request with these headers is to be
// copied: a request that cannot be mirrored, marker, match, then sampling. It
// reports whether any copy is pending; if not, the request needs nothing more from
// the mirror. It keeps h until Finish.
func (m *Mirror) StartRaw(r *Request, h header.Raw) bool {
	m.unhold(r)
	*r = Request{Stream: r.Stream}
	switch unsupported, loop := m.scan(h); {
	case unsupported:
		m.rec.UnsupportedSkipped()
		return false
	case loop:
		m.rec.LoopSkipped()
		return false
	}
	for i := range m.cfg.Targets {
		t := &m.cfg.Targets[i]
		if !matches(&t.Match, h) {
			continue
		}
		m.rec.Count(i, Matched)
		if !m.sampled(t, h) {
			m.rec.Count(i, SampledOut)
			continue
		}
		r.pending |= 1 << i
		if t.BodyEnabled {
			r.withBody |= 1 << i
		}
	}
	if r.pending != 0 {
		r.headers = h
	}
	return r.pending != 0
}

// scan looks at every header once, for what rules a request out before any target:
// whether it cannot be mirrored, as Envoy's own mirror does not mirror it (CONNECT,
// HTTP/2's extended CONNECT with :protocol, upgrade requests such as WebSocket: their
// copy could only be sent once the tunnel closed, with its frames as a body, and a
// CONNECT has no :path, so Envoy would refuse it), and whether it carries the marker.
// A byte is compared before each string: every request pays for this scan.
func (m *Mirror) scan(h header.Raw) (unsupported, loop bool) {
	marker := m.cfg.Marker
	// The walk of header.Raw.Iter written out: a call per header was a twentieth of
	// a request that matches nothing.
	data, size, at := h.Data(), 4, 4+8*h.Len()
	for range h.Len() {
		ks, vs := int(header.Size32(data, size)), int(header.Size32(data, size+4))
		size += 8
		name := data[at : at+ks]
		switch {
		case len(name) == len(marker) && name[0] == marker[0] && name == marker:
			loop = true
		case len(name) == len("upgrade") && name[0] == 'u' && name == "upgrade",
			len(name) == len(":method") && name[1] == 'm' && name == ":method" && data[at+ks+1:at+ks+1+vs] == "CONNECT",
			len(name) == len(":protocol") && name[1] == 'p' && name == ":protocol":
			return true, loop
		}
		at += ks + vs + 2
	}
	return false, loop
}

func (m *Mirror) sampled(t *config.Target, h header.Raw) bool {
	switch t.Percent {
	case config.PercentScale:
		return true
	case 0:
		return false
	}
	if t.StickyHeader != "" {
		if v, ok := h.Get(t.StickyHeader); ok {
			return StickyBucket(t.Name, v) < t.Percent
		}
	}
	return m.rnd.Uint32N(config.PercentScale) < t.Percent
}

// WantsBody reports whether a pending copy still needs the request's body.
func (r *Request) WantsBody() bool { return r.withBody != 0 }

// Body takes the next chunk of the request's body (see BodyRoom).
func (m *Mirror) Body(r *Request, chunk []byte) {
	copy(m.BodyRoom(r, len(chunk)), chunk)
}

// BodyRoom makes room for the next n bytes of the request's body and returns it, for
// the caller to fill: the host can then write a chunk straight into the body the
// copies send (RATIONALE.md). It returns nil when no copy needs the bytes. A copy
// whose body passes its target's maxBytes is dropped at once; so are all of the
// request's body copies when holding the chunk would pass the VM's body budget
// (BodyBudget). The body is held only while a copy needs it; a caller that cannot
// fill the room must abandon the request.
func (m *Mirror) BodyRoom(r *Request, n int) []byte {
	if r.withBody == 0 {
		return nil
	}
	r.bodySize += n
	for i := range m.cfg.Targets {
		if r.withBody&(1<<i) != 0 && r.bodySize > m.cfg.Targets[i].MaxBodyBytes {
			m.dropBody(r, i, DroppedBodyTooLarge)
		}
	}
	lost := m.lost(r) // reclaimed, as if its stream had vanished
	if r.withBody != 0 && (lost || !m.bodies.reserve(n) && !(m.reclaim(r) && m.bodies.reserve(n))) {
		for i := range m.cfg.Targets {
			if r.withBody&(1<<i) != 0 {
				m.dropBody(r, i, DroppedInFlight)
			}
		}
		if lost {
			r.body = nil
		}
	}
	if r.withBody == 0 {
		m.letGo(r)
		return nil
	}
	if r.body == nil {
		r.body = m.bodies.take()
	}
	m.hold(r, n)
	at := len(r.body)
	r.body = slices.Grow(r.body, n)[:at+n]
	return r.body[at:]
}

// letGo gives back the body a request holds.
func (m *Mirror) letGo(r *Request) {
	if r.body != nil && m.leaseOf(r) >= 0 {
		m.bodies.release(r.body)
	}
	m.unhold(r)
	r.body = nil
}

func (m *Mirror) dropBody(r *Request, target int, why Counter) {
	r.withBody &^= 1 << target
	r.pending &^= 1 << target
	m.rec.Count(target, why)
}

// Abandon lets go of a request that ended without its end of stream (a reset): it is
// not copied.
func (m *Mirror) Abandon(r *Request) {
	m.letGo(r)
	*r = Request{Stream: r.Stream}
}

// Copy is a request copy ready to be sent to a shadow cluster.
type Copy struct {
	// Target is the index of the target in Config.Targets.
	Target    int
	Cluster   string
	Headers   [][2]string
	Body      []byte
	Trailers  [][2]string
	TimeoutMs uint32
	// GRPC is set for a gRPC request: its answer is classified by grpc-status.
	GRPC bool
	// Pair is the comparison of the copy's answer with the primary's response, nil
	// when the target does not compare.
	Pair *Pair
	// Summary marks a summary to the report cluster: it counts in compare_summaries
	// rather than compare_reports.
	Summary bool
}

// NeedsClock reports whether Finish needs the time for r: reading the clock is a call
// into the host, and most copies have no rate limit and no comparison to use it.
func (m *Mirror) NeedsClock(r *Request) bool { return r.pending&m.clocked != 0 }

// Finish ends the request: each pending copy passes the rate limit and the in-flight
// cap, and is appended to out. An admitted copy counts as in flight until Answered
// or Refused is called for it. trailers may be nil; now is in nanoseconds, and may be
// 0 when NeedsClock says it is not needed.
func (m *Mirror) Finish(r *Request, trailers header.List, now int64, out []Copy) []Copy {
	if m.lost(r) {
		for i := range m.cfg.Targets {
			if r.withBody&(1<<i) != 0 {
				m.dropBody(r, i, DroppedInFlight)
			}
		}
		r.body = nil
	}
	shared, grpc, typed := false, false, false
	var resp primaryResponse
	for i := range m.cfg.Targets {
		if r.pending&(1<<i) == 0 {
			continue
		}
		t, s := &m.cfg.Targets[i], &m.targets[i]
		if !s.bucket.take(now) {
			m.rec.Count(i, DroppedRateLimited)
			continue
		}
		if s.inFlight >= t.MaxInFlight {
			m.rec.Count(i, DroppedInFlight)
			continue
		}
		s.inFlight++
		m.rec.InFlight(i, 1)
		if !typed { // only for a request that is copied: it reads every header
			grpc, typed = isGRPC(r.headers), true
		}
		c := Copy{
			Target:    i,
			Cluster:   t.Cluster,
			Headers:   copyHeaders(t, r.headers, m.cfg.Marker, s, m.headerBuf()),
			Trailers:  trailers,
			TimeoutMs: t.TimeoutMs,
			GRPC:      grpc,
		}
		if t.BodyEnabled && len(r.body) > 0 {
			c.Body = r.body
			shared = true
		}
		if t.Compare != nil {
			if c.Pair = m.newPair(i, r, grpc, now); c.Pair != nil {
				resp.pairs[resp.n] = c.Pair
				resp.n++
				resp.grpc = resp.grpc || grpc
			}
		}
		out = append(out, c)
	}
	m.linkBaselines(&resp)
	// The copies share the body until they are sent; the request lets go of it.
	if !shared {
		m.letGo(r)
	}
	m.unhold(r)
	*r = Request{Stream: r.Stream, resp: resp} // the response of the request is observed from now on
	return out
}

// Recycle takes back the bodies and header slices of copies that have been handed
// to the host, which keeps its own copy: call it once every copy in copies is sent or
// refused.
func (m *Mirror) Recycle(copies []Copy) {
	var last *byte
	for i := range copies {
		if b := copies[i].Body; len(b) > 0 && &b[0] != last {
			last = &b[0]
			m.bodies.release(b)
		}
		if h := copies[i].Headers; h != nil && len(m.headerBufs) < maxHeaderBufs {
			clear(h) // its strings hold the request's headers: let them go
			m.headerBufs = append(m.headerBufs, h[:0])
		}
	}
}

// maxHeaderBufs bounds the header slices kept for reuse.
const maxHeaderBufs = 16

// headerBuf returns a header slice to reuse, or nil.
func (m *Mirror) headerBuf() [][2]string {
	n := len(m.headerBufs)
	if n == 0 {
		return nil
	}
	b := m.headerBufs[n-1]
	m.headerBufs[n-1] = nil
	m.headerBufs = m.headerBufs[:n-1]
	return b
}

// Sent records that the host accepted a copy for target.
func (m *Mirror) Sent(target int) { m.rec.Count(target, Dispatched) }

// Refused records that the host refused to send a copy for target.
func (m *Mirror) Refused(target int) {
	m.rec.Count(target, DispatchFailed)
	m.release(target)
}
