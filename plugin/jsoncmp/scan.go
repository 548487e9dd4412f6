package jsoncmp

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// jsonDoc is a JSON document scanned once: validated, and its values laid out as
// nodes in document order, so that a comparison walks two documents side by side
// without parsing either again and without allocating (its buffers are reused).
type jsonDoc struct {
	data []byte
	// nodes are the document's values in document order, each container before its
	// members; node 0 is the root.
	nodes []jsonNode
	// keys holds the unescaped keys that had escapes.
	keys []byte
	// maxDepth is the deepest nesting scan takes; maxCompareDepth when 0.
	maxDepth int
	// open is the scan's stack of the containers being scanned, innermost last.
	open [MaxDepth]int32
}

// jsonNode is one value of a jsonDoc.
type jsonNode struct {
	// start and end delimit the value's text; the root object or array runs to the
	// end of the document, white space and all, as the values of a root difference
	// show it.
	start, end int32
	// next is the index of the node after this one's members.
	next int32
	// keyStart and keyEnd delimit the key of an object's member without its quotes:
	// in data, or in keys when keyEscaped.
	keyStart, keyEnd int32
	kind             byte
	// escaped says that a string has escapes, keyEscaped that its key has.
	escaped, keyEscaped bool
}

// The kinds of values; true and false are kinds of their own.
const (
	kindNull byte = iota
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindObject
	kindArray
)

// maxKeptNodes bounds the nodes a jsonDoc keeps between documents (about 100 KiB): a
// large body gets buffers of its own, which go with it.
const maxKeptNodes = 4096

// scan reads data as one JSON value, surrounded by optional white space, nested at
// most d.maxDepth levels. It accepts exactly what gjson.Valid does within that
// depth, and reports false for anything else. One loop with a stack of the open
// containers, not a call per value: in the module every call costs (TinyGo keeps
// its pointers on a stack of its own for the collector).
func (d *jsonDoc) scan(data []byte) bool {
	if int64(len(data)) > 1<<31-1 {
		return false
	}
	d.data, d.keys = data, d.keys[:0]
	var ok bool
	d.nodes, ok = d.scanNodes(data, d.nodes[:0], 0, wantValue, 0)
	return ok
}

