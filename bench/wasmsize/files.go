package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
)

// Files maps a package's functions to the files that declare them, read from the Go
// sources in dir: "parseNumber" and "parser.regex" (for (*parser).regex) name their
// files. Test files are left out.
func Files(dir string) (pkg string, files map[string]string, err error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", nil, err
	}
	files = map[string]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return "", nil, err
		}
		pkg = f.Name.Name
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			key := fn.Name.Name
			if fn.Recv != nil && len(fn.Recv.List) == 1 {
				key = recvName(fn.Recv.List[0].Type) + "." + key
			}
			files[key] = filepath.Base(name)
		}
	}
	return pkg, files, nil
}

func recvName(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr: // a generic receiver
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// Local is a symbol's name within its package, as Files keys it:
// "(*example.com/p.parser).regex$1" is "parser.regex", "example.com/p.f[int]" is "f".
func Local(symbol string) string {
	s := symbol
	if i := strings.IndexAny(s, "$["); i >= 0 {
		s = s[:i]
	}
	recv := ""
	if strings.HasPrefix(s, "(") {
		end := strings.Index(s, ")")
		if end < 0 {
			return s
		}
		recv, s = strings.TrimLeft(s[1:end], "*"), s[end+1:]
		recv = recv[strings.LastIndex(recv, ".")+1:]
	} else if slash := strings.LastIndex(s, "/"); slash >= 0 {
		s = s[slash+1:]
	}
	if recv == "" {
		if dot := strings.Index(s, "."); dot >= 0 {
			s = s[dot+1:]
		}
		return s
	}
	return recv + s // s is ".method"
}

// byFile sums the functions of package path pkgPath by the file that declares them;
// those it cannot place (inlined wrappers, generated methods) go to "(other)".
func byFile(items []Item, pkgPath string, files map[string]string) []Item {
	sums := map[string]int{}
	for _, it := range items {
		if Package(it.Name) != pkgPath {
			continue
		}
		file, ok := files[Local(it.Name)]
		if !ok {
			file = "(other)"
		}
		sums[file] += it.Size
	}
	out := make([]Item, 0, len(sums))
	for name, size := range sums {
		out = append(out, Item{name, size})
	}
	sortBySize(out)
	return out
}
