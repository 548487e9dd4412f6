package mirror

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Limits of a comparison.
const (
	// MaxDifferences is the most differences a comparison locates; it stops looking
	// once it has found them.
	MaxDifferences = 16
	// MaxValueBytes is the most bytes of a value that logs and reports show.
	MaxValueBytes = 64
	// maxCompareDepth bounds the nesting of a body compared as JSON, checked before
	// gjson reads it: gjson and the comparison recurse per level, and about 10,000
	// levels overflow the module's 64 KiB stack (FACTS.md). Deeper bodies are
	// compared byte for byte.
	maxCompareDepth = 64
)

// Part is the part of an answer a Difference is in.
type Part uint8

// The parts of an answer.
const (
	PartStatus Part = iota
	PartHeader
	PartBody
)

var partNames = [...]string{"status", "header", "body"}

// String is "status", "header" or "body".
func (p Part) String() string { return partNames[p] }

// DiffKind says how the two sides differ at one place.
type DiffKind uint8

// The kinds of differences.
const (
	// Changed: both sides have a value there, and they differ.
	Changed DiffKind = iota
	// Missing: only the primary has a value there.
	Missing
	// Extra: only the shadow has a value there.
	Extra
)

var kindNames = [...]string{"changed", "missing", "extra"}

// String is "changed", "missing" or "extra".
func (k DiffKind) String() string { return kindNames[k] }

// Difference is one place where the shadow's answer differs from the primary's.
type Difference struct {
	Part Part
	Kind DiffKind
	// Where is the header's name for PartHeader, and for PartBody the JSON path of
	// the value (items.3.price: keys joined by dots, array indexes as numbers, a dot,
	// # or * inside a key escaped with a backslash); empty for the status and for
	// a body compared as a whole.
	Where string
	// Primary and Shadow are the values, cut to MaxValueBytes: a header's value, a
	// status, or the JSON text of a body's value. Filled only with
	// compare.includeValues; empty for a side that has no value there.
	Primary, Shadow string
	// Noise says that the difference is noise: the baseline, a second instance of the
	// primary's version, differs there too (SPEC.md, "Noise").
	Noise bool
	// place is the hash of the place as noise is learned by: the part, and the JSON
	// path with array indexes written # (body items.#.price).
	place uint64
}

// placeOf hashes a place that is not in a JSON body: "status", "header <name>", or
// "body" for a body compared as a whole.
func placeOf(part Part, where string) uint64 {
	h := fnv1aString(fnvOffset, part.String())
	if where != "" {
		h = fnv1aString(fnv1aString(h, " "), where)
	}
	return h
}

// Place is where the difference is, as logs show it: "status", "header
// content-type", "body items.3.price", or "body" for a body as a whole.
func (d *Difference) Place() string {
	if d.Where == "" {
		return d.Part.String()
	}
	return d.Part.String() + " " + d.Where
}

// The hashes of a whole body's place, and of "body " that begins a JSON path's.
var (
	bodyPlace       = placeOf(PartBody, "")
	bodyPlacePrefix = fnv1aString(fnvOffset, "body ")
	statusPlace     = placeOf(PartStatus, "")
)

