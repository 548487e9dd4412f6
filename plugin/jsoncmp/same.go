package jsoncmp

import "github.com/meshmirror/meshmirror/plugin/internal/text"

// A lock-step pass: the shadow's text checked against the primary's scanned nodes,
// so that the usual pair, the same value written differently, costs one scan and one
// pass instead of two scans and a walk.

// sameFrame is a container of the shadow's text open in sameText.
type sameFrame struct {
	node    int32  // the primary's container it is compared with
	mask    uint64 // the ignore paths that match the container's path
	members int    // the members seen so far
	array   bool
}

// sameText reports whether data, the shadow's body, is JSON within c.a's depth limit
// and equal to c.a's document as same finds it: keys alike and in the same order,
// each value the same or ignored. It validates data as scan does and builds no
// nodes. False says only that the documents must be scanned and walked, which then
// finds whether and where they differ.
func (c *jsonComparer) sameText(data []byte) bool {
	a := &c.a
	frames := &c.frames
	limit := min(c.b.depthLimit(), len(frames))
	n := int32(0)  // the primary's node the next value is compared with
	depth := 0     // the containers open in data
	skip := -1     // the depth of the ignored value being skipped; -1 for none
	skipNode := n  // the primary's node that value stands for
	var key []byte // the key of the member whose value comes next
	i, state := 0, wantValue
	for {
		for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
		if i >= len(data) {
			return state == afterValue && depth == 0
		}
		ch := data[i]
		if (ch == ']' && state == wantValue || ch == '}' && state == wantKey) && depth > 0 && frames[depth-1].members == 0 {
			// The closer of a container with no members.
			if ch == ']' && !frames[depth-1].array {
				return false
			}
			if !c.closeSame(&depth, &skip, &n, skipNode) {
				return false
			}
			i, state = i+1, afterValue
			continue
		}
		switch state {
		case wantValue:
			mask := uint64(1)<<len(c.ignore) - 1
			if depth > 0 {
				f := &frames[depth-1]
				if skip < 0 {
					if n >= a.nodes[f.node].next {
						return false // the primary's container has no more members
					}
					if mask = f.mask; mask != 0 {
						index := f.members
						if !f.array {
							index = -1
						}
						var ignored bool
						if mask, ignored = descend(c.ignore, mask, depth-1, text.InPlace(key), index); ignored {
							skip, skipNode = depth, n
						}
					}
				}
				f.members++
			}
			switch {
			case ch == '{' || ch == '[':
				kind := kindObject
				if ch == '[' {
					kind = kindArray
				}
				if depth == limit || skip < 0 && a.nodes[n].kind != kind {
					return false
				}
				frames[depth] = sameFrame{node: n, mask: mask, array: ch == '['}
				depth++
				if skip < 0 {
					n++
				}
				state = wantKey
				if ch == '[' {
					state = wantValue
				}
				i++
				continue
			case ch == '"':
				end, esc, ok := scanString(data, i+1)
				if !ok || skip < 0 && !c.sameStringText(n, data[i:end], esc) {
					return false
				}
				i = end
			case ch == '-' || ch >= '0' && ch <= '9':
				end, ok := scanNumber(data, i)
				if !ok || skip < 0 && (a.nodes[n].kind != kindNumber || !numbersEqual(text.InPlace(a.raw(n)), text.InPlace(data[i:end]))) {
					return false
				}
				i = end
			default:
				word, kind := "null", kindNull
				switch ch {
				case 't':
					word, kind = "true", kindTrue
				case 'f':
					word, kind = "false", kindFalse
				case 'n':
				default:
					return false
				}
				end, ok := literal(data, i, word)
				if !ok || skip < 0 && a.nodes[n].kind != kind {
					return false
				}
				i = end
			}
			if skip < 0 {
				n = a.nodes[n].next
			} else if skip == depth {
				skip, n = -1, a.nodes[skipNode].next
			}
			state = afterValue
		case wantKey:
			if ch != '"' {
				return false
			}
			end, esc, ok := scanString(data, i+1)
			if !ok {
				return false
			}
			if key = data[i+1 : end-1]; esc {
				c.strB = unescapeJSON(c.strB[:0], key)
				key = c.strB
			}
			if skip < 0 && (n >= a.nodes[frames[depth-1].node].next || !Equal(a.key(n), key)) {
				return false
			}
			i, state = end, wantColon
		case wantColon:
			if ch != ':' {
				return false
			}
			i, state = i+1, wantValue
		case afterValue:
			if depth == 0 {
				return false // more than white space after the value
			}
			f := &frames[depth-1]
			switch {
			case ch == ',':
				state = wantKey
				if f.array {
					state = wantValue
				}
			case ch == ']' && f.array || ch == '}' && !f.array:
				if !c.closeSame(&depth, &skip, &n, skipNode) {
					return false
				}
			default:
				return false
			}
			i++
		}
	}
}

// closeSame closes sameText's innermost container: false when the primary's has
// members left over. The ignored value being skipped may end with it.
func (c *jsonComparer) closeSame(depth, skip *int, n *int32, skipNode int32) bool {
	if *skip < 0 && *n != c.a.nodes[c.frames[*depth-1].node].next {
		return false
	}
	*depth--
	if *skip == *depth {
		*skip, *n = -1, c.a.nodes[skipNode].next
	}
	return true
}

// sameStringText reports whether the string text (with its quotes) holds the same
// string as the primary's node n, as sameString does; esc says it has escapes.
func (c *jsonComparer) sameStringText(n int32, text []byte, esc bool) bool {
	nd := &c.a.nodes[n]
	switch {
	case nd.kind != kindString:
		return false
	case Equal(c.a.raw(n), text):
		return true
	case !esc && !nd.escaped:
		return false
	}
	c.strA = unescapeJSON(c.strA[:0], c.a.inner(n))
	c.strB = unescapeJSON(c.strB[:0], text[1:len(text)-1])
	return Equal(c.strA, c.strB)
}
