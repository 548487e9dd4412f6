// Package wasmhost runs a proxy-wasm module on wazero the way Envoy runs it on a
// worker: one VM, entered by one goroutine at a time, with real time and randomness,
// and HTTP callouts whose answers come back in any order.
//
// It implements the host functions of proxy-wasm ABI 0.2 (the module exports
// proxy_abi_version_0_2_0, as Envoy's host library detects it) that Envoy provides
// (proxy-wasm-cpp-host, src/exports.cc; Envoy, source/extensions/common/wasm/context.cc),
// including Envoy's checks on http_call. Shared queues and gRPC calls are answered
// with Unimplemented. The SDK's own test emulator cannot serve real traffic: it reuses
// callout ids, so concurrent answers collide.
package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Status is a proxy-wasm WasmResult.
type Status uint32

// The results a host function returns.
const (
	StatusOK              Status = 0
	StatusNotFound        Status = 1
	StatusBadArgument     Status = 2
	StatusCasMismatch     Status = 8
	StatusInternalFailure Status = 10
	StatusUnimplemented   Status = 12
)

// Action is what a stream callback asks of the host.
type Action uint32

// The actions of a stream callback.
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// Map and buffer types of the ABI.
const (
	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7

	bufRequestBody      = 0
	bufResponseBody     = 1
	bufCallResponseBody = 4
	bufVMConfiguration  = 6
	bufPluginConfig     = 7
)

// Options configure a Host.
type Options struct {
	// Module is the compiled proxy-wasm module.
	Module []byte
	// PluginConfig is what the plugin reads at start (the filter's configuration).
	PluginConfig []byte
	// Clusters are the upstreams that http_call may name; any other is refused with
	// BadArgument, as Envoy refuses an unknown cluster.
	Clusters map[string]Caller
	// Log receives the module's log lines. Defaults to discarding them.
	Log func(level uint32, msg string)
	// Stdout receives what the module writes to its standard output and error.
	Stdout io.Writer
	// Manual makes the host run the module only when it is called, in the caller's
	// goroutine: no timer runs proxy_on_tick (call Tick while TickPeriod is not zero),
	// and callouts wait until Answer sends them to their clusters and delivers the
	// answers. Benchmarks and soak runs use it to measure the module rather than the
	// Go scheduler, and to be repeatable. Defaults to false: ticks run on real timers
	// and each callout on its own goroutine, as in Envoy.
	Manual bool
}

// Caller sends one callout to its cluster. It returns the answer, or an error when no
// response came; the host turns errors into what Envoy would report (see Host).
type Caller interface {
	Call(ctx context.Context, c *Callout) (*Response, error)
}

// CallerFunc adapts a function to Caller.
type CallerFunc func(ctx context.Context, c *Callout) (*Response, error)

// Call calls f.
func (f CallerFunc) Call(ctx context.Context, c *Callout) (*Response, error) { return f(ctx, c) }

// Callout is an HTTP call the module made.
type Callout struct {
	Cluster  string
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	// Timeout is zero for none.
	Timeout time.Duration
}

// Response is an answer to a callout.
type Response struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
}

// ErrClosed is returned for a stream asked of a closed Host.
var ErrClosed = errors.New("wasmhost: the host is closed")

// ErrReset tells the host that the stream broke after its response began: Envoy then
// reports the call as failed, with no headers and no body.
var ErrReset = errors.New("stream reset after the response began")

