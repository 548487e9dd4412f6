package wasmhost

import (
	"encoding/binary"
	"strings"
)

// Map and buffer types of the ABI.
const (
	mapRequestHeaders      = 0
	mapRequestTrailers     = 1
	mapResponseHeaders     = 2
	mapResponseTrailers    = 3
	mapCallResponseHeaders = 6
	mapCallResponseTrailer = 7

	bufRequestBody      = 0
	bufResponseBody     = 1
	bufCallResponseBody = 4
	bufVMConfiguration  = 6
	bufPluginConfig     = 7
)

func lookup(headers [][2]string, name string) (string, bool) {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

func setHeader(headers [][2]string, name, value string) [][2]string {
	out := make([][2]string, 0, len(headers)+1)
	for _, kv := range headers {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	return append(out, [2]string{name, value})
}

// headerMap returns the map of a type for the current callback, or nil if it does
// not exist there.
func (h *Host) headerMap(mapType uint32) *[][2]string {
	s := h.current
	switch {
	case mapType == mapCallResponseHeaders && h.answer != nil:
		return &h.answer.Headers
	case mapType == mapCallResponseTrailer && h.answer != nil:
		return &h.answer.Trailers
	case s == nil:
		return nil
	case mapType == mapRequestHeaders:
		return &s.request
	case mapType == mapRequestTrailers:
		return &s.trailers
	case mapType == mapResponseHeaders:
		return &s.response
	case mapType == mapResponseTrailers:
		return &s.respTrl
	}
	return nil
}

func (h *Host) buffer(bufType uint32) ([]byte, bool) {
	switch bufType {
	case bufPluginConfig: // that of the root context being configured
		if r := h.effectiveRoot(); r != nil {
			return r.config, true
		}
		return nil, false
	case bufVMConfiguration:
		return nil, true
	case bufCallResponseBody:
		if h.answer != nil {
			return h.answer.Body, true
		}
	case bufRequestBody, bufResponseBody:
		if h.current != nil {
			return h.current.body, true
		}
	}
	return nil, false
}

// serializeMap encodes pairs as proxy-wasm does: a count, the sizes, then each key
// and value followed by a NUL.
func serializeMap(pairs [][2]string) []byte {
	size := 4
	for _, kv := range pairs {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	out := make([]byte, 4, size)
	binary.LittleEndian.PutUint32(out, uint32(len(pairs)))
	for _, kv := range pairs {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[0])))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(kv[1])))
	}
	for _, kv := range pairs {
		out = append(append(append(append(out, kv[0]...), 0), kv[1]...), 0)
	}
	return out
}

func deserializeMap(data []byte) ([][2]string, bool) {
	if len(data) < 4 {
		return nil, len(data) == 0
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n > len(data)/8 {
		return nil, false
	}
	sizes, rest := data[4:], data[4+8*n:]
	pairs := make([][2]string, n)
	for i := range n {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl+vl+2 > len(rest) || kl < 0 || vl < 0 {
			return nil, false
		}
		pairs[i] = [2]string{string(rest[:kl]), string(rest[kl+1 : kl+1+vl])}
		rest = rest[kl+vl+2:]
	}
	return pairs, true
}

// lowerNames lowers header names, as Envoy's header maps hold them.
func lowerNames(pairs [][2]string) [][2]string {
	for i := range pairs {
		pairs[i][0] = strings.ToLower(pairs[i][0])
	}
	return pairs
}
