package text

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// FNV-1a, 64 bits: the hash of header values, bodies and places, continued as they
// stream.
const (
	// FNVOffset is the hash of nothing: where a hash starts.
	FNVOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// FNV1a continues a 64-bit FNV-1a hash over b: bodies compared exactly are hashed as
// they stream, never held.
func FNV1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// FNV1aString is FNV1a over the bytes of s.
func FNV1aString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// InPlace is the string of b's bytes, without a copy; b must not change while it is
// in use.
func InPlace(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// CutTo returns a copy of s shortened to at most limit bytes, at a character
// boundary: never a string that shares the memory of s (a body, a header map).
func CutTo(s string, limit int) string { return strings.Clone(PrefixTo(s, limit)) }

// PrefixTo is s shortened to at most limit bytes, at a character boundary; it shares
// the memory of s.
func PrefixTo(s string, limit int) string {
	n := min(len(s), limit)
	for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
