package jsoncmp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONTestSuite (github.com/nst/JSONTestSuite, MIT, its LICENSE beside the files in
// testdata/JSONTestSuite): test_parsing's y_ files must be read as JSON, n_ files
// refused, and i_ files are for each parser to decide.

func suiteFiles(t *testing.T, prefix string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/JSONTestSuite/test_parsing/" + prefix + "*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s files of JSONTestSuite: %v", prefix, err)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = data
	}
	return files
}

// rewrite writes a value encoding/json read (numbers as json.Number) as another
// serializer might, the same value in other bytes: keys in reverse order, every
// character of a string escaped (surrogate pairs beyond the BMP), every number with
// its point moved (shiftPoint), and indented.
func rewrite(v any) []byte {
	var b bytes.Buffer
	var write func(v any, indent string)
	write = func(v any, indent string) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			slices.Reverse(keys)
			b.WriteString("{")
			for i, k := range keys {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString("\n" + indent + "  ")
				writeEscaped(&b, k)
				b.WriteString(" : ")
				write(x[k], indent+"  ")
			}
			b.WriteString("\n" + indent + "}")
		case []any:
			b.WriteString("[ ")
			for i, e := range x {
				if i > 0 {
					b.WriteString(" , ")
				}
				write(e, indent)
			}
			b.WriteString(" ]")
		case string:
			writeEscaped(&b, x)
		case json.Number:
			b.WriteString(shiftPoint(string(x)))
		default:
			out, _ := json.Marshal(x) // true, false, null
			b.Write(out)
		}
	}
	write(v, "")
	b.WriteString("\n")
	return b.Bytes()
}

// shiftPoint writes a number literal with its point before its first digit and the
// exponent made up for it, exactly at any size: 12.5e3 is 0.1250E5, 1e999 0.10E1000.
func shiftPoint(lit string) string {
	neg := strings.HasPrefix(lit, "-")
	mant, e, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(lit, "-")), "e")
	exp := new(big.Int)
	if e != "" {
		exp.SetString(strings.TrimPrefix(e, "+"), 10)
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	exp.Add(exp, big.NewInt(int64(len(intPart))))
	s := "0." + intPart + frac + "0E" + exp.String()
	if neg {
		s = "-" + s
	}
	return s
}

// writeEscaped writes s with every character as a \u escape.
func writeEscaped(b *bytes.Buffer, s string) {
	b.WriteString(`"`)
	for _, r := range s {
		if r > 0xffff {
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04X\u%04x`, hi, lo)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteString(`"`)
}

// changeOne changes one thing of a value read by encoding/json: its first scalar or
// empty container in document order (keys sorted) becomes another value.
func changeOne(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return map[string]any{"k": nil}, true
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		y := make(map[string]any, len(x))
		for k, e := range x {
			y[k] = e
		}
		y[keys[0]], _ = changeOne(x[keys[0]])
		return y, true
	case []any:
		if len(x) == 0 {
			return []any{nil}, true
		}
		y := slices.Clone(x)
		y[0], _ = changeOne(x[0])
		return y, true
	case string:
		return x + "x", true
	case json.Number:
		return string(x), true // a string now
	case bool:
		return !x, true
	case nil:
		return false, true
	}
	return nil, false
}

func equalJSON(a, b []byte) bool { return len(compareJSON(a, b, nil, false, nil)) == 0 }

// TestJSONTestSuite_y: every y_ file is JSON to the scanner, equals itself, equals
// itself written otherwise (rewrite), and differs once one value of it is changed.
func TestJSONTestSuite_y(t *testing.T) {
	for name, data := range suiteFiles(t, "y_") {
		var d jsonDoc
		if !d.scan(data) {
			t.Errorf("%s: not JSON to the scanner: %q", name, data)
			continue
		}
		if !equalJSON(data, data) {
			t.Errorf("%s: differs from itself", name)
		}
		v, ok := jsonStrings(data)
		if !ok {
			t.Errorf("%s: encoding/json cannot read it", name)
			continue
		}
		if hasRepeatedKey(data) {
			// encoding/json keeps the last of repeated keys, the comparer every one:
			// the rewrite would not be the same value.
			if w := []byte(" " + string(data) + "\n"); !equalJSON(data, w) || !equalJSON(w, data) {
				t.Errorf("%s: differs from itself with white space around", name)
			}
			continue
		}
		other := rewrite(v)
		if !equalJSON(data, other) || !equalJSON(other, data) {
			t.Errorf("%s: %q differs from %q, the same value written otherwise", name, data, other)
		}
		changed, _ := changeOne(v)
		for _, c := range [][]byte{rewrite(changed), mustMarshal(t, changed)} {
			if equalJSON(data, c) || equalJSON(c, data) {
				t.Errorf("%s: %q equals %q, one value changed", name, data, c)
			}
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJSONTestSuite_n: no n_ file is JSON to the scanner: each is compared byte for
// byte, without a panic (a trap, in the module), nested 100,000 levels deep too.
func TestJSONTestSuite_n(t *testing.T) {
	for name, data := range suiteFiles(t, "n_") {
		var d jsonDoc
		if d.scan(data) {
			t.Errorf("%s: JSON to the scanner: %q", name, data)
		}
		if !equalJSON(data, data) {
			t.Errorf("%s: differs from itself", name)
		}
		for _, other := range [][]byte{append(slices.Clone(data), ' '), append([]byte{' '}, data...)} {
			diffs := compareJSON(data, other, nil, true, nil)
			if len(diffs) != 1 || diffs[0].Where != "" {
				t.Errorf("%s: against %q, %+v; want one difference of the whole body", name, other, diffs)
			}
		}
	}
}

// TestJSONTestSuite_i: for each i_ file, the comparer finds it equal to its rewrite
// exactly when encoding/json finds their values equal (strings by the Go strings it
// decodes): lone surrogates are U+FFFD, and the escape after one is still read. A file
// the scanner does not take (UTF-16, a BOM, 500 levels deep) is compared byte for byte.
//
// One choice departs from encoding/json, on purpose: bytes that are not UTF-8 are kept
// as they are, not made U+FFFD, so that two different ones differ; a file with such
// bytes equals itself and differs from its rewrite with U+FFFD.
func TestJSONTestSuite_i(t *testing.T) {
	for name, data := range suiteFiles(t, "i_") {
		if !equalJSON(data, data) {
			t.Errorf("%s: differs from itself", name)
		}
		var d jsonDoc
		v, ok := jsonStrings(data)
		if !d.scan(data) || !ok {
			other := append(slices.Clone(data), ' ')
			if equalJSON(data, other) {
				t.Errorf("%s: not JSON to one of the readers, yet equals %q", name, other)
			}
			continue
		}
		other := rewrite(v)
		want := utf8.Valid(data) // U+FFFD in the rewrite for the bytes that are not
		if got := equalJSON(data, other); got != want || equalJSON(other, data) != want {
			t.Errorf("%s: %q against %q (encoding/json's reading, written otherwise): equal %v, want %v", name, data, other, got, want)
		}
	}
}
