package mirror

import (
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"
)

// matchOf parses a one-target configuration with the given match object and returns
// the target's Match.
func matchOf(t *testing.T, match string) *config.Match {
	t.Helper()
	cfg := mustParse(t, oneTarget(`,"match":`+match))
	return &cfg.Targets[0].Match
}

func req(method, path string, extra ...[2]string) header.List {
	h := header.List{{":method", method}, {":path", path}, {":authority", "reviews"}, {":scheme", "http"}}
	return append(h, extra...)
}

func TestMatch(t *testing.T) {
	type hdr = [2]string
	tests := []struct {
		name  string
		match string
		h     header.List
		want  bool
	}{
		// Empty rules.
		{"empty match", `{}`, req("DELETE", "/anything"), true},
		{"empty match, no headers", `{}`, header.List{}, true},

		// Methods.
		{"method listed", `{"methods":["GET","POST"]}`, req("POST", "/"), true},
		{"method not listed", `{"methods":["GET","POST"]}`, req("PUT", "/"), false},
		{"method is case-sensitive", `{"methods":["GET"]}`, req("get", "/"), false},
		{"method missing", `{"methods":["GET"]}`, header.List{{":path", "/"}}, false},

		// Paths.
		{"prefix", `{"paths":[{"prefix":"/api/"}]}`, req("GET", "/api/x"), true},
		{"prefix ignores the query", `{"paths":[{"prefix":"/api/"}]}`, req("GET", "/api/x?y=1"), true},
		{"prefix only in the query", `{"paths":[{"prefix":"/api/"}]}`, req("GET", "/x?next=/api/"), false},
		{"prefix miss", `{"paths":[{"prefix":"/api/"}]}`, req("GET", "/apix"), false},
		{"exact", `{"paths":[{"exact":"/login"}]}`, req("GET", "/login"), true},
		{"exact ignores the query", `{"paths":[{"exact":"/login"}]}`, req("GET", "/login?next=/"), true},
		{"exact is not a prefix", `{"paths":[{"exact":"/login"}]}`, req("GET", "/login/x"), false},
		{"regex", `{"paths":[{"regex":"/v[0-9]+/.*"}]}`, req("GET", "/v12/users"), true},
		{"regex ignores the query", `{"paths":[{"regex":"/v[0-9]+/[a-z]*"}]}`, req("GET", "/v1/x?y=1"), true},
		{"regex whole path", `{"paths":[{"regex":"v1"}]}`, req("GET", "/v1/x"), false},
		{"any of the paths", `{"paths":[{"prefix":"/api/"},{"exact":"/login"}]}`, req("GET", "/login"), true},
		{"none of the paths", `{"paths":[{"prefix":"/api/"},{"exact":"/login"}]}`, req("GET", "/logout"), false},
		{"path missing", `{"paths":[{"prefix":"/"}]}`, header.List{{":method", "GET"}}, false},

		// Header conditions.
		{"exact", `{"headers":[{"name":"x-canary","exact":"true"}]}`, req("GET", "/", hdr{"x-canary", "true"}), true},
		{"exact mismatch", `{"headers":[{"name":"x-canary","exact":"true"}]}`, req("GET", "/", hdr{"x-canary", "True"}), false},
		{"exact absent", `{"headers":[{"name":"x-canary","exact":"true"}]}`, req("GET", "/"), false},
		{"exact empty value", `{"headers":[{"name":"x-a","exact":""}]}`, req("GET", "/", hdr{"x-a", ""}), true},
		{"exact empty value absent", `{"headers":[{"name":"x-a","exact":""}]}`, req("GET", "/"), false},
		{"name case-insensitive", `{"headers":[{"name":"X-Canary","exact":"true"}]}`, req("GET", "/", hdr{"x-canary", "true"}), true},
		{"prefix", `{"headers":[{"name":"x-a","prefix":"ab"}]}`, req("GET", "/", hdr{"x-a", "abc"}), true},
		{"prefix miss", `{"headers":[{"name":"x-a","prefix":"ab"}]}`, req("GET", "/", hdr{"x-a", "cab"}), false},
		{"suffix", `{"headers":[{"name":"x-a","suffix":"bc"}]}`, req("GET", "/", hdr{"x-a", "abc"}), true},
		{"suffix miss", `{"headers":[{"name":"x-a","suffix":"bc"}]}`, req("GET", "/", hdr{"x-a", "bca"}), false},
		{"contains", `{"headers":[{"name":"x-a","contains":"b"}]}`, req("GET", "/", hdr{"x-a", "abc"}), true},
		{"contains miss", `{"headers":[{"name":"x-a","contains":"d"}]}`, req("GET", "/", hdr{"x-a", "abc"}), false},
		{"regex", `{"headers":[{"name":"user-agent","regex":"curl/.*"}]}`, req("GET", "/", hdr{"user-agent", "curl/8.4"}), true},
		{"regex whole value", `{"headers":[{"name":"user-agent","regex":"curl/.*"}]}`, req("GET", "/", hdr{"user-agent", "Mozilla curl/8.4"}), false},
		{"regex absent", `{"headers":[{"name":"user-agent","regex":".*"}]}`, req("GET", "/"), false},
		{"present true, present", `{"headers":[{"name":"x-debug","present":true}]}`, req("GET", "/", hdr{"x-debug", ""}), true},
		{"present true, absent", `{"headers":[{"name":"x-debug","present":true}]}`, req("GET", "/"), false},
		{"present false, absent", `{"headers":[{"name":"x-debug","present":false}]}`, req("GET", "/"), true},
		{"present false, present", `{"headers":[{"name":"x-debug","present":false}]}`, req("GET", "/", hdr{"x-debug", "1"}), false},
		{"pseudo-header condition", `{"headers":[{"name":":authority","suffix":"views"}]}`, req("GET", "/"), true},

		// Invert.
		{"invert holds when absent", `{"headers":[{"name":"user-agent","regex":"curl/.*","invert":true}]}`, req("GET", "/"), true},
		{"invert of a match", `{"headers":[{"name":"user-agent","regex":"curl/.*","invert":true}]}`, req("GET", "/", hdr{"user-agent", "curl/8"}), false},
		{"invert of a miss", `{"headers":[{"name":"user-agent","regex":"curl/.*","invert":true}]}`, req("GET", "/", hdr{"user-agent", "wget"}), true},
		{"invert exact when absent", `{"headers":[{"name":"x-a","exact":"1","invert":true}]}`, req("GET", "/"), true},
		{"invert present true", `{"headers":[{"name":"x-a","present":true,"invert":true}]}`, req("GET", "/"), true},
		{"invert present true, present", `{"headers":[{"name":"x-a","present":true,"invert":true}]}`, req("GET", "/", hdr{"x-a", "1"}), false},
		{"invert false is plain", `{"headers":[{"name":"x-a","exact":"1","invert":false}]}`, req("GET", "/"), false},

		// Repeated headers are joined with ",".
		{"repeated joined exact", `{"headers":[{"name":"x-a","exact":"1,2"}]}`, req("GET", "/", hdr{"x-a", "1"}, hdr{"x-a", "2"}), true},
		{"repeated first value alone", `{"headers":[{"name":"x-a","exact":"1"}]}`, req("GET", "/", hdr{"x-a", "1"}, hdr{"x-a", "2"}), false},
		{"repeated suffix", `{"headers":[{"name":"x-a","suffix":",2"}]}`, req("GET", "/", hdr{"x-a", "1"}, hdr{"x-b", "x"}, hdr{"x-a", "2"}), true},

		// All rules together.
		{"all hold", `{"methods":["GET"],"paths":[{"prefix":"/api/"}],"headers":[{"name":"x-a","present":true},{"name":"x-b","exact":"1"}]}`,
			req("GET", "/api/", hdr{"x-a", ""}, hdr{"x-b", "1"}), true},
		{"one header fails", `{"methods":["GET"],"paths":[{"prefix":"/api/"}],"headers":[{"name":"x-a","present":true},{"name":"x-b","exact":"1"}]}`,
			req("GET", "/api/", hdr{"x-a", ""}, hdr{"x-b", "2"}), false},
		{"method fails", `{"methods":["GET"],"paths":[{"prefix":"/api/"}],"headers":[{"name":"x-a","present":true}]}`,
			req("POST", "/api/", hdr{"x-a", ""}), false},
		{"path fails", `{"methods":["GET"],"paths":[{"prefix":"/api/"}],"headers":[{"name":"x-a","present":true}]}`,
			req("GET", "/web/", hdr{"x-a", ""}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := matchOf(t, tt.match)
			if got := matchesHeaders(m, tt.h); got != tt.want {
				t.Errorf("match %s on %v = %v, want %v", tt.match, tt.h, got, tt.want)
			}
		})
	}
}

