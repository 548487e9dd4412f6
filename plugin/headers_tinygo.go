//go:build tinygo

package main

import (
	"errors"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/header"
)

// proxyGetHeaderMapPairs is the host call behind the SDK's GetHttpRequestHeaders
// (proxy-wasm ABI 0.2.1): the host allocates a buffer through the SDK's exported
// proxy_on_memory_allocate, serializes the map into it and returns its address and
// size. The SDK declares the same import; the linker keeps one.
//
//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mapType int32, data unsafe.Pointer, size unsafe.Pointer) uint32

// mapTypeHttpRequestHeaders is the ABI's map type of the request headers.
const mapTypeHttpRequestHeaders = 0

// requestHeaders reads the request's headers with one host call and views them where
// the host wrote them: the mirror decides from the serialized bytes, and builds
// strings of them only for a copy (BENCHMARKS.md, "Request path"). The buffer is the
// module's own heap memory, and the view's strings keep it alive.
func requestHeaders() (header.Raw, error) {
	var data *byte
	var size int32
	if st := proxyGetHeaderMapPairs(mapTypeHttpRequestHeaders, unsafe.Pointer(&data), unsafe.Pointer(&size)); st != 0 {
		return header.Raw{}, errors.New("proxy_get_header_map_pairs: status " + strconv.Itoa(int(st)))
	}
	if data == nil {
		return header.Raw{}, types.ErrorStatusNotFound
	}
	return header.ParseRaw(unsafe.String(data, int(size)))
}