// Host is one VM running the module, as an Envoy worker runs it. Its methods may be
// called from any goroutine; the VM is entered by one at a time.
//
// It keeps Envoy's lifecycle (proxy-wasm-cpp-host src/wasm.cc, src/context.cc): each
// configuration has a plugin (root) context of its own in the same VM; a stream
// belongs to the root context that was current when it began and holds it, so an
// old root context ends (proxy_on_done, then proxy_on_delete at once or after the
// module calls proxy_done) once it has been replaced and its last stream is gone.
// Deleting a root context cancels its callouts with no callback. Tick timers are kept
// per root context id and outlive it, as Envoy's do.
type Host struct {
	mu       sync.Mutex // held while the VM runs
	opts     Options
	cache    wazero.CompilationCache // the module's compiled code, for the canary too
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	mod      api.Module
	alloc    api.Function
	exports  map[string]api.Function

	nextID    uint32
	roots     map[uint32]*root // root contexts that exist: active, or ending
	active    *root            // the root context of the current configuration
	streams   map[uint32]*Stream
	calling   uint32   // the context of the VM call under way (cpp-host's current_context_)
	effective uint32   // the context set by proxy_set_effective_context, or calling
	current   *Stream  // the stream whose callback runs
	depth     int      // nesting of VM calls
	after     []func() // run once the outermost VM call returns (addAfterVmCallAction)
	canaried  map[string]error

	metrics map[uint32]*metric // by id
	stats   map[string]*metric // by name: the stats the ids address

	timers map[uint32]*timer // by root context id

	nextToken uint32
	pending   map[uint32]*pendingCall
	held      []heldCall // callouts of a Manual host waiting for Answer
	answering []heldCall // the batch Answer is delivering, kept for reuse
	answer    *Response  // the callout answer being delivered
	callouts  sync.WaitGroup
	closed    bool

	sharedData map[string]shared
}

// root is a plugin (root) context: one per configuration.
type root struct {
	id      uint32
	config  []byte
	streams int  // streams that hold it, as a stream context holds its plugin handle
	ending  bool // proxy_on_done was called
	waiting bool // proxy_on_done returned false: proxy_done ends it (pending_done_)
}

// timer is Envoy's tick timer of one root context (Wasm::timer_period_, timer_).
type timer struct {
	period time.Duration
	t      *time.Timer
	gen    int
}

// pendingCall is a callout awaiting its answer.
type pendingCall struct {
	root   uint32
	cancel context.CancelFunc
}

type heldCall struct {
	token  uint32
	caller Caller
	call   *Callout
}

type metric struct {
	kind  uint32
	name  string
	value uint64 // a histogram's last sample
	// A histogram's samples: every one up to maxSamples, then a uniform sample of
	// them (reservoir sampling), for its percentiles.
	samples []uint64
	count   uint64
	rng     *mathrand.Rand
}

// maxSamples bounds the samples a histogram keeps.
const maxSamples = 1 << 16

func (m *metric) record(v uint64) {
	m.count++
	if len(m.samples) < maxSamples {
		m.samples = append(m.samples, v)
		return
	}
	if m.rng == nil {
		m.rng = mathrand.New(mathrand.NewPCG(1, 2))
	}
	if i := m.rng.Uint64N(m.count); i < maxSamples {
		m.samples[i] = v
	}
}

// Percentiles returns percentiles ps (0 to 100, nearest rank) of the samples the
// histogram named name recorded, and how many it recorded, as Envoy's admin shows a
// histogram's quantiles; ok is false when name is not a histogram.
func (h *Host) Percentiles(name string, ps ...float64) (values []uint64, count uint64, ok bool) {
	h.mu.Lock()
	st, found := h.stats[name]
	if !found || st.kind != metricHistogram {
		h.mu.Unlock()
		return nil, 0, false
	}
	sorted := slices.Clone(st.samples)
	count = st.count
	h.mu.Unlock()
	slices.Sort(sorted)
	values = make([]uint64, len(ps))
	if len(sorted) == 0 {
		return values, count, true
	}
	for i, p := range ps {
		rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
		values[i] = sorted[min(max(rank, 0), len(sorted)-1)]
	}
	return values, count, true
}

type shared struct {
	value []byte
	cas   uint32
}

