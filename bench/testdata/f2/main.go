// Command f2 is a floor of the benchmarks: a proxy-wasm HTTP filter, built like
// meshmirror, that reads every request header and sends one copy of every request,
// unconditionally, the way meshmirror sends copies: queued at the end of the request
// and dispatched from the plugin (root) context on the next 1 ms tick, the tick
// stopping once the queue is empty. The copy carries the request's headers as read,
// and no body; its answer is received and ignored. A request meshmirror copies is
// measured against it.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// cluster receives the copies; the benchmarks define it.
const cluster = "shadow"

func main() { proxywasm.SetVMContext(&vmContext{}) }

// vmContext implements types.VMContext.
type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// pluginContext implements types.PluginContext. It owns the copies.
type pluginContext struct {
	types.DefaultPluginContext
	queue   [][][2]string // headers of the copies waiting for the next tick
	ticking bool
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{plugin: p}
}

// OnTick implements types.PluginContext: it sends the waiting copies, then stops the
// ticks.
func (p *pluginContext) OnTick() {
	for _, headers := range p.queue {
		proxywasm.DispatchHttpCall(cluster, headers, nil, nil, 5000, func(int, int, int) {})
	}
	clear(p.queue)
	p.queue = p.queue[:0]
	p.setTicking(false)
}

func (p *pluginContext) setTicking(on bool) {
	if on == p.ticking {
		return
	}
	period := uint32(0)
	if on {
		period = 1
	}
	if proxywasm.SetTickPeriodMilliSeconds(period) == nil {
		p.ticking = on
	}
}

// httpContext implements types.HttpContext.
type httpContext struct {
	types.DefaultHttpContext
	plugin  *pluginContext
	headers [][2]string
}

// OnHttpRequestHeaders implements types.HttpContext: it reads all request headers.
func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	h.headers, _ = proxywasm.GetHttpRequestHeaders()
	if endOfStream {
		h.finish()
	}
	return types.ActionContinue
}

// OnHttpRequestBody implements types.HttpContext.
func (h *httpContext) OnHttpRequestBody(_ int, endOfStream bool) types.Action {
	if endOfStream {
		h.finish()
	}
	return types.ActionContinue
}

// OnHttpRequestTrailers implements types.HttpContext: trailers end the request.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	h.finish()
	return types.ActionContinue
}

// finish queues the copy at the end of the request.
func (h *httpContext) finish() {
	if h.headers == nil {
		return
	}
	h.plugin.queue = append(h.plugin.queue, h.headers)
	h.headers = nil
	h.plugin.setTicking(true)
}
