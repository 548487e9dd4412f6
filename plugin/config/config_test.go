package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// specExample is the example configuration of SPEC.md, verbatim; the request path's
// tests read the same file.
var specExample = func() string {
	b, err := os.ReadFile("testdata/spec-example.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// oneTarget returns a configuration with one valid target named "t" sending to cluster
// "c", plus the extra members given (each starting with a comma).
func oneTarget(extra string) string {
	return `{"targets":[{"name":"t","cluster":"c"` + extra + `}]}`
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): unexpected error: %v", doc, err)
	}
	if cfg == nil {
		t.Fatalf("Parse(%s): nil config without error", doc)
	}
	return cfg
}

func mustFail(t *testing.T, doc string) *Error {
	t.Helper()
	cfg, err := Parse([]byte(doc))
	if err == nil {
		t.Fatalf("Parse(%.200s): accepted, want an error (config %+v)", doc, cfg)
	}
	if cfg != nil {
		t.Errorf("Parse(%.200s): returned a config along with error %v", doc, err)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse(%.200s): error %T %v, want *Error", doc, err, err)
	}
	if len(ce.Problems) == 0 {
		t.Fatalf("Parse(%.200s): *Error without problems", doc)
	}
	return ce
}

func hasProblem(ce *Error, want string) bool {
	for _, p := range ce.Problems {
		if strings.Contains(p.String(), want) {
			return true
		}
	}
	return false
}

