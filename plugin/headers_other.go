//go:build !tinygo

package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// requestHeaders reads the request's headers through the SDK, whose emulator serves
// native tests, and serializes them as the host would (see headers_tinygo.go).
func requestHeaders() (mirror.RawHeaders, error) {
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return mirror.RawHeaders{}, err
	}
	return mirror.RawHeadersOf(headers), nil
}
