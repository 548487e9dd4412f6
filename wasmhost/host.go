// Package wasmhost runs a proxy-wasm module on wazero the way Envoy runs it on a
// worker: one VM, entered by one goroutine at a time, with real time and randomness,
// and HTTP callouts whose answers come back in any order.
//
// It implements the host functions of proxy-wasm ABI 0.2.1 that Envoy provides
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
	"sort"
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

const rootID = 1

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

// Host is one VM running the module. Its methods may be called from any goroutine;
// the VM is entered by one at a time.
type Host struct {
	mu      sync.Mutex // held while the VM runs
	opts    Options
	runtime wazero.Runtime
	mod     api.Module
	alloc   api.Function
	exports map[string]api.Function

	nextID    uint32
	streams   map[uint32]*Stream
	effective uint32
	current   *Stream // the stream whose callback runs

	metrics map[uint32]*metric
	names   map[string]uint32

	tickPeriod time.Duration
	tickTimer  *time.Timer
	tickGen    int

	nextToken uint32
	pending   map[uint32]context.CancelFunc
	held      []heldCall // callouts of a Manual host waiting for Answer
	answering []heldCall // the batch Answer is delivering, kept for reuse
	answer    *Response  // the callout answer being delivered
	callouts  sync.WaitGroup
	closed    bool

	sharedData map[string]shared
}

type heldCall struct {
	token  uint32
	caller Caller
	call   *Callout
}

type metric struct {
	kind  uint32
	name  string
	value uint64
}

type shared struct {
	value []byte
	cas   uint32
}

// New compiles and starts the module as Envoy does: _start, proxy_on_vm_start,
// the root context, then proxy_on_configure with the plugin configuration. A module
// that refuses its configuration is an error.
func New(ctx context.Context, opts Options) (*Host, error) {
	h := &Host{
		opts: opts, nextID: rootID + 1, streams: map[uint32]*Stream{},
		metrics: map[uint32]*metric{}, names: map[string]uint32{},
		pending: map[uint32]context.CancelFunc{}, sharedData: map[string]shared{},
	}
	if h.opts.Log == nil {
		h.opts.Log = func(uint32, string) {}
	}
	if h.opts.Stdout == nil {
		h.opts.Stdout = io.Discard
	}
	h.runtime = wazero.NewRuntime(ctx)
	if err := h.start(ctx); err != nil {
		h.runtime.Close(ctx)
		return nil, err
	}
	return h, nil
}

// start instantiates the module and starts the plugin; New closes the runtime when
// it fails.
func (h *Host) start(ctx context.Context) error {
	opts := h.opts
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		return err
	}
	if err := h.exportABI(ctx); err != nil {
		return err
	}
	compiled, err := h.runtime.CompileModule(ctx, opts.Module)
	if err != nil {
		return fmt.Errorf("compiling the module: %w", err)
	}
	config := wazero.NewModuleConfig().WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).WithStdout(h.opts.Stdout).WithStderr(h.opts.Stdout).
		WithStartFunctions() // _initialize or _start is called below, as Envoy does
	if h.mod, err = h.runtime.InstantiateModule(ctx, compiled, config); err != nil {
		return fmt.Errorf("instantiating the module: %w", err)
	}
	h.exports = map[string]api.Function{}
	for name := range compiled.ExportedFunctions() {
		h.exports[name] = h.mod.ExportedFunction(name)
	}
	if h.alloc = h.exports["proxy_on_memory_allocate"]; h.alloc == nil {
		if h.alloc = h.exports["malloc"]; h.alloc == nil {
			return errors.New("the module exports neither proxy_on_memory_allocate nor malloc")
		}
	}
	start := h.exports["_initialize"]
	if start == nil {
		start = h.exports["_start"]
	}
	if start != nil {
		if _, err := start.Call(ctx); err != nil {
			return fmt.Errorf("starting the module: %w", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok, err := h.callBool("proxy_on_vm_start", rootID, 0); err != nil || !ok {
		return fmt.Errorf("proxy_on_vm_start failed: %v", err)
	}
	if _, err := h.call("proxy_on_context_create", rootID, 0); err != nil {
		return err
	}
	if ok, err := h.callBool("proxy_on_configure", rootID, uint64(len(opts.PluginConfig))); err != nil || !ok {
		return fmt.Errorf("the plugin refused its configuration (proxy_on_configure: %v)", err)
	}
	return nil
}

// Close stops the ticks, cancels the callouts still out (a Manual host drops those it
// holds), waits for them, and frees the VM.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.held = nil
	h.setTick(0)
	for _, cancel := range h.pending {
		cancel()
	}
	h.mu.Unlock()
	h.callouts.Wait()
	return h.runtime.Close(ctx)
}

// Wait blocks until every callout sent so far has been answered and delivered.
func (h *Host) Wait() { h.callouts.Wait() }

// MemoryBytes is the size of the module's linear memory.
func (h *Host) MemoryBytes() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mod.Memory().Size()
}