func TestParseConfigSpecExample(t *testing.T) {
	cfg := mustParse(t, specExample)
	if cfg.Marker != "x-meshmirror" {
		t.Errorf("Marker = %q", cfg.Marker)
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("got %d targets, want 1", len(cfg.Targets))
	}
	tg := cfg.Targets[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", tg.Name, "reviews-v2"},
		{"Cluster", tg.Cluster, "outbound|9080|v2|reviews.default.svc.cluster.local"},
		{"Percent", tg.Percent, uint32(250000)},
		{"StickyHeader", tg.StickyHeader, "x-user-id"},
		{"Methods", tg.Match.Methods, []string{"GET", "POST"}},
		{"Authority", tg.Authority, "reviews-shadow.default.svc.cluster.local"},
		{"AuthoritySuffix", tg.AuthoritySuffix, ""},
		{"SetHeaders", tg.SetHeaders, [][2]string{{"x-env", "shadow"}}},
		{"RemoveHeaders", tg.RemoveHeaders, []string{"authorization", "cookie"}},
		{"BodyEnabled", tg.BodyEnabled, true},
		{"MaxBodyBytes", tg.MaxBodyBytes, 1048576},
		{"TimeoutMs", tg.TimeoutMs, uint32(5000)},
		{"MaxInFlight", tg.MaxInFlight, 256},
		{"RatePerSecond", tg.RatePerSecond, 100.0},
		{"RateBurst", tg.RateBurst, 200.0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	paths := tg.Match.Paths
	if len(paths) != 3 {
		t.Fatalf("got %d path rules, want 3", len(paths))
	}
	if paths[0].Prefix != "/api/" || paths[0].Exact != "" || paths[0].Regex != nil {
		t.Errorf("paths[0] = %+v, want prefix /api/", paths[0])
	}
	if paths[1].Exact != "/login" || paths[1].Prefix != "" || paths[1].Regex != nil {
		t.Errorf("paths[1] = %+v, want exact /login", paths[1])
	}
	if paths[2].Regex == nil || paths[2].Exact != "" || paths[2].Prefix != "" {
		t.Fatalf("paths[2] = %+v, want a regex", paths[2])
	}
	if !paths[2].Regex.MatchString("/v1/x") || paths[2].Regex.MatchString("/api/v1/x") {
		t.Errorf("paths[2] regex %v does not match the whole path", paths[2].Regex)
	}

	hs := tg.Match.Headers
	if len(hs) != 3 {
		t.Fatalf("got %d header rules, want 3", len(hs))
	}
	if h := hs[0]; h.Name != "x-canary" || h.Kind != Exact || h.Value != "true" || h.Invert {
		t.Errorf("headers[0] = %+v", h)
	}
	if h := hs[1]; h.Name != "user-agent" || h.Kind != Regex || h.Regex == nil || !h.Invert ||
		!h.Regex.MatchString("curl/8.0") || h.Regex.MatchString("xcurl/8.0") {
		t.Errorf("headers[1] = %+v", h)
	}
	if h := hs[2]; h.Name != "x-debug" || h.Kind != Present || !h.Present || h.Invert {
		t.Errorf("headers[2] = %+v", h)
	}
}

func TestParseConfigValues(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, cfg *Config)
	}{
		{
			name: "defaults",
			doc:  oneTarget(""),
			check: func(t *testing.T, cfg *Config) {
				if cfg.Marker != DefaultMarker || DefaultMarker != "x-meshmirror" {
					t.Errorf("Marker = %q", cfg.Marker)
				}
				tg := cfg.Targets[0]
				if tg.Name != "t" || tg.Cluster != "c" {
					t.Errorf("Name, Cluster = %q, %q", tg.Name, tg.Cluster)
				}
				if tg.Percent != PercentScale {
					t.Errorf("Percent = %d, want %d", tg.Percent, PercentScale)
				}
				if !tg.BodyEnabled || tg.MaxBodyBytes != 1048576 {
					t.Errorf("body = %v, %d", tg.BodyEnabled, tg.MaxBodyBytes)
				}
				if tg.TimeoutMs != 5000 || tg.MaxInFlight != 256 {
					t.Errorf("TimeoutMs, MaxInFlight = %d, %d", tg.TimeoutMs, tg.MaxInFlight)
				}
				if tg.RatePerSecond != 0 || tg.RateBurst != 0 {
					t.Errorf("rate = %v, %v, want no limit", tg.RatePerSecond, tg.RateBurst)
				}
				if tg.StickyHeader != "" || tg.Authority != "" || tg.AuthoritySuffix != "" ||
					len(tg.SetHeaders) != 0 || len(tg.RemoveHeaders) != 0 {
					t.Errorf("unexpected options: %+v", tg)
				}
				if len(tg.Match.Methods)+len(tg.Match.Paths)+len(tg.Match.Headers) != 0 {
					t.Errorf("Match = %+v, want empty", tg.Match)
				}
			},
		},
		{
			name: "custom marker is lower-cased",
			doc:  `{"marker":"X-Shadow-Copy","targets":[{"name":"t","cluster":"c"}]}`,
			check: func(t *testing.T, cfg *Config) {
				if cfg.Marker != "x-shadow-copy" {
					t.Errorf("Marker = %q", cfg.Marker)
				}
			},
		},
		{
			name: "header names lower-cased",
			doc: oneTarget(`,"stickyHeader":"X-User-Id","match":{"headers":[{"name":"X-Canary","exact":"Yes"}]},` +
				`"headers":{"set":{"X-Env":"Shadow"},"remove":["Authorization"]}`),
			check: func(t *testing.T, cfg *Config) {
				tg := cfg.Targets[0]
				if tg.StickyHeader != "x-user-id" {
					t.Errorf("StickyHeader = %q", tg.StickyHeader)
				}
				if tg.Match.Headers[0].Name != "x-canary" || tg.Match.Headers[0].Value != "Yes" {
					t.Errorf("header rule = %+v", tg.Match.Headers[0])
				}
				if !reflect.DeepEqual(tg.SetHeaders, [][2]string{{"x-env", "Shadow"}}) {
					t.Errorf("SetHeaders = %v", tg.SetHeaders)
				}
				if !reflect.DeepEqual(tg.RemoveHeaders, []string{"authorization"}) {
					t.Errorf("RemoveHeaders = %v", tg.RemoveHeaders)
				}
			},
		},
		{
			name: "service without subset",
			doc:  `{"targets":[{"name":"t","service":"a.b","port":80}]}`,
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Targets[0].Cluster; got != "outbound|80||a.b" {
					t.Errorf("Cluster = %q", got)
				}
			},
		},
		{
			name: "percentage smallest fraction",
			doc:  oneTarget(`,"percentage":0.0001`),
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Targets[0].Percent; got != 1 {
					t.Errorf("Percent = %d, want 1", got)
				}
			},
		},
		{
			name: "percentage 33.3333",
			doc:  oneTarget(`,"percentage":33.3333`),
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Targets[0].Percent; got != 333333 {
					t.Errorf("Percent = %d, want 333333", got)
				}
			},
		},
		{
			name: "percentage 0",
			doc:  oneTarget(`,"percentage":0`),
			check: func(t *testing.T, cfg *Config) {
				if got := cfg.Targets[0].Percent; got != 0 {
					t.Errorf("Percent = %d, want 0", got)
				}
			},
		},
		{
			name: "burst defaults to ceil(perSecond)",
			doc:  oneTarget(`,"rateLimit":{"perSecond":2.5}`),
			check: func(t *testing.T, cfg *Config) {
				if tg := cfg.Targets[0]; tg.RatePerSecond != 2.5 || tg.RateBurst != 3 {
					t.Errorf("rate = %v, burst = %v, want 2.5, 3", tg.RatePerSecond, tg.RateBurst)
				}
			},
		},
		{
			name: "burst defaults to at least 1",
			doc:  oneTarget(`,"rateLimit":{"perSecond":0.5}`),
			check: func(t *testing.T, cfg *Config) {
				if tg := cfg.Targets[0]; tg.RatePerSecond != 0.5 || tg.RateBurst != 1 {
					t.Errorf("rate = %v, burst = %v, want 0.5, 1", tg.RatePerSecond, tg.RateBurst)
				}
			},
		},
		{
			name: "authoritySuffix, body disabled, limits at their bounds",
			doc: oneTarget(`,"authoritySuffix":"-shadow","body":{"enabled":false,"maxBytes":16777216},` +
				`"timeoutMs":60000,"maxInFlight":1`),
			check: func(t *testing.T, cfg *Config) {
				tg := cfg.Targets[0]
				if tg.AuthoritySuffix != "-shadow" || tg.Authority != "" {
					t.Errorf("authority = %q, suffix = %q", tg.Authority, tg.AuthoritySuffix)
				}
				if tg.BodyEnabled || tg.MaxBodyBytes != 16777216 {
					t.Errorf("body = %v, %d", tg.BodyEnabled, tg.MaxBodyBytes)
				}
				if tg.TimeoutMs != 60000 || tg.MaxInFlight != 1 {
					t.Errorf("TimeoutMs, MaxInFlight = %d, %d", tg.TimeoutMs, tg.MaxInFlight)
				}
			},
		},
		{
			name: "allowed pseudo-headers set",
			doc:  oneTarget(`,"headers":{"set":{":path":"/x",":method":"POST",":scheme":"https","x-empty":""}}`),
			check: func(t *testing.T, cfg *Config) {
				if got := len(cfg.Targets[0].SetHeaders); got != 4 {
					t.Errorf("SetHeaders = %v, want 4 entries", cfg.Targets[0].SetHeaders)
				}
			},
		},
		{
			name: "name of 63 characters",
			doc:  `{"targets":[{"name":"` + strings.Repeat("a", 63) + `","cluster":"c"}]}`,
			check: func(t *testing.T, cfg *Config) {
				if len(cfg.Targets[0].Name) != 63 {
					t.Errorf("Name = %q", cfg.Targets[0].Name)
				}
			},
		},
		{
			name: "sixteen targets in order",
			doc:  targets(16),
			check: func(t *testing.T, cfg *Config) {
				if len(cfg.Targets) != 16 {
					t.Fatalf("got %d targets", len(cfg.Targets))
				}
				for i, tg := range cfg.Targets {
					if want := fmt.Sprintf("t%d", i); tg.Name != want {
						t.Errorf("target %d name = %q, want %q", i, tg.Name, want)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.doc))
		})
	}
}

