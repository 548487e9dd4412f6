// Package endpoint names the endpoint a request path belongs to: the path without its
// query, with each segment that is an id written {id}, so that /api/items/42 and
// /api/items/43 are one endpoint, /api/items/{id}.
//
// It is the one rule shared by the plugin, which counts its summaries per endpoint,
// and the receiver, which groups reports and summaries by it. It knows nothing of
// either, never panics on any input, and allocates only when a segment is rewritten.
package endpoint

// ID is what a segment that is an id is written as.
const ID = "{id}"

// Of returns the endpoint of path: path without its query, with each segment made only
// of digits, a UUID (8-4-4-4-12 hex digits), or 16 or more hex digits written {id}.
func Of(path string) string {
	path = withoutQuery(path)
	if !hasID(path) {
		return path
	}
	return string(Append(make([]byte, 0, len(path)), path))
}

// Append appends the endpoint of path to dst, as Of returns it, and returns the
// extended slice: a caller that reuses dst names endpoints without allocating.
func Append(dst []byte, path string) []byte {
	path = withoutQuery(path)
	for start := 0; start <= len(path); {
		end := start
		for end < len(path) && path[end] != '/' {
			end++
		}
		if seg := path[start:end]; isID(seg) {
			dst = append(dst, ID...)
		} else {
			dst = append(dst, seg...)
		}
		if end < len(path) {
			dst = append(dst, '/')
		}
		start = end + 1
	}
	return dst
}

func withoutQuery(path string) string {
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			return path[:i]
		}
	}
	return path
}

func hasID(path string) bool {
	for start := 0; start <= len(path); {
		end := start
		for end < len(path) && path[end] != '/' {
			end++
		}
		if isID(path[start:end]) {
			return true
		}
		start = end + 1
	}
	return false
}

func isID(seg string) bool {
	return isDigits(seg) || isUUID(seg) || len(seg) >= 16 && isHex(seg)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// isUUID reports whether s is 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:])
}