func TestMatchSpecExample(t *testing.T) {
	cfg := mustParse(t, specExample)
	m := &cfg.Targets[0].Match
	base := func(method, path string, extra ...[2]string) header.List {
		return req(method, path, append([][2]string{{"x-canary", "true"}, {"x-debug", "1"}}, extra...)...)
	}
	tests := []struct {
		name string
		h    header.List
		want bool
	}{
		{"prefix", base("GET", "/api/reviews?x=1"), true},
		{"exact", base("POST", "/login"), true},
		{"regex", base("GET", "/v2/reviews"), true},
		{"method", base("PUT", "/login"), false},
		{"path", base("GET", "/health"), false},
		{"curl excluded", base("GET", "/login", [2]string{"user-agent", "curl/8.4"}), false},
		{"browser allowed", base("GET", "/login", [2]string{"user-agent", "Mozilla/5.0"}), true},
		{"canary missing", req("GET", "/login", [2]string{"x-debug", "1"}), false},
		{"debug missing", req("GET", "/login", [2]string{"x-canary", "true"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchesHeaders(m, tt.h); got != tt.want {
				t.Errorf("matches(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

// matches is match for headers held as a slice, as the tables write them.
func matchesHeaders(m *config.Match, h header.List) bool { return matches(m, header.RawOf(h)) }

func TestParseConfigRegexMatchesWholePath(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		path    string
		want    bool
	}{
		{"versioned path", `/v[0-9]+/.*`, "/v1/x", true},
		{"versioned path without slash", `/v[0-9]+/.*`, "/v1", false},
		{"not anchored at the start", `/v[0-9]+/.*`, "/api/v1/x", false},
		{"substring does not match", `v1`, "/v1/x", false},
		{"whole path", `/v1`, "/v1", true},
		{"not anchored at the end", `/v1`, "/v1/x", false},
		{"alternation is grouped", `/a|/b`, "/a/x", false},
		{"alternation second arm", `/a|/b`, "/b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, oneTarget(`,"match":{"paths":[{"regex":"`+tt.pattern+`"}]}`))
			m := &cfg.Targets[0].Match
			if got := matchesHeaders(m, header.List{{":path", tt.path}}); got != tt.want {
				t.Errorf("regex %q on %q: matches = %v, want %v", tt.pattern, tt.path, got, tt.want)
			}
		})
	}
}

// FuzzScan: whatever bytes ParseRaw accepts, the request path's own walk of them
// (scan, which reads the sizes in place) stays within them.
func FuzzScan(f *testing.F) {
	f.Add(header.Serialize(header.List{{":method", "CONNECT"}, {"x-meshmirror", "t"}, {"upgrade", "ws"}}))
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, data string) {
		raw, err := header.ParseRaw(data)
		if err != nil {
			return
		}
		m := Mirror{cfg: &config.Config{Marker: "x-meshmirror"}}
		unsupported, loop := m.scan(raw)
		_, wantLoop := raw.Get("x-meshmirror")
		if loop != wantLoop && !unsupported {
			t.Fatalf("scan says the marker is there: %v; Get says %v", loop, wantLoop)
		}
	})
}
