// Command meshmirror is the proxy-wasm HTTP filter that mirrors requests to shadow
// clusters. This file is the thin glue between the SDK and package mirror, which holds
// every decision: it reads the request from the host, hands it to the mirror, and
// sends the copies the mirror returns.
package main

import (
	"crypto/rand"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"
	"github.com/meshmirror/meshmirror/plugin/mirror"
)

func main() {
	reserveHeap()
	proxywasm.SetVMContext(&vmContext{})
}

// minHeapBytes is the least heap the module starts with (reserveHeap). The memory
// doubles until the heap holds it: 3 MiB of linear memory instead of 192 KiB, and a
// collection about every 5,000 requests that copy nothing, every 34 with 64 KiB
// bodies.
const minHeapBytes = 2 << 20

// vmContext implements types.VMContext.
type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// tickMs is the tick period while copies wait to be sent. Copies are sent from the
// plugin (root) context so that they outlive the request that made them; the tick is
// how Envoy hands control to that context (RATIONALE.md).
const tickMs = 1

// pluginContext implements types.PluginContext. It owns the mirror and every copy.
type pluginContext struct {
	types.DefaultPluginContext
	mirror  *mirror.Mirror
	queue   []mirror.Copy // admitted copies waiting for the next tick
	reports []mirror.Copy // reports of differing pairs and summaries waiting for the next tick
	// reporting counts the reports sent and not answered yet, by target.
	reporting map[int]int
	tick      uint32          // the tick period set, in milliseconds; 0 for none
	refusal   mirror.Throttle // how often a refused dispatch is logged
	idle      []*httpContext  // contexts of ended requests, for reuse
	calls     []*call         // calls answered, for reuse
	ending    bool            // Envoy is ending this context (OnPluginDone)
	// calling is the context id of the stream callback running, for streamExists.
	calling uint32
}

// OnPluginStart implements types.PluginContext: it parses the configuration and
// mirrors as it says. It never fails the start: Envoy would reject the filter
// configuration, and a proxy with no earlier good one would answer every request with
// 500 (RATIONALE.md). An invalid configuration is logged, problem by problem, at
// critical level, counted in meshmirror.config_errors, and mirrors nothing.
func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, problems := readConfig()
	configErrors := defineGauge(mirror.ConfigErrorsMetric)
	// Set rather than add: every worker and every configuration shares one gauge.
	configErrors.add(int64(problems) - configErrors.value())
	if cfg == nil {
		return types.OnPluginStartStatusOK // p.mirror stays nil: nothing is mirrored
	}
	p.mirror = mirror.New(cfg, defineMetrics(cfg), seed())
	p.mirror.SetLiveness(p.streamExists)
	p.refusal = mirror.Throttle{Every: int64(10 * time.Second)}
	proxywasm.LogInfo("meshmirror: mirroring to " + strconv.Itoa(len(cfg.Targets)) + " targets")
	return types.OnPluginStartStatusOK
}

// readConfig returns the plugin's configuration, or nil and the number of problems
// found in it, each logged.
func readConfig() (*config.Config, int) {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && err != types.ErrorStatusNotFound {
		proxywasm.LogCritical("meshmirror: reading the configuration: " + err.Error() + "; mirroring nothing")
		return nil, 1
	}
	cfg, err := config.Parse(data)
	if err != nil {
		n := len(config.Problems(err))
		proxywasm.LogCritical(err.Error() + "\nmeshmirror mirrors nothing until its configuration is valid (meshmirror.config_errors = " + strconv.Itoa(n) + ")")
		return nil, n
	}
	return cfg, 0
}

// streamExists asks Envoy whether the stream with context id still exists: its
// set_effective_context answers BadArgument for a context it has destroyed
// (proxy-wasm-cpp-host src/exports.cc). The effective context is then set back to that
// of the callback running, so that the host calls after it act for the right stream.
func (p *pluginContext) streamExists(id uint32) bool {
	err := proxywasm.SetEffectiveContext(id)
	if p.calling != 0 {
		_ = proxywasm.SetEffectiveContext(p.calling)
	}
	return err == nil
}

