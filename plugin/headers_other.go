//go:build !tinygo

package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/meshmirror/meshmirror/plugin/header"
)

// requestHeaders reads the request's headers through the SDK, whose emulator serves
// native tests, and serializes them as the host would (see headers_tinygo.go).
func requestHeaders() (header.Raw, error) {
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return header.Raw{}, err
	}
	return header.RawOf(headers), nil
}
