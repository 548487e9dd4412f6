//go:build tinygo

package main

import (
	"runtime"
	_ "unsafe" // go:linkname
)

// growHeap is TinyGo's (runtime/arch_tinygowasm.go, 0.41): it doubles the module's
// linear memory and hands the new half to the heap. It returns false when the host
// refuses to grow the memory.
//
//go:linkname growHeap runtime.growHeap
func growHeap() bool

// reserveHeap grows the heap to at least minHeapBytes before the first request.
// TinyGo's collector scans the module's globals (about 100 KB here: strings, the
// unicode tables of regexp) and the live heap on every cycle, and starts one whenever
// an allocation finds no free block; it grows the heap only when a cycle frees less
// than a third of it. Left alone, meshmirror's heap settled at about 20 KB
// free, so a cycle ran every 12 requests and took most of the time of a request that
// matched nothing (BENCHMARKS.md). The heap never shrinks: this costs its size once.
func reserveHeap() {
	var stats runtime.MemStats
	for {
		runtime.ReadMemStats(&stats)
		if stats.HeapSys >= minHeapBytes || !growHeap() {
			return
		}
	}
}
