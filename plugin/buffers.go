package main

// bufferType is the ABI's BufferType: which of the host's buffers to read.
type bufferType int32

// The buffers the plugin reads (proxy-wasm ABI 0.2.1).
const (
	requestBody  bufferType = 0
	responseBody bufferType = 1
)
