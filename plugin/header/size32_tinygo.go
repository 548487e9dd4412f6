//go:build tinygo

package header

import "unsafe"

// Size32 is le32 for bytes known to be there: one load, which wasm makes
// little-endian. TinyGo, optimizing for size, keeps le32 a call, with four bounds
// checks: it was a tenth of a request that matches nothing (BENCHMARKS.md).
func Size32(data string, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.StringData(data)), i))
}
