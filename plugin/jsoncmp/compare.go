package jsoncmp

import (
	"strconv"
	"strings"
	"sync"

	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

const (
	// MaxDepth bounds the nesting of a body compared as JSON: the scanner and
	// the comparison recurse per level, and about 10,000 levels overflow the
	// module's 64 KiB stack (FACTS.md). Deeper bodies are compared byte for byte.
	MaxDepth = 64
)

// IsJSONType reports whether a content type is JSON: application/json or a
// structured syntax suffix +json, parameters aside.
func IsJSONType(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	return mediaType == "application/json" || (strings.HasSuffix(mediaType, "+json") && strings.HasPrefix(mediaType, "application/"))
}

// compareJSON appends to out the places where the JSON bodies a (the primary's) and
// b (the shadow's) differ as JSON values, leaving out
// what ignore names; values says whether to fill in the values. Key order,
// insignificant white space, string escapes and number formatting do not count (1,
// 1.0 and 1e0 are equal; so are 12345678901234567890 and 1.2345678901234567890e19,
// which float64 could not tell from its neighbours). A body that is not JSON, or is
// nested deeper than maxCompareDepth, is compared byte for byte: as a whole
// difference when the bytes differ. It stops at MaxDifferences in out, but finds
// at least one when the bodies differ, so that the caller can tell.
func compareJSON(a, b []byte, ignore []IgnorePath, values bool, out []diff.Difference) []diff.Difference {
	return Compare(a, b, ignore, values, false, out)
}

// Compare is compareJSON; with allowExtra, a key that only the shadow's
// object has is no difference.
func Compare(a, b []byte, ignore []IgnorePath, values, allowExtra bool, out []diff.Difference) []diff.Difference {
	if Equal(a, b) {
		return out // the same bytes are the same value, or the same non-JSON
	}
	c := comparers.Get().(*jsonComparer)
	defer c.release()
	c.ignore, c.values, c.allowExtra = ignore, values, allowExtra
	// Bodies that part early are most often the same value written differently: one
	// pass over both texts tells. Those that share most of their text are most often
	// a value or two apart: scanAfter takes the nodes of what they share.
	c.common = commonPrefix(a, b)
	if c.common < len(b)/2 && c.sameTexts(a, b) {
		return out
	}
	if !c.a.scan(a) {
		return append(out, diff.Whole(a, b, values)) // not JSON, and the bytes differ
	}
	if !c.b.scanAfter(b, &c.a, c.common) {
		return append(out, diff.Whole(a, b, values)) // not JSON within maxCompareDepth
	}
	c.diffs, c.limit = out, max(diff.MaxDifferences, len(out)+1)
	c.value(0, 0, 1<<len(ignore)-1, 0)
	return c.diffs
}

// comparers keeps a jsonComparer between pairs, so that its buffers are reused: a
// compared pair allocates only for the differences it finds.
var comparers = sync.Pool{New: func() any { return new(jsonComparer) }}

// jsonComparer walks two scanned JSON documents side by side.
type jsonComparer struct {
	a, b       jsonDoc
	ignore     []IgnorePath
	values     bool
	allowExtra bool
	diffs      []diff.Difference
	limit      int
	// members is a stack of the node indexes of the members of the objects and
	// arrays being compared, each level's above its parent's.
	members []int32
	// path is the current place, formatted as Difference.Where; pattern the same
	// with array indexes written #, as noise is learned by.
	path, pattern []byte
	// strA and strB hold two strings unescaped, to compare them.
	strA, strB []byte
	// scratch is sortByKey's.
	scratch []int32
	// common is the length of the bodies' common prefix.
	common int
	// frames are sameTexts's open containers, skipped skipValue's (true for an array).
	frames  [MaxDepth]sameFrame
	skipped [MaxDepth]bool
	// keyEscaped says that sameStrings left a's key unescaped in strA.
	keyEscaped bool
}

// release lets go of the bodies and the differences and puts c back in comparers.
func (c *jsonComparer) release() {
	c.a.release()
	c.b.release()
	c.ignore, c.diffs = nil, nil
	c.members, c.path, c.pattern = c.members[:0], c.path[:0], c.pattern[:0]
	if cap(c.scratch) > maxKeptNodes {
		c.scratch = nil
	}
	comparers.Put(c)
}

func (c *jsonComparer) full() bool { return len(c.diffs) >= c.limit }

// differ records a difference at c.path between node a of c.a and node b of c.b;
// -1 for a side that has no value there.
func (c *jsonComparer) differ(kind diff.Kind, a, b int32) {
	if c.full() {
		return
	}
	d := diff.Difference{Part: diff.PartBody, Kind: kind, Where: string(c.path), Hash: diff.BodyPlace}
	if len(c.pattern) > 0 {
		d.Hash = text.FNV1a(diff.BodyPlacePrefix, c.pattern)
	}
	if c.values {
		d.Primary, d.Shadow = diff.Cut(text.InPlace(c.a.raw(a))), diff.Cut(text.InPlace(c.b.raw(b)))
	}
	c.diffs = append(c.diffs, d)
}

// value compares node a of c.a and node b of c.b, found at c.path; mask has a bit
// for each ignore path that matches the path so far, depth is the number of keys in
// it.
func (c *jsonComparer) value(a, b int32, mask uint64, depth int) {
	na, nb := &c.a.nodes[a], &c.b.nodes[b]
	switch {
	case c.sameRaw(a, b):
		// The same text is the same value: a subtree both sides wrote alike is not walked.
	case c.full():
	case na.kind != nb.kind:
		c.differ(diff.Changed, a, b)
	case na.kind == kindNumber:
		if !numbersEqual(text.InPlace(c.a.raw(a)), text.InPlace(c.b.raw(b))) {
			c.differ(diff.Changed, a, b)
		}
	case na.kind == kindString:
		if !c.sameString(a, b) {
			c.differ(diff.Changed, a, b)
		}
	case c.same(a, b, mask, depth):
		// Equal member by member in document order: the usual pair needs no sorting.
	case na.kind == kindObject:
		c.object(a, b, mask, depth)
	case na.kind == kindArray:
		c.array(a, b, mask, depth)
	}
}

// same reports whether containers a and b are equal with their members paired in
// document order: the keys of objects alike and in the same order, and each value
// the same or ignored. It finds nothing and stops at the first member it cannot pair
// or that differs; false only says that value must walk them (sorting the keys, and
// placing the differences in their order), which then finds whether they differ.
// Each level of a walk may call it again on its subtree, up to the first member that
// differs: at most maxCompareDepth passes over that part.
func (c *jsonComparer) same(a, b int32, mask uint64, depth int) bool {
	na, nb := &c.a.nodes[a], &c.b.nodes[b]
	if na.kind != nb.kind || (na.kind != kindObject && na.kind != kindArray) {
		return false
	}
	object := na.kind == kindObject
	i, j, index := a+1, b+1, 0
	for ; i < na.next && j < nb.next; i, j, index = c.a.nodes[i].next, c.b.nodes[j].next, index+1 {
		var key []byte
		if object {
			if key = c.a.key(i); !Equal(key, c.b.key(j)) {
				return false
			}
		}
		m := mask
		if m != 0 {
			var ignored bool
			idx := index
			if object {
				idx = -1
			}
			if m, ignored = descend(c.ignore, m, depth, text.InPlace(key), idx); ignored {
				continue
			}
		}
		if !c.sameValue(i, j, m, depth+1) {
			return false
		}
	}
	return i == na.next && j == nb.next
}

// sameRaw reports whether nodes a and b have the same text. Text at the same place
// in both bodies is compared only past their common prefix.
func (c *jsonComparer) sameRaw(a, b int32) bool {
	na, nb := &c.a.nodes[a], &c.b.nodes[b]
	if na.end-na.start != nb.end-nb.start {
		return false
	}
	from := na.start
	if na.start == nb.start {
		from = max(from, min(int32(c.common), na.end))
	}
	return Equal(c.a.data[from:na.end], c.b.data[from-na.start+nb.start:nb.end])
}

// sameValue is value that only tells whether a and b are equal, as same does.
func (c *jsonComparer) sameValue(a, b int32, mask uint64, depth int) bool {
	na, nb := &c.a.nodes[a], &c.b.nodes[b]
	switch {
	case c.sameRaw(a, b):
		return true
	case na.kind != nb.kind:
		return false
	case na.kind == kindNumber:
		return numbersEqual(text.InPlace(c.a.raw(a)), text.InPlace(c.b.raw(b)))
	case na.kind == kindString:
		return c.sameString(a, b)
	}
	return c.same(a, b, mask, depth)
}

// sameString reports whether string nodes a and b, whose texts differ, hold the same
// string.
func (c *jsonComparer) sameString(a, b int32) bool {
	// Texts that differ without escapes are different strings.
	if !c.a.nodes[a].escaped && !c.b.nodes[b].escaped {
		return false
	}
	c.strA = unescapeJSON(c.strA[:0], c.a.inner(a))
	c.strB = unescapeJSON(c.strB[:0], c.b.inner(b))
	return Equal(c.strA, c.strB)
}

// push pushes the members of node n of d onto c.members.
func (c *jsonComparer) push(d *jsonDoc, n int32) {
	for m, end := n+1, d.nodes[n].next; m < end; m = d.nodes[m].next {
		if k := len(c.members); k < cap(c.members) {
			c.members = c.members[:k+1] // without a call to the runtime's append
			c.members[k] = m
		} else {
			c.members = append(c.members, m)
		}
	}
}

// pushBoth pushes the members of node a of c.a, then of node b of c.b, and returns
// both runs and where they start, for the caller to pop.
func (c *jsonComparer) pushBoth(a, b int32) (as, bs []int32, start int) {
	start = len(c.members)
	c.push(&c.a, a)
	mid := len(c.members)
	c.push(&c.b, b)
	return c.members[start:mid], c.members[mid:], start
}

func (c *jsonComparer) object(a, b int32, mask uint64, depth int) {
	// Sorted by key, both sides merge in one pass whatever their order; a stable
	// sort keeps repeated keys in document order.
	as, bs, start := c.pushBoth(a, b)
	c.scratch = c.a.sortByKey(as, c.scratch)
	c.scratch = c.b.sortByKey(bs, c.scratch)
	for i, j := 0, 0; (i < len(as) || j < len(bs)) && !c.full(); {
		order := 0
		switch {
		case j == len(bs):
			order = -1
		case i == len(as):
			order = 1
		default:
			order = compareBytes(c.a.key(as[i]), c.b.key(bs[j]))
		}
		switch {
		case order < 0:
			c.member(c.a.key(as[i]), -1, as[i], -1, diff.Missing, mask, depth)
			i++
		case order > 0:
			if !c.allowExtra {
				c.member(c.b.key(bs[j]), -1, -1, bs[j], diff.Extra, mask, depth)
			}
			j++
		default:
			if !c.sameRaw(as[i], bs[j]) { // a member written alike has no difference to place
				c.member(c.a.key(as[i]), -1, as[i], bs[j], diff.Changed, mask, depth)
			}
			i, j = i+1, j+1
		}
	}
	c.members = c.members[:start]
}

func (c *jsonComparer) array(a, b int32, mask uint64, depth int) {
	as, bs, start := c.pushBoth(a, b)
	for i := 0; i < max(len(as), len(bs)) && !c.full(); i++ {
		switch {
		case i >= len(bs):
			c.member(nil, i, as[i], -1, diff.Missing, mask, depth)
		case i >= len(as):
			c.member(nil, i, -1, bs[i], diff.Extra, mask, depth)
		case !c.sameRaw(as[i], bs[i]): // a member written alike has no difference to place
			c.member(nil, i, as[i], bs[i], diff.Changed, mask, depth)
		}
	}
	c.members = c.members[:start]
}

// member compares the member at key (or array index, when index >= 0) of both sides,
// nodes a and b; kind is Missing or Extra when only one side has it.
func (c *jsonComparer) member(key []byte, index int, a, b int32, kind diff.Kind, mask uint64, depth int) {
	mask, ignored := descend(c.ignore, mask, depth, text.InPlace(key), index)
	if ignored {
		return
	}
	n, np := len(c.path), len(c.pattern)
	if n > 0 {
		c.path = append(c.path, '.')
		c.pattern = append(c.pattern, '.')
	}
	if index >= 0 {
		c.path = strconv.AppendInt(c.path, int64(index), 10)
		c.pattern = append(c.pattern, '#')
	} else {
		c.path = appendKey(c.path, key)
		c.pattern = appendKey(c.pattern, key)
	}
	if kind == diff.Changed {
		c.value(a, b, mask, depth+1)
	} else {
		c.differ(kind, a, b)
	}
	c.path, c.pattern = c.path[:n], c.pattern[:np]
}

// descend returns the ignore paths that still match once the path goes on with key
// (or index), and whether one of them ends there: the member is ignored.
func descend(ignore []IgnorePath, mask uint64, depth int, key string, index int) (uint64, bool) {
	var next uint64
	for i := 0; mask != 0; i, mask = i+1, mask>>1 {
		if mask&1 == 0 {
			continue
		}
		ip := &ignore[i]
		if depth >= len(ip.Segments) || !segmentMatches(ip.Segments[depth], ip.Wild[depth], key, index) {
			continue
		}
		if depth+1 == len(ip.Segments) {
			return 0, true
		}
		next |= 1 << i
	}
	return next, false
}

// segmentMatches reports whether one segment of an ignore path matches a key or an
// array index: # any index, * any key, and a literal its key or the index it spells.
func segmentMatches(seg string, wild bool, key string, index int) bool {
	switch {
	case wild:
		return (seg == "#") == (index >= 0)
	case index >= 0:
		n, err := strconv.Atoi(seg)
		return err == nil && n == index && seg[0] != '+' && (seg == "0" || seg[0] != '0')
	}
	return seg == key
}

// appendKey appends an object key as a path segment, with the characters that the
// path syntax uses escaped.
func appendKey(path, key []byte) []byte {
	plain := true
	for _, c := range key {
		plain = plain && c != '.' && c != '#' && c != '*' && c != '\\'
	}
	if plain {
		return append(path, key...) // one call to the runtime's append, not one a byte
	}
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '.', '#', '*', '\\':
			path = append(path, '\\')
		}
		path = append(path, key[i])
	}
	return path
}

