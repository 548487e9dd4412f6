package text

import (
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sprintf must write what fmt.Sprintf writes for every verb and type it supports.
func TestSprintf_matchesFmt(t *testing.T) {
	err := errors.New(`bad "thing"`)
	tests := []struct {
		name   string
		format string
		args   []any
	}{
		{"plain", "no verbs at all", nil},
		{"percent", "100%% of %d", []any{7}},
		{"string", "got %s, %v", []any{"a b", "c\td"}},
		{"quote", "key %q (did you mean %q?)", []any{"x\"y\n\u00e9\x00", ""}},
		{"error", "regex: %v; %s", []any{err, err}},
		{"ints", "%d %d %d %d %v", []any{-3, int64(1 << 40), int32(-5), uint32(1 << 31), 12}},
		{"trailing percent", "50%", nil},
		{"unicode", "héllo %q", []any{"日本\u2028"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := Sprintf(tt.format, tt.args...), fmt.Sprintf(tt.format, tt.args...); got != want {
				t.Errorf("sprintf(%q) = %q, fmt.Sprintf gives %q", tt.format, got, want)
			}
		})
	}
}

// What sprintf does not support is visible in its output, never dropped.
func TestSprintf_unsupported(t *testing.T) {
	for _, tt := range []struct {
		format string
		args   []any
		want   string
	}{
		{"%x", []any{1}, "%!x(unsupported)"},
		{"%q", []any{1}, "%!q(unsupported)"},
		{"%d", []any{"s"}, "%!d(unsupported)"},
		{"%s", []any{1.5}, "%!s(unsupported)"},
		{"%d %d", []any{1}, "1 %!d(MISSING)"},
		{"%d", []any{1, 2}, "1%!(EXTRA)"},
	} {
		if got := Sprintf(tt.format, tt.args...); got != tt.want {
			t.Errorf("sprintf(%q, %v) = %q, want %q", tt.format, tt.args, got, tt.want)
		}
	}
}

func FuzzSprintf(f *testing.F) {
	f.Add("a %s b %q c %d %v %%", "x\x01y", int64(-12))
	f.Fuzz(func(t *testing.T, prefix, s string, n int64) {
		// Only the supported verbs: the fuzzer varies the text around them and the values.
		format := strings.ReplaceAll(prefix, "%", "%%") + " %s %q %d %v %v"
		args := []any{s, s, n, errors.New(s), int(int32(n))}
		if got, want := Sprintf(format, args...), fmt.Sprintf(format, args...); got != want {
			t.Fatalf("sprintf(%q) = %q, fmt.Sprintf gives %q", format, got, want)
		}
	})
}

// Every format the plugin's packages hand to addf or Sprintf uses only the verbs
// Sprintf supports, with as many arguments as verbs, and an integer verb only where
// the argument is not plainly a string.
func TestSprintfVerbsInUse(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	verb := regexp.MustCompile(`%.`)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := goparser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			first := 0
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if fn.Name != "Sprintf" {
					return true
				}
			case *ast.SelectorExpr:
				switch fn.Sel.Name {
				case "Sprintf":
				case "addf":
					first = 1 // the path comes first
				default:
					return true
				}
			default:
				return true
			}
			if len(call.Args) <= first || call.Ellipsis.IsValid() {
				return true // addf passing its own format on
			}
			lit, ok := call.Args[first].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: the format is not a literal", fset.Position(call.Pos()))
				return true
			}
			format, _ := strconv.Unquote(lit.Value)
			verbs := 0
			for _, v := range verb.FindAllString(format, -1) {
				switch v {
				case "%%":
				case "%s", "%q", "%d", "%v":
					verbs++
				default:
					t.Errorf("%s: verb %s in %q, which sprintf does not support", fset.Position(call.Pos()), v, format)
				}
			}
			if args := len(call.Args) - first - 1; args != verbs {
				t.Errorf("%s: %q has %d verbs and %d arguments", fset.Position(call.Pos()), format, verbs, args)
			}
			checked++
			return true
		})
	}
	if checked < 40 {
		t.Errorf("checked %d formats; the parser has more than 40, so the scan missed some", checked)
	}
}
