package jsoncmp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/internal/text"

	"github.com/tidwall/gjson"
)

// The comparer before the scanner of jsonscan.go, on gjson, kept as the reference
// that FuzzCompareScanner checks the scanner against: the same differences, in
// the same order.

// refCompareJSONExtra is compareJSON; with allowExtra, a key that only the shadow's
// object has is no difference.
func refCompareJSONExtra(a, b []byte, ignore []IgnorePath, values, allowExtra bool, out []diff.Difference) []diff.Difference {
	if bytes.Equal(a, b) {
		return out // the same bytes are the same value, or the same non-JSON
	}
	okA, okB := refJSONWithin(a), refJSONWithin(b)
	if !okA || !okB {
		if okA != okB || !bytes.Equal(a, b) {
			out = append(out, diff.Whole(a, b, values))
		}
		return out
	}
	c := refComparer{ignore: ignore, values: values, allowExtra: allowExtra, diffs: out, limit: max(diff.MaxDifferences, len(out)+1)}
	// Parsed in place: gjson.ParseBytes would copy both bodies. Nothing keeps a
	// string of the walk (cut copies the values a difference keeps).
	c.value(gjson.Parse(text.InPlace(a)), gjson.Parse(text.InPlace(b)), 1<<len(ignore)-1, 0)
	return c.diffs
}

// refJSONWithin reports whether data is JSON within the depth a comparison takes.
func refJSONWithin(data []byte) bool {
	if _, ok := DepthWithin(data, MaxDepth); !ok {
		return false
	}
	return gjson.ValidBytes(data)
}

// refComparer walks two JSON values side by side.
type refComparer struct {
	ignore     []IgnorePath
	values     bool
	allowExtra bool
	diffs      []diff.Difference
	limit      int
	// members is a stack of the members of the objects and arrays being compared,
	// each level's above its parent's: one buffer for the whole walk.
	members []refMember
	// path is the current place, formatted as Difference.Where; pattern the same
	// with array indexes written #, as noise is learned by.
	path, pattern []byte
}

type refMember struct {
	key   string
	value gjson.Result
}

func (c *refComparer) full() bool { return len(c.diffs) >= c.limit }

func (c *refComparer) differ(kind diff.Kind, a, b gjson.Result) {
	if c.full() {
		return
	}
	d := diff.Difference{Part: diff.PartBody, Kind: kind, Where: string(c.path), Hash: diff.BodyPlace}
	if len(c.pattern) > 0 {
		d.Hash = text.FNV1a(diff.BodyPlacePrefix, c.pattern)
	}
	if c.values {
		d.Primary, d.Shadow = diff.Cut(a.Raw), diff.Cut(b.Raw)
	}
	c.diffs = append(c.diffs, d)
}

// jsonKind tells JSON values apart by type; true and false are kinds of their own.
func refKind(v gjson.Result) byte {
	if v.Type == gjson.JSON && len(v.Raw) > 0 {
		return v.Raw[0] // '{' or '['
	}
	return byte(v.Type)
}

// value compares a and b, found at c.path; mask has a bit for each ignore path that
// matches the path so far, depth is the number of keys in it.
func (c *refComparer) value(a, b gjson.Result, mask uint64, depth int) {
	ka, kb := refKind(a), refKind(b)
	switch {
	case len(a.Raw) == len(b.Raw) && a.Raw == b.Raw:
		// The same text is the same value: a subtree both sides wrote alike is not walked.
	case c.full():
	case ka != kb:
		c.differ(diff.Changed, a, b)
	case a.Type == gjson.Number:
		if !numbersEqual(a.Raw, b.Raw) {
			c.differ(diff.Changed, a, b)
		}
	case a.Type == gjson.String:
		if a.Raw != b.Raw && refString(a.Raw) != refString(b.Raw) {
			c.differ(diff.Changed, a, b)
		}
	case ka == '{':
		c.object(a, b, mask, depth)
	case ka == '[':
		c.array(a, b, mask, depth)
	}
}

func (c *refComparer) object(a, b gjson.Result, mask uint64, depth int) {
	start := len(c.members)
	collect := func(k, v gjson.Result) bool {
		c.members = append(c.members, refMember{key: refString(k.Raw), value: v})
		return true
	}
	a.ForEach(collect)
	mid := len(c.members)
	b.ForEach(collect)
	end := len(c.members)
	// Sorted by key, both sides merge in one pass whatever their order; a stable
	// sort keeps repeated keys in document order.
	byKey := func(x, y refMember) int { return strings.Compare(x.key, y.key) }
	as, bs := c.members[start:mid], c.members[mid:end]
	slices.SortStableFunc(as, byKey)
	slices.SortStableFunc(bs, byKey)
	for i, j := 0, 0; (i < len(as) || j < len(bs)) && !c.full(); {
		switch {
		case j == len(bs) || i < len(as) && as[i].key < bs[j].key:
			c.member(as[i].key, -1, as[i].value, gjson.Result{}, diff.Missing, mask, depth)
			i++
		case i == len(as) || bs[j].key < as[i].key:
			if !c.allowExtra {
				c.member(bs[j].key, -1, gjson.Result{}, bs[j].value, diff.Extra, mask, depth)
			}
			j++
		default:
			c.member(as[i].key, -1, as[i].value, bs[j].value, diff.Changed, mask, depth)
			i, j = i+1, j+1
		}
	}
	clear(c.members[start:end]) // let go of the bodies' text
	c.members = c.members[:start]
}

func (c *refComparer) array(a, b gjson.Result, mask uint64, depth int) {
	start := len(c.members)
	collect := func(_, v gjson.Result) bool {
		c.members = append(c.members, refMember{value: v})
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
			c.member("", i, as[i].value, gjson.Result{}, diff.Missing, mask, depth)
		case i >= len(as):
			c.member("", i, gjson.Result{}, bs[i].value, diff.Extra, mask, depth)
		default:
			c.member("", i, as[i].value, bs[i].value, diff.Changed, mask, depth)
		}
	}
	clear(c.members[start:end])
	c.members = c.members[:start]
}

// member compares the member at key (or array index, when index >= 0) of both sides;
// kind is Missing or Extra when only one side has it.
func (c *refComparer) member(key string, index int, a, b gjson.Result, kind diff.Kind, mask uint64, depth int) {
	mask, ignored := descend(c.ignore, mask, depth, key, index)
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
		c.path = appendKey(c.path, []byte(key))
		c.pattern = appendKey(c.pattern, []byte(key))
	}
	if kind == diff.Changed {
		c.value(a, b, mask, depth+1)
	} else {
		c.differ(kind, a, b)
	}
	c.path, c.pattern = c.path[:n], c.pattern[:np]
}

// refString is the string a JSON string literal (quotes included) denotes: its
// escapes decoded by encoding/json, a run at a time (gjson's Str decodes a lone
// surrogate otherwise), and bytes that are not UTF-8 kept as they are, as the
// comparer keeps them (encoding/json would make each U+FFFD).
func refString(raw string) string {
	var b strings.Builder
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '\\' {
			if s[j+1] == 'u' {
				j += 6
			} else {
				j += 2
			}
		}
		var v string
		if err := json.Unmarshal([]byte(`"`+s[i:j]+`"`), &v); err != nil {
			panic(fmt.Sprintf("refString(%q): %v", raw, err)) // gjson.Valid took it
		}
		b.WriteString(v)
		i = j
	}
	return b.String()
}