// targets returns a configuration of n valid targets named t0, t1, ...
func targets(n int) string {
	list := make([]string, n)
	for i := range list {
		list[i] = fmt.Sprintf(`{"name":"t%d","cluster":"c"}`, i)
	}
	return `{"targets":[` + strings.Join(list, ",") + `]}`
}

func TestParseConfigNestingLimit(t *testing.T) {
	// The target object is 3 levels deep: 3+29 = 32 levels pass the depth check (and
	// fail later for other reasons); 33 do not.
	doc := oneTarget(`,"x":` + strings.Repeat("[", 29) + strings.Repeat("]", 29))
	ce := mustFail(t, doc)
	if hasProblem(ce, "nested deeper") || !hasProblem(ce, `targets[0]: unknown key "x"`) {
		t.Errorf("32 levels: problems %q", ce.Problems)
	}
	ce = mustFail(t, oneTarget(`,"x":`+strings.Repeat("[", 30)+strings.Repeat("]", 30)))
	if !hasProblem(ce, "nested deeper than 32 levels") {
		t.Errorf("33 levels: problems %q", ce.Problems)
	}
	// Brackets inside strings do not count.
	mustParse(t, `{"targets":[{"name":"t","cluster":"`+strings.Repeat("[", 100)+`"}]}`)
}

