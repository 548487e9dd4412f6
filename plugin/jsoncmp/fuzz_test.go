package jsoncmp

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/diff"
)

// maxFuzzInput keeps each iteration cheap: bodies compared are a few KiB.
const maxFuzzInput = 64 << 10

// FuzzCompareJSON: no pair of bodies makes the comparison panic or hang; a body
// equals itself, whichever ignore paths; whether two bodies differ does not depend
// on which side is the primary; and no more than MaxDifferences are located.
func FuzzCompareJSON(f *testing.F) {
	seeds := [][3]string{
		{`{"a":1,"b":[1,2,{"c":"x"}]}`, `{"b":[1,2,{"c":"y"}],"a":1.0}`, "b.#.c"},
		{`{"items":[{"price":1e2,"at":"t1"}]}`, `{"items":[{"price":100,"at":"t2"}]}`, "items.#.at,*.x"},
		{`[12345678901234567890, -0, 1e-400]`, `[1.2345678901234567890e19, 0, 0]`, ""},
		{`{"a\\.b":{"#":1}}`, `{"a\\.b":{"#":2}}`, `a\.b.\#`},
		{`{"a":1,"a":2}`, `{"a":2,"a":1}`, "a"},
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 65) + strings.Repeat("]", 65), ""},
		{strings.Repeat(`{"a":`, 100) + "1", `"\ud800"`, "a.a.a"},
		{"\xff\xfe", `"\u00e9"`, "*"},
		{``, `null`, "#"},
		{`1e999999999999999999999999`, `1E+999999999999999999999999`, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), s[2])
	}
	f.Fuzz(func(t *testing.T, a, b []byte, ignore string) {
		if len(a) > maxFuzzInput || len(b) > maxFuzzInput {
			return
		}
		paths := fuzzIgnorePaths(ignore)
		if d := compareJSON(a, a, paths, true, nil); len(d) != 0 {
			t.Fatalf("compareJSON(%q, itself) = %+v", a, d)
		}
		ab, ba := compareJSON(a, b, paths, true, nil), compareJSON(b, a, paths, false, nil)
		if (len(ab) == 0) != (len(ba) == 0) {
			t.Fatalf("compareJSON(%q, %q) = %+v but the other way round %+v", a, b, ab, ba)
		}
		if len(ab) > diff.MaxDifferences {
			t.Fatalf("compareJSON(%q, %q): %d differences", a, b, len(ab))
		}
		for _, d := range ab {
			if d.Part != diff.PartBody || len(d.Primary) > diff.MaxValueBytes || len(d.Shadow) > diff.MaxValueBytes {
				t.Fatalf("compareJSON(%q, %q): difference %+v", a, b, d)
			}
		}
	})
}