// passThrough serves every request of a plugin that mirrors nothing: the SDK's
// default context, shared, so such a request costs the module no work of its own.
var passThrough = &types.DefaultHttpContext{}

// NewHttpContext implements types.PluginContext. It reuses the context of a request
// that has ended when there is one: under TinyGo, allocating it cost a fifth of a
// request that matches no target (BENCHMARKS.md).
func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	if p.mirror == nil {
		return passThrough
	}
	if n := len(p.idle); n > 0 {
		h := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		h.idle = false
		h.req.Stream = id
		return h
	}
	h := &httpContext{plugin: p}
	h.req.Stream = id
	return h
}

// maxIdleContexts bounds the contexts kept for reuse, about 12 KiB.
const maxIdleContexts = 256

// OnTick implements types.PluginContext: it sends the waiting copies, then stops the
// ticks until more copies wait. For a context that Envoy is ending, the tick that
// comes while it awaits its answers is the deadline: it ends then.
func (p *pluginContext) OnTick() {
	if p.mirror == nil {
		return // it never sets a tick period; a host may tick anyway
	}
	if p.ending && p.tick != tickMs {
		p.end()
		proxywasm.PluginDone()
		return
	}
	now := time.Now() // one reading for the batch: each is a call to the host
	for i := range p.queue {
		p.send(&p.queue[i], now)
	}
	p.mirror.Recycle(p.queue) // Envoy has its own copy of each body now
	clear(p.queue)
	p.queue = p.queue[:0]
	p.reports = p.mirror.Summaries(p.reports, now.UnixNano(), p.ending)
	for i := range p.reports {
		p.sendReport(&p.reports[i])
	}
	clear(p.reports)
	p.reports = p.reports[:0]
	p.setTick(p.summaryTick(now.UnixNano()))
	if p.ending && !p.endIfSettled() {
		p.awaitAnswers()
	}
}

// OnPluginDone implements types.PluginContext. Envoy calls it once a newer
// configuration has replaced this one and the last request under it has ended. The
// context ends when every copy it admitted has an outcome: it defers its end while
// copies wait to be sent or answered (RATIONALE.md).
func (p *pluginContext) OnPluginDone() bool {
	if p.mirror == nil { // never started
		return true
	}
	p.ending = true
	if p.mirror.NextSummary() != 0 {
		p.sendSummariesNow(time.Now().UnixNano())
	}
	if p.settled() {
		p.end()
		return true
	}
	if len(p.queue) == 0 && len(p.reports) == 0 {
		p.awaitAnswers()
	}
	return false
}

// settled reports whether every admitted copy and every report has an outcome.
func (p *pluginContext) settled() bool {
	return len(p.queue) == 0 && p.mirror.InFlight() == 0 && len(p.reports) == 0 && len(p.reporting) == 0
}

// endIfSettled ends an ending context that has nothing left to send or await, and
// tells Envoy; it reports whether it did.
func (p *pluginContext) endIfSettled() bool {
	if !p.ending || !p.settled() {
		return false
	}
	p.end()
	proxywasm.PluginDone()
	return true
}

// awaitAnswers arms the deadline of an ending context: Envoy answers every copy by
// its timeout, so the longest timeout and a second of grace.
func (p *pluginContext) awaitAnswers() {
	longest := uint32(0)
	for _, t := range p.mirror.Config().Targets {
		longest = max(longest, t.TimeoutMs)
	}
	p.setTick(longest + 1000)
}

// end lets go of everything the context holds. Envoy cancels the calls of a context
// it deletes, with no callback: a copy still awaiting its answer counts as cancelled,
// so that in_flight stays exact, and its comparison is skipped.
func (p *pluginContext) end() {
	p.mirror.Cancel()
	for target, n := range p.reporting { // Envoy cancels them too
		for range n {
			p.mirror.Reported(target, "")
		}
	}
	p.reporting = nil
	p.setTick(0)
	p.queue, p.idle, p.reports, p.calls = nil, nil, nil, nil
}

func (p *pluginContext) enqueue(copies []mirror.Copy) {
	p.queue = copies
	if len(copies) > 0 {
		p.setTick(tickMs)
	}
}

