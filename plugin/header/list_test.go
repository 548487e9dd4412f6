package header

import "testing"

func TestHeadersGet(t *testing.T) {
	h := List{{":path", "/"}, {"x-a", "1"}, {"x-b", ""}, {"x-a", "2"}, {"x-a", "3"}, {"X-C", "upper"}}
	tests := []struct {
		name      string
		key       string
		want      string
		wantFound bool
	}{
		{"pseudo-header", ":path", "/", true},
		{"repeated joined with comma", "x-a", "1,2,3", true},
		{"present with empty value", "x-b", "", true},
		{"absent", "x-z", "", false},
		{"exact name only", "x-c", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := h.Get(tt.key)
			if got != tt.want || found != tt.wantFound {
				t.Errorf("Get(%q) = %q, %v; want %q, %v", tt.key, got, found, tt.want, tt.wantFound)
			}
		})
	}
	if v, ok := List(nil).Get("x"); v != "" || ok {
		t.Errorf("nil Headers Get = %q, %v", v, ok)
	}
}