// New starts the module as Envoy's createWasm does: a canary VM checks the plugin
// configuration first (started, configured, then discarded), then the worker VM
// runs _start and starts the plugin: proxy_on_context_create, proxy_on_vm_start,
// proxy_on_configure. A module that refuses its configuration is an error.
func New(ctx context.Context, opts Options) (*Host, error) {
	if opts.Log == nil {
		opts.Log = func(uint32, string) {}
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	// The canary and the worker VM share the module's compiled code, as Envoy's clones
	// share the base VM's; only this host's runtimes use it, so a function listener
	// in ctx (the benchmarks count allocations with one) reaches both.
	cache := wazero.NewCompilationCache()
	h, err := newVM(ctx, opts, cache)
	if err != nil {
		cache.Close(ctx)
		return nil, err
	}
	h.cache = cache
	if err := h.canary(ctx, opts.PluginConfig); err != nil {
		h.Close(ctx)
		return nil, err
	}
	h.mu.Lock()
	h.active, err = h.startRoot(opts.PluginConfig)
	h.mu.Unlock()
	if err != nil {
		h.Close(ctx)
		return nil, err
	}
	return h, nil
}

// newVM instantiates the module and runs _initialize or _start.
func newVM(ctx context.Context, opts Options, cache wazero.CompilationCache) (*Host, error) {
	h := &Host{
		opts: opts, nextID: 1, roots: map[uint32]*root{}, streams: map[uint32]*Stream{},
		metrics: map[uint32]*metric{}, stats: map[string]*metric{}, timers: map[uint32]*timer{},
		pending: map[uint32]*pendingCall{}, sharedData: map[string]shared{}, canaried: map[string]error{},
	}
	h.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	if err := h.instantiate(ctx); err != nil {
		h.runtime.Close(ctx)
		return nil, err
	}
	return h, nil
}

// Allocator is the export through which Envoy hands buffers to a module with these
// exports: malloc when there is one, else proxy_on_memory_allocate, else none (""),
// which Envoy refuses to load. It follows WasmBase::getFunctions (proxy-wasm-cpp-host,
// src/wasm.cc).
func Allocator[F any](exports map[string]F) string {
	for _, name := range []string{"malloc", "proxy_on_memory_allocate"} {
		if _, ok := exports[name]; ok {
			return name
		}
	}
	return ""
}

func (h *Host) instantiate(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		return err
	}
	if err := h.exportABI(ctx); err != nil {
		return err
	}
	var err error
	if h.compiled, err = h.runtime.CompileModule(ctx, h.opts.Module); err != nil {
		return fmt.Errorf("compiling the module: %w", err)
	}
	config := wazero.NewModuleConfig().WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).WithStdout(h.opts.Stdout).WithStderr(h.opts.Stdout).
		WithStartFunctions() // _initialize or _start is called below, as Envoy does
	if h.mod, err = h.runtime.InstantiateModule(ctx, h.compiled, config); err != nil {
		return fmt.Errorf("instantiating the module: %w", err)
	}
	h.exports = map[string]api.Function{}
	for name := range h.compiled.ExportedFunctions() {
		h.exports[name] = h.mod.ExportedFunction(name)
	}
	name := Allocator(h.exports)
	if name == "" {
		return errors.New("the module is missing malloc function (it exports neither malloc nor proxy_on_memory_allocate)")
	}
	h.alloc = h.exports[name]
	start := h.exports["_initialize"]
	if start == nil {
		start = h.exports["_start"]
	}
	if start != nil {
		if _, err := start.Call(ctx); err != nil {
			return fmt.Errorf("starting the module: %w", err)
		}
	}
	return nil
}

// canary checks a plugin configuration in a VM of its own, once per configuration, as
// WasmHandleBase::canary does before Envoy accepts it (proxy-wasm-cpp-host
// src/wasm.cc): the VM is started and configured, then discarded.
func (h *Host) canary(ctx context.Context, config []byte) error {
	h.mu.Lock()
	err, seen := h.canaried[string(config)]
	opts := h.opts
	h.mu.Unlock()
	if seen {
		return err
	}
	c, err := newVM(ctx, opts, h.cache)
	if err == nil {
		c.mu.Lock()
		_, err = c.startRoot(config)
		c.mu.Unlock()
		c.Close(ctx)
	}
	if err != nil {
		err = fmt.Errorf("the canary VM refused the configuration: %w", err)
	}
	h.mu.Lock()
	h.canaried[string(config)] = err
	h.mu.Unlock()
	return err
}

// startRoot creates and configures a root context, as WasmBase::start and configure
// do (ContextBase::onStart, onConfigure). h.mu is held.
func (h *Host) startRoot(config []byte) (*root, error) {
	r := &root{id: h.nextID, config: config}
	h.nextID++
	h.roots[r.id] = r
	if _, err := h.call(r.id, "proxy_on_context_create", uint64(r.id), 0); err != nil {
		return nil, err
	}
	if ok, err := h.callBool(r.id, "proxy_on_vm_start", uint64(r.id), 0); err != nil || !ok {
		return nil, fmt.Errorf("proxy_on_vm_start failed: %v", err)
	}
	if ok, err := h.callBool(r.id, "proxy_on_configure", uint64(r.id), uint64(len(config))); err != nil || !ok {
		h.shutdown(r)
		return nil, fmt.Errorf("the plugin refused its configuration (proxy_on_configure: %v)", err)
	}
	return r, nil
}

