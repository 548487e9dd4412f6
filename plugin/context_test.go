package main

import (
	"testing"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// TestPluginContext_NewHttpContext: a context is reused once its request has ended,
// once only, and the pool of idle contexts is bounded.
func TestPluginContext_NewHttpContext(t *testing.T) {
	p := &pluginContext{mirror: &mirror.Mirror{}}
	a := p.NewHttpContext(2).(*httpContext)
	if b := p.NewHttpContext(3).(*httpContext); b == a {
		t.Fatal("two live requests share a context")
	}
	a.OnHttpStreamDone()
	a.OnHttpStreamDone() // a host that calls it twice must not hand a context out twice
	if b := p.NewHttpContext(4).(*httpContext); b != a {
		t.Error("the context of an ended request was not reused")
	}
	if c := p.NewHttpContext(5).(*httpContext); c == a {
		t.Error("an ended request's context was handed out twice")
	}
	for range maxIdleContexts + 10 {
		(&httpContext{plugin: p}).OnHttpStreamDone()
	}
	if len(p.idle) != maxIdleContexts {
		t.Errorf("%d idle contexts kept, want at most %d", len(p.idle), maxIdleContexts)
	}
}

// TestPluginContext_NewHttpContext_mirrorsNothing: without a valid configuration every
// request gets the one shared pass-through context, at no cost of its own.
func TestPluginContext_NewHttpContext_mirrorsNothing(t *testing.T) {
	p := &pluginContext{} // OnPluginStart leaves mirror nil for an invalid configuration
	if h := p.NewHttpContext(2); h != passThrough {
		t.Fatalf("got %T, want the shared pass-through context", h)
	}
	allocs := testing.AllocsPerRun(100, func() {
		h := p.NewHttpContext(3)
		h.OnHttpRequestHeaders(4, false)
		h.OnHttpRequestBody(5, true)
		h.OnHttpStreamDone()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
	p.OnTick() // a host may tick without a period: nothing to send, no crash
	if len(p.idle) != 0 || p.queue != nil {
		t.Errorf("a plugin that mirrors nothing holds %d idle contexts and a queue %v", len(p.idle), p.queue)
	}
}