// sendSummariesNow queues every summary of an ending context for the next tick, so
// that what it counted is sent before it ends, whenever its pairs were decided.
func (p *pluginContext) sendSummariesNow(now int64) {
	p.reports = p.mirror.Summaries(p.reports, now, true)
	p.setTick(tickMs)
}

// summaryTick is the tick period of a worker with nothing to send: until the next
// summary is due, or 0 (no tick) when none waits. An ending context sends its
// summaries with its reports instead: its tick is the deadline of its answers.
func (p *pluginContext) summaryTick(now int64) uint32 {
	due := p.mirror.NextSummary()
	if due == 0 || p.ending {
		return 0
	}
	return uint32(min(max(1, (due-now)/1e6+1), int64(config.MaxSummarySeconds)*1000))
}

func (p *pluginContext) setTick(period uint32) {
	if period == p.tick {
		return
	}
	if err := proxywasm.SetTickPeriodMilliSeconds(period); err != nil {
		proxywasm.LogError("meshmirror: setting the tick period to " + strconv.FormatUint(uint64(period), 10) + " ms: " + err.Error())
		return
	}
	p.tick = period
}

// send dispatches one copy from the plugin context at start; its answer is recorded
// whenever it comes, whether or not the primary request is still there, and handed
// to its comparison.
func (p *pluginContext) send(c *mirror.Copy, start time.Time) {
	k := p.newCall()
	k.target, k.grpc, k.pair, k.sent = c.Target, c.GRPC, c.Pair, start.UnixNano()
	_, err := proxywasm.DispatchHttpCall(c.Cluster, c.Headers, c.Body, c.Trailers, c.TimeoutMs, k.answered)
	if err != nil {
		p.mirror.Refused(k.target)
		p.mirror.DropPair(k.pair)
		if ok, held := p.refusal.Allow(start.UnixNano()); ok {
			name := p.mirror.Config().Targets[k.target].Name
			proxywasm.LogWarn("meshmirror: target " + name + ": Envoy refused the copy to cluster " + strconv.Quote(c.Cluster) +
				": " + err.Error() + " (" + strconv.Itoa(held) + " more refusals not logged)")
		}
		p.freeCall(k)
		return
	}
	p.mirror.Sent(k.target)
}

// call is what the answer to a sent copy needs of it. Its method is the callback
// handed to the SDK: under TinyGo a closure allocates each variable it captures apart
// (five allocations a copy), a method value of a pointer none. Calls are reused once
// answered.
type call struct {
	p      *pluginContext
	target int
	grpc   bool
	pair   *mirror.Pair
	// sent is when the copy was sent, in nanoseconds: in the module time.Now is the
	// monotonic clock (TinyGo 0.41, runtime_tinygowasm.go), and a time.Time here
	// costs 16 KB of module.
	sent int64
}

// maxIdleCalls bounds the calls kept for reuse.
const maxIdleCalls = 256

func (p *pluginContext) newCall() *call {
	if n := len(p.calls); n > 0 {
		k := p.calls[n-1]
		p.calls[n-1] = nil
		p.calls = p.calls[:n-1]
		return k
	}
	return &call{p: p}
}

func (p *pluginContext) freeCall(k *call) {
	k.pair = nil // the pair is decided: let it go
	if len(p.calls) < maxIdleCalls {
		p.calls = append(p.calls, k)
	}
}

// answered records the answer to the copy k was sent for.
func (k *call) answered(numHeaders, bodySize, numTrailers int) {
	p := k.p
	now := time.Now()
	a := answer(numHeaders, bodySize, numTrailers, k.grpc)
	if p.mirror.WantsAnswerBody(k.pair, &a) {
		a.Body, _ = proxywasm.GetHttpCallResponseBody(0, bodySize) // read once; nil skips the pair
	}
	latency := (now.UnixNano() - k.sent) / int64(time.Millisecond)
	outcome := p.mirror.Answered(k.target, k.grpc, &a, latency)
	if k.pair != nil {
		p.mirror.ShadowAnswered(k.pair, outcome == mirror.ResponseFailed, &a, latency, now.UnixNano())
		p.tell()
	}
	p.freeCall(k)
	p.endIfSettled()
}