// Reconfigure applies a new plugin configuration as Envoy applies a changed filter
// configuration with the same code: a canary checks it, then a new root context
// starts in this VM and takes the new streams, and the old one ends once its last
// stream has ended (PluginHandleBase's destructor calls WasmBase::startShutdown). A
// configuration the plugin refuses is an error and changes nothing.
func (h *Host) Reconfigure(ctx context.Context, config []byte) error {
	if err := h.canary(ctx, config); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	r, err := h.startRoot(config)
	if err != nil {
		return err
	}
	old := h.active
	h.active = r
	if old.streams == 0 {
		h.shutdown(old)
	}
	return nil
}

// shutdown ends a replaced root context as WasmBase::startShutdown does:
// proxy_on_done, and proxy_on_delete at once if it returned true; otherwise the
// context lives on until it calls proxy_done. h.mu is held.
func (h *Host) shutdown(r *root) {
	r.ending = true
	done, err := h.callBool(r.id, "proxy_on_done", uint64(r.id))
	if err != nil {
		h.opts.Log(4, err.Error())
	}
	if done {
		h.deleteRoot(r)
	} else {
		r.waiting = true
	}
}

// deleteRoot calls proxy_on_delete and destroys the context: its callouts are
// cancelled and never answered (Envoy's Context::~Context). Its timer stays, as
// Envoy's timers are kept by root context id. h.mu is held.
func (h *Host) deleteRoot(r *root) {
	if _, err := h.call(r.id, "proxy_on_delete", uint64(r.id)); err != nil {
		h.opts.Log(4, err.Error())
	}
	delete(h.roots, r.id)
	for token, p := range h.pending {
		if p.root == r.id {
			p.cancel()
			delete(h.pending, token)
		}
	}
}

// SetClusters replaces the clusters that http_call may name, as a cluster update
// reaches Envoy; callouts already out keep going.
func (h *Host) SetClusters(clusters map[string]Caller) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opts.Clusters = clusters
}

// Close stops the ticks, cancels the callouts still out (a Manual host drops those it
// holds), waits for them, and frees the VM.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.held = nil
	for id := range h.timers {
		h.setTimerPeriod(id, 0)
	}
	for token, p := range h.pending {
		p.cancel()
		delete(h.pending, token)
	}
	h.mu.Unlock()
	h.callouts.Wait()
	err := h.runtime.Close(ctx)
	if h.cache != nil {
		h.cache.Close(ctx)
	}
	return err
}

// Wait blocks until every callout sent so far has been answered and delivered.
func (h *Host) Wait() { h.callouts.Wait() }

// MemoryBytes is the size of the module's linear memory.
func (h *Host) MemoryBytes() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mod.Memory().Size()
}

// RootContexts returns the ids of the root contexts that exist, oldest first: the
// last one runs the current configuration, the others are ending.
func (h *Host) RootContexts() []uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]uint32, 0, len(h.roots))
	for id := range h.roots {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Metric returns the value of the metric the module defined with name.
func (h *Host) Metric(name string) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.stats[name]
	if !ok {
		return 0, false
	}
	return st.value, true
}

// Metrics returns every metric the module defined, by name.
func (h *Host) Metrics() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.stats))
	for name, st := range h.stats {
		out[name] = st.value
	}
	return out
}

