package jsoncmp

import "github.com/meshmirror/meshmirror/plugin/internal/text"

// MaxIgnorePaths is the most ignore paths a comparison takes: it tracks which of them
// still apply with one bit each.
const MaxIgnorePaths = 64

// IgnorePath is one compare.ignore path, split into its segments: a key, "#" for any
// array element or "*" for any key (Wild says which segments are wildcards, so that a
// key spelt \# or \* stays a key).
type IgnorePath struct {
	Segments []string
	Wild     []bool
}

// ParseIgnorePath splits a compare.ignore path at its dots; a backslash makes the next
// character part of a key (a\.b is the key "a.b", \# the key "#"). It returns a
// message for a path it refuses.
func ParseIgnorePath(s string) (IgnorePath, string) {
	var ip IgnorePath
	if s == "" {
		return ip, "must not be empty"
	}
	var seg []byte
	wild, escaped := false, false
	end := func() string {
		if len(seg) == 0 {
			return "has an empty segment"
		}
		if wild && len(seg) != 1 {
			return "uses # or * for a whole segment only (items.#.price, *.id)"
		}
		ip.Segments = append(ip.Segments, string(seg))
		ip.Wild = append(ip.Wild, wild)
		seg, wild = nil, false
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			seg, escaped = append(seg, c), false
		case c == '\\':
			escaped = true
			if wild {
				return ip, "uses # or * for a whole segment only (items.#.price, *.id)"
			}
		case c == '.':
			if msg := end(); msg != "" {
				return ip, msg
			}
		case c == '#' || c == '*':
			if len(seg) > 0 {
				return ip, "uses # or * for a whole segment only (items.#.price, *.id)"
			}
			seg, wild = append(seg, c), true
		default:
			if wild {
				return ip, "uses # or * for a whole segment only (items.#.price, *.id)"
			}
			seg = append(seg, c)
		}
	}
	if escaped {
		return ip, "ends with a lone backslash"
	}
	if msg := end(); msg != "" {
		return ip, msg
	}
	if len(ip.Segments) > MaxDepth {
		return ip, text.Sprintf("has more than %d segments", MaxDepth)
	}
	return ip, ""
}