// tell logs and queues the reports of the pairs the mirror has just decided. Reports
// go out from the plugin context on its next tick, so that their answers are counted
// whenever they come.
func (p *pluginContext) tell() {
	for _, notice := range p.mirror.Notices() {
		proxywasm.LogInfo(notice)
	}
	for _, v := range p.mirror.Verdicts() {
		if v.Log {
			proxywasm.LogWarn(p.mirror.LogLine(&v))
		}
		if v.Report != nil {
			p.reports = append(p.reports, *v.Report)
			p.setTick(tickMs)
		}
	}
	if p.mirror.NextSummary() != 0 {
		switch {
		case p.ending: // its tick is the deadline of its answers: the summary goes now
			p.sendSummariesNow(time.Now().UnixNano())
		case p.tick == 0:
			p.setTick(p.summaryTick(time.Now().UnixNano()))
		}
	}
}

// sendReport dispatches the report of a differing pair.
func (p *pluginContext) sendReport(r *mirror.Copy) {
	target := r.Target
	_, err := proxywasm.DispatchHttpCall(r.Cluster, r.Headers, r.Body, nil, r.TimeoutMs,
		func(numHeaders, _, _ int) {
			if n := p.reporting[target]; n > 1 {
				p.reporting[target] = n - 1
			} else {
				delete(p.reporting, target)
			}
			status, _ := responseHeaders(numHeaders).Get(":status")
			p.mirror.Reported(target, status)
			p.endIfSettled()
		})
	p.mirror.ReportSent(r, err == nil)
	if err != nil {
		proxywasm.LogDebug("meshmirror: Envoy refused a report to cluster " + strconv.Quote(r.Cluster) + ": " + err.Error())
		return
	}
	if p.reporting == nil {
		p.reporting = map[int]int{}
	}
	p.reporting[target]++
}

// responseHeaders are the headers of the answer being handled, or none for a reset
// or a timeout, which Envoy reports with no headers.
func responseHeaders(numHeaders int) header.List {
	if numHeaders == 0 {
		return nil
	}
	headers, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return nil
	}
	return headers
}

// answer is what the mirror needs of the answer being handled: its headers and
// :status (none for a reset or a failure, which Envoy reports with no headers), its
// body's size and, for a gRPC copy, its grpc-status and grpc-message, in the headers
// of a trailers-only answer or else in the trailers.
func answer(numHeaders, bodySize, numTrailers int, grpc bool) mirror.Answer {
	a := mirror.Answer{Headers: responseHeaders(numHeaders), Size: bodySize}
	a.Status, _ = a.Headers.Get(":status")
	if !grpc || a.Status == "" {
		return a
	}
	var found bool
	if a.GRPCStatus, found = a.Headers.Get("grpc-status"); found {
		a.GRPCMessage, _ = a.Headers.Get("grpc-message")
	} else if numTrailers > 0 {
		if trailers, err := proxywasm.GetHttpCallResponseTrailers(); err == nil {
			a.GRPCStatus, _ = header.List(trailers).Get("grpc-status")
			a.GRPCMessage, _ = header.List(trailers).Get("grpc-message")
		}
	}
	return a
}

// httpContext implements types.HttpContext. It never pauses, changes or fails the
// primary request: every callback returns types.ActionContinue.
type httpContext struct {
	types.DefaultHttpContext
	plugin  *pluginContext
	req     mirror.Request
	pending bool // a copy waits for the end of the request
	idle    bool // the request has ended; the context waits for reuse
}

// OnHttpRequestHeaders implements types.HttpContext.
func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	h.plugin.calling = h.req.Stream
	headers, err := requestHeaders()
	if err != nil {
		proxywasm.LogDebug("meshmirror: reading request headers: " + err.Error())
		return types.ActionContinue
	}
	h.pending = h.plugin.mirror.StartRaw(&h.req, headers)
	if endOfStream {
		h.finish(nil)
	}
	return types.ActionContinue
}

