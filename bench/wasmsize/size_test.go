package main

import (
	"os"
	"strings"
	"testing"
)

// The floor f0 is a small TinyGo proxy-wasm module with its name section.
const f0 = "../testdata/f0.names.wasm"

func TestParse(t *testing.T) {
	b, err := os.ReadFile(f0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	sum := 8 // magic and version
	for _, size := range m.Sections {
		sum += size
	}
	if sum != m.Total || m.Total != len(b) {
		t.Errorf("sections sum to %d bytes of %d (file %d)", sum, m.Total, len(b))
	}
	code := 0
	named := map[string]bool{}
	for _, f := range m.Funcs {
		code += f.Size
		named[f.Name] = true
	}
	// The code section is its header (id, size) and the function count around the bodies.
	if over := m.Sections["code"] - code; over < 3 || over > 12 {
		t.Errorf("function bodies sum to %d bytes, the code section is %d", code, m.Sections["code"])
	}
	for _, want := range []string{"_start", "proxy_on_context_create", "runtime.alloc"} {
		if !named[want] {
			t.Errorf("no function named %s", want)
		}
	}
	data := 0
	for _, d := range m.Data {
		data += d.Size
	}
	if data == 0 || data >= m.Sections["data"] {
		t.Errorf("data segments sum to %d bytes, the data section is %d", data, m.Sections["data"])
	}
}

func TestParse_refusesBrokenModules(t *testing.T) {
	b, err := os.ReadFile(f0)
	if err != nil {
		t.Fatal(err)
	}
	for name, input := range map[string][]byte{
		"empty":     nil,
		"not wasm":  []byte("\x7fELF\x02\x01\x01\x00"),
		"truncated": b[:len(b)/2],
	} {
		if _, err := Parse(input); err == nil {
			t.Errorf("%s: parsed without an error", name)
		}
	}
}

func TestPackageAndLocal(t *testing.T) {
	for _, tt := range []struct{ symbol, pkg, local string }{
		{"regexp.Compile", "regexp", "Compile"},
		{"(*regexp.Regexp).MatchString", "regexp", "Regexp.MatchString"},
		{"(*regexp/syntax.parser).push", "regexp/syntax", "parser.push"},
		{"github.com/a/b/mirror.parseNumber", "github.com/a/b/mirror", "parseNumber"},
		{"(github.com/a/b/mirror.nat).shl", "github.com/a/b/mirror", "nat.shl"},
		{"(*github.com/a/b/mirror.parser).regex$1", "github.com/a/b/mirror", "parser.regex"},
		{"slices.pdqsortOrdered[int]", "slices", "pdqsortOrdered"},
		{"slices.symMergeCmpFunc[internal/fmtsort.KeyValue]", "slices", "symMergeCmpFunc"},
		{"proxy_on_configure", "proxy_on_configure", "proxy_on_configure"},
	} {
		if got := Package(tt.symbol); got != tt.pkg {
			t.Errorf("Package(%q) = %q, want %q", tt.symbol, got, tt.pkg)
		}
		if got := Local(tt.symbol); got != tt.local {
			t.Errorf("Local(%q) = %q, want %q", tt.symbol, got, tt.local)
		}
	}
}

func TestFiles(t *testing.T) {
	pkg, files, err := Files(".")
	if err != nil {
		t.Fatal(err)
	}
	if pkg != "main" {
		t.Errorf("package %q, want main", pkg)
	}
	for key, want := range map[string]string{"Parse": "size.go", "recvName": "files.go", "main": "main.go"} {
		if files[key] != want {
			t.Errorf("%s is in %q, want %s", key, files[key], want)
		}
	}
	for key := range files {
		if strings.HasPrefix(key, "Test") {
			t.Errorf("a test function, %s, was mapped", key)
		}
	}
	items := []Item{{"m.Parse", 10}, {"m.recvName$2", 5}, {"m.gone", 1}, {"other.Parse", 7}}
	got := byFile(items, "m", files)
	want := []Item{{"size.go", 10}, {"files.go", 5}, {"(other)", 1}}
	if len(got) != len(want) {
		t.Fatalf("byFile = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("byFile = %v, want %v", got, want)
		}
	}
}
