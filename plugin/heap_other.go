//go:build !tinygo

package main

// reserveHeap does nothing in the Go VM context of the tests: Go's own collector
// sizes its heap.
func reserveHeap() {}