// MetricNames returns the names of the metrics the module defined, sorted.
func (h *Host) MetricNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.stats))
	for name := range h.stats {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Stream is one HTTP stream through the filter.
type Stream struct {
	h        *Host
	id       uint32
	root     *root
	request  [][2]string
	trailers [][2]string
	response [][2]string
	respTrl  [][2]string
	body     []byte // the chunk the current body callback sees
	deleted  bool   // proxy_on_delete was called: no callback but a deferred log follows
	done     bool
}

// NewStream creates a stream context for a new request, under the root context of
// the current configuration.
func (h *Host) NewStream() (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Stream{h: h, id: h.nextID, root: h.active}
	h.nextID++
	h.streams[s.id] = s
	s.root.streams++
	if _, err := h.call(s.id, "proxy_on_context_create", uint64(s.id), uint64(s.root.id)); err != nil {
		return nil, err
	}
	return s, nil
}

// RequestHeaders hands the request headers to the filter; they may be changed.
func (s *Stream) RequestHeaders(headers [][2]string, endOfStream bool) (Action, error) {
	return s.enter(func() { s.request = headers }, "proxy_on_request_headers", uint64(len(headers)), b2u(endOfStream))
}

// RequestBody hands one chunk of the request body to the filter.
func (s *Stream) RequestBody(chunk []byte, endOfStream bool) (Action, error) {
	return s.enter(func() { s.body = chunk }, "proxy_on_request_body", uint64(len(chunk)), b2u(endOfStream))
}

// RequestTrailers hands the request trailers to the filter.
func (s *Stream) RequestTrailers(trailers [][2]string) (Action, error) {
	return s.enter(func() { s.trailers = trailers }, "proxy_on_request_trailers", uint64(len(trailers)))
}

// ResponseHeaders hands the response headers to the filter.
func (s *Stream) ResponseHeaders(headers [][2]string, endOfStream bool) (Action, error) {
	return s.enter(func() { s.response = headers }, "proxy_on_response_headers", uint64(len(headers)), b2u(endOfStream))
}

// ResponseBody hands one chunk of the response body to the filter.
func (s *Stream) ResponseBody(chunk []byte, endOfStream bool) (Action, error) {
	return s.enter(func() { s.body = chunk }, "proxy_on_response_body", uint64(len(chunk)), b2u(endOfStream))
}

// ResponseTrailers hands the response trailers to the filter; they end the response.
func (s *Stream) ResponseTrailers(trailers [][2]string) (Action, error) {
	return s.enter(func() { s.respTrl = trailers }, "proxy_on_response_trailers", uint64(len(trailers)))
}

// RequestHeaderMap returns the request headers as the filter left them.
func (s *Stream) RequestHeaderMap() [][2]string {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return append([][2]string(nil), s.request...)
}

// Done ends the stream as Envoy does for HTTP/1 and HTTP/2: proxy_on_log, then
// proxy_on_done and proxy_on_delete.
func (s *Stream) Done() error {
	return s.end(true, "proxy_on_log", "proxy_on_done", "proxy_on_delete")
}

// DoneDeferredLog ends the stream as Envoy does for HTTP/3 with
// quic_defer_logging_to_ack_listener: proxy_on_done and proxy_on_delete when the
// stream is destroyed, and proxy_on_log later, when the peer has acknowledged the
// response.
func (s *Stream) DoneDeferredLog() error {
	if err := s.end(false, "proxy_on_done", "proxy_on_delete"); err != nil {
		return err
	}
	return s.end(true, "proxy_on_log")
}

// end runs end-of-stream callbacks; last says they are the stream's last, after which
// its context is destroyed. A deleted stream gets only its deferred log.
func (s *Stream) end(last bool, fns ...string) error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.done || h.closed || s.deleted && fns[0] != "proxy_on_log" {
		return nil
	}
	h.current = s
	defer func() { h.current = nil }()
	for _, fn := range fns {
		if _, err := h.call(s.id, fn, uint64(s.id)); err != nil {
			s.release()
			return err
		}
		s.deleted = s.deleted || fn == "proxy_on_delete"
	}
	if last {
		s.release()
	}
	return nil
}

// release destroys the stream context: it lets go of its root context, which ends
// if it was replaced and this was its last stream. h.mu is held.
func (s *Stream) release() {
	if s.done {
		return
	}
	s.done, s.deleted = true, true
	h := s.h
	delete(h.streams, s.id)
	r := s.root
	if r.streams--; r.streams == 0 && r != h.active && !r.ending && !h.closed {
		h.shutdown(r)
	}
}

// enter runs a stream callback; once the stream is deleted it is not called any
// more, as Envoy calls nothing on a deleted context.
func (s *Stream) enter(setup func(), fn string, args ...uint64) (Action, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.deleted || h.closed {
		return ActionContinue, nil
	}
	setup()
	h.current = s
	defer func() { h.current, s.body = nil, nil }()
	res, err := h.call(s.id, fn, append([]uint64{uint64(s.id)}, args...)...)
	if err != nil {
		return ActionContinue, err
	}
	return Action(res), nil
}