// OnHttpRequestBody implements types.HttpContext: with ActionContinue each call
// holds only the chunk that just arrived, which the mirror copies.
func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !h.pending {
		return types.ActionContinue
	}
	h.plugin.calling = h.req.Stream
	if h.req.WantsBody() && bodySize > 0 {
		if err := readBuffer(requestBody, h.plugin.mirror.BodyRoom(&h.req, bodySize)); err != nil {
			proxywasm.LogDebug("meshmirror: reading the request body: " + err.Error() + "; no copy of this request")
			h.abandon()
			return types.ActionContinue
		}
	}
	if endOfStream {
		h.finish(nil)
	}
	return types.ActionContinue
}

// OnHttpRequestTrailers implements types.HttpContext: trailers end the request.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	if h.pending {
		h.plugin.calling = h.req.Stream
		trailers, _ := proxywasm.GetHttpRequestTrailers()
		h.finish(trailers)
	}
	return types.ActionContinue
}

// OnHttpResponseHeaders implements types.HttpContext: a response that ends before
// its request means the request never will, since Envoy then resets the stream
// (ConnectionManagerImpl::doEndStream); with HTTP/3's deferred logging the plugin
// would hear of that stream's end no other way. When copies of the request are
// compared, it reads the status and headers, and leaves them as they are.
func (h *httpContext) OnHttpResponseHeaders(_ int, endOfStream bool) types.Action {
	switch {
	case endOfStream:
		h.abandon()
	case h.pending:
		h.req.RespondedEarly()
	}
	if h.req.Observing() {
		headers, err := proxywasm.GetHttpResponseHeaders()
		if err != nil {
			h.unreadable("headers", err)
			return types.ActionContinue
		}
		h.plugin.mirror.ResponseHeaders(&h.req, headers)
		if endOfStream {
			h.responseEnd()
		}
	}
	return types.ActionContinue
}

// OnHttpResponseBody implements types.HttpContext (see OnHttpResponseHeaders). With
// ActionContinue each call holds only the chunk that just arrived: a comparison
// hashes or keeps it as it passes, and Envoy never buffers the response for it.
func (h *httpContext) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	if endOfStream {
		h.abandon()
	}
	if h.req.Observing() {
		if room := h.plugin.mirror.ResponseBodyRoom(&h.req, bodySize); room != nil {
			if err := readBuffer(responseBody, room); err != nil {
				h.unreadable("body", err)
				return types.ActionContinue
			}
			h.plugin.mirror.ResponseBodyRead(&h.req, room)
		}
		if endOfStream {
			h.responseEnd()
		}
	}
	return types.ActionContinue
}

// OnHttpResponseTrailers implements types.HttpContext (see OnHttpResponseHeaders).
func (h *httpContext) OnHttpResponseTrailers(int) types.Action {
	h.abandon()
	if h.req.Observing() {
		if h.req.WantsResponseTrailers() {
			if trailers, err := proxywasm.GetHttpResponseTrailers(); err == nil {
				h.plugin.mirror.ResponseTrailers(&h.req, trailers)
			}
		}
		h.responseEnd()
	}
	return types.ActionContinue
}

// unreadable gives up the comparisons of a response the host would not hand over.
func (h *httpContext) unreadable(part string, err error) {
	proxywasm.LogDebug("meshmirror: reading the response " + part + ": " + err.Error() + "; not compared")
	h.plugin.mirror.ResponseReset(&h.req)
}

// responseEnd hands the end of the primary's response to its comparisons.
func (h *httpContext) responseEnd() {
	h.plugin.mirror.ResponseEnd(&h.req, time.Now().UnixNano())
	h.plugin.tell()
}

// OnHttpStreamDone implements types.HttpContext: a request reset before its end is
// not copied, and a response that did not end is not compared. It is the last call
// the SDK makes on the context (proxy_on_log; done and delete only update the SDK's
// maps, and copies are never dispatched from it), so the context can serve the next
// request.
func (h *httpContext) OnHttpStreamDone() {
	h.abandon()
	if h.req.Observing() {
		h.plugin.mirror.ResponseReset(&h.req)
	}
	if p := h.plugin; !h.idle && len(p.idle) < maxIdleContexts {
		h.idle = true
		p.idle = append(p.idle, h)
	}
}

