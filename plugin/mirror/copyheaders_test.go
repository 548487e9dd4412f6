package mirror

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/header"
)

func TestMirrorCopyHeaders(t *testing.T) {
	h := header.List{
		{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default"}, {":scheme", "http"},
		{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
		{"content-length", "4"}, {"transfer-encoding", "chunked"}, {"x-keep", "1"}, {"x-keep", "2"},
	}
	tests := []struct {
		name  string
		extra string
		want  [][2]string
	}{
		{
			name: "no mutations",
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default"}, {":scheme", "http"},
				{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "authority",
			extra: `,"authority":"reviews-shadow.default.svc.cluster.local"`,
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews-shadow.default.svc.cluster.local"},
				{":scheme", "http"}, {"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "authoritySuffix",
			extra: `,"authoritySuffix":"-shadow"`,
			want: [][2]string{
				{":method", "POST"}, {":path", "/api/x?y=1"}, {":authority", "reviews.default-shadow"}, {":scheme", "http"},
				{"authorization", "secret"}, {"x-env", "prod"}, {"cookie", "a=1"}, {"cookie", "b=2"},
				{"x-keep", "1"}, {"x-keep", "2"}, {"x-meshmirror", "t"},
			},
		},
		{
			name:  "set and remove",
			extra: `,"headers":{"set":{"X-Env":"shadow","x-new":"n",":path":"/shadow"},"remove":["Authorization","cookie","x-absent"]}`,
			want: [][2]string{
				{":method", "POST"}, {":authority", "reviews.default"}, {":scheme", "http"},
				{"x-keep", "1"}, {"x-keep", "2"},
				{"x-env", "shadow"}, {"x-new", "n"}, {":path", "/shadow"}, {"x-meshmirror", "t"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, oneTarget(tt.extra))
			out := run(m, h, 0)
			if len(out) != 1 {
				t.Fatalf("got %d copies, want 1", len(out))
			}
			c := out[0]
			got := c.Headers
			// Set headers follow in the order of the JSON object, the marker last.
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headers\n got %v\nwant %v", got, tt.want)
			}
			for _, name := range []string{"content-length", "transfer-encoding"} {
				if v := headerValues(got, name); v != nil {
					t.Errorf("copy carries %s: %v", name, v)
				}
			}
			if v := headerValues(got, "x-meshmirror"); !reflect.DeepEqual(v, []string{"t"}) {
				t.Errorf("marker = %v, want [t]", v)
			}
			if c.Cluster != "c" || c.TimeoutMs != 5000 || c.Target != 0 {
				t.Errorf("copy = %+v", c)
			}
			// The primary's headers are not changed.
			if h[2][1] != "reviews.default" || h[4][0] != "authorization" || len(h) != 12 {
				t.Errorf("request headers changed: %v", h)
			}
			rec.only(t, 0, map[Counter]int{Matched: 1})
		})
	}
}

func TestMirrorCopyAuthorityWithoutOriginal(t *testing.T) {
	h := header.List{{":method", "GET"}, {":path", "/"}}
	m, _ := newMirror(t, oneTarget(`,"authority":"shadow.local"`))
	out := run(m, h, 0)
	if len(out) != 1 || !reflect.DeepEqual(headerValues(out[0].Headers, ":authority"), []string{"shadow.local"}) {
		t.Errorf("copies %+v, want :authority shadow.local", out)
	}
	m, _ = newMirror(t, oneTarget(`,"authoritySuffix":"-shadow"`))
	out = run(m, h, 0)
	if len(out) != 1 || headerValues(out[0].Headers, ":authority") != nil {
		t.Errorf("copies %+v, want no :authority", out)
	}
}

func TestMirrorMarkerOnCopyPerTarget(t *testing.T) {
	m, _ := newMirror(t, `{"marker":"x-shadow","targets":[{"name":"a","cluster":"ca"},{"name":"b","cluster":"cb"}]}`)
	out := run(m, req("GET", "/"), 0)
	if len(out) != 2 {
		t.Fatalf("got %d copies, want 2", len(out))
	}
	for i, name := range []string{"a", "b"} {
		if out[i].Target != i {
			t.Errorf("copy %d: Target = %d", i, out[i].Target)
		}
		if v := headerValues(out[i].Headers, "x-shadow"); !reflect.DeepEqual(v, []string{name}) {
			t.Errorf("copy %d: marker %v, want [%s]", i, v, name)
		}
		if v := headerValues(out[i].Headers, "x-meshmirror"); v != nil {
			t.Errorf("copy %d carries the default marker %v", i, v)
		}
	}
}

func TestWithSuffix(t *testing.T) {
	tests := []struct{ authority, want string }{
		{"reviews", "reviews-shadow"},
		{"reviews:9080", "reviews-shadow:9080"},
		{"reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local-shadow:9080"},
		{"[::1]", "[::1]-shadow"},
		{"[::1]:8080", "[::1]-shadow:8080"},
	}
	for _, tc := range tests {
		if got := withSuffix(tc.authority, "-shadow"); got != tc.want {
			t.Errorf("withSuffix(%q) = %q, want %q", tc.authority, got, tc.want)
		}
	}
}

// TestMirrorHeadersReused: a recycled copy's header slice serves the next copy,
// which holds its own request's headers, and the rewritten :authority of the last
// request is reused only for the same authority.
func TestMirrorHeadersReused(t *testing.T) {
	m, _ := newMirror(t, `{"targets":[{"name":"a","cluster":"c","authoritySuffix":"-shadow"}]}`)
	var r Request
	copyOf := func(authority, path string) []Copy {
		t.Helper()
		if !m.Start(&r, header.List{{":method", "GET"}, {":path", path}, {":authority", authority}}) {
			t.Fatalf("%s%s not copied", authority, path)
		}
		return m.Finish(&r, nil, 0, nil)
	}
	want := func(c Copy, authority, path string) {
		t.Helper()
		got := header.List(c.Headers)
		if a, _ := got.Get(":authority"); a != authority {
			t.Errorf(":authority = %q, want %q", a, authority)
		}
		if p, _ := got.Get(":path"); p != path {
			t.Errorf(":path = %q, want %q", p, path)
		}
	}
	first := copyOf("reviews:9080", "/one")
	want(first[0], "reviews-shadow:9080", "/one")
	m.Recycle(first)
	second := copyOf("reviews:9080", "/two")
	if &second[0].Headers[0] != &first[0].Headers[0] {
		t.Error("the second copy did not reuse the first one's header slice")
	}
	want(second[0], "reviews-shadow:9080", "/two")
	m.Recycle(second)
	want(copyOf("ratings", "/three")[0], "ratings-shadow", "/three")
	want(copyOf("reviews:9080", "/four")[0], "reviews-shadow:9080", "/four")
}

// TestCopyDropsRouterAndTraceHeaders: the copy never carries the x-envoy- headers
// Envoy's router acts on, and carries trace context only with tracing "keep";
// x-request-id and other x-envoy- headers stay.
func TestCopyDropsRouterAndTraceHeaders(t *testing.T) {
	request := header.List{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"user-agent", "u"},
		{"x-request-id", "rid"}, {"x-envoy-original-path", "/old"}, {"sec-fetch-mode", "cors"}, {"grpc-timeout", "1S"}}
	for _, name := range routerHeaders {
		request = append(request, [2]string{name, "0"})
	}
	for _, name := range append(traceHeaders, "x-datadog-trace-id", "x-datadog-parent-id") {
		request = append(request, [2]string{name, "trace"})
	}
	kept := []string{":method", ":path", ":authority", "user-agent", "x-request-id", "x-envoy-original-path",
		"sec-fetch-mode", "grpc-timeout", "x-meshmirror"}
	for _, tc := range []struct {
		tracing string
		want    []string
	}{
		{"drop", kept},
		{"keep", append(append(kept[:len(kept):len(kept)], traceHeaders...), "x-datadog-trace-id", "x-datadog-parent-id")},
	} {
		cfg := mustParse(t, `{"targets":[{"name":"t","cluster":"c","tracing":"`+tc.tracing+`",
			"headers":{"set":{"traceparent":"00-set-by-the-target"}}}]}`)
		got := map[string]bool{}
		for _, kv := range copyHeaders(&cfg.Targets[0], header.RawOf(request), cfg.Marker, &targetState{}, nil) {
			got[kv[0]] = true
		}
		want := map[string]bool{"traceparent": true} // set by the target: always there
		for _, name := range tc.want {
			want[name] = true
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tracing %s: copy headers %v, want %v", tc.tracing, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{"application/grpc": true, "application/grpc+proto": true,
		"application/grpc;charset=utf-8": true, "application/grpc-web": false, "application/json": false, "": false} {
		if got := isGRPC(header.RawOf(header.List{{"content-type", ct}})); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}
