// Command f3 is a floor of the benchmarks: F2 (it reads every request header and
// sends one copy of every request from the root context on the next tick) that also
// reads what a comparison must read and nothing more: the primary's response headers
// and every chunk of its body, kept until the copy's answer comes, then the answer's
// headers and body. It compares nothing. A compared request is measured against it,
// so that what the comparison itself costs shows apart from reading the bodies.
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

// pair is a copy waiting to be sent: its headers, and the primary's response as read.
type pair struct {
	headers  [][2]string
	response [][2]string
	body     []byte
}

// pluginContext implements types.PluginContext. It owns the copies.
type pluginContext struct {
	types.DefaultPluginContext
	queue   []*pair // copies waiting for the next tick
	ticking bool
	// seen keeps the sizes read so that reading them is not optimized away.
	seen int
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{plugin: p}
}

// OnTick implements types.PluginContext: it sends the waiting copies, each answer
// read in full with the primary's response still held, then stops the ticks.
func (p *pluginContext) OnTick() {
	for _, c := range p.queue {
		c := c
		proxywasm.DispatchHttpCall(cluster, c.headers, nil, nil, 5000, func(_, bodySize, _ int) {
			headers, _ := proxywasm.GetHttpCallResponseHeaders()
			var body []byte
			if bodySize > 0 {
				body, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
			}
			p.seen = len(headers) + len(body) + len(c.response) + len(c.body)
		})
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
	plugin *pluginContext
	copy   *pair // the request's copy, from the request headers to the end of the stream
	queued bool
}

// OnHttpRequestHeaders implements types.HttpContext: it reads all request headers.
func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) types.Action {
	headers, _ := proxywasm.GetHttpRequestHeaders()
	h.copy = &pair{headers: headers}
	if endOfStream {
		h.queued = true
	}
	return types.ActionContinue
}

// OnHttpRequestBody implements types.HttpContext.
func (h *httpContext) OnHttpRequestBody(_ int, endOfStream bool) types.Action {
	if endOfStream {
		h.queued = true
	}
	return types.ActionContinue
}

// OnHttpRequestTrailers implements types.HttpContext: trailers end the request.
func (h *httpContext) OnHttpRequestTrailers(int) types.Action {
	h.queued = true
	return types.ActionContinue
}

// OnHttpResponseHeaders implements types.HttpContext: it reads all response headers.
func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.copy != nil {
		h.copy.response, _ = proxywasm.GetHttpResponseHeaders()
	}
	return types.ActionContinue
}

// OnHttpResponseBody implements types.HttpContext: it appends every chunk of the
// response body to the copy's.
func (h *httpContext) OnHttpResponseBody(size int, _ bool) types.Action {
	if h.copy != nil && size > 0 {
		chunk, _ := proxywasm.GetHttpResponseBody(0, size)
		h.copy.body = append(h.copy.body, chunk...)
	}
	return types.ActionContinue
}

// OnHttpStreamDone implements types.HttpContext: a request that ended is queued, with
// the response read, as meshmirror holds a compared pair's primary side.
func (h *httpContext) OnHttpStreamDone() {
	if h.copy == nil || !h.queued {
		return
	}
	h.plugin.queue = append(h.plugin.queue, h.copy)
	h.copy = nil
	h.plugin.setTicking(true)
}
