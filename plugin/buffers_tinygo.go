//go:build tinygo

package main

import (
	"errors"
	"strconv"
	"unsafe"
)

// Envoy hands a buffer's bytes to the module by asking the module's allocator for
// room and writing them there: the exported malloc when there is one, else the SDK's
// proxy_on_memory_allocate (WasmBase::getFunctions, proxy-wasm-cpp-host src/wasm.cc).
// get_buffer_bytes (src/exports.cc) caps the length at the buffer's size and has
// Envoy's Buffer::copyTo (source/extensions/common/wasm/context.cc) allocate exactly
// that length, once, and copy the bytes into it. The SDK
// allocates a new slice for every chunk, which the plugin then copied into the body
// its copies send: for a 64 KiB body, 64 KiB of garbage a request and a second copy
// of every byte. malloc hands Envoy the room the caller armed instead, so a chunk is
// written once, where it stays (RATIONALE.md, "Why export a malloc of our own?").

// room is where the host's next allocation goes when its size is len(room).
var room []byte

// malloc is the allocator Envoy calls for every buffer it hands over. Unarmed, it is
// the SDK's proxy_on_memory_allocate: a slice the collector reclaims once nothing
// points into it, so nothing is pinned, unlike TinyGo's own malloc (built out with
// -tags=custommalloc). It makes no host call, as cpp-host's restricted callback
// requires.
//
//export malloc
func malloc(size uint32) *byte {
	if n := len(room); n > 0 && uint32(n) == size {
		p := unsafe.SliceData(room)
		room = nil
		return p
	}
	buf := make([]byte, max(size, 1))
	return &buf[0]
}

// proxyGetBufferBytes is the host call behind the SDK's GetHttpRequestBody and its
// kin (proxy-wasm ABI 0.2.1). The SDK declares the same import; the linker keeps one.
//
//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType int32, start int32, maxSize int32, data unsafe.Pointer, size unsafe.Pointer) uint32

// readBuffer fills dst with the first len(dst) bytes of the host's buffer: straight
// into dst through malloc, or by a copy from wherever a host that allocates otherwise
// put them. A buffer shorter than dst is an error: the caller asked for the size the
// host gave it.
func readBuffer(buffer bufferType, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	var data *byte
	var size int32
	room = dst
	st := proxyGetBufferBytes(int32(buffer), 0, int32(len(dst)), unsafe.Pointer(&data), unsafe.Pointer(&size))
	room = nil
	switch {
	case st != 0:
		return errors.New("proxy_get_buffer_bytes: status " + strconv.Itoa(int(st)))
	case int(size) != len(dst) || data == nil:
		return errors.New("proxy_get_buffer_bytes: " + strconv.Itoa(int(size)) + " bytes where the host announced " + strconv.Itoa(len(dst)))
	case data != unsafe.SliceData(dst):
		copy(dst, unsafe.Slice(data, size))
	}
	return nil
}
