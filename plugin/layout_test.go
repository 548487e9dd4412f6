package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is the layout of README.md's table: what each package under plugin/
// may import of the project. Imports go one way, leaves first; only main calls the SDK.
var allowedImports = map[string][]string{
	"mirror":        {"config", "diff", "header", "inflate", "jsoncmp", "report", "endpoint", "summary", "internal/text"},
	"summary":       {"diff", "report", "endpoint", "internal/text"},
	"config":        {"jsoncmp", "internal/text"},
	"jsoncmp":       {"diff", "internal/text"},
	"diff":          {"internal/text"},
	"header":        {"internal/text"},
	"inflate":       {"internal/text"},
	"report":        {"internal/text"},
	"endpoint":      {},
	"internal/text": {},
}

// maxPackageLines is where a package holds several concerns (issue 24).
const maxPackageLines = 2500

// TestLayout: every package under plugin/ is in the table, imports only what it
// allows, never the SDK, opens with a package doc comment, and stays under
// maxPackageLines of non-test Go.
func TestLayout(t *testing.T) {
	const module = "github.com/meshmirror/meshmirror/plugin/"
	seen := 0
	err := filepath.WalkDir(".", func(dir string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || dir == "." || strings.Contains(dir, "testdata") {
			return err
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			return nil
		}
		allowed, ok := allowedImports[filepath.ToSlash(dir)]
		if !ok {
			t.Errorf("plugin/%s is not in allowedImports: say where it sits in the layout", dir)
			return nil
		}
		seen++
		lines, documented := 0, false
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			lines += strings.Count(string(src), "\n")
			f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			documented = documented || f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ")
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case strings.Contains(path, "proxy-wasm-go-sdk"):
					t.Errorf("%s imports the SDK: only plugin/main.go may", name)
				case strings.HasPrefix(path, module) && !slices.Contains(allowed, strings.TrimPrefix(path, module)):
					t.Errorf("%s imports %s, which plugin/%s may not (allowedImports)", name, path, dir)
				}
			}
		}
		if !documented {
			t.Errorf("plugin/%s has no package doc comment", dir)
		}
		if lines > maxPackageLines {
			t.Errorf("plugin/%s has %d lines of non-test Go, more than %d: split it by concern", dir, lines, maxPackageLines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 4 {
		t.Errorf("%d packages under plugin/, want the layout's", seen)
	}
}