// scanAfter is scan for data compared with prev's document: the values that both
// write alike before their first different byte are taken from prev's nodes, and
// only the rest of data is scanned; common is the length of their common prefix.
// Most compared pairs share most of their text.
func (d *jsonDoc) scanAfter(data []byte, prev *jsonDoc, common int) bool {
	if int64(len(data)) > 1<<31-1 {
		return false
	}
	d.data, d.keys = data, d.keys[:0]
	if common < 64 {
		return d.scan(data) // too little in common to be worth it
	}
	// The last value in prev that ends before the first different byte: the byte
	// after it is the same in both, so it ends there in data too.
	last := int32(len(prev.nodes) - 1)
	for last >= 0 && int(prev.nodes[last].end) >= common {
		last--
	}
	if last < 0 {
		return d.scan(data)
	}
	// Its ancestors are the containers open after it.
	depth := 0
	for n := int32(0); n != last; {
		d.open[depth], depth = n, depth+1
		m := n + 1
		for prev.nodes[m].next <= last {
			m = prev.nodes[m].next
		}
		n = m
	}
	nodes := append(d.nodes[:0], prev.nodes[:prev.nodes[last].next]...)
	if len(prev.keys) > 0 {
		// Escaped keys point into prev's keys: take those that the nodes use.
		used := int32(0)
		for i := range nodes {
			if nodes[i].keyEscaped {
				used = max(used, nodes[i].keyEnd)
			}
		}
		d.keys = append(d.keys[:0], prev.keys[:used]...)
	}
	var ok bool
	d.nodes, ok = d.scanNodes(data, nodes, int(prev.nodes[last].end), afterValue, depth)
	return ok
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n, i := min(len(a), len(b)), 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// The states of scanNodes.
const (
	wantValue  = iota // a value starts at i
	wantKey           // an object's key starts at i
	wantColon         // the colon after a key is at i
	afterValue        // a value ended just before i
)

// scanNodes is scan from data[i:] in state, with depth containers open (in d.open),
// appending the nodes to nodes. White space is skipped in one place, before each
// token, so that compact JSON pays one comparison for it per token.
func (d *jsonDoc) scanNodes(data []byte, nodes []jsonNode, i, state, depth int) ([]jsonNode, bool) {
	open := &d.open // the containers being scanned, innermost last
	limit := min(d.depthLimit(), len(open))
	var key jsonNode // the key of the member whose value comes next
	for {
		for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
		if i >= len(data) {
			if state != afterValue || depth > 0 {
				return nodes, false
			}
		} else if c := data[i]; (c == ']' && state == wantValue || c == '}' && state == wantKey) &&
			depth > 0 && int(open[depth-1]) == len(nodes)-1 {
			// The closer of a container with no members; one after a comma is refused,
			// since the container then has members.
			if nodes[open[depth-1]].kind != kindArray && c == ']' {
				return nodes, false
			}
			top := &nodes[open[depth-1]]
			top.end, top.next = int32(i+1), int32(len(nodes))
			depth--
			i, state = i+1, afterValue
			continue
		}
		switch state {
		case wantValue:
			n := len(nodes)
			if n < cap(nodes) {
				nodes = nodes[:n+1] // without a call to the runtime's append: most nodes fit
			} else {
				nodes = append(nodes, jsonNode{})
			}
			nodes[n] = jsonNode{start: int32(i), keyStart: key.keyStart, keyEnd: key.keyEnd, keyEscaped: key.keyEscaped}
			key = jsonNode{}
			nd := &nodes[n]
			state = afterValue
			var ok bool
			switch c := data[i]; {
			case c == '{' || c == '[':
				if depth == limit {
					return nodes, false
				}
				open[depth], depth = int32(n), depth+1
				nd.kind, state = kindObject, wantKey
				if c == '[' {
					nd.kind, state = kindArray, wantValue
				}
				i++
				continue
			case c == '"':
				// The usual string, plain to its closing quote, takes one call with
				// one result: in the module a call with three is dear.
				nd.kind = kindString
				if i = plainText(data, i+1); i < len(data) && data[i] == '"' {
					i, ok = i+1, true
				} else {
					i, nd.escaped, ok = scanString(data, i)
				}
			case c == '-' || c >= '0' && c <= '9':
				nd.kind = kindNumber
				i, ok = scanNumber(data, i)
			case c == 't':
				nd.kind = kindTrue
				i, ok = literal(data, i, "true")
			case c == 'f':
				nd.kind = kindFalse
				i, ok = literal(data, i, "false")
			case c == 'n':
				nd.kind = kindNull
				i, ok = literal(data, i, "null")
			}
			if !ok {
				return nodes, false
			}
			nd.end, nd.next = int32(i), int32(len(nodes))
		case wantKey:
			if data[i] != '"' {
				return nodes, false
			}
			start := i + 1
			end, esc, ok := plainText(data, start), false, true
			if end < len(data) && data[end] == '"' {
				end++
			} else if end, esc, ok = scanString(data, end); !ok {
				return nodes, false
			}
			key.keyStart, key.keyEnd = int32(start), int32(end-1)
			if esc {
				key.keyEscaped, key.keyStart = true, int32(len(d.keys))
				d.keys = unescapeJSON(d.keys, data[start:end-1])
				key.keyEnd = int32(len(d.keys))
			}
			i, state = end, wantColon
		case wantColon:
			if data[i] != ':' {
				return nodes, false
			}
			i, state = i+1, wantValue
		case afterValue:
			if depth == 0 {
				if i != len(data) {
					return nodes, false
				}
				if k := nodes[0].kind; k == kindObject || k == kindArray {
					nodes[0].end = int32(len(data))
				}
				return nodes, true
			}
			top := &nodes[open[depth-1]]
			closer := byte('}')
			if top.kind == kindArray {
				closer = ']'
			}
			switch data[i] {
			case ',':
				i, state = i+1, wantValue
				if top.kind == kindObject {
					state = wantKey
				}
			case closer:
				top.end, top.next = int32(i+1), int32(len(nodes))
				depth--
				i++
			default:
				return nodes, false
			}
		}
	}
}

func (d *jsonDoc) depthLimit() int {
	if d.maxDepth > 0 {
		return d.maxDepth
	}
	return MaxDepth
}

// release lets go of the document; buffers beyond maxKeptNodes go with it.
func (d *jsonDoc) release() {
	d.data = nil
	if cap(d.nodes) > maxKeptNodes {
		d.nodes, d.keys = nil, nil
	}
}

// raw is the text of node n; empty for -1, the side that has no value.
func (d *jsonDoc) raw(n int32) []byte {
	if n < 0 {
		return nil
	}
	return d.data[d.nodes[n].start:d.nodes[n].end]
}

// inner is the text of string node n between its quotes.
func (d *jsonDoc) inner(n int32) []byte {
	return d.data[d.nodes[n].start+1 : d.nodes[n].end-1]
}

// key is the unescaped key of object member n.
func (d *jsonDoc) key(n int32) []byte {
	nd := &d.nodes[n]
	if nd.keyEscaped {
		return d.keys[nd.keyStart:nd.keyEnd]
	}
	return d.data[nd.keyStart:nd.keyEnd]
}

// sortByKey sorts the members ms stably by key; members already in order, as most
// objects' are not but cost a pass to tell, are left alone. Small objects are sorted
// by insertion, larger ones merged bottom up through scratch, which it returns grown
// to fit: without a closure, which TinyGo allocates for a library sort.
func (d *jsonDoc) sortByKey(ms, scratch []int32) []int32 {
	sorted := true
	for i := 1; i < len(ms) && sorted; i++ {
		sorted = compareBytes(d.key(ms[i-1]), d.key(ms[i])) <= 0
	}
	if sorted {
		return scratch
	}
	const run = 16
	for lo := 0; lo < len(ms); lo += run {
		part := ms[lo:min(lo+run, len(ms))]
		for i := 1; i < len(part); i++ {
			for j := i; j > 0 && compareBytes(d.key(part[j-1]), d.key(part[j])) > 0; j-- {
				part[j-1], part[j] = part[j], part[j-1]
			}
		}
	}
	if len(ms) <= run {
		return scratch
	}
	if cap(scratch) < len(ms) {
		scratch = make([]int32, len(ms))
	}
	src, dst := ms, scratch[:len(ms)]
	for width := run; width < len(ms); width *= 2 {
		for lo := 0; lo < len(ms); lo += 2 * width {
			mid, hi := min(lo+width, len(ms)), min(lo+2*width, len(ms))
			i, j, k := lo, mid, lo
			for ; i < mid && j < hi; k++ {
				// Ties go to the left run: the order of repeated keys is kept.
				if compareBytes(d.key(src[j]), d.key(src[i])) < 0 {
					dst[k], j = src[j], j+1
				} else {
					dst[k], i = src[i], i+1
				}
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &ms[0] {
		copy(ms, src)
	}
	return scratch
}

// scanString scans a string's text from data[i:], just after its opening quote, and
// returns the index after its closing quote and whether it has escapes. Plain text
// is skipped eight bytes at a time, up to the first byte that may end it.
func scanString(data []byte, i int) (int, bool, bool) {
	esc := false
	for {
		if i = plainText(data, i); i >= len(data) {
			return i, esc, false
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, esc, true
		case c < ' ':
			return i, esc, false
		case c == '\\':
			esc = true
			if i++; i >= len(data) {
				return i, esc, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					return i, esc, false
				}
				i += 4
			default:
				return i, esc, false
			}
		}
		i++
	}
}

// plainText returns the index of the first byte at or after i that may end a
// string's plain text, a quote, a backslash or a control character, or len(data):
// eight bytes at a time. Of a word w, x - ones &^ x has a high bit set where x has a
// zero byte, and w - 0x2020.. &^ w where w has a byte below 0x20: exactly at the
// lowest such byte, borrows aside above it, so the lowest marked byte is the first
// special one (TestPlainTextStopsAtFirst). Written out here rather than called:
// TinyGo, optimizing for size, would call it for every word.
func plainText(data []byte, i int) int {
	for i+8 <= len(data) {
		w := binary.LittleEndian.Uint64(data[i:])
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		if m := ((quote-ones)&^quote | (backslash-ones)&^backslash | (w-ones*' ')&^w) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(data) && data[i] >= ' ' && data[i] != '"' && data[i] != '\\' {
		i++
	}
	return i
}

// Bytes repeated across a word, for the word tests of plainText and sameStrings.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber scans a number literal at data[i:] as JSON writes them.
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		if i++; i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, false
		}
		i = skipDigits(data, i)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, false
		}
		i = skipDigits(data, i)
	}
	return i, true
}