// numbersEqual reports whether two JSON number literals have the same value, exactly,
// in decimal, whatever the size of their exponents: 1, 1.0, 1e0 and 10e-1 are equal,
// and so are 0 and -0; 1e400 and 1e401 are not.
func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, y := parseDecimal(a), parseDecimal(b)
	if x.zero() || y.zero() {
		return x.zero() && y.zero()
	}
	if x.neg != y.neg {
		return false
	}
	if x.hugeExp == "" && y.hugeExp == "" {
		if x.exp != y.exp { // every exponent a service writes: no call
			return false
		}
	} else if !exponentsEqual(x, y) {
		return false
	}
	// The significant digits, the decimal point skipped.
	i, j := x.first, y.first
	for {
		for i <= x.last && x.mant[i] == '.' {
			i++
		}
		for j <= y.last && y.mant[j] == '.' {
			j++
		}
		switch {
		case i > x.last || j > y.last:
			return i > x.last && j > y.last
		case x.mant[i] != y.mant[j]:
			return false
		}
		i, j = i+1, j+1
	}
}

// decimal is a JSON number as sign, significant digits and exponent.
type decimal struct {
	neg bool
	// hugeNeg is the sign of hugeExp.
	hugeNeg bool
	// mant is the literal's digits and point; first and last index its first and last
	// non-zero digits (first is -1 for zero).
	mant        string
	first, last int
	// exp is the power of ten of the first significant digit; for a huge exponent
	// only the mantissa's part of it, the rest in hugeExp.
	exp int64
	// hugeExp is the digits of an exponent of more than maxExpDigits digits, past its
	// leading zeros: the exponent is exp + hugeExp, or exp - hugeExp with hugeNeg.
	hugeExp string
}

