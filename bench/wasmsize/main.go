// Command wasmsize says where a WebAssembly module's bytes go: its sections, its code
// by Go package and by function, and its data segments, named from the module's name
// section (build/meshmirror.names.wasm keeps it).
//
//	go run ./bench/wasmsize [-top 40] [-files plugin/mirror] build/meshmirror.names.wasm
//
// With -files, the code of the package in that directory is also summed by the file
// that declares each function.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	top := flag.Int("top", 40, "how many of the largest functions and data segments to list")
	dir := flag.String("files", "", "a package directory whose code to sum by file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasmsize [-top n] module.wasm")
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	m, err := Parse(b)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d bytes\n\nsections:\n", flag.Arg(0), m.Total)
	var sections []Item
	for name, size := range m.Sections {
		sections = append(sections, Item{name, size})
	}
	sortBySize(sections)
	list(sections, len(sections))
	fmt.Println("\ncode by package:")
	list(byPackage(m.Funcs), len(m.Funcs))
	if *dir != "" {
		pkg, files, err := Files(*dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		path := ""
		for _, p := range byPackage(m.Funcs) {
			if p.Name == pkg || strings.HasSuffix(p.Name, "/"+pkg) {
				path = p.Name
				break
			}
		}
		fmt.Printf("\ncode of %s by file:\n", path)
		list(byFile(m.Funcs, path, files), len(files))
	}
	fmt.Println("\nlargest functions:")
	funcs := append([]Item(nil), m.Funcs...)
	sortBySize(funcs)
	list(funcs, *top)
	fmt.Println("\nlargest data segments:")
	data := append([]Item(nil), m.Data...)
	sortBySize(data)
	list(data, *top)
}

func list(items []Item, n int) {
	for i, it := range items {
		if i == n {
			break
		}
		fmt.Printf("%9d  %s\n", it.Size, it.Name)
	}
}