// skipDigits returns the index after the decimal digits at data[i:].
func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func literal(data []byte, i int, word string) (int, bool) {
	if len(data)-i < len(word) || text.InPlace(data[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// unescapeJSON appends to dst the string text s (between its quotes, validated)
// unescaped. Escapes are decoded as Go's encoding/json decodes them: a high surrogate
// followed by a low one is one code point, and any other surrogate is U+FFFD on its
// own, the escape after it still decoded (gjson, which this once copied, let a high
// one swallow the next escape: "\uD800\u0041" and "\uD800\u0042" were one string).
// Bytes that are not UTF-8 stay as they are, so that two different ones differ.
func unescapeJSON(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			dst = append(dst, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexRune(s[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				// Only a valid pair takes the next escape; DecodeRune says U+FFFD otherwise.
				low := rune(-1)
				if len(s)-i-1 >= 6 && s[i+1] == '\\' && s[i+2] == 'u' {
					low = hexRune(s[i+3 : i+7])
				}
				if r = utf16.DecodeRune(r, low); r != utf8.RuneError {
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Equal reports whether a and b are the same bytes, eight at a time: TinyGo's
// bytes.Equal copies both into new strings first.
func Equal(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) != binary.LittleEndian.Uint64(b[i:]) {
			return false
		}
	}
	for ; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// compareBytes orders a and b as bytes.Compare does, without a copy.
func compareBytes(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
