package mirror

import "github.com/meshmirror/meshmirror/plugin/config"

// stickyHash is the hash behind sticky sampling: 64-bit FNV-1a over the target's
// name, a colon, and the header's value. A request is copied when
// stickyHash(name, value) % PercentScale < Percent, so a value is always in or always
// out for a target, and targets split independently of each other. The whole 64-bit
// value is reduced modulo 10^6: its top bits split short sequential keys badly.
func stickyHash(name, value string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime
	}
	h = (h ^ ':') * prime
	for i := 0; i < len(value); i++ {
		h = (h ^ uint64(value[i])) * prime
	}
	return h
}

// StickyBucket returns the sampling bucket, 0 to PercentScale-1, of a sticky header
// value for a target: the value is copied when its bucket is below Percent.
func StickyBucket(target, value string) uint32 {
	return uint32(stickyHash(target, value) % config.PercentScale)
}
