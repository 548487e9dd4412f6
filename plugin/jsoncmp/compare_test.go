package jsoncmp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/diff"
)

func ignorePaths(t *testing.T, paths ...string) []IgnorePath {
	t.Helper()
	var out []IgnorePath
	for _, p := range paths {
		ip, err := ParseIgnorePath(p)
		if err != "" {
			t.Fatalf("ignore path %q: %s", p, err)
		}
		out = append(out, ip)
	}
	return out
}

// places formats differences as "kind place" for comparison in tests.
func places(diffs []diff.Difference) string {
	var s []string
	for _, d := range diffs {
		s = append(s, d.Kind.String()+" "+d.Place())
	}
	return strings.Join(s, "; ")
}

func TestCompareJSON(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		ignore []string
		want   string // the differences, "" for equal
	}{
		{"identical", `{"a":1}`, `{"a":1}`, nil, ""},
		{"key order", `{"a":1,"b":[1,2],"c":{"x":null,"y":true}}`, `{"c":{"y":true,"x":null},"b":[1,2],"a":1}`, nil, ""},
		{"white space", "{\"a\" : [ 1 , 2 ] }\n", `{"a":[1,2]}`, nil, ""},
		{"number formats", `[1, 1.0, 1e0, 10e-1, 0.1e1, 100, 0, -0, 1.50, 2E+2]`, `[1e0, 1, 1.000, 1, 1, 1e2, -0.0, 0e5, 1.5, 200]`, nil, ""},
		{"large integers exact", `[12345678901234567890]`, `[12345678901234567891]`, nil, "changed body 0"},
		{"large integer other form", `[12345678901234567890]`, `[1.2345678901234567890e19]`, nil, ""},
		{"negative", `[-1]`, `[1]`, nil, "changed body 0"},
		{"tiny differences", `[0.1]`, `[0.10000000000000001]`, nil, "changed body 0"},
		{"huge exponents", `[1e999999999999999999999]`, `[1e999999999999999999999]`, nil, ""},
		{"string escapes", `{"s":"A\u00e9"}`, `{"s":"Aé"}`, nil, ""},
		{"escaped key", `{"\u0061":1}`, `{"a":1}`, nil, ""},
		{"string differs", `{"s":"a"}`, `{"s":"b"}`, nil, "changed body s"},
		{"type differs", `{"a":1}`, `{"a":"1"}`, nil, "changed body a"},
		{"true vs false", `{"a":true}`, `{"a":false}`, nil, "changed body a"},
		{"null vs missing", `{"a":null}`, `{}`, nil, "missing body a"},
		{"nested location", `{"items":[{"price":1},{"price":2},{"price":3},{"price":4}]}`,
			`{"items":[{"price":1},{"price":2},{"price":3},{"price":5}]}`, nil, "changed body items.3.price"},
		{"missing and extra keys", `{"a":1,"b":2}`, `{"b":2,"c":3}`, nil, "missing body a; extra body c"},
		{"array lengths", `[1,2,3]`, `[1]`, nil, "missing body 1; missing body 2"},
		{"array extra", `[1]`, `[1,2]`, nil, "extra body 1"},
		{"array order counts", `[1,2]`, `[2,1]`, nil, "changed body 0; changed body 1"},
		{"root type", `[1]`, `{"a":1}`, nil, "changed body"},
		{"root scalar", `1`, `2`, nil, "changed body"},
		{"key with dot escaped", `{"a.b":1}`, `{"a.b":2}`, nil, `changed body a\.b`},
		{"ignore key", `{"meta":{"requestId":"x","v":1}}`, `{"meta":{"requestId":"y","v":1}}`, []string{"meta.requestId"}, ""},
		{"ignore only that key", `{"meta":{"requestId":"x","v":1}}`, `{"meta":{"requestId":"y","v":2}}`, []string{"meta.requestId"}, "changed body meta.v"},
		{"ignore missing key", `{"ts":1}`, `{}`, []string{"ts"}, ""},
		{"ignore every element", `{"items":[{"at":1,"p":1},{"at":2,"p":2}]}`, `{"items":[{"at":3,"p":1},{"at":4,"p":3}]}`,
			[]string{"items.#.at"}, "changed body items.1.p"},
		{"ignore any key", `{"a":{"etag":1},"b":{"etag":2}}`, `{"a":{"etag":3},"b":{"etag":4}}`, []string{"*.etag"}, ""},
		{"# is not a key", `{"a":{"x":1}}`, `{"a":{"x":2}}`, []string{"#.x"}, "changed body a.x"},
		{"* is not an index", `[{"x":1}]`, `[{"x":2}]`, []string{"*.x"}, "changed body 0.x"},
		{"index literal", `[1,2]`, `[3,4]`, []string{"1"}, "changed body 0"},
		{"escaped dot in ignore", `{"a.b":1,"a":{"b":1}}`, `{"a.b":2,"a":{"b":2}}`, []string{`a\.b`}, "changed body a.b"},
		{"ignore a whole subtree", `{"debug":{"x":[1,2]},"v":1}`, `{"v":1}`, []string{"debug"}, ""},
		{"repeated keys in order", `{"a":1,"a":2}`, `{"a":1,"a":2}`, nil, ""},
		{"not JSON, same bytes", `<html>`, `<html>`, nil, ""},
		{"not JSON, other bytes", `<html>`, `<body>`, nil, "changed body"},
		{"one side not JSON", `{"a":1}`, `{"a":1`, nil, "changed body"},
		{"empty bodies", ``, ``, nil, ""},
		{"too deep, same bytes", strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat("[", 65) + strings.Repeat("]", 65), nil, ""},
		{"too deep, other bytes", strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat("[", 65) + " " + strings.Repeat("]", 65), nil, "changed body"},
		{"deep within the bound", strings.Repeat(`{"a":`, 63) + "1" + strings.Repeat("}", 63), strings.Repeat(`{"a":`, 63) + "2" + strings.Repeat("}", 63), nil,
			"changed body " + strings.TrimSuffix(strings.Repeat("a.", 63), ".")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := places(compareJSON([]byte(tc.a), []byte(tc.b), ignorePaths(t, tc.ignore...), false, nil))
			if got != tc.want {
				t.Errorf("compareJSON(%.80s, %.80s) = %q, want %q", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestCompareJSONValues(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	diffs := compareJSON([]byte(`{"p":9.99,"s":"`+long+`"}`), []byte(`{"p":10.99,"s":"x"}`), nil, true, nil)
	if len(diffs) != 2 {
		t.Fatalf("differences %v, want 2", diffs)
	}
	if d := diffs[0]; d.Where != "p" || d.Primary != "9.99" || d.Shadow != "10.99" {
		t.Errorf("first difference %+v, want p: 9.99 against 10.99", d)
	}
	if d := diffs[1]; len(d.Primary) > diff.MaxValueBytes || !strings.HasPrefix(`"`+long, d.Primary) || len(d.Primary) < diff.MaxValueBytes-1 {
		t.Errorf("long value cut to %d bytes %q, want at most %d on a character boundary", len(d.Primary), d.Primary, diff.MaxValueBytes)
	}
	if diffs := compareJSON([]byte(`{"p":1}`), []byte(`{"p":2}`), nil, false, nil); diffs[0].Primary != "" || diffs[0].Shadow != "" {
		t.Errorf("values without includeValues: %+v", diffs[0])
	}
}

// TestCompareJSONLimit: a comparison stops at MaxDifferences, so that a large
// array of changes costs no more than that.
func TestCompareJSONLimit(t *testing.T) {
	var a, b []string
	for i := range 1000 {
		a, b = append(a, fmt.Sprint(i)), append(b, fmt.Sprint(i+1))
	}
	diffs := compareJSON([]byte("["+strings.Join(a, ",")+"]"), []byte("["+strings.Join(b, ",")+"]"), nil, false, nil)
	if len(diffs) != diff.MaxDifferences || diffs[15].Where != "15" {
		t.Errorf("%d differences, last %+v; want %d, up to index 15", len(diffs), diffs[len(diffs)-1], diff.MaxDifferences)
	}
	// With the list full of earlier differences, one more still says the body differs.
	full := make([]diff.Difference, diff.MaxDifferences)
	if got := compareJSON([]byte(`[1]`), []byte(`[2]`), nil, false, full); len(got) != diff.MaxDifferences+1 {
		t.Errorf("with a full list, %d differences, want one more to tell the body differs", len(got))
	}
	if got := compareJSON([]byte(`[1]`), []byte(`[1]`), nil, false, full); len(got) != diff.MaxDifferences {
		t.Errorf("equal bodies added %d differences", len(got)-diff.MaxDifferences)
	}
}

func TestNumbersEqual(t *testing.T) {
	equal := [][2]string{{"1", "1.0"}, {"1", "1e0"}, {"0", "-0"}, {"0.0", "0e10"}, {"123.456", "1.23456e2"},
		{"-5e-3", "-0.005"}, {"100", "1E2"}, {"0.001", "1e-3"}, {"1e+2", "100.00"}}
	for _, p := range equal {
		if !numbersEqual(p[0], p[1]) || !numbersEqual(p[1], p[0]) {
			t.Errorf("numbersEqual(%s, %s) = false, want true", p[0], p[1])
		}
	}
	differ := [][2]string{{"1", "2"}, {"1", "-1"}, {"1", "10"}, {"0.1", "0.01"}, {"101", "11"}, {"1.5", "15"},
		{"0", "1e-400"}, {"9007199254740993", "9007199254740992"}}
	for _, p := range differ {
		if numbersEqual(p[0], p[1]) || numbersEqual(p[1], p[0]) {
			t.Errorf("numbersEqual(%s, %s) = true, want false", p[0], p[1])
		}
	}
}

func TestIsJSONType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON": true,
		"application/problem+json": true, "application/vnd.api+json;v=2": true, " application/json ": true,
		"text/json": false, "text/html": false, "": false, "application/jsonp": false, "application/x-ndjson": false,
	} {
		if got := IsJSONType(ct); got != want {
			t.Errorf("isJSONType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestCompareKeepsNoBody: the values a difference keeps are copies, short, of both
// bodies, so that a kept difference holds no body in memory.
func TestCompareKeepsNoBody(t *testing.T) {
	a := []byte(`{"b": 1, "pad": "` + strings.Repeat("x", 1<<16) + `"}`)
	b := []byte(`{"b": 2, "pad": "` + strings.Repeat("x", 1<<16) + `"}`)
	diffs := compareJSON(a, b, nil, true, nil)
	if len(diffs) != 1 || diffs[0].Primary != "1" || diffs[0].Shadow != "2" {
		t.Fatalf("differences %+v", diffs)
	}
	a[7] = '9' // the bodies change after the comparison: the difference does not
	if diffs[0].Primary != "1" {
		t.Errorf("the difference's value points into the body: %q", diffs[0].Primary)
	}
	whole := compareJSON([]byte("not json"+strings.Repeat("y", 100)), []byte("other"), nil, true, nil)
	if len(whole) != 1 || len(whole[0].Primary) > diff.MaxValueBytes {
		t.Errorf("a whole-body difference keeps %d bytes", len(whole[0].Primary))
	}
}

// comparePaths runs Compare on a pair both ways, and with a space before each side so
// that the texts part at their first byte: the walk over both sides' nodes, and the
// one-pass check of sameTexts, must say alike whether they are equal.
func comparePaths(t *testing.T, a, b string, want bool) {
	t.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}, {a, " " + b}, {" " + a, b}} {
		if got := len(compareJSON([]byte(p[0]), []byte(p[1]), nil, false, nil)) == 0; got != want {
			t.Errorf("compareJSON(%s, %s): equal %v, want %v", p[0], p[1], got, want)
		}
	}
}

// TestCompareSurrogates: each \u escape is decoded on its own, as Go's encoding/json
// reads it; a lone surrogate is U+FFFD and the escape after it is still decoded, in
// values and in keys (issue 25).
func TestCompareSurrogates(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"lone high, then A or B", `["\uD800\u0041"]`, `["\uD800\u0042"]`, false},
		{"lone low in a key, then Z", `{"\uDFAA":0}`, `{"\uDFAA\u005a":0}`, false},
		{"lone high, then a newline either way", `["\uD800\n"]`, `["\uD800\u000A"]`, true},
		{"lone high, then letters either way", `["\ud800abc"]`, `["\ud800\u0061\u0062\u0063"]`, true},
		{"lone high is U+FFFD", `["\ud800"]`, `["\ufffd"]`, true},
		{"lone high, then A, is U+FFFD A", `["\uD800\u0041"]`, `["` + "\uFFFD" + `A"]`, true},
		{"two high ones are two U+FFFD", `["\uD800\uD800"]`, `["\uFFFD\uFFFD"]`, true},
		{"low then high are two U+FFFD", `["\uDC00\uD800"]`, `["\uFFFD\uFFFD"]`, true},
		{"a pair is one code point", `["\uD83D\uDE00"]`, `["` + "\U0001F600" + `"]`, true},
		{"high, pair", `["\uD800\uD83D\uDE00"]`, `["\uFFFD` + "\U0001F600" + `"]`, true},
		{"escaped backslash after a high one", `["\uD800\\u0041"]`, `["\uFFFD\\u0041"]`, true},
		{"escaped backslash is not an escape", `["\uD800\\u0041"]`, `["\uFFFDA"]`, false},
		{"lone high at the end of a key", `{"a\uD800":1}`, `{"a\ufffd":1}`, true},
		// Where the comparer departs from encoding/json, on purpose (RATIONALE.md):
		// bytes that are not UTF-8 are kept, not made U+FFFD.
		{"two bytes that are not UTF-8", "[\"\xff\"]", "[\"\xfe\"]", false},
		{"a byte that is not UTF-8 against U+FFFD", "[\"\xff\"]", `["\ufffd"]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { comparePaths(t, tc.a, tc.b, tc.want) })
	}
}

// TestNumbersEqualHugeExponents: numbers are exact decimals whatever the size of their
// exponents, which once saturated at 2^40 (issue 25, item 5).
func TestNumbersEqualHugeExponents(t *testing.T) {
	nines := strings.Repeat("9", 18) // the longest exponent read as an int64
	equal := [][2]string{
		{"10e1099511627776", "1e1099511627777"},
		{"1e1000000000000000000", "10e" + nines},    // one huge, one not
		{"1e-1000000000000000000", "0.1e-" + nines}, // the same below one
		{"1e+0001099511627777", "1e1099511627777"},  // leading zeros
		{"123e99999999999999999999999999", "1.23e100000000000000000000000001"},
		{"-5e-99999999999999999999999999", "-0.0005e-99999999999999999999999995"},
		{"100e-100000000000000000000000002", "1e-100000000000000000000000000"},
		{"0e99999999999999999999999999", "-0e-99999999999999999999999999"},
		{"0e99999999999999999999999999", "0"},
		{"1e00000000000000000000000000000", "1"},
	}
	for _, p := range equal {
		if !numbersEqual(p[0], p[1]) || !numbersEqual(p[1], p[0]) {
			t.Errorf("numbersEqual(%s, %s) = false, want true", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"1e1099511627776", "1e1099511627777"},
		{"1e1099511627776", "1e1099511627776000"},
		{"1e1000000000000000000", "1e" + nines},
		{"1e1000000000000000000", "100e" + nines},
		{"1e99999999999999999999", "1e-99999999999999999999"},
		{"1e99999999999999999999", "1e99999999999999999998"},
		{"2e99999999999999999999", "1e99999999999999999999"},
		{"1e99999999999999999999", "-1e99999999999999999999"},
		{"1e99999999999999999999", "1e999999999999999999990"},
		{"1e-1000000000000000000", "1e1000000000000000000"},
		{"1e-1000000000000000000", "1e-" + nines},
		{"1e99999999999999999999", "1"},
		{"1e99999999999999999999", "0"},
		{"1e400", "1e401"},
	}
	for _, p := range differ {
		if numbersEqual(p[0], p[1]) || numbersEqual(p[1], p[0]) {
			t.Errorf("numbersEqual(%s, %s) = true, want false", p[0], p[1])
		}
	}
	// Through Compare too, in the walk and in the one-pass check.
	comparePaths(t, `[1e1099511627776]`, `[1e1099511627777]`, false)
	comparePaths(t, `[10e1099511627776]`, `[1e1099511627777]`, true)
}
