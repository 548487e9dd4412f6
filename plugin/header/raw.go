package header

import (
	"errors"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// Raw is a header map as the host hands it over (proxy_get_header_map_pairs):
// a little-endian uint32 count n, n pairs of uint32 sizes (name, value), then each
// name and value followed by a NUL byte. The mirror decides from it in place: a
// request it does not copy never has its headers turned into a [][2]string, which
// under TinyGo is an allocation and a walk that the request would pay for nothing
// (BENCHMARKS.md, "Request path"). The zero value is an empty map.
type Raw struct {
	data string // validated by ParseRaw: every size below fits in it
	n    int
}

// rawHeaderLimit bounds the count of a serialized map, so that its size table cannot
// overflow an int in a 32-bit module (Envoy's own limit is 100 headers by default).
const rawHeaderLimit = 1 << 20

// ParseRaw checks that data is a well-formed serialized header map and
// returns its view. data is kept, not copied: it must not change while the view is
// in use.
func ParseRaw(data string) (Raw, error) {
	if len(data) < 4 {
		return Raw{}, errors.New(text.Sprintf("serialized headers: %d bytes, less than the 4 of the count", len(data)))
	}
	count := Size32(data, 0)
	if count > rawHeaderLimit {
		return Raw{}, errors.New(text.Sprintf("serialized headers: a count of %d, more than %d", count, rawHeaderLimit))
	}
	n := int(count)
	at := 4 + 8*n // where the names and values begin
	if at > len(data) {
		return Raw{}, errors.New(text.Sprintf("serialized headers: %d bytes, too few for the sizes of %d headers", len(data), n))
	}
	left := uint64(len(data) - at)
	for i := range n {
		// Each size is at most 2^32-1; their sum over at most 2^20 pairs fits in 64 bits.
		need := uint64(Size32(data, 4+8*i)) + uint64(Size32(data, 8+8*i)) + 2 // in bounds: at fits
		if need > left {
			return Raw{}, errors.New(text.Sprintf("serialized headers: header %d of %d passes the end of the %d bytes", i+1, n, len(data)))
		}
		left -= need
	}
	return Raw{data: data, n: n}, nil
}

// le32 reads the little-endian uint32 at data[i:i+4]; see Size32.
func le32(data string, i int) uint32 {
	return uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
}

// Data is the serialized map h views: for a walk written out where a call per header
// costs too much, with Size32 to read its sizes.
func (h Raw) Data() string { return h.data }

// Len is the number of headers, repeated names counted each time.
func (h Raw) Len() int { return h.n }

// Iter walks the headers of a Raw in order.
type Iter struct {
	data      string
	size, at  int // the next pair of sizes, the next name
	remaining int
}

func (h Raw) Iter() Iter {
	return Iter{data: h.data, size: 4, at: 4 + 8*h.n, remaining: h.n}
}

// Next returns the Next header's name and value; ok is false after the last.
func (it *Iter) Next() (name, value string, ok bool) {
	if it.remaining == 0 {
		return "", "", false
	}
	it.remaining--
	ks, vs := int(Size32(it.data, it.size)), int(Size32(it.data, it.size+4))
	it.size += 8
	name = it.data[it.at : it.at+ks]
	value = it.data[it.at+ks+1 : it.at+ks+1+vs]
	it.at += ks + vs + 2
	return name, value, true
}

// Get is Headers.Get on the serialized map: the value of the header name (lower
// case) and whether it is present, a repeated header's values joined with ",", a
// pseudo-header's search ended where it is found. A name's length is compared before
// its bytes, without making the name's string: this runs for every rule of every
// request.
func (h Raw) Get(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	value, found := "", false
	pseudo := name[0] == ':'
	data, size, at := h.data, 4, 4+8*h.n
	for range h.n {
		ks, vs := int(Size32(data, size)), int(Size32(data, size+4))
		size += 8
		if ks == len(name) && data[at] == name[0] && data[at:at+ks] == name {
			v := data[at+ks+1 : at+ks+1+vs]
			if pseudo {
				return v, true
			}
			if found {
				value += "," + v
			} else {
				value, found = v, true
			}
		}
		at += ks + vs + 2
	}
	return value, found
}

// List returns the headers as a slice, whose strings share the view's bytes.
func (h Raw) List() List {
	out := make(List, h.n)
	it := h.Iter()
	for i := range out {
		out[i][0], out[i][1], _ = it.Next()
	}
	return out
}

// RawOf is the view of h serialized (Serialize), for callers that hold
// headers as a slice.
func RawOf(h List) Raw { return Raw{data: Serialize(h), n: len(h)} }

// Serialize writes h as the host serializes a header map, the form
// ParseRaw reads.
func Serialize(h List) string {
	size := 4
	for _, kv := range h {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	b := make([]byte, 4+8*len(h), size)
	put32(b, 0, uint32(len(h)))
	for i, kv := range h {
		put32(b, 4+8*i, uint32(len(kv[0])))
		put32(b, 8+8*i, uint32(len(kv[1])))
	}
	for _, kv := range h {
		b = append(append(append(append(b, kv[0]...), 0), kv[1]...), 0)
	}
	return string(b)
}

func put32(b []byte, i int, v uint32) {
	b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
