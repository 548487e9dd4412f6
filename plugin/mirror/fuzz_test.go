package mirror

import (
	"strings"
	"testing"
)

// maxFuzzInput keeps each iteration cheap: a real configuration is a few KiB.
const maxFuzzInput = 64 << 10

func FuzzParseConfig(f *testing.F) {
	seeds := []string{
		specExample,
		oneTarget(""),
		`{"marker":"X-Shadow","targets":[{"name":"a","cluster":"c","percentage":0.0001},` +
			`{"name":"b","service":"a.b","port":80,"subset":"","authoritySuffix":"-shadow","body":{"enabled":false}}]}`,
		oneTarget(`,"rateLimit":{"perSecond":0.5},"match":{"headers":[{"name":"x","present":false,"invert":true}]}`),
		oneTarget(`,"match":{"paths":[{"regex":"[a-z]{0,30}"},{"regex":"(a{0,30}){0,30}"}]}`),
		oneTarget(`,"percent":5,"timeoutMs":0,"port":"9080"`),
		oneTarget(`,"headers":{"set":{":authority":"x","x-a":"b\r\n"},"remove":[":path"]}`),
		targets(17),
		`{"targets":[]}`,
		`{"targets":[{"name":"a","cluster":"c"},{"name":"a","cluster":"c"}]}`,
		`{"targets":[{"name":"a","cluster":"c","a":1,"a":1}]}`,
		`{"targets":[`,
		`[1,2,"x"]`,
		`"just a string"`,
		`null`,
		``,
		"  \n",
		strings.Repeat("[", 100),
		strings.Repeat("]", 40) + strings.Repeat("[", 40),
		strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40),
		oneTarget(`,"x":"` + strings.Repeat("[", 50) + `"`),
		oneTarget(`,"percentage":1e400,"maxInFlight":-1e400`),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		cfg, err := ParseConfig(data)
		switch {
		case cfg == nil && err == nil:
			t.Fatalf("ParseConfig(%q) = nil, nil", data)
		case cfg != nil && err != nil:
			t.Fatalf("ParseConfig(%q) returned both a config and error %v", data, err)
		case err != nil:
			if err.Error() == "" {
				t.Fatalf("ParseConfig(%q): empty error message", data)
			}
			return
		}
		if n := len(cfg.Targets); n < 1 || n > MaxTargets {
			t.Fatalf("ParseConfig(%q): %d targets", data, n)
		}
		if cfg.Marker == "" {
			t.Fatalf("ParseConfig(%q): empty marker", data)
		}
		for i, tg := range cfg.Targets {
			switch {
			case tg.Name == "":
				t.Fatalf("ParseConfig(%q): target %d has no name", data, i)
			case tg.Cluster == "":
				t.Fatalf("ParseConfig(%q): target %d has no cluster", data, i)
			case tg.TimeoutMs < 1 || tg.TimeoutMs > 60000:
				t.Fatalf("ParseConfig(%q): target %d timeoutMs %d", data, i, tg.TimeoutMs)
			case tg.Percent > PercentScale:
				t.Fatalf("ParseConfig(%q): target %d percent %d", data, i, tg.Percent)
			case tg.MaxInFlight < 1:
				t.Fatalf("ParseConfig(%q): target %d maxInFlight %d", data, i, tg.MaxInFlight)
			case tg.MaxBodyBytes < 0 || tg.MaxBodyBytes > MaxBodyBytes:
				t.Fatalf("ParseConfig(%q): target %d maxBytes %d", data, i, tg.MaxBodyBytes)
			case tg.RatePerSecond < 0 || (tg.RatePerSecond > 0 && tg.RateBurst < 1):
				t.Fatalf("ParseConfig(%q): target %d rate %v burst %v", data, i, tg.RatePerSecond, tg.RateBurst)
			}
		}
	})
}

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
		var paths []IgnorePath
		for _, s := range strings.Split(ignore, ",") {
			if ip, err := parseIgnorePath(s); err == "" && len(paths) < MaxIgnorePaths {
				paths = append(paths, ip)
			}
		}
		if d := compareJSON(a, a, paths, true, nil); len(d) != 0 {
			t.Fatalf("compareJSON(%q, itself) = %+v", a, d)
		}
		ab, ba := compareJSON(a, b, paths, true, nil), compareJSON(b, a, paths, false, nil)
		if (len(ab) == 0) != (len(ba) == 0) {
			t.Fatalf("compareJSON(%q, %q) = %+v but the other way round %+v", a, b, ab, ba)
		}
		if len(ab) > MaxDifferences {
			t.Fatalf("compareJSON(%q, %q): %d differences", a, b, len(ab))
		}
		for _, d := range ab {
			if d.Part != PartBody || len(d.Primary) > MaxValueBytes || len(d.Shadow) > MaxValueBytes {
				t.Fatalf("compareJSON(%q, %q): difference %+v", a, b, d)
			}
		}
	})
}
