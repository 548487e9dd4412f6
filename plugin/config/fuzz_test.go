package config

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
		cfg, err := Parse(data)
		switch {
		case cfg == nil && err == nil:
			t.Fatalf("Parse(%q) = nil, nil", data)
		case cfg != nil && err != nil:
			t.Fatalf("Parse(%q) returned both a config and error %v", data, err)
		case err != nil:
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error message", data)
			}
			return
		}
		if n := len(cfg.Targets); n < 1 || n > MaxTargets {
			t.Fatalf("Parse(%q): %d targets", data, n)
		}
		if cfg.Marker == "" {
			t.Fatalf("Parse(%q): empty marker", data)
		}
		for i, tg := range cfg.Targets {
			switch {
			case tg.Name == "":
				t.Fatalf("Parse(%q): target %d has no name", data, i)
			case tg.Cluster == "":
				t.Fatalf("Parse(%q): target %d has no cluster", data, i)
			case tg.TimeoutMs < 1 || tg.TimeoutMs > 60000:
				t.Fatalf("Parse(%q): target %d timeoutMs %d", data, i, tg.TimeoutMs)
			case tg.Percent > PercentScale:
				t.Fatalf("Parse(%q): target %d percent %d", data, i, tg.Percent)
			case tg.MaxInFlight < 1:
				t.Fatalf("Parse(%q): target %d maxInFlight %d", data, i, tg.MaxInFlight)
			case tg.MaxBodyBytes < 0 || tg.MaxBodyBytes > MaxBodyBytes:
				t.Fatalf("Parse(%q): target %d maxBytes %d", data, i, tg.MaxBodyBytes)
			case tg.RatePerSecond < 0 || (tg.RatePerSecond > 0 && tg.RateBurst < 1):
				t.Fatalf("Parse(%q): target %d rate %v burst %v", data, i, tg.RatePerSecond, tg.RateBurst)
			}
		}
	})
}
