//go:build !tinygo

package main

import (
	"errors"
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// readBuffer fills dst with the first len(dst) bytes of the host's buffer through the
// SDK, whose emulator serves native tests (see buffers_tinygo.go).
func readBuffer(buffer bufferType, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	var data []byte
	var err error
	switch buffer {
	case requestBody:
		data, err = proxywasm.GetHttpRequestBody(0, len(dst))
	case responseBody:
		data, err = proxywasm.GetHttpResponseBody(0, len(dst))
	default:
		return errors.New("readBuffer: buffer type " + strconv.Itoa(int(buffer)))
	}
	if err != nil {
		return err
	}
	if len(data) != len(dst) {
		return errors.New("proxy_get_buffer_bytes: " + strconv.Itoa(len(data)) + " bytes where the host announced " + strconv.Itoa(len(dst)))
	}
	copy(dst, data)
	return nil
}
