//go:build !tinygo

package mirror

// size32 is le32 for bytes known to be there (see size32_tinygo.go).
func size32(data string, i int) uint32 { return le32(data, i) }
