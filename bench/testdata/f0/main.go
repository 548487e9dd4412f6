// Command f0 is the floor of the benchmarks: a proxy-wasm HTTP filter, built like
// meshmirror (same TinyGo, same SDK, same flags), that does nothing. What a request
// costs through it is what the SDK and the host cost before a filter does any work.
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

// httpContext implements types.HttpContext: every callback is the SDK's default,
// which returns types.ActionContinue.
type httpContext struct{ types.DefaultHttpContext }
