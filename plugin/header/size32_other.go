//go:build !tinygo

package header

// Size32 is le32 for bytes known to be there (see size32_tinygo.go).
func Size32(data string, i int) uint32 { return le32(data, i) }