func (d *decimal) zero() bool { return d.first < 0 }

// maxExpDigits is the most digits of an exponent read into an int64 (with the
// mantissa's part, under 2^31, it cannot overflow); longer ones, which only a
// body written to test it has, are compared as digits by exponentsEqual.
const maxExpDigits = 18

// parseDecimal reads a JSON number literal, which the scanner has validated.
func parseDecimal(s string) decimal {
	d := decimal{first: -1}
	if strings.HasPrefix(s, "-") {
		d.neg, s = true, s[1:]
	}
	// One pass over the mantissa finds the point, the exponent's start and the
	// significant digits: TinyGo's strings.IndexAny goes rune by rune.
	mant, expText, point := s, "", -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '1' && c <= '9':
			if d.first < 0 {
				d.first = i
			}
			d.last = i
		case c == '.':
			point = i
		case c == 'e' || c == 'E':
			mant, expText = s[:i], s[i+1:]
			i = len(s)
		}
	}
	d.mant = mant
	if point < 0 {
		point = len(mant)
	}
	if d.first < 0 {
		return d
	}
	if d.first < point {
		d.exp = int64(point - d.first - 1)
	} else {
		d.exp = int64(point - d.first)
	}
	if expText == "" {
		return d
	}
	neg := expText[0] == '-'
	if expText[0] == '-' || expText[0] == '+' {
		expText = expText[1:]
	}
	for len(expText) > 1 && expText[0] == '0' {
		expText = expText[1:]
	}
	if len(expText) > maxExpDigits {
		d.hugeExp, d.hugeNeg = expText, neg
		return d
	}
	var e int64
	for i := 0; i < len(expText); i++ {
		e = e*10 + int64(expText[i]-'0')
	}
	if neg {
		e = -e
	}
	d.exp += e
	return d
}

