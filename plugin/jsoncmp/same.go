package jsoncmp

import (
	"encoding/binary"
	"math/bits"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// A lock-step pass: both texts read once, side by side, token by token, and no nodes
// built, so that the usual pair, the same value written differently, costs one pass
// over each body instead of two scans and a walk. Where the two texts agree, a
// string's bytes are read once for both (word at a time): in an interpreter every
// byte inspected costs instructions.

// sameFrame is a container open in sameTexts.
type sameFrame struct {
	mask    uint64 // the ignore paths that match the container's path
	members int    // the members seen so far
	array   bool
}

// sameTexts reports whether a and b, the primary's and the shadow's bodies, are both
// JSON within the depth limit and equal as same finds them: keys alike and in the
// same order, each value the same or ignored. It validates both as scan does. False
// says only that the documents must be scanned and walked, which then finds whether
// and where they differ.
func (c *jsonComparer) sameTexts(a, b []byte) bool {
	if int64(len(a)) > 1<<31-1 || int64(len(b)) > 1<<31-1 {
		return false
	}
	frames := &c.frames
	limit := min(c.a.depthLimit(), c.b.depthLimit(), len(frames))
	depth := 0     // the containers open in both
	var key []byte // the key of the member whose value comes next, unescaped
	i, j, state := 0, 0, wantValue
	for {
		if i < len(a) && a[i] <= ' ' { // the call only for white space: TinyGo inlines little
			i = skipSpace(a, i)
		}
		if j < len(b) && b[j] <= ' ' {
			j = skipSpace(b, j)
		}
		if i >= len(a) || j >= len(b) {
			return i >= len(a) && j >= len(b) && state == afterValue && depth == 0
		}
		ca, cb := a[i], b[j]
		if (ca == ']' && state == wantValue || ca == '}' && state == wantKey) && depth > 0 && frames[depth-1].members == 0 {
			// The closer of a container with no members.
			if cb != ca || (ca == ']') != frames[depth-1].array {
				return false
			}
			depth--
			i, j, state = i+1, j+1, afterValue
			continue
		}
		switch state {
		case wantValue:
			mask := uint64(1)<<len(c.ignore) - 1
			if depth > 0 {
				f := &frames[depth-1]
				if mask = f.mask; mask != 0 {
					index := f.members
					if !f.array {
						index = -1
					}
					var ignored bool
					if mask, ignored = descend(c.ignore, mask, depth-1, text.InPlace(key), index); ignored {
						f.members++
						var ok bool
						if i, ok = c.skipValue(a, i, limit-depth); !ok {
							return false
						}
						if j, ok = c.skipValue(b, j, limit-depth); !ok {
							return false
						}
						state = afterValue
						continue
					}
				}
				f.members++
			}
			var ok bool
			switch {
			case ca == '{' || ca == '[':
				if cb != ca || depth == limit {
					return false
				}
				frames[depth] = sameFrame{mask: mask, array: ca == '['}
				depth++
				i, j, state = i+1, j+1, wantKey
				if ca == '[' {
					state = wantValue
				}
				continue
			case ca == '"':
				if cb != '"' {
					return false
				}
				if i, j, ok = c.sameStrings(a, i, b, j, false); !ok {
					return false
				}
			case ca == '-' || ca >= '0' && ca <= '9':
				ei, ok := scanNumber(a, i)
				if !ok {
					return false
				}
				// The same text, that goes no further, is the same number, as valid.
				if ej := j + ei - i; ej <= len(b) && Equal(a[i:ei], b[j:ej]) && (ej == len(b) || !inNumber(b[ej])) {
					i, j = ei, ej
					break
				}
				ej, ok := scanNumber(b, j)
				if !ok || !numbersEqual(text.InPlace(a[i:ei]), text.InPlace(b[j:ej])) {
					return false
				}
				i, j = ei, ej
			default:
				var word string
				switch ca {
				case 't':
					word = "true"
				case 'f':
					word = "false"
				case 'n':
					word = "null"
				default:
					return false
				}
				if cb != ca {
					return false
				}
				var okA, okB bool
				i, okA = literal(a, i, word)
				j, okB = literal(b, j, word)
				if !okA || !okB {
					return false
				}
			}
			state = afterValue
		case wantKey:
			if ca != '"' || cb != '"' {
				return false
			}
			start, ok := i+1, false
			if i, j, ok = c.sameStrings(a, i, b, j, frames[depth-1].mask != 0); !ok {
				return false
			}
			key = a[start : i-1]
			if c.keyEscaped {
				key = c.strA // unescaped by sameStrings, for descend
			}
			state = wantColon
		case wantColon:
			if ca != ':' || cb != ':' {
				return false
			}
			i, j, state = i+1, j+1, wantValue
		case afterValue:
			if depth == 0 || cb != ca {
				return false // more than white space after the value, or not the same token
			}
			f := &frames[depth-1]
			switch {
			case ca == ',':
				state = wantKey
				if f.array {
					state = wantValue
				}
			case ca == ']' && f.array || ca == '}' && !f.array:
				depth--
			default:
				return false
			}
			i, j = i+1, j+1
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not JSON white
// space. Compact JSON pays one comparison for it per token.
func skipSpace(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// sameStrings reads the strings whose opening quotes are at a[i] and b[j] and returns
// the indexes after their closing quotes, and whether both are valid and hold the
// same string. The bytes the two texts share are read once for both; only where
// they part, or at an escape, is each read on its own. With unescape, c.strA holds
// a's string unescaped when it had escapes, and c.keyEscaped says so.
func (c *jsonComparer) sameStrings(a []byte, i int, b []byte, j int, unescape bool) (int, int, bool) {
	c.keyEscaped = false
	p, q := i+1, j+1
	for p+8 <= len(a) && q+8 <= len(b) {
		// plainText's word test of a, and the bytes where a and b differ: for the bytes
		// of x = a ^ b, adding 0x7f to a byte's low seven bits carries into its high
		// bit, never past it, so (x &^ highs + 0x7f7f..) | x marks exactly the bytes
		// that are not zero. The lowest byte marked is the first that ends a's plain
		// text or differs in b (TestSameStrings).
		w := binary.LittleEndian.Uint64(a[p:])
		quote, backslash, x := w^(ones*'"'), w^(ones*'\\'), w^binary.LittleEndian.Uint64(b[q:])
		m := ((quote-ones)&^quote | (backslash-ones)&^backslash | (w-ones*' ')&^w | ((x &^ highs) + (highs - ones) | x)) & highs
		if m == 0 {
			p, q = p+8, q+8
			continue
		}
		// The lowest byte marked is the first that is special in a or differs in b.
		k := bits.TrailingZeros64(m) >> 3
		if p, q = p+k, q+k; a[p] == '"' && b[q] == '"' {
			return p + 1, q + 1, true // the same plain text: the same string
		}
		break
	}
	for p < len(a) && q < len(b) && a[p] == b[q] && a[p] >= ' ' && a[p] != '\\' {
		if a[p] == '"' {
			return p + 1, q + 1, true // the same plain text: the same string
		}
		p, q = p+1, q+1
	}
	// They part here, or one has an escape or a control character: each on its own.
	ea, escA, okA := scanString(a, p)
	eb, escB, okB := scanString(b, q)
	switch {
	case !okA || !okB:
		return ea, eb, false
	case !escA && !escB:
		return ea, eb, ea-p == eb-q && Equal(a[p:ea], b[q:eb])
	}
	c.strA = unescapeJSON(c.strA[:0], a[i+1:ea-1])
	c.strB = unescapeJSON(c.strB[:0], b[j+1:eb-1])
	c.keyEscaped = unescape && escA
	return ea, eb, Equal(c.strA, c.strB)
}

// inNumber reports whether c can go on a JSON number.
func inNumber(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// skipValue returns the index after the JSON value at data[i:], nested at most limit
// levels deeper, and whether it is one: an ignored value is not compared, but it must
// be JSON, as scan requires.
func (c *jsonComparer) skipValue(data []byte, i, limit int) (int, bool) {
	arrays := &c.skipped // the containers open in the value: true for an array
	depth := 0
	first := false // the innermost container has no member yet
	state := wantValue
	for {
		if i = skipSpace(data, i); i >= len(data) {
			return i, false
		}
		ch := data[i]
		if first && (ch == ']' && arrays[depth-1] || ch == '}' && !arrays[depth-1]) {
			if depth--; depth == 0 {
				return i + 1, true
			}
			i, state, first = i+1, afterValue, false
			continue
		}
		first = false
		switch state {
		case wantKey:
			end, _, ok := scanString(data, i+1)
			if ch != '"' || !ok {
				return i, false
			}
			i, state = end, wantColon
		case wantColon:
			if ch != ':' {
				return i, false
			}
			i, state = i+1, wantValue
		case wantValue:
			ok := false
			switch {
			case ch == '{' || ch == '[':
				if depth == min(limit, len(arrays)) {
					return i, false
				}
				arrays[depth], depth = ch == '[', depth+1
				i, state, first = i+1, wantKey, true
				if ch == '[' {
					state = wantValue
				}
				continue
			case ch == '"':
				i, _, ok = scanString(data, i+1)
			case ch == '-' || ch >= '0' && ch <= '9':
				i, ok = scanNumber(data, i)
			case ch == 't':
				i, ok = literal(data, i, "true")
			case ch == 'f':
				i, ok = literal(data, i, "false")
			case ch == 'n':
				i, ok = literal(data, i, "null")
			}
			if !ok || depth == 0 {
				return i, ok
			}
			state = afterValue
		case afterValue:
			switch {
			case ch == ',':
				state = wantKey
				if arrays[depth-1] {
					state = wantValue
				}
			case ch == ']' && arrays[depth-1] || ch == '}' && !arrays[depth-1]:
				if depth--; depth == 0 {
					return i + 1, true
				}
			default:
				return i, false
			}
			i++
		}
	}
}
