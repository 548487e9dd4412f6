package jsoncmp

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Differential tests: the comparison against readers nobody here wrote, Go's
// encoding/json for strings and math/big for numbers (issue 25).

// refDecimal is a number literal as sign, significant digits and the exponent of
// the first one, in a big.Int so that any exponent is exact.
func refDecimal(s string) (neg bool, digits string, exp *big.Int) {
	neg = strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, e, _ := strings.Cut(strings.ToLower(s), "e")
	exp = new(big.Int)
	if e != "" {
		if _, ok := exp.SetString(strings.TrimPrefix(e, "+"), 10); !ok {
			panic("exponent " + e)
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	all := intPart + frac
	lead := len(all) - len(strings.TrimLeft(all, "0"))
	digits = strings.TrimRight(all[lead:], "0")
	if digits == "" {
		return false, "", new(big.Int) // every zero is one
	}
	// all = d1 d2 ...: the first significant digit is at 10^(len(intPart)-1-lead).
	return neg, digits, exp.Add(exp, big.NewInt(int64(len(intPart)-1-lead)))
}

func refNumbersEqual(a, b string) bool {
	na, da, ea := refDecimal(a)
	nb, db, eb := refDecimal(b)
	return na == nb && da == db && ea.Cmp(eb) == 0
}

// fuzzNumber makes a JSON number literal of the fuzzer's bytes: what JSON's grammar
// allows of them, with an exponent of any length.
func fuzzNumber(neg bool, intPart, frac, exp string, expSign byte) string {
	keep := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	intPart, frac, exp = keep(intPart), keep(frac), keep(exp)
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	s := intPart
	if neg {
		s = "-" + s
	}
	if frac != "" {
		s += "." + frac
	}
	if exp != "" {
		s += "e"
		switch expSign % 3 {
		case 1:
			s += "-"
		case 2:
			s += "+"
		}
		s += exp
	}
	return s
}

// FuzzNumbersEqual: numbersEqual says what exact arithmetic says, for exponents of
// any size (math/big.Int), and, for exponents small enough to write out, what
// big.Rat says of the values.
func FuzzNumbersEqual(f *testing.F) {
	for _, s := range [][8]string{
		{"1", "", "1099511627776", "", "1", "", "1099511627777", ""},
		{"10", "", "1099511627776", "", "1", "", "1099511627777", ""},
		{"1", "5", "3", "-", "15", "", "2", "-"},
		{"0", "0001", "", "", "1", "", "4", "-"},
		{"12345678901234567890", "", "", "", "1", "2345678901234567890", "19", ""},
		{"1", "", "1000000000000000000", "", "10", "", "999999999999999999", ""},
		{"1", "", "99999999999999999999999", "-", "100", "", "99999999999999999999997", "-"},
		{"0", "", "99999999999999999999", "", "0", "0", "0", "-"},
	} {
		f.Add(false, s[0], s[1], s[2], s[3] == "-", false, s[4], s[5], s[6], s[7] == "-")
	}
	f.Fuzz(func(t *testing.T, negA bool, intA, fracA, expA string, expNegA, negB bool, intB, fracB, expB string, expNegB bool) {
		sign := func(neg bool) byte {
			if neg {
				return 1
			}
			return 0
		}
		a := fuzzNumber(negA, intA, fracA, expA, sign(expNegA))
		b := fuzzNumber(negB, intB, fracB, expB, sign(expNegB))
		if len(a) > 512 || len(b) > 512 {
			return
		}
		if end, ok := scanNumber([]byte(a), 0); !ok || end != len(a) {
			t.Fatalf("fuzzNumber made %q, which is not a JSON number", a)
		}
		want := refNumbersEqual(a, b)
		if got := numbersEqual(a, b); got != want {
			t.Fatalf("numbersEqual(%s, %s) = %v, exact arithmetic says %v", a, b, got, want)
		}
		if got := numbersEqual(b, a); got != want {
			t.Fatalf("numbersEqual(%s, %s) = %v, exact arithmetic says %v", b, a, got, want)
		}
		// Small exponents: big.Rat writes the values out.
		if len(strings.TrimLeft(expA, "0")) <= 3 && len(strings.TrimLeft(expB, "0")) <= 3 {
			x, okx := new(big.Rat).SetString(a)
			y, oky := new(big.Rat).SetString(b)
			if !okx || !oky {
				t.Fatalf("big.Rat cannot read %s or %s", a, b)
			}
			if got, rat := numbersEqual(a, b), x.Cmp(y) == 0; got != rat {
				t.Fatalf("numbersEqual(%s, %s) = %v, big.Rat says %v", a, b, got, rat)
			}
		}
	})
}

// jsonStrings is what encoding/json reads of a JSON text: its value with the numbers
// kept as literals; false when it cannot read it.
func jsonStrings(data []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil || d.More() {
		return nil, false
	}
	if _, err := d.Token(); err == nil {
		return nil, false // more after the value
	}
	return v, true
}

// jsonEqual is equality of two values encoding/json read, numbers as exact decimals.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		return ok && refNumbersEqual(string(x), string(y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// hasRepeatedKey reports whether an object of data repeats a key, decoded: the
// comparer keeps every member, encoding/json the last.
func hasRepeatedKey(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next token of an object is a key
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].key {
			if k, ok := tok.(string); ok {
				if stack[top].keys[k] {
					return true
				}
				stack[top].keys[k] = true
				stack[top].key = false
				continue
			}
		}
		if top >= 0 && stack[top].object && tok != json.Delim('}') {
			stack[top].key = true // after this value, a key
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, object: true, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		}
	}
}

// FuzzCompareStrings: for two JSON texts that encoding/json reads, in valid UTF-8
// (encoding/json makes other bytes U+FFFD, the comparer keeps them) and without a
// repeated key (encoding/json keeps only the last), the comparer finds them equal
// exactly when encoding/json's values are, strings by the Go strings it decodes and
// numbers as exact decimals. Its seeds escape strings every way JSON can.
func FuzzCompareStrings(f *testing.F) {
	for _, s := range [][2]string{
		{`["\uD800\u0041"]`, `["\uD800\u0042"]`},
		{`{"\uDFAA":0}`, `{"\uDFAA\u005a":0}`},
		{`["\uD800\n"]`, `["\uD800\u000A"]`},
		{`["\ud800abc"]`, `["\ud800\u0061\u0062\u0063"]`},
		{`["\ud83d\ude00", "\ud83d"]`, `["😀", "\ufffd"]`},
		{`{"a\u00e9":"\/\b\f\n\r\t\"\\"}`, `{"aé":"/\u0008\u000c\u000a\u000d\u0009\u0022\u005c"}`},
		{`["\udc00\ud800\udc00"]`, `["\ufffd\ud800\udc00"]`},
		{`{"n":[1.0,1e2,-0]}`, `{"n":[1,100,0]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) > maxFuzzInput || len(b) > maxFuzzInput || !utf8.Valid(a) || !utf8.Valid(b) {
			return
		}
		va, okA := jsonStrings(a)
		vb, okB := jsonStrings(b)
		var da, db jsonDoc
		if !okA || !okB || !da.scan(a) || !db.scan(b) || hasRepeatedKey(a) || hasRepeatedKey(b) {
			return // not JSON to one of them: compared byte for byte, elsewhere
		}
		want := jsonEqual(va, vb)
		for _, p := range [][2][]byte{{a, b}, {b, a}} {
			if got := len(Compare(p[0], p[1], nil, false, false, nil)) == 0; got != want {
				t.Fatalf("Compare(%q, %q): equal %v, encoding/json's values say %v", p[0], p[1], got, want)
			}
		}
	})
}