func TestParseConfigEmpty(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"whitespace", []byte(" \n\t\r ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.data)
			if err == nil || cfg != nil {
				t.Fatalf("Parse(%q) = %v, %v; want nil and an error", tt.data, cfg, err)
			}
			if !strings.Contains(err.Error(), "empty") {
				t.Errorf("error %q does not say the configuration is empty", err)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // a substring of one of the problems, with its path
	}{
		// The document.
		{"invalid JSON", `{"targets":[`, "not valid JSON"},
		{"trailing garbage", oneTarget("") + "x", "not valid JSON"},
		{"top level not an object", `[]`, "must be an object, got an array"},
		{"top level null", `null`, "must be an object, got null"},
		{"unknown top-level key", `{"target":[]}`, `unknown key "target" (did you mean "targets"?)`},
		{"duplicate top-level key", `{"targets":[{"name":"a","cluster":"c"}],"targets":[{"name":"b","cluster":"c"}]}`,
			`key "targets" appears twice`},
		{"duplicate target key", oneTarget(`,"timeoutMs":1,"timeoutMs":2`), `targets[0]: key "timeoutMs" appears twice`},
		{"nesting 33 levels", strings.Repeat("[", 33) + strings.Repeat("]", 33), "nested deeper than 32 levels"},
		{"nesting 10000 levels", strings.Repeat("[", 10000), "nested deeper than 32 levels"},
		{"nesting in a value", oneTarget(`,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40)), "nested deeper than 32 levels"},

		// targets.
		{"targets missing", `{}`, "targets: required"},
		{"targets empty", `{"targets":[]}`, "targets: must hold 1 to 16 targets, got 0"},
		{"17 targets", targets(17), "targets: must hold 1 to 16 targets, got 17"},
		{"targets not an array", `{"targets":{"name":"t","cluster":"c"}}`, "targets: must be an array, got an object"},
		{"target not an object", `{"targets":["t"]}`, `targets[0]: must be an object, got string "t"`},
		{"duplicate names", `{"targets":[{"name":"a","cluster":"c"},{"name":"a","cluster":"d"}]}`,
			`targets[1].name: "a" is already the name of targets[0]`},
		{"unknown target key", oneTarget(`,"percent":5`), `targets[0]: unknown key "percent" (did you mean "percentage"?)`},

		// name.
		{"name missing", `{"targets":[{"cluster":"c"}]}`, "targets[0]: name: required"},
		{"name uppercase", `{"targets":[{"name":"Reviews","cluster":"c"}]}`, `targets[0].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got "Reviews"`},
		{"name 64 characters", `{"targets":[{"name":"` + strings.Repeat("a", 64) + `","cluster":"c"}]}`, "targets[0].name: must match"},
		{"name leading dash", `{"targets":[{"name":"-a","cluster":"c"}]}`, `targets[0].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got "-a"`},
		{"name empty", `{"targets":[{"name":"","cluster":"c"}]}`, "targets[0].name: must match"},
		{"name with dot", `{"targets":[{"name":"a.b","cluster":"c"}]}`, "targets[0].name: must match"},
		{"name not a string", `{"targets":[{"name":1,"cluster":"c"}]}`, "targets[0].name: must be a string, got number 1"},

		// destination.
		{"cluster and service", `{"targets":[{"name":"t","cluster":"c","service":"a.b","port":80}]}`,
			"targets[0]: set either cluster or service with port, not both"},
		{"neither cluster nor service", `{"targets":[{"name":"t"}]}`, "targets[0]: cluster or service with port: required"},
		{"cluster empty", `{"targets":[{"name":"t","cluster":""}]}`, "targets[0].cluster: must not be empty"},
		{"service without port", `{"targets":[{"name":"t","service":"a.b"}]}`, "targets[0]: port: required with service"},
		{"port without service", `{"targets":[{"name":"t","port":80}]}`, "targets[0]: service: required"},
		{"service without dot", `{"targets":[{"name":"t","service":"reviews","port":80}]}`,
			`targets[0].service: must be a fully qualified host name such as reviews.default.svc.cluster.local, got "reviews"`},
		{"service empty label", `{"targets":[{"name":"t","service":"a..b","port":80}]}`, "targets[0].service: must be a fully qualified host name"},
		{"port 0", `{"targets":[{"name":"t","service":"a.b","port":0}]}`, "targets[0].port: must be between 1 and 65535, got 0"},
		{"port 65536", `{"targets":[{"name":"t","service":"a.b","port":65536}]}`, "targets[0].port: must be between 1 and 65535, got 65536"},
		{"port fraction", `{"targets":[{"name":"t","service":"a.b","port":9080.5}]}`, "targets[0].port: must be a whole number, got 9080.5"},
		{"port string", `{"targets":[{"name":"t","service":"a.b","port":"9080"}]}`, `targets[0].port: must be a number, got string "9080"`},
		{"subset with bar", `{"targets":[{"name":"t","service":"a.b","port":80,"subset":"v|2"}]}`,
			`targets[0].subset: must not contain '|' or white space, got "v|2"`},
		{"subset with space", `{"targets":[{"name":"t","service":"a.b","port":80,"subset":"v 2"}]}`, "targets[0].subset: must not contain"},

		// percentage, stickyHeader.
		{"percentage 150", oneTarget(`,"percentage":150`), "targets[0].percentage: must be between 0 and 100, got 150"},
		{"percentage negative", oneTarget(`,"percentage":-1`), "targets[0].percentage: must be between 0 and 100, got -1"},
		{"percentage string", oneTarget(`,"percentage":"25"`), `targets[0].percentage: must be a number, got string "25"`},
		{"percentage huge", oneTarget(`,"percentage":1e400`), "targets[0].percentage: must be between 0 and 100"},
		{"second target percentage", `{"targets":[{"name":"a","cluster":"c"},{"name":"b","cluster":"c","percentage":150}]}`,
			"targets[1].percentage: must be between 0 and 100, got 150"},
		{"stickyHeader with space", oneTarget(`,"stickyHeader":"x user"`), `targets[0].stickyHeader: must be a header name`},
		{"stickyHeader empty", oneTarget(`,"stickyHeader":""`), `targets[0].stickyHeader: must be a header name`},
		{"stickyHeader not a string", oneTarget(`,"stickyHeader":true`), `targets[0].stickyHeader: must be a string, got true`},

		// match.
		{"match not an object", oneTarget(`,"match":[]`), "targets[0].match: must be an object, got an array"},
		{"match unknown key", oneTarget(`,"match":{"method":["GET"]}`), `targets[0].match: unknown key "method" (did you mean "methods"?)`},
		{"methods not an array", oneTarget(`,"match":{"methods":"GET"}`), `targets[0].match.methods: must be an array, got string "GET"`},
		{"methods not strings", oneTarget(`,"match":{"methods":["GET",1]}`), "targets[0].match.methods[1]: must be a string, got number 1"},
		{"method not a token", oneTarget(`,"match":{"methods":["GE T"]}`), `targets[0].match.methods[0]: must be an HTTP method such as GET, got "GE T"`},
		{"path rule with two matchers", oneTarget(`,"match":{"paths":[{"prefix":"/a","exact":"/b"}]}`),
			"targets[0].match.paths[0]: needs exactly one of exact, prefix, regex, got 2"},
		{"path rule with no matcher", oneTarget(`,"match":{"paths":[{}]}`), "targets[0].match.paths[0]: needs exactly one of exact, prefix, regex, got 0"},
		{"path rule unknown key", oneTarget(`,"match":{"paths":[{"prefx":"/a"}]}`), `targets[0].match.paths[0]: unknown key "prefx" (did you mean "prefix"?)`},
		{"empty prefix", oneTarget(`,"match":{"paths":[{"prefix":""}]}`), "targets[0].match.paths[0].prefix: must not be empty"},
		{"prefix not a string", oneTarget(`,"match":{"paths":[{"prefix":1}]}`), "targets[0].match.paths[0].prefix: must be a string, got number 1"},
		{"invalid path regex", oneTarget(`,"match":{"paths":[{"regex":"/v[0-9"}]}`), "targets[0].match.paths[0].regex: not a valid RE2 regex"},
		{"path regex with lookahead", oneTarget(`,"match":{"paths":[{"regex":"/(?=a)"}]}`), "targets[0].match.paths[0].regex: not a valid RE2 regex"},
		{"header rule without name", oneTarget(`,"match":{"headers":[{"exact":"x"}]}`), "targets[0].match.headers[0]: name: required"},
		{"header rule with two matchers", oneTarget(`,"match":{"headers":[{"name":"a","exact":"x","prefix":"y"}]}`),
			"targets[0].match.headers[0]: needs exactly one of exact, prefix, suffix, contains, regex, present, got 2"},
		{"header rule with no matcher", oneTarget(`,"match":{"headers":[{"name":"a","invert":true}]}`),
			"targets[0].match.headers[0]: needs exactly one of exact, prefix, suffix, contains, regex, present, got 0"},
		{"header rule present not bool", oneTarget(`,"match":{"headers":[{"name":"a","present":"yes"}]}`),
			`targets[0].match.headers[0].present: must be true or false, got string "yes"`},
		{"header rule invert not bool", oneTarget(`,"match":{"headers":[{"name":"a","present":true,"invert":1}]}`),
			"targets[0].match.headers[0].invert: must be true or false, got number 1"},
		{"header rule bad name", oneTarget(`,"match":{"headers":[{"name":"a b","present":true}]}`),
			"targets[0].match.headers[0].name: must be a header name"},
		{"header rule exact not a string", oneTarget(`,"match":{"headers":[{"name":"a","exact":1}]}`),
			"targets[0].match.headers[0].exact: must be a string, got number 1"},
		{"header rule invalid regex", oneTarget(`,"match":{"headers":[{"name":"a","regex":"("}]}`),
			"targets[0].match.headers[0].regex: not a valid RE2 regex"},

		// authority and headers.
		{"authority with authoritySuffix", oneTarget(`,"authority":"a","authoritySuffix":"-s"`),
			"targets[0]: authority and authoritySuffix cannot both be set"},
		{"authority empty", oneTarget(`,"authority":""`), "targets[0].authority: must not be empty"},
		{"authority with CRLF", oneTarget(`,"authority":"a\r\nb"`), "targets[0].authority: must not contain CR, LF or NUL"},
		{"headers unknown key", oneTarget(`,"headers":{"add":{}}`), `targets[0].headers: unknown key "add"`},
		{"headers.set not an object", oneTarget(`,"headers":{"set":["a"]}`), "targets[0].headers.set: must be an object of header names to values, got an array"},
		{"set :authority", oneTarget(`,"headers":{"set":{":authority":"x"}}`),
			`targets[0].headers.set[":authority"]: use authority or authoritySuffix`},
		{"set host", oneTarget(`,"headers":{"set":{"Host":"x"}}`), `targets[0].headers.set["Host"]: use authority or authoritySuffix`},
		{"set the marker", oneTarget(`,"headers":{"set":{"x-meshmirror":"x"}}`), `targets[0].headers.set["x-meshmirror"]: is the marker`},
		{"set a custom marker", `{"marker":"x-shadow","targets":[{"name":"t","cluster":"c","headers":{"set":{"X-Shadow":"x"}}}]}`,
			`targets[0].headers.set["X-Shadow"]: is the marker`},
		{"set unknown pseudo-header", oneTarget(`,"headers":{"set":{":status":"200"}}`),
			`targets[0].headers.set[":status"]: only :path, :method and :scheme may be set`},
		{"set value with CRLF", oneTarget(`,"headers":{"set":{"x-a":"b\r\nx-evil: 1"}}`),
			`targets[0].headers.set["x-a"]: must not contain CR, LF or NUL`},
		{"set value not a string", oneTarget(`,"headers":{"set":{"x-a":1}}`), `targets[0].headers.set["x-a"]: must be a string, got number 1`},
		{"set a path without /", oneTarget(`,"headers":{"set":{":path":"api/v2"}}`),
			`targets[0].headers.set[":path"]: must start with /, got "api/v2"`},
		{"set an empty method", oneTarget(`,"headers":{"set":{":method":""}}`),
			`targets[0].headers.set[":method"]: a pseudo-header must not be empty`},
		{"set transfer-encoding", oneTarget(`,"headers":{"set":{"Transfer-Encoding":"chunked"}}`),
			`targets[0].headers.set["Transfer-Encoding"]: is a connection-specific header`},
		{"set connection", oneTarget(`,"headers":{"set":{"connection":"close"}}`),
			`targets[0].headers.set["connection"]: is a connection-specific header`},
		{"set te", oneTarget(`,"headers":{"set":{"te":"trailers"}}`), `targets[0].headers.set["te"]: is a connection-specific header`},
		{"set upgrade", oneTarget(`,"headers":{"set":{"upgrade":"h2c"}}`), `targets[0].headers.set["upgrade"]: is a connection-specific header`},
		{"set invalid name", oneTarget(`,"headers":{"set":{"x a":"b"}}`), `targets[0].headers.set["x a"]: must be a header name`},
		{"set twice", oneTarget(`,"headers":{"set":{"X-A":"1","x-a":"2"}}`), `targets[0].headers.set["x-a"]: set twice`},
		{"remove pseudo-header", oneTarget(`,"headers":{"remove":[":path"]}`),
			`targets[0].headers.remove[0]: pseudo-headers may not be removed, got ":path"`},
		{"remove the marker", oneTarget(`,"headers":{"remove":["cookie","X-Meshmirror"]}`), "targets[0].headers.remove[1]: is the marker"},
		{"remove not an array", oneTarget(`,"headers":{"remove":"cookie"}`), `targets[0].headers.remove: must be an array, got string "cookie"`},
		{"marker pseudo-header", `{"marker":":path","targets":[{"name":"t","cluster":"c"}]}`, `marker: must be a header of its own, not ":path"`},
		{"marker content-length", `{"marker":"Content-Length","targets":[{"name":"t","cluster":"c"}]}`, `marker: must be a header of its own, not "content-length"`},
		{"marker invalid", `{"marker":"x y","targets":[{"name":"t","cluster":"c"}]}`, "marker: must be a header name"},

		// body, timeout, in-flight, rate limit.
		{"body not an object", oneTarget(`,"body":true`), "targets[0].body: must be an object, got true"},
		{"body.enabled not bool", oneTarget(`,"body":{"enabled":"no"}`), `targets[0].body.enabled: must be true or false, got string "no"`},
		{"body.maxBytes too large", oneTarget(`,"body":{"maxBytes":16777217}`), "targets[0].body.maxBytes: must be between 0 and 16777216, got 16777217"},
		{"body.maxBytes negative", oneTarget(`,"body":{"maxBytes":-1}`), "targets[0].body.maxBytes: must be between 0 and 16777216, got -1"},
		{"tracing unknown", oneTarget(`,"tracing":"strip"`), `targets[0].tracing: must be "drop" or "keep", got "strip"`},
		{"tracing not a string", oneTarget(`,"tracing":false`), "targets[0].tracing: must be a string, got false"},
		{"timeoutMs 0", oneTarget(`,"timeoutMs":0`), "targets[0].timeoutMs: must be between 1 and 60000, got 0"},
		{"timeoutMs 60001", oneTarget(`,"timeoutMs":60001`), "targets[0].timeoutMs: must be between 1 and 60000, got 60001"},
		{"timeoutMs fraction", oneTarget(`,"timeoutMs":1.5`), "targets[0].timeoutMs: must be a whole number, got 1.5"},
		{"maxInFlight 0", oneTarget(`,"maxInFlight":0`), "targets[0].maxInFlight: must be between 1 and"},
		{"rateLimit not an object", oneTarget(`,"rateLimit":100`), "targets[0].rateLimit: must be an object, got number 100"},
		{"rateLimit perSecond 0", oneTarget(`,"rateLimit":{"perSecond":0}`), "targets[0].rateLimit.perSecond: must be greater than 0, got 0"},
		{"rateLimit perSecond negative", oneTarget(`,"rateLimit":{"perSecond":-1}`), "targets[0].rateLimit.perSecond: must be at least 0, got -1"},
		{"rateLimit perSecond missing", oneTarget(`,"rateLimit":{"burst":10}`), "targets[0].rateLimit: perSecond: required"},
		{"rateLimit burst 0.5", oneTarget(`,"rateLimit":{"perSecond":1,"burst":0.5}`), "targets[0].rateLimit.burst: must be at least 1, got 0.5"},
		{"rateLimit unknown key", oneTarget(`,"rateLimit":{"perSecond":1,"per_second":2}`), `targets[0].rateLimit: unknown key "per_second"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := mustFail(t, tt.doc)
			if !hasProblem(ce, tt.want) {
				t.Errorf("problems %q\ndo not contain %q", ce.Problems, tt.want)
			}
			if !strings.Contains(ce.Error(), tt.want) {
				t.Errorf("Error() %q does not contain %q", ce.Error(), tt.want)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	doc := `{
	  "targets": [
	    {"name": "Bad", "cluster": "c", "percentage": 150, "percent": 5},
	    {"name": "b", "service": "nodot", "port": 0, "timeoutMs": 0,
	     "match": {"paths": [{"prefix": ""}], "methods": [1]},
	     "headers": {"remove": [":path"]},
	     "rateLimit": {"perSecond": 0}}
	  ]
	}`
	want := []string{
		`targets[0].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got "Bad"`,
		"targets[0].percentage: must be between 0 and 100, got 150",
		`targets[0]: unknown key "percent" (did you mean "percentage"?)`,
		`targets[1].service: must be a fully qualified host name`,
		"targets[1].port: must be between 1 and 65535, got 0",
		"targets[1].timeoutMs: must be between 1 and 60000, got 0",
		"targets[1].match.paths[0].prefix: must not be empty",
		"targets[1].match.methods[0]: must be a string, got number 1",
		`targets[1].headers.remove[0]: pseudo-headers may not be removed, got ":path"`,
		"targets[1].rateLimit.perSecond: must be greater than 0, got 0",
	}
	ce := mustFail(t, doc)
	if len(ce.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n  %s", len(ce.Problems), len(want), ce.Error())
	}
	for _, w := range want {
		if !hasProblem(ce, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if lines := strings.Count(ce.Error(), "\n"); lines != len(ce.Problems) {
		t.Errorf("Error() has %d line breaks for %d problems:\n%s", lines, len(ce.Problems), ce.Error())
	}
}

func TestParseConfigRegexSafety(t *testing.T) {
	nested := strings.Repeat("(", 300) + "x" + strings.Repeat(")", 300)
	tests := []struct {
		name    string
		pattern string
		want    string // "" when the pattern is accepted
	}{
		{"small counted repetition", `[a-z]{0,24}`, ""},
		{"star", `/v[0-9]+/.*`, ""},
		{"fixed count is flat", `[a-z]{30}`, ""},
		{"x{0,60}", `x{0,60}`, "counted repetitions"},
		{"[a-z]{0,62}", `[a-z]{0,62}`, "counted repetitions"},
		{"nested counted repetitions", `(a{0,30}){0,30}`, "counted repetitions"},
		{"300 nested groups", nested, "nests groups 300 deep"},
		{"2000-byte pattern", strings.Repeat("a", 2000), "regex is 2000 bytes long"},
	}
	for _, tt := range tests {
		for _, where := range []string{"path", "header"} {
			t.Run(tt.name+"/"+where, func(t *testing.T) {
				var doc, path string
				if where == "path" {
					doc = oneTarget(`,"match":{"paths":[{"regex":"` + tt.pattern + `"}]}`)
					path = "targets[0].match.paths[0].regex: "
				} else {
					doc = oneTarget(`,"match":{"headers":[{"name":"a","regex":"` + tt.pattern + `"}]}`)
					path = "targets[0].match.headers[0].regex: "
				}
				if tt.want == "" {
					mustParse(t, doc)
					return
				}
				ce := mustFail(t, doc)
				if !hasProblem(ce, path) || !hasProblem(ce, tt.want) {
					t.Errorf("problems %q, want %q at %q", ce.Problems, tt.want, path)
				}
			})
		}
	}
}

// TestProblems: each problem keeps its path apart from its message, so that
// `meshmirror validate` can place it inside a manifest; a problem of the whole
// document has no path.
func TestProblems(t *testing.T) {
	_, err := Parse([]byte(`{"targets": [{"name": "a", "cluster": "c", "percentage": 150}], "x": 1}`))
	got := Problems(err)
	want := []Problem{
		{Path: "", Message: `unknown key "x"`},
		{Path: "targets[0].percentage", Message: "must be between 0 and 100, got 150"},
	}
	if len(got) != len(want) {
		t.Fatalf("Problems = %q, want %q", got, want)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Problems = %q, want %q among them", got, w)
		}
	}
	for _, data := range []string{"", "{", strings.Repeat("[", 40)} {
		_, err := Parse([]byte(data))
		if p := Problems(err); len(p) != 1 || p[0].Path != "" || p[0].String() != p[0].Message {
			t.Errorf("Parse(%q): problems %q, want one for the whole document", data, p)
		}
	}
	if p := Problems(nil); p != nil {
		t.Errorf("Problems(nil) = %q", p)
	}
	if p := Problems(errors.New("boom")); len(p) != 1 || p[0].String() != "boom" {
		t.Errorf("Problems(other error) = %q", p)
	}
}

func TestParseConfigTracing(t *testing.T) {
	for doc, keep := range map[string]bool{
		oneTarget(``): false, oneTarget(`,"tracing":"drop"`): false, oneTarget(`,"tracing":"keep"`): true,
	} {
		if got := mustParse(t, doc).Targets[0].KeepTracing; got != keep {
			t.Errorf("%s: KeepTracing = %v, want %v", doc, got, keep)
		}
	}
}