// abandon lets go of a request that will not be copied.
func (h *httpContext) abandon() {
	if h.pending {
		h.pending = false
		h.plugin.mirror.Abandon(&h.req)
	}
}

func (h *httpContext) finish(trailers [][2]string) {
	if !h.pending {
		return
	}
	h.pending = false
	p := h.plugin
	var now int64
	if p.mirror.NeedsClock(&h.req) {
		now = time.Now().UnixNano()
	}
	p.enqueue(p.mirror.Finish(&h.req, trailers, now, p.queue))
}

// hostMetrics records the mirror's metrics in the host (mirror.Recorder).
type hostMetrics struct {
	counters    [][mirror.NumCounters]hostCounter
	inFlight    []hostGauge
	latency     []hostHistogram
	loopSkipped hostCounter
	unsupported hostCounter
	// compare and primaryLatency are defined for the targets with compare only.
	compare        [][mirror.NumCompareCounters]hostCounter
	primaryLatency []hostHistogram
	// names keeps the metric names alive: the SDK's wazero emulator keys its metrics
	// by the module's own bytes, so a collected name would corrupt the test host.
	names []string
}

// defineMetrics defines every metric of SPEC.md at plugin start, so that they are
// exported (at zero) before the first request.
func defineMetrics(cfg *config.Config) *hostMetrics {
	m := &hostMetrics{
		counters:    make([][mirror.NumCounters]hostCounter, len(cfg.Targets)),
		inFlight:    make([]hostGauge, len(cfg.Targets)),
		latency:     make([]hostHistogram, len(cfg.Targets)),
		loopSkipped: defineCounter(mirror.LoopSkippedMetric),
		unsupported: defineCounter(mirror.UnsupportedSkippedMetric),

		compare:        make([][mirror.NumCompareCounters]hostCounter, len(cfg.Targets)),
		primaryLatency: make([]hostHistogram, len(cfg.Targets)),
	}
	for i, t := range cfg.Targets {
		for c := range mirror.NumCounters {
			m.counters[i][c] = defineCounter(m.keep(mirror.CounterName(t.Name, c)))
		}
		m.inFlight[i] = defineGauge(m.keep(mirror.InFlightName(t.Name)))
		m.latency[i] = defineHistogram(m.keep(mirror.LatencyName(t.Name)))
		if t.Compare == nil {
			continue
		}
		for c := range mirror.NumCompareCounters {
			if c == mirror.CompareSummaries && t.Compare.ReportCluster == "" {
				continue // SPEC.md: only where summaries are sent
			}
			m.compare[i][c] = defineCounter(m.keep(mirror.CompareCounterName(t.Name, c)))
		}
		m.primaryLatency[i] = defineHistogram(m.keep(mirror.PrimaryLatencyName(t.Name)))
	}
	return m
}

func (m *hostMetrics) keep(name string) string {
	m.names = append(m.names, name)
	return name
}

func (m *hostMetrics) Count(target int, c mirror.Counter) { m.counters[target][c].increment() }
func (m *hostMetrics) LoopSkipped()                       { m.loopSkipped.increment() }
func (m *hostMetrics) UnsupportedSkipped()                { m.unsupported.increment() }
func (m *hostMetrics) InFlight(target, delta int)         { m.inFlight[target].add(int64(delta)) }
func (m *hostMetrics) Latency(target int, ms int64)       { m.latency[target].record(uint64(max(ms, 0))) }
func (m *hostMetrics) CountCompare(target int, c mirror.CompareCounter) {
	m.compare[target][c].increment()
}
func (m *hostMetrics) PrimaryLatency(target int, ms int64) {
	m.primaryLatency[target].record(uint64(max(ms, 0)))
}

// seed returns a random seed for sampling; Envoy provides random_get.
func seed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	var s uint64
	for _, x := range b {
		s = s<<8 | uint64(x)
	}
	return s
}
