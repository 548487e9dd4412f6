package endpoint

import (
	"strings"
	"testing"
)

// tests is the one table of the rule, for the plugin's summaries and the receiver alike.
var tests = []struct{ path, want string }{
	{"", ""},
	{"/", "/"},
	{"/api/items", "/api/items"},
	{"/api/items/42", "/api/items/{id}"},
	{"/api/items/42/reviews/7?page=2", "/api/items/{id}/reviews/{id}"},
	{"/api/items?id=42", "/api/items"},
	{"/42", "/{id}"},
	{"42", "{id}"},
	{"/users/3F2504E0-4F89-11D3-9A0C-0305E82C3301/cart", "/users/{id}/cart"},
	{"/users/3F2504E0-4F89-11D3-9A0C-0305E82C330/cart", "/users/3F2504E0-4F89-11D3-9A0C-0305E82C330/cart"}, // 35 characters
	{"/blobs/0123456789abcdef0123", "/blobs/{id}"},
	{"/blobs/0123456789ABCDEF", "/blobs/{id}"},
	{"/blobs/0123456789abcde", "/blobs/0123456789abcde"}, // 15 hex digits: a word, maybe
	{"/blobs/0123456789abcdeg", "/blobs/0123456789abcdeg"},
	{"/v2/items", "/v2/items"},
	{"/api/café", "/api/café"},
	{"/a//b/", "/a//b/"},
	{"/a/1/", "/a/{id}/"},
	{"/-1/+2/1.5", "/-1/+2/1.5"},
}

func TestOf(t *testing.T) {
	for _, tc := range tests {
		if got := Of(tc.path); got != tc.want {
			t.Errorf("Of(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if got := string(Append([]byte("x"), tc.path)); got != "x"+tc.want {
			t.Errorf("Append(x, %q) = %q, want %q", tc.path, got, "x"+tc.want)
		}
	}
}

func TestOf_allocatesOnlyToRewrite(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Of("/api/items?page=2") }); n != 0 {
		t.Errorf("Of of a path without ids allocates %v times", n)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], "/api/items/42") }); n != 0 {
		t.Errorf("Append into a large enough buffer allocates %v times", n)
	}
}

// FuzzOf checks Of against the rule written the plain way, with strings.Split.
func FuzzOf(f *testing.F) {
	for _, tc := range tests {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		want := path
		if i := strings.IndexByte(want, '?'); i >= 0 {
			want = want[:i]
		}
		segs := strings.Split(want, "/")
		for i, s := range segs {
			if isID(s) {
				segs[i] = ID
			}
		}
		if got := Of(path); got != strings.Join(segs, "/") {
			t.Fatalf("Of(%q) = %q, want %q", path, got, strings.Join(segs, "/"))
		}
	})
}