// call runs an export of the module on behalf of context id; h.mu is held. When the
// outermost call returns, the actions the module's host calls deferred run, as
// cpp-host's DeferAfterCallActions does.
func (h *Host) call(id uint32, name string, args ...uint64) (uint64, error) {
	fn := h.exports[name]
	if fn == nil {
		return 0, nil // the module does not handle this callback
	}
	calling, effective := h.calling, h.effective
	h.calling, h.effective = id, id
	h.depth++
	res, err := fn.Call(context.Background(), args...)
	h.depth--
	h.calling, h.effective = calling, effective
	if h.depth == 0 {
		for len(h.after) > 0 {
			after := h.after[0]
			h.after = h.after[1:]
			after()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

func (h *Host) callBool(id uint32, name string, args ...uint64) (bool, error) {
	res, err := h.call(id, name, args...)
	return res != 0, err
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// effectiveRoot is the root context that a host call of the module acts for: that of
// the effective context, or of the context of the call when the effective one is
// gone (cpp-host's contextOrEffectiveContext()->root_context()). h.mu is held.
func (h *Host) effectiveRoot() *root {
	for _, id := range [2]uint32{h.effective, h.calling} {
		if s, ok := h.streams[id]; ok {
			return s.root
		}
		if r, ok := h.roots[id]; ok {
			return r
		}
	}
	return nil
}

// done is proxy_done: a root context that deferred its end in proxy_on_done is
// deleted once the current VM call returns, so that proxy_on_delete does not run
// inside the module's call (WasmBase::done); any other context gets NotFound. h.mu is
// held.
func (h *Host) done() Status {
	r := h.effectiveRoot()
	if r == nil || !r.waiting {
		return StatusNotFound
	}
	r.waiting = false
	h.after = append(h.after, func() { h.deleteRoot(r) })
	return StatusOK
}

// Tick runs the tick of every root context whose timer is set, now and in the calling
// goroutine, as Envoy's timers do when their periods elapse. It is how a Manual host
// ticks; on other hosts the timers keep their own schedule.
func (h *Host) Tick() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]uint32, 0, len(h.timers))
	for id, t := range h.timers {
		if t.period > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var first error
	for _, id := range ids {
		if err := h.onTick(id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TickPeriod is the shortest tick period among the root contexts' timers, those of
// deleted contexts included; zero when no timer is set.
func (h *Host) TickPeriod() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var shortest time.Duration
	for _, t := range h.timers {
		if t.period > 0 && (shortest == 0 || t.period < shortest) {
			shortest = t.period
		}
	}
	return shortest
}

// Timers returns the tick period of every root context id whose timer is set, those
// of deleted contexts included: Envoy keeps re-arming them.
func (h *Host) Timers() map[uint32]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint32]time.Duration{}
	for id, t := range h.timers {
		if t.period > 0 {
			out[id] = t.period
		}
	}
	return out
}

// onTick runs proxy_on_tick for a root context if it still exists, as
// Wasm::tickHandler does. h.mu is held.
func (h *Host) onTick(id uint32) error {
	if h.closed || h.roots[id] == nil {
		return nil
	}
	_, err := h.call(id, "proxy_on_tick", uint64(id))
	return err
}

// tickHandler is Envoy's Wasm::tickHandler for a timer that fired: the tick of the
// root context if it still exists, then the timer re-armed while its period is set,
// whether or not the context is gone.
func (h *Host) tickHandler(id uint32, gen int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.timers[id]
	if t == nil || gen != t.gen || h.closed {
		return
	}
	if err := h.onTick(id); err != nil {
		h.opts.Log(4, "proxy_on_tick: "+err.Error())
	}
	if gen == t.gen && t.period > 0 {
		t.t = time.AfterFunc(t.period, func() { h.tickHandler(id, gen) })
	}
}

// setTimerPeriod follows Envoy's Wasm::setTimerPeriod for the timer of root context
// id: a new period replaces the timer and starts a fresh delay; 0 stops it. h.mu is
// held.
func (h *Host) setTimerPeriod(id uint32, period time.Duration) {
	t := h.timers[id]
	if t == nil {
		t = &timer{}
		h.timers[id] = t
	}
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	t.gen++
	t.period = period
	if period > 0 && !h.closed && !h.opts.Manual {
		gen := t.gen
		t.t = time.AfterFunc(period, func() { h.tickHandler(id, gen) })
	}
}

// httpCall checks a callout as Envoy's Context::httpCall does and sends it for the
// root context r. h.mu is held.
func (h *Host) httpCall(r *root, cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMs uint32) (uint32, Status) {
	if h.closed || r == nil {
		return 0, StatusInternalFailure // no callout may start once Close waits for them
	}
	caller, ok := h.opts.Clusters[cluster]
	if !ok || int32(timeoutMs) < 0 {
		return 0, StatusBadArgument
	}
	for _, required := range []string{":path", ":method", ":authority"} {
		if _, ok := lookup(headers, required); !ok {
			return 0, StatusBadArgument
		}
	}
	if caller == nil {
		// A cluster with no healthy endpoint: AsyncClient::send fails inline and
		// Envoy's httpCall returns InternalFailure, with no callback.
		return 0, StatusInternalFailure
	}
	if len(body) > 0 {
		headers = setHeader(headers, "content-length", fmt.Sprint(len(body)))
	}
	// Envoy's router lets the request's own x-envoy-upstream-rq-timeout-ms replace the
	// call's timeout, 0 meaning none (FilterUtility::finalTimeout,
	// source/common/router/router.cc): a plugin must not pass it on.
	if v, ok := lookup(headers, "x-envoy-upstream-rq-timeout-ms"); ok {
		if ms, err := strconv.ParseUint(v, 10, 32); err == nil {
			timeoutMs = uint32(ms)
		}
	}
	h.nextToken++
	token := h.nextToken
	c := &Callout{Cluster: cluster, Headers: headers, Body: body, Trailers: trailers,
		Timeout: time.Duration(timeoutMs) * time.Millisecond}
	if h.opts.Manual {
		h.held = append(h.held, heldCall{token: token, caller: caller, call: c})
		h.pending[token] = &pendingCall{root: r.id, cancel: func() {}}
		return token, StatusOK
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	h.pending[token] = &pendingCall{root: r.id, cancel: cancel}
	h.callouts.Add(1)
	go func() {
		defer h.callouts.Done()
		resp, err := caller.Call(ctx, c)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		h.deliver(token, envoyAnswer(c, resp, err, timedOut))
	}()
	return token, StatusOK
}

// envoyAnswer is what Envoy's async client reports for call c's outcome: a timeout is
// the router's own 504, a failure before any response its 503 (router.cc,
// onUpstreamTimeoutAbort and onUpstreamReset), and a reset after the response began a
// failure (nil: no headers, no body; context.cc onHttpCallFailure). For a gRPC request
// (AsyncStreamImpl::sendHeaders sets is_grpc_request_ from its content-type) a local
// reply is a trailers-only HTTP 200 with content-type application/grpc, grpc-status
// mapped from the HTTP code (grpc/status.cc httpToGrpcStatus: 503 and 504 are
// UNAVAILABLE, 14) and the text as grpc-message, percent-encoded, which leaves these
// texts as they are (Utility::prepareLocalReply, source/common/http/utility.cc).
func envoyAnswer(c *Callout, resp *Response, err error, timedOut bool) *Response {
	local := func(status, body string) *Response {
		if ct, _ := lookup(c.Headers, "content-type"); isGRPC(ct) {
			return &Response{Headers: [][2]string{{":status", "200"}, {"content-type", "application/grpc"},
				{"grpc-status", "14"}, {"grpc-message", body}}}
		}
		return &Response{Headers: [][2]string{{":status", status}, {"content-length", fmt.Sprint(len(body))},
			{"content-type", "text/plain"}}, Body: []byte(body)}
	}
	switch {
	case timedOut:
		return local("504", "upstream request timeout")
	case errors.Is(err, ErrReset):
		return nil
	case err != nil:
		return local("503", "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure")
	}
	return resp
}

// isGRPC is Envoy's Grpc::Common::hasGrpcContentType: application/grpc, alone or
// followed by + or ;.
func isGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(contentType, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// Answer sends the callouts a Manual host holds to their clusters, one after the
// other in the order the module made them and in the calling goroutine, and delivers
// each answer to the module. Callouts the module makes meanwhile wait for the next
// call; those of a root context deleted meanwhile were cancelled and are not sent. A
// Caller stands for a timeout by returning an error that wraps
// context.DeadlineExceeded (its context has no deadline here): the module sees
// Envoy's 504, at once rather than after the timeout. Answer returns how many
// callouts it answered, and the first error of the module (a trap).
func (h *Host) Answer() (int, error) {
	h.mu.Lock()
	batch := h.held
	h.held, h.answering = h.answering[:0], nil
	h.mu.Unlock()
	var first error
	answered := 0
	for i, c := range batch {
		batch[i] = heldCall{}
		if !h.isPending(c.token) {
			continue
		}
		resp, err := c.caller.Call(context.Background(), c.call)
		answered++
		if err := h.deliver(c.token, envoyAnswer(c.call, resp, err, errors.Is(err, context.DeadlineExceeded))); err != nil && first == nil {
			first = err
		}
	}
	h.mu.Lock()
	h.answering = batch[:0]
	h.mu.Unlock()
	return answered, first
}

func (h *Host) isPending(token uint32) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.pending[token]
	return ok
}

// deliver hands a callout's answer to the root context that made it, unless the call
// was cancelled meanwhile.
func (h *Host) deliver(token uint32, resp *Response) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pending[token]
	if !ok || h.closed {
		return nil
	}
	delete(h.pending, token)
	h.answer = resp
	defer func() { h.answer = nil }()
	var nh, nb, nt uint64
	if resp != nil {
		nh, nb, nt = uint64(len(resp.Headers)), uint64(len(resp.Body)), uint64(len(resp.Trailers))
	}
	_, err := h.call(p.root, "proxy_on_http_call_response", uint64(p.root), uint64(token), nh, nb, nt)
	if err != nil {
		h.opts.Log(4, "proxy_on_http_call_response: "+err.Error())
	}
	return err
}

func lookup(headers [][2]string, name string) (string, bool) {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

func setHeader(headers [][2]string, name, value string) [][2]string {
	out := make([][2]string, 0, len(headers)+1)
	for _, kv := range headers {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	return append(out, [2]string{name, value})
}

// headerMap returns the map of a type for the current callback, or nil if it does
// not exist there.
func (h *Host) headerMap(mapType uint32) *[][2]string {
	s := h.current
	switch {
	case mapType == mapCallResponseHeaders && h.answer != nil:
		return &h.answer.Headers
	case mapType == mapCallResponseTrailer && h.answer != nil:
		return &h.answer.Trailers
	case s == nil:
		return nil
	case mapType == mapRequestHeaders:
		return &s.request
	case mapType == mapRequestTrailers:
		return &s.trailers
	case mapType == mapResponseHeaders:
		return &s.response
	case mapType == mapResponseTrailers:
		return &s.respTrl
	}
	return nil
}

func (h *Host) buffer(bufType uint32) ([]byte, bool) {
	switch bufType {
	case bufPluginConfig: // that of the root context being configured
		if r := h.effectiveRoot(); r != nil {
			return r.config, true
		}
		return nil, false
	case bufVMConfiguration:
		return nil, true
	case bufCallResponseBody:
		if h.answer != nil {
			return h.answer.Body, true
		}
	case bufRequestBody, bufResponseBody:
		if h.current != nil {
			return h.current.body, true
		}
	}
	return nil, false
}

// serializeMap encodes pairs as proxy-wasm does: a count, the sizes, then each key
// and value followed by a NUL.
func serializeMap(pairs [][2]string) []byte {
	size := 4
	for _, kv := range pairs {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	out := make([]byte, 4, size)
	binary.LittleEndian.PutUint32(out, uint32(len(pairs)))
	for _, kv := range pairs {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[0])))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[1])))
	}
	for _, kv := range pairs {
		out = append(append(append(append(out, kv[0]...), 0), kv[1]...), 0)
	}
	return out
}

func deserializeMap(data []byte) ([][2]string, bool) {
	if len(data) < 4 {
		return nil, len(data) == 0
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n > len(data)/8 {
		return nil, false
	}
	sizes, rest := data[4:], data[4+8*n:]
	pairs := make([][2]string, n)
	for i := range n {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl+vl+2 > len(rest) || kl < 0 || vl < 0 {
			return nil, false
		}
		pairs[i] = [2]string{string(rest[:kl]), string(rest[kl+1 : kl+1+vl])}
		rest = rest[kl+vl+2:]
	}
	return pairs, true
}

// lowerNames lowers header names, as Envoy's header maps hold them.
func lowerNames(pairs [][2]string) [][2]string {
	for i := range pairs {
		pairs[i][0] = strings.ToLower(pairs[i][0])
	}
	return pairs
}
