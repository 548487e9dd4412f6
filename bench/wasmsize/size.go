package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tetratelabs/wabin/leb128"
)

// Module is what a WebAssembly binary spends its bytes on.
type Module struct {
	// Total is the binary's size.
	Total int
	// Sections maps a section's name ("code", "data", "custom:name", ...) to its size,
	// header included.
	Sections map[string]int
	// Funcs are the defined functions, each with its body's size, length prefix included.
	Funcs []Item
	// Data are the data segments, each with its size in the data section.
	Data []Item
}

// Item is a function or data segment: its name (from the name section, else its index)
// and its size in bytes.
type Item struct {
	Name string
	Size int
}

var sectionNames = []string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "datacount"}

// Parse reads a module's sections, its function bodies and data segments, and names
// them from the name section when there is one.
func Parse(b []byte) (*Module, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly binary")
	}
	m := &Module{Total: len(b), Sections: map[string]int{}}
	r := bytes.NewReader(b[8:])
	imported := 0
	var funcNames, dataNames map[uint32]string
	for r.Len() > 0 {
		start := r.Len()
		id, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		size, _, err := leb128.DecodeUint32(r)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if int(size) > r.Len() {
			return nil, fmt.Errorf("section %d: size %d past the end", id, size)
		}
		body := make([]byte, size)
		_, _ = io.ReadFull(r, body)
		name := fmt.Sprint(id)
		if int(id) < len(sectionNames) {
			name = sectionNames[id]
		}
		switch id {
		case 0:
			n, rest, err := readName(body)
			if err != nil {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			name = "custom:" + n
			if n == "name" {
				if funcNames, dataNames, err = parseNames(rest); err != nil {
					return nil, fmt.Errorf("name section: %w", err)
				}
			}
		case 2:
			if imported, err = countFuncImports(body); err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
		case 10:
			if m.Funcs, err = vector(body, skipSized); err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
		case 11:
			if m.Data, err = vector(body, skipSegment); err != nil {
				return nil, fmt.Errorf("data section: %w", err)
			}
		}
		m.Sections[name] += start - r.Len()
	}
	for i := range m.Funcs {
		m.Funcs[i].Name = nameOr(funcNames, uint32(imported+i), "func")
	}
	for i := range m.Data {
		m.Data[i].Name = nameOr(dataNames, uint32(i), "data")
	}
	return m, nil
}

func nameOr(names map[uint32]string, i uint32, kind string) string {
	if n, ok := names[i]; ok {
		return n
	}
	return fmt.Sprintf("%s[%d]", kind, i)
}

func readName(b []byte) (string, []byte, error) {
	r := bytes.NewReader(b)
	n, _, err := leb128.DecodeUint32(r)
	if err != nil || int(n) > r.Len() {
		return "", nil, errors.New("bad name")
	}
	off := len(b) - r.Len()
	return string(b[off : off+int(n)]), b[off+int(n):], nil
}

// vector measures each entry of a vector (a count, then the entries), which skip
// reads past.
func vector(b []byte, skip func(*bytes.Reader) error) ([]Item, error) {
	r := bytes.NewReader(b)
	count, _, err := leb128.DecodeUint32(r)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, count)
	for range count {
		start := r.Len()
		if err := skip(r); err != nil {
			return nil, err
		}
		items = append(items, Item{Size: start - r.Len()})
	}
	return items, nil
}

// skipSized skips a length-prefixed entry, such as a function body.
func skipSized(r *bytes.Reader) error {
	size, _, err := leb128.DecodeUint32(r)
	if err != nil || int(size) > r.Len() {
		return errors.New("bad entry")
	}
	_, _ = r.Seek(int64(size), io.SeekCurrent)
	return nil
}

// skipSegment skips a data segment: active with a constant offset (flags 0 or 2) or
// passive (flag 1), which is what wasm-ld writes.
func skipSegment(r *bytes.Reader) error {
	flags, _, err := leb128.DecodeUint32(r)
	if err != nil {
		return err
	}
	if flags == 2 { // the memory index
		if _, _, err := leb128.DecodeUint32(r); err != nil {
			return err
		}
	}
	if flags != 1 {
		if err := skipConstExpr(r); err != nil {
			return err
		}
	}
	return skipSized(r)
}

