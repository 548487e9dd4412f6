// Command f1 is a floor of the benchmarks: a proxy-wasm HTTP filter, built like
// meshmirror, that reads every request header and returns. It is the least a filter
// that decides on headers must do, so a request meshmirror does not copy is measured
// against it.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() { proxywasm.SetVMContext(&vmContext{}) }

// vmContext implements types.VMContext.
type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// pluginContext implements types.PluginContext.
type pluginContext struct{ types.DefaultPluginContext }

// NewHttpContext implements types.PluginContext.
func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

// httpContext implements types.HttpContext.
type httpContext struct{ types.DefaultHttpContext }

// headers keeps the last request's headers so that reading them is not optimized away.
var headers [][2]string

// OnHttpRequestHeaders implements types.HttpContext: it reads all request headers.
func (*httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	headers, _ = proxywasm.GetHttpRequestHeaders()
	return types.ActionContinue
}
