package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// BenchmarkBodyCopy drives a POST with a 64 KiB body in 16 chunks through the plugin
// and sends its copy, with the Go VM context and with the module in wazero. The SDK's
// emulator adds its own costs: compare the two, and see plugin/mirror for the logic.
func BenchmarkBodyCopy(b *testing.B) {
	body := randomBody(1, 64<<10)
	run := func(b *testing.B, vm types.VMContext) {
		host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
			WithVMContext(vm).WithPluginConfiguration([]byte(oneTarget)))
		defer reset()
		if host.StartPlugin() != types.OnPluginStartStatusOK {
			b.Fatal("plugin did not start")
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			id := host.InitializeHttpContext()
			host.CallOnRequestHeaders(id, postRequest, false)
			for off := 0; off < len(body); off += 4 << 10 {
				host.CallOnRequestBody(id, body[off:off+4<<10], off+4<<10 == len(body))
			}
			host.Tick()
			host.CompleteHttpContext(id)
			sent := callouts(host)
			host.CallOnHttpCallResponse(sent[len(sent)-1].CalloutID, [][2]string{{":status", "200"}}, nil, nil)
		}
	}
	b.Run("go", func(b *testing.B) { run(b, &vmContext{}) })
	b.Run("wasm", func(b *testing.B) { run(b, wasmVM(b)) })
}
