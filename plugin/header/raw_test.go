package header

import (
	"slices"
	"strings"
	"testing"
)

var rawCases = []List{
	nil,
	{},
	{{":method", "GET"}},
	{{":authority", "a"}, {":path", "/x?y"}, {":method", "POST"}, {"cookie", "a=1"}, {"cookie", "b=2"}, {"x-empty", ""}},
	{{"", ""}, {"a", "\x00"}, {"b\x00c", "d"}},
}

// TestRawHeaders checks every read of the view against the same read of the slice.
func TestRawHeaders(t *testing.T) {
	names := []string{"", ":method", ":path", "cookie", "x-empty", "absent", "a", "b\x00c", ":authority"}
	for _, h := range rawCases {
		raw, err := ParseRaw(Serialize(h))
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		if raw.Len() != len(h) {
			t.Errorf("%q: Len = %d, want %d", h, raw.Len(), len(h))
		}
		if got := raw.List(); len(got) != len(h) || (len(h) > 0 && !slices.Equal(got, h)) {
			t.Errorf("%q: Headers = %q", h, got)
		}
		for _, name := range names {
			gv, gok := raw.Get(name)
			wv, wok := h.Get(name)
			if gv != wv || gok != wok {
				t.Errorf("%q: Get(%q) = %q, %v, want %q, %v", h, name, gv, gok, wv, wok)
			}
		}
	}
}

// TestParseRawHeadersRejects: a map the host got wrong is an error naming what is
// wrong, never a read past its end.
func TestParseRawHeadersRejects(t *testing.T) {
	good := Serialize(List{{":method", "GET"}, {"x", "y"}})
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "less than the 4 of the count"},
		{"short count", "\x01\x00", "less than the 4 of the count"},
		{"huge count", "\xff\xff\xff\xff", "more than"},
		{"sizes cut", "\x02\x00\x00\x00\x01\x00\x00\x00", "too few for the sizes of 2 headers"},
		{"data cut", good[:len(good)-1], "header 2 of 2 passes the end"},
		{"size past the end", "\x01\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00", "header 1 of 1 passes the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRaw(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRaw(%q) = %v, want an error with %q", tt.data, err, tt.want)
			}
		})
	}
}

// FuzzRawHeaders: whatever the bytes, ParseRaw either refuses them or returns
// a view every read of which stays within them and agrees with the slice it builds.
func FuzzRawHeaders(f *testing.F) {
	for _, h := range rawCases {
		f.Add(Serialize(h), "cookie")
	}
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", ":path")
	f.Fuzz(func(t *testing.T, data, name string) {
		raw, err := ParseRaw(data)
		if err != nil {
			return
		}
		h := raw.List()
		gv, gok := raw.Get(name)
		if wv, wok := h.Get(name); gv != wv || gok != wok {
			t.Fatalf("Get(%q) = %q, %v; the slice says %q, %v", name, gv, gok, wv, wok)
		}
		again, err := ParseRaw(Serialize(h))
		if err != nil || !slices.Equal(again.List(), h) {
			t.Fatalf("a round trip changed %q: %q, %v", h, again.List(), err)
		}
	})
}