// exponentsEqual reports whether x and y, both non-zero and one at least with a huge
// exponent, have the same exponent, exactly. A huge exponent is at least 10^18, more than any int64 part can make up
// but another int64 exponent: each case is worked out in digits, without a copy.
//
// x and y come by value: the address of a local makes TinyGo allocate it on the heap,
// for every number compared, huge or not.
func exponentsEqual(x, y decimal) bool {
	if x.hugeExp == "" {
		x, y = y, x // x is huge, y may be
	}
	if y.hugeExp == "" {
		// x.exp +- x.hugeExp = y.exp: x.hugeExp must be the difference, with its sign.
		k := y.exp - x.exp
		if k == 0 || (k < 0) != x.hugeNeg {
			return false
		}
		if k < 0 {
			k = -k
		}
		return digitsSum(x.hugeExp, "", uint64(k))
	}
	if x.hugeNeg != y.hugeNeg {
		return false // they are at least 2*10^18 apart, the mantissas' parts under 2^32
	}
	// x.exp + s*X = y.exp + s*Y, so X - Y = s*(y.exp - x.exp).
	m := y.exp - x.exp
	if x.hugeNeg {
		m = -m
	}
	if m >= 0 {
		return digitsSum(x.hugeExp, y.hugeExp, uint64(m))
	}
	return digitsSum(y.hugeExp, x.hugeExp, uint64(-m))
}

// digitsSum reports whether the decimal digits a spell b + m, both without leading
// zeros ("" is 0), adding from the last digit.
func digitsSum(a, b string, m uint64) bool {
	i, j, carry := len(a)-1, len(b)-1, m
	for i >= 0 || j >= 0 || carry > 0 {
		if j >= 0 {
			carry += uint64(b[j] - '0')
			j--
		}
		if i < 0 || uint64(a[i]-'0') != carry%10 {
			return false
		}
		carry /= 10
		i--
	}
	return true
}