// FuzzCompareScanner checks the comparison on jsonscan.go against the one on gjson
// it replaced (compare_ref_test.go): for any two bodies and ignore paths, with or
// without allowExtra, the same differences in the same order, the same places and
// values; and the scanner takes as JSON exactly what gjson.Valid and the depth
// bound did.
func FuzzCompareScanner(f *testing.F) {
	seeds := [][3]string{
		{`{"a":1,"b":[1,2,{"c":"x"}]}`, `{"b":[1,2,{"c":"y"}],"a":1.0}`, "b.#.c"},
		{`{"items":[{"price":1e2,"at":"t1"}]}`, `{"items":[{"price":100,"at":"t2"}]}`, "items.#.at,*.x"},
		{`[12345678901234567890, -0, 1e-400]`, `[1.2345678901234567890e19, 0, 0]`, ""},
		{`{"a\\.b":{"#":1}}`, `{"a\\.b":{"#":2}}`, `a\.b.\#`},
		{`{"a":1,"a":2,"b":3}`, `{"b":3,"a":2,"a":1}`, ""},
		{`{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9,"q":10,"p":11,"o":12,"n":13,"m":14,"l":15,"k":16,"j":17,"i":18}`,
			`{"i":0,"j":0,"k":0,"l":0,"m":0,"n":0,"o":0,"p":0,"q":0,"r":0,"s":0,"t":0,"u":0,"v":0,"w":0,"x":0,"y":0,"z":0}`, ""},
		{`{"\u0061\ud83d\ude00":"\ud800\u0041","b":"\udc00"}`, `{"a😀":"\ufffd","b":"\ufffd"}`, ""},
		{`"\u00e9\/\b\f\n\r\t\"\\"`, "\"é/\\b\\f\\n\\r\\t\\\"\\\\\"", ""},
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 64) + " " + strings.Repeat("]", 64), ""},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat("[", 65) + " " + strings.Repeat("]", 65), ""},
		{` {"a":[1,2,3]} ` + "\n", `{"a":[1,2]}`, ""},
		{`[1,2,3`, `[1,2,3]`, ""},
		{`01`, `1`, ""}, {`-`, `-0`, ""}, {`1.`, `1.0`, ""}, {`1e`, `1e+1`, ""}, {`tru`, `true`, ""},
		{`{"a" 1}`, `{"a":1,}`, ""}, {`[1,]`, `[1 2]`, ""}, {"\"\x01\"", `"\x"`, ""}, {`"\u12G4"`, `"\u12"`, ""},
		{"\xff\xfe", `"` + "\xff" + `"`, "*"},
		{``, ` `, "#"},
		// The same values written differently, which sameTexts passes in one go.
		{`{"a":[1,{"b":"x","\u0063":[]}],"d":null,"e":true,"f":{}}`, "{ \"a\" : [ 1.0 , { \"b\" : \"\\u0078\", \"c\": [ ] } ] ,\n\"d\":null, \"e\":true, \"f\":{ } }", ""},
		{`{"a":[1,{"b":"x"}],"t":"2024"}`, `{"a": [1, {"b": "y"}], "t": {"deep": [[[1]]]}}`, "a.#.b,t"},
		{`[{"x":1},{"x":2}]`, `[ {"x":1}, {"x":2, "y":3} ]`, ""},
		{`{"a":1}`, `{"a" :1 , }`, ""}, {`{"a":[]}`, `{"a":[ ,]}`, ""}, {`{"a":{}}`, `{"a":{ ]}`, "a.b"},
		// Ignored values are skipped, and must still be JSON.
		{`{"x":[1,],"y":1}`, ` {"x":[1,],"y":1}`, "x"}, {`{"x":{"a":[]},"y":[{}]}`, ` {"x":{"a" : [ ] },"y":[{}]}`, "x"},
		{`{"x":{"a":1,},"y":1}`, ` {"x":{"a":1},"y":1}`, "x"}, {`{"x":[{]},"y":1}`, ` {"x":[{}],"y":1}`, "x"},
		{`{"x":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`, ` {"x":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`, "x"},
		{`[[1,{"k":"v"}],2]`, ` [[1, {"k": "w"}], 2]`, "0"},
	}
	// Long common prefixes, which scanAfter takes from the primary's nodes.
	page := `{"page":1,"items":[{"id":1,"name":"Item \u00e9","tags":["a","b"],"stock":{"w\u0041":"eu","n":12}},`
	for _, tail := range [][2]string{
		{`{"id":2}],"n":1}`, `{"id":3}],"n":1}`},
		{`{"id":2}],"n":1}`, `{"id":2}],"n":12}`},
		{`{"id":2}],"n":1} `, `{"id":2}],"n":1}x`},
		{`{"id":2}],"n":1}`, `{"id":2}],"n":1`},
		{`{"id":2}],"n":"a\u0062"}`, `{"id":2}],"n":"a\u0063","\u0064":1}`},
		{`2],"n":1}`, `2.5],"n":1}`},
		{`2],"n":1}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[2]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"n":1}`},
	} {
		seeds = append(seeds, [3]string{page + tail[0], page + tail[1], "items.#.id"})
	}
	seeds = append(seeds, [3]string{`"` + strings.Repeat("x", 80) + `"`, `"` + strings.Repeat("x", 80) + `" `, ""})
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]), s[2], false)
		f.Add([]byte(s[1]), []byte(s[0]), s[2], true)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, ignore string, allowExtra bool) {
		if len(a) > maxFuzzInput || len(b) > maxFuzzInput {
			return
		}
		paths := fuzzIgnorePaths(ignore)
		for _, data := range [][]byte{a, b} {
			var d jsonDoc
			if got, want := d.scan(data), refJSONWithin(data); got != want {
				t.Fatalf("scan(%q) = %v, gjson and the depth bound say %v", data, got, want)
			}
		}
		// scanAfter, which takes the nodes of a common prefix from the other side,
		// finds what a scan of its own finds.
		var da, db, fresh jsonDoc
		if da.scan(a) {
			okAfter, okFresh := db.scanAfter(b, &da, commonPrefix(a, b)), fresh.scan(b)
			switch {
			case okAfter != okFresh:
				t.Fatalf("scanAfter(%q, after %q) = %v, scan says %v", b, a, okAfter, okFresh)
			case okAfter && (!reflect.DeepEqual(db.nodes, fresh.nodes) || !bytes.Equal(db.keys, fresh.keys)):
				t.Fatalf("scanAfter(%q, after %q):\n%+v %q\nscan:\n%+v %q", b, a, db.nodes, db.keys, fresh.nodes, fresh.keys)
			}
		}
		// sameTexts, the lock-step pass, says what scans of both and same say.
		c := new(jsonComparer)
		c.ignore = paths
		got := c.sameTexts(a, b)
		want := c.a.scan(a) && c.b.scan(b) && c.sameValue(0, 0, 1<<len(paths)-1, 0)
		if got != want {
			t.Fatalf("sameTexts(%q, %q, ignoring %q) = %v, scan and same say %v", a, b, ignore, got, want)
		}
		prior := []diff.Difference{{Part: diff.PartStatus, Hash: diff.StatusPlace}}
		for _, values := range []bool{true, false} {
			got := Compare(a, b, paths, values, allowExtra, slices.Clone(prior))
			want := refCompareJSONExtra(a, b, paths, values, allowExtra, slices.Clone(prior))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("compareJSONExtra(%q, %q, %q, values %v, allowExtra %v) =\n%+v\nthe gjson comparer finds\n%+v",
					a, b, ignore, values, allowExtra, got, want)
			}
		}
	})
}

// fuzzIgnorePaths is the valid ignore paths of a comma-separated list, at most
// MaxIgnorePaths of them.
func fuzzIgnorePaths(list string) []IgnorePath {
	var paths []IgnorePath
	for _, s := range strings.Split(list, ",") {
		if ip, err := ParseIgnorePath(s); err == "" && len(paths) < MaxIgnorePaths {
			paths = append(paths, ip)
		}
	}
	return paths
}