// skipConstExpr skips an i32.const or i64.const offset expression and its end.
func skipConstExpr(r *bytes.Reader) error {
	op, err := r.ReadByte()
	if err != nil {
		return err
	}
	switch op {
	case 0x41:
		_, _, err = leb128.DecodeInt32(r)
	case 0x42:
		_, _, err = leb128.DecodeInt64(r)
	default:
		return fmt.Errorf("offset expression opcode %#x", op)
	}
	if err != nil {
		return err
	}
	if end, err := r.ReadByte(); err != nil || end != 0x0b {
		return errors.New("offset expression without end")
	}
	return nil
}

func countFuncImports(b []byte) (int, error) {
	r := bytes.NewReader(b)
	count, _, err := leb128.DecodeUint32(r)
	if err != nil {
		return 0, err
	}
	funcs := 0
	for range count {
		for range 2 { // module and field names
			n, _, err := leb128.DecodeUint32(r)
			if err != nil {
				return 0, err
			}
			_, _ = r.Seek(int64(n), io.SeekCurrent)
		}
		kind, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0: // func: type index
			funcs++
			_, _, err = leb128.DecodeUint32(r)
		case 1: // table: reftype, limits
			_, _ = r.ReadByte()
			err = skipLimits(r)
		case 2: // memory: limits
			err = skipLimits(r)
		case 3: // global: valtype, mutability
			_, _ = r.ReadByte()
			_, err = r.ReadByte()
		default:
			return 0, fmt.Errorf("import kind %d", kind)
		}
		if err != nil {
			return 0, err
		}
	}
	return funcs, nil
}

func skipLimits(r *bytes.Reader) error {
	flags, err := r.ReadByte()
	if err != nil {
		return err
	}
	if _, _, err = leb128.DecodeUint32(r); err == nil && flags&1 != 0 {
		_, _, err = leb128.DecodeUint32(r)
	}
	return err
}

// parseNames reads the function names (subsection 1) and data segment names
// (subsection 9) of a name section.
func parseNames(b []byte) (funcs, data map[uint32]string, err error) {
	funcs, data = map[uint32]string{}, map[uint32]string{}
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		id, _ := r.ReadByte()
		size, _, err := leb128.DecodeUint32(r)
		if err != nil || int(size) > r.Len() {
			return nil, nil, errors.New("bad subsection")
		}
		sub := make([]byte, size)
		_, _ = io.ReadFull(r, sub)
		var into map[uint32]string
		switch id {
		case 1:
			into = funcs
		case 9:
			into = data
		default:
			continue
		}
		sr := bytes.NewReader(sub)
		count, _, err := leb128.DecodeUint32(sr)
		if err != nil {
			return nil, nil, err
		}
		for range count {
			idx, _, err := leb128.DecodeUint32(sr)
			if err != nil {
				return nil, nil, err
			}
			rest := sub[len(sub)-sr.Len():]
			name, after, err := readName(rest)
			if err != nil {
				return nil, nil, err
			}
			into[idx] = name
			_, _ = sr.Seek(int64(len(sub)-len(after)), io.SeekStart)
		}
	}
	return funcs, data, nil
}

// Package is the Go package a TinyGo symbol belongs to: "(*regexp.Regexp).Match" and
// "regexp.Compile" are both "regexp", "slices.sort[example.com/p.T]" is "slices"; a
// symbol that names no package is returned as is up to its first dot.
func Package(symbol string) string {
	s := strings.TrimLeft(symbol, "(*")
	if i := strings.Index(s, "["); i >= 0 { // type arguments name other packages
		s = s[:i]
	}
	if i := strings.Index(s, ")"); i >= 0 {
		s = s[:i]
	}
	// The package path ends at the first dot after its last slash.
	slash := strings.LastIndex(s, "/")
	if dot := strings.Index(s[slash+1:], "."); dot >= 0 {
		s = s[:slash+1+dot]
	}
	return s
}

// byPackage sums items by the package of their name.
func byPackage(items []Item) []Item {
	sums := map[string]int{}
	for _, it := range items {
		sums[Package(it.Name)] += it.Size
	}
	out := make([]Item, 0, len(sums))
	for name, size := range sums {
		out = append(out, Item{name, size})
	}
	sortBySize(out)
	return out
}

func sortBySize(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Size != items[j].Size {
			return items[i].Size > items[j].Size
		}
		return items[i].Name < items[j].Name
	})
}