// isJSONType reports whether a content type is JSON: application/json or a
// structured syntax suffix +json, parameters aside.
func isJSONType(contentType string) bool {
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
func compareJSON(a, b []byte, ignore []IgnorePath, values bool, out []Difference) []Difference {
	return compareJSONExtra(a, b, ignore, values, false, out)
}

// compareJSONExtra is compareJSON; with allowExtra, a key that only the shadow's
// object has is no difference.
func compareJSONExtra(a, b []byte, ignore []IgnorePath, values, allowExtra bool, out []Difference) []Difference {
	if bytes.Equal(a, b) {
		return out // the same bytes are the same value, or the same non-JSON
	}
	okA, okB := jsonWithin(a), jsonWithin(b)
	if !okA || !okB {
		if okA != okB || !bytes.Equal(a, b) {
			out = append(out, bodyDifference(a, b, values))
		}
		return out
	}
	c := jsonComparer{ignore: ignore, values: values, allowExtra: allowExtra, diffs: out, limit: max(MaxDifferences, len(out)+1)}
	// Parsed in place: gjson.ParseBytes would copy both bodies. Nothing keeps a
	// string of the walk (cut copies the values a difference keeps).
	c.value(gjson.Parse(inPlace(a)), gjson.Parse(inPlace(b)), 1<<len(ignore)-1, 0)
	return c.diffs
}

// inPlace is the string of b's bytes, without a copy; b must not change while it is
// in use.
func inPlace(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// jsonWithin reports whether data is JSON within the depth a comparison takes.
func jsonWithin(data []byte) bool {
	if _, ok := depthWithin(data, maxCompareDepth); !ok {
		return false
	}
	return gjson.ValidBytes(data)
}

// bodyDifference is a difference of two bodies as a whole.
func bodyDifference(a, b []byte, values bool) Difference {
	d := Difference{Part: PartBody, place: bodyPlace}
	if values {
		d.Primary, d.Shadow = cut(inPlace(a)), cut(inPlace(b))
	}
	return d
}

// cut returns a copy of s shortened to MaxValueBytes, at a character boundary: a copy,
// so that a difference kept for a log or a report holds on to no body.
func cut(s string) string { return cutTo(s, MaxValueBytes) }

// cutTo returns a copy of s shortened to at most limit bytes, at a character
// boundary: never a string that shares the memory of s (a body, a header map).
func cutTo(s string, limit int) string {
	n := min(len(s), limit)
	for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}

// jsonComparer walks two JSON values side by side.
type jsonComparer struct {
	ignore     []IgnorePath
	values     bool
	allowExtra bool
	diffs      []Difference
	limit      int
	// members is a stack of the members of the objects and arrays being compared,
	// each level's above its parent's: one buffer for the whole walk.
	members []member
	// path is the current place, formatted as Difference.Where; pattern the same
	// with array indexes written #, as noise is learned by.
	path, pattern []byte
}

type member struct {
	key   string
	value gjson.Result
}

func (c *jsonComparer) full() bool { return len(c.diffs) >= c.limit }

func (c *jsonComparer) differ(kind DiffKind, a, b gjson.Result) {
	if c.full() {
		return
	}
	d := Difference{Part: PartBody, Kind: kind, Where: string(c.path), place: bodyPlace}
	if len(c.pattern) > 0 {
		d.place = fnv1a(bodyPlacePrefix, c.pattern)
	}
	if c.values {
		d.Primary, d.Shadow = cut(a.Raw), cut(b.Raw)
	}
	c.diffs = append(c.diffs, d)
}

// jsonKind tells JSON values apart by type; true and false are kinds of their own.
func jsonKind(v gjson.Result) byte {
	if v.Type == gjson.JSON && len(v.Raw) > 0 {
		return v.Raw[0] // '{' or '['
	}
	return byte(v.Type)
}

// value compares a and b, found at c.path; mask has a bit for each ignore path that
// matches the path so far, depth is the number of keys in it.
func (c *jsonComparer) value(a, b gjson.Result, mask uint64, depth int) {
	ka, kb := jsonKind(a), jsonKind(b)
	switch {
	case len(a.Raw) == len(b.Raw) && a.Raw == b.Raw:
		// The same text is the same value: a subtree both sides wrote alike is not walked.
	case c.full():
	case ka != kb:
		c.differ(Changed, a, b)
	case a.Type == gjson.Number:
		if !numbersEqual(a.Raw, b.Raw) {
			c.differ(Changed, a, b)
		}
	case a.Type == gjson.String:
		if a.Raw != b.Raw && a.Str != b.Str {
			c.differ(Changed, a, b)
		}
	case ka == '{':
		c.object(a, b, mask, depth)
	case ka == '[':
		c.array(a, b, mask, depth)
	}
}

func (c *jsonComparer) object(a, b gjson.Result, mask uint64, depth int) {
	start := len(c.members)
	collect := func(k, v gjson.Result) bool {
		c.members = append(c.members, member{key: k.Str, value: v})
		return true
	}
	a.ForEach(collect)
	mid := len(c.members)
	b.ForEach(collect)
	end := len(c.members)
	// Sorted by key, both sides merge in one pass whatever their order; a stable
	// sort keeps repeated keys in document order.
	byKey := func(x, y member) int { return strings.Compare(x.key, y.key) }
	as, bs := c.members[start:mid], c.members[mid:end]
	slices.SortStableFunc(as, byKey)
	slices.SortStableFunc(bs, byKey)
	for i, j := 0, 0; (i < len(as) || j < len(bs)) && !c.full(); {
		switch {
		case j == len(bs) || i < len(as) && as[i].key < bs[j].key:
			c.member(as[i].key, -1, as[i].value, gjson.Result{}, Missing, mask, depth)
			i++
		case i == len(as) || bs[j].key < as[i].key:
			if !c.allowExtra {
				c.member(bs[j].key, -1, gjson.Result{}, bs[j].value, Extra, mask, depth)
			}
			j++
		default:
			c.member(as[i].key, -1, as[i].value, bs[j].value, Changed, mask, depth)
			i, j = i+1, j+1
		}
	}
	clear(c.members[start:end]) // let go of the bodies' text
	c.members = c.members[:start]
}

func (c *jsonComparer) array(a, b gjson.Result, mask uint64, depth int) {
	start := len(c.members)
	collect := func(_, v gjson.Result) bool {
		c.members = append(c.members, member{value: v})
		return true
	}
	a.ForEach(collect)
	mid := len(c.members)
	b.ForEach(collect)
	end := len(c.members)
	as, bs := c.members[start:mid], c.members[mid:end]
	for i := 0; i < max(len(as), len(bs)) && !c.full(); i++ {
		switch {
		case i >= len(bs):
			c.member("", i, as[i].value, gjson.Result{}, Missing, mask, depth)
		case i >= len(as):
			c.member("", i, gjson.Result{}, bs[i].value, Extra, mask, depth)
		default:
			c.member("", i, as[i].value, bs[i].value, Changed, mask, depth)
		}
	}
	clear(c.members[start:end])
	c.members = c.members[:start]
}

// member compares the member at key (or array index, when index >= 0) of both sides;
// kind is Missing or Extra when only one side has it.
func (c *jsonComparer) member(key string, index int, a, b gjson.Result, kind DiffKind, mask uint64, depth int) {
	mask, ignored := c.descend(mask, depth, key, index)
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
	if kind == Changed {
		c.value(a, b, mask, depth+1)
	} else {
		c.differ(kind, a, b)
	}
	c.path, c.pattern = c.path[:n], c.pattern[:np]
}

// descend returns the ignore paths that still match once the path goes on with key
// (or index), and whether one of them ends there: the member is ignored.
func (c *jsonComparer) descend(mask uint64, depth int, key string, index int) (uint64, bool) {
	var next uint64
	for i := 0; mask != 0; i, mask = i+1, mask>>1 {
		if mask&1 == 0 {
			continue
		}
		ip := &c.ignore[i]
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
func appendKey(path []byte, key string) []byte {
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
// in decimal: 1, 1.0, 1e0 and 10e-1 are equal, and so are 0 and -0.
func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, y := parseDecimal(a), parseDecimal(b)
	if x.zero() || y.zero() {
		return x.zero() && y.zero()
	}
	if x.neg != y.neg || x.exp != y.exp {
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
	// mant is the literal's digits and point; first and last index its first and last
	// non-zero digits (first is -1 for zero).
	mant        string
	first, last int
	// exp is the power of ten of the first significant digit.
	exp int64
}

func (d *decimal) zero() bool { return d.first < 0 }

// maxExponent saturates exponents: numbers beyond 10^±(1<<40) are not told apart.
const maxExponent = 1 << 40

// parseDecimal reads a JSON number literal, which gjson has validated.
func parseDecimal(s string) decimal {
	d := decimal{first: -1}
	if strings.HasPrefix(s, "-") {
		d.neg, s = true, s[1:]
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	d.mant = mant
	point := strings.IndexByte(mant, '.')
	if point < 0 {
		point = len(mant)
	}
	for i := 0; i < len(mant); i++ {
		if mant[i] >= '1' && mant[i] <= '9' {
			if d.first < 0 {
				d.first = i
			}
			d.last = i
		}
	}
	if d.first < 0 {
		return d
	}
	if d.first < point {
		d.exp = int64(point - d.first - 1)
	} else {
		d.exp = int64(point - d.first)
	}
	var e int64
	neg := false
	for i := 0; i < len(expText); i++ {
		switch ch := expText[i]; {
		case ch == '-':
			neg = true
		case ch >= '0' && ch <= '9':
			e = min(e*10+int64(ch-'0'), maxExponent)
		}
	}
	if neg {
		e = -e
	}
	d.exp += e
	return d
}
