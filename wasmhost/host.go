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
	"errors"
	"fmt"
	"io"
	"sync"

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
	// Interpreter runs the module in wazero's interpreter rather than its compiler: a
	// stand-in, in go test, for the interpreting engines Envoy can be built with
	// (proxy-wasm-cpp-host builds WAMR in fast-interp mode by default), where every
	// instruction the module runs costs more than a host call's native work.
	// Defaults to false.
	Interpreter bool
}

// ErrClosed is returned for a stream asked of a closed Host.
var ErrClosed = errors.New("wasmhost: the host is closed")

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
	config := wazero.NewRuntimeConfig()
	if opts.Interpreter {
		config = wazero.NewRuntimeConfigInterpreter()
	}
	h.runtime = wazero.NewRuntimeWithConfig(ctx, config.WithCompilationCache(cache))
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

// MemoryBytes is the size of the module's linear memory.
func (h *Host) MemoryBytes() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mod.Memory().Size()
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
