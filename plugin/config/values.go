package config

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
)

// The parser's readers of typed values, each reporting a problem with its path, and
// the checks of names and formats done by hand (FACTS.md: a regexp for them can
// overflow the module's stack).

// object checks that v is an object without unknown or repeated keys and returns its
// members by key.
func (p *parser) object(path string, v jsoncmp.Value, known []string) (map[string]jsoncmp.Value, bool) {
	if !v.IsObject() {
		p.addf(path, "must be an object, got %s", describe(v))
		return nil, false
	}
	fields := map[string]jsoncmp.Value{}
	v.ForEach(func(k string, value jsoncmp.Value) bool {
		switch {
		case !contains(known, k):
			msg := text.Sprintf("unknown key %q", k)
			if near := nearest(k, known); near != "" {
				msg += text.Sprintf(" (did you mean %q?)", near)
			}
			p.addf(path, "%s", msg)
		case fieldSeen(fields, k):
			p.addf(path, "key %q appears twice", k)
		default:
			fields[k] = value
		}
		return true
	})
	return fields, true
}

func fieldSeen(fields map[string]jsoncmp.Value, k string) bool {
	_, ok := fields[k]
	return ok
}

func (p *parser) exactlyOne(path string, f map[string]jsoncmp.Value, keys []string) bool {
	var set []string
	for _, k := range keys {
		if _, ok := f[k]; ok {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		p.addf(path, "needs exactly one of %s, got %d", strings.Join(keys, ", "), len(set))
		return false
	}
	return true
}

func (p *parser) array(path string, v jsoncmp.Value, each func(path string, v jsoncmp.Value)) {
	if !v.IsArray() {
		p.addf(path, "must be an array, got %s", describe(v))
		return
	}
	for i, item := range v.Array() {
		each(path+"["+strconv.Itoa(i)+"]", item)
	}
}

func (p *parser) str(path string, v jsoncmp.Value) (string, bool) {
	if !v.IsString() {
		p.addf(path, "must be a string, got %s", describe(v))
		return "", false
	}
	return v.Str(), true
}

func (p *parser) boolean(path string, v jsoncmp.Value) (bool, bool) {
	if !v.IsBool() {
		p.addf(path, "must be true or false, got %s", describe(v))
		return false, false
	}
	return v.Bool(), true
}

// unbounded as number's max lets any finite number at least min through.
const unbounded = math.MaxInt64

// number reads a finite number within [min, max]. The bounds are whole numbers, which
// the messages print as integers.
func (p *parser) number(path string, v jsoncmp.Value, min, max int64) (float64, bool) {
	if !v.IsNumber() {
		p.addf(path, "must be a number, got %s", describe(v))
		return 0, false
	}
	num := parseNumber(v.Raw())
	if num < float64(min) || (max != unbounded && num > float64(max)) || math.IsInf(num, 0) {
		if max == unbounded {
			p.addf(path, "must be at least %d, got %s", min, v.Raw())
		} else {
			p.addf(path, "must be between %d and %d, got %s", min, max, v.Raw())
		}
		return 0, false
	}
	return num, true
}

func (p *parser) integer(path string, v jsoncmp.Value, min, max int64) (int64, bool) {
	if v.IsNumber() {
		if num := parseNumber(v.Raw()); num != math.Trunc(num) {
			p.addf(path, "must be a whole number, got %s", v.Raw())
			return 0, false
		}
	}
	n, ok := p.number(path, v, min, max)
	return int64(n), ok
}

func (p *parser) headerName(path string, v jsoncmp.Value) (string, bool) {
	s, ok := p.str(path, v)
	if !ok {
		return "", false
	}
	return p.headerNameOf(path, s)
}

// headerNameOf checks that s is a header name (a key, or a string's value) and
// returns it in lower case.
func (p *parser) headerNameOf(path, s string) (string, bool) {
	if !validToken(strings.TrimPrefix(s, ":")) {
		p.addf(path, "must be a header name (letters, digits and !#$%%&'*+-.^_`|~), got %q", s)
		return "", false
	}
	return strings.ToLower(s), true
}

func (p *parser) headerValue(path string, v jsoncmp.Value, emptyOK bool) (string, bool) {
	s, ok := p.str(path, v)
	if !ok {
		return "", false
	}
	if !emptyOK && s == "" {
		p.addf(path, "must not be empty")
		return "", false
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		p.addf(path, "must not contain CR, LF or NUL, got %q", s)
		return "", false
	}
	return s, true
}

// regex compiles an RE2 pattern that must match the whole value, as in Envoy and Istio.
func (p *parser) regex(path, pattern string) (*regexp.Regexp, bool) {
	if err := checkRegexSize(pattern); err != nil {
		p.addf(path, "%v", err)
		return nil, false
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		p.addf(path, "not a valid RE2 regex %q: %v", pattern, err)
		return nil, false
	}
	return re, true
}

// describe names a JSON value's type, with the value, for error messages.
func describe(v jsoncmp.Value) string {
	raw := v.Raw()
	if len(raw) > 40 {
		raw = raw[:37] + "..."
	}
	switch {
	case v.IsString():
		return "string " + raw
	case v.IsNumber():
		return "number " + raw
	case v.IsBool():
		return raw
	case v.IsNull():
		return "null"
	case v.IsArray():
		return "an array"
	default:
		return "an object"
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest returns the known key closest to k, if it is close enough to be a typo.
func nearest(k string, known []string) string {
	best, bestDist := "", 1+len(k)/3
	if bestDist < 3 {
		bestDist = 3
	}
	lk := strings.ToLower(k)
	for _, cand := range known {
		lc := strings.ToLower(cand)
		d := editDistance(lk, lc)
		if strings.HasPrefix(lc, lk) || strings.HasPrefix(lk, lc) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validName reports whether s matches ^[a-z0-9][a-z0-9_-]{0,62}$, checked by hand
// because that regex alone would overflow the module's stack (FACTS.md).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validToken reports whether s is a non-empty RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validFQDN reports whether s is a dotted DNS name.
func validFQDN(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