// Metric returns the value of the metric the module defined with name.
func (h *Host) Metric(name string) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.names[name]
	if !ok {
		return 0, false
	}
	return h.metrics[id].value, true
}

// Metrics returns every metric the module defined, by name.
func (h *Host) Metrics() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.names))
	for name, id := range h.names {
		out[name] = h.metrics[id].value
	}
	return out
}

// MetricNames returns the names of the metrics the module defined, sorted.
func (h *Host) MetricNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.names))
	for name := range h.names {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Stream is one HTTP stream through the filter.
type Stream struct {
	h        *Host
	id       uint32
	request  [][2]string
	trailers [][2]string
	response [][2]string
	respTrl  [][2]string
	body     []byte // the chunk the current body callback sees
	done     bool
}

// NewStream creates a stream context for a new request.
func (h *Host) NewStream() (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Stream{h: h, id: h.nextID}
	h.nextID++
	h.streams[s.id] = s
	if _, err := h.call("proxy_on_context_create", uint64(s.id), rootID); err != nil {
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

// RequestHeaderMap returns the request headers as the filter left them.
func (s *Stream) RequestHeaderMap() [][2]string {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return append([][2]string(nil), s.request...)
}

// Done ends the stream as Envoy does: proxy_on_log, proxy_on_done, proxy_on_delete.
func (s *Stream) Done() error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.done || h.closed {
		s.done = true
		return nil
	}
	s.done = true
	h.current = s
	defer func() { h.current = nil }()
	for _, fn := range []string{"proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
		if _, err := h.call(fn, uint64(s.id)); err != nil {
			return err
		}
	}
	delete(h.streams, s.id)
	return nil
}

// enter runs a stream callback; once the stream is done it is not called any more,
// as Envoy calls nothing on a deleted context.
func (s *Stream) enter(setup func(), fn string, args ...uint64) (Action, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.done || h.closed {
		return ActionContinue, nil
	}
	setup()
	h.current, h.effective = s, s.id
	defer func() { h.current, s.body = nil, nil }()
	res, err := h.call(fn, append([]uint64{uint64(s.id)}, args...)...)
	if err != nil {
		return ActionContinue, err
	}
	return Action(res), nil
}

// call runs an export of the module; h.mu is held.
func (h *Host) call(name string, args ...uint64) (uint64, error) {
	fn := h.exports[name]
	if fn == nil {
		return 0, nil // the module does not handle this callback
	}
	res, err := fn.Call(context.Background(), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

func (h *Host) callBool(name string, args ...uint64) (bool, error) {
	res, err := h.call(name, args...)
	return res != 0, err
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Tick runs proxy_on_tick now, in the calling goroutine, as Envoy's timer does when
// the period the module set elapses. It is how a Manual host ticks; on other hosts
// the timer keeps its own schedule.
func (h *Host) Tick() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.effective = rootID
	_, err := h.call("proxy_on_tick", rootID)
	return err
}

// TickPeriod is the tick period the module set last; zero when it wants no ticks.
func (h *Host) TickPeriod() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tickPeriod
}

// tick runs proxy_on_tick and arms the next one, as Envoy's timer does after onTick.
func (h *Host) tick(gen int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.tickGen || h.closed {
		return
	}
	h.effective = rootID
	if _, err := h.call("proxy_on_tick", rootID); err != nil {
		h.opts.Log(4, "proxy_on_tick: "+err.Error())
	}
	if gen == h.tickGen && h.tickPeriod > 0 {
		h.tickTimer = time.AfterFunc(h.tickPeriod, func() { h.tick(gen) })
	}
}

// setTick follows Envoy's Wasm::setTimerPeriod: a new period replaces the timer and
// starts a fresh delay; 0 stops it. h.mu is held.
func (h *Host) setTick(period time.Duration) {
	if h.tickTimer != nil {
		h.tickTimer.Stop()
		h.tickTimer = nil
	}
	h.tickGen++
	h.tickPeriod = period
	if period > 0 && !h.closed && !h.opts.Manual {
		gen := h.tickGen
		h.tickTimer = time.AfterFunc(period, func() { h.tick(gen) })
	}
}

// httpCall checks a callout as Envoy's Context::httpCall does and sends it.
// h.mu is held.
func (h *Host) httpCall(cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMs uint32) (uint32, Status) {
	if h.closed {
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
	if len(body) > 0 {
		headers = setHeader(headers, "content-length", fmt.Sprint(len(body)))
	}
	h.nextToken++
	token := h.nextToken
	c := &Callout{Cluster: cluster, Headers: headers, Body: body, Trailers: trailers,
		Timeout: time.Duration(timeoutMs) * time.Millisecond}
	if h.opts.Manual {
		h.held = append(h.held, heldCall{token: token, caller: caller, call: c})
		return token, StatusOK
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	h.pending[token] = cancel
	h.callouts.Add(1)
	go func() {
		defer h.callouts.Done()
		resp, err := caller.Call(ctx, c)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		h.deliver(token, envoyAnswer(resp, err, timedOut))
	}()
	return token, StatusOK
}

// envoyAnswer is what Envoy's async client reports for a call's outcome: a timeout is
// the router's own 504, a failure before any response its 503, and a reset after the
// response began a failure (nil: no headers, no body).
func envoyAnswer(resp *Response, err error, timedOut bool) *Response {
	local := func(status, body string) *Response {
		return &Response{Headers: [][2]string{{":status", status}, {"content-length", fmt.Sprint(len(body))},
			{"content-type", "text/plain"}}, Body: []byte(body)}
	}
	switch {
	case timedOut:
		return local("504", "upstream request timeout")
	case errors.Is(err, ErrReset):
		return nil
	case err != nil:
		return local("503", "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
	}
	return resp
}

// Answer sends the callouts a Manual host holds to their clusters, one after the
// other in the order the module made them and in the calling goroutine, and delivers
// each answer to the module. Callouts the module makes meanwhile wait for the next
// call. A Caller stands for a timeout by returning an error that wraps
// context.DeadlineExceeded (its context has no deadline here): the module sees
// Envoy's 504, at once rather than after the timeout. Answer returns how many callouts it answered, and the first error of
// the module (a trap).
func (h *Host) Answer() (int, error) {
	h.mu.Lock()
	batch := h.held
	h.held, h.answering = h.answering[:0], nil
	h.mu.Unlock()
	var first error
	for i, c := range batch {
		resp, err := c.caller.Call(context.Background(), c.call)
		if err := h.deliver(c.token, envoyAnswer(resp, err, errors.Is(err, context.DeadlineExceeded))); err != nil && first == nil {
			first = err
		}
		batch[i] = heldCall{}
	}
	h.mu.Lock()
	h.answering = batch[:0]
	h.mu.Unlock()
	return len(batch), first
}

// deliver hands a callout's answer to the plugin context that made it.
func (h *Host) deliver(token uint32, resp *Response) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.pending, token)
	if h.closed {
		return nil
	}
	h.answer = resp
	defer func() { h.answer = nil }()
	h.effective = rootID
	var nh, nb, nt uint64
	if resp != nil {
		nh, nb, nt = uint64(len(resp.Headers)), uint64(len(resp.Body)), uint64(len(resp.Trailers))
	}
	_, err := h.call("proxy_on_http_call_response", rootID, uint64(token), nh, nb, nt)
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
	case bufPluginConfig:
		return h.opts.PluginConfig, true
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
