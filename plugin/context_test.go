package main

import "testing"

// TestPluginContext_NewHttpContext: a context is reused once its request has ended,
// once only, and the pool of idle contexts is bounded.
func TestPluginContext_NewHttpContext(t *testing.T) {
	p := &pluginContext{}
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
