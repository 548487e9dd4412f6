package jsoncmp

// Value is one value of a scanned jsonDoc, as the configuration parser reads it:
// the few questions it asked of gjson.Result, answered from the scanner's nodes so
// that the module carries one JSON reader, not two.
type Value struct {
	doc *jsonDoc
	n   int32
}

// Parse scans data, nested at most depth levels, and returns its root value;
// false when data is not JSON.
func Parse(data []byte, depth int) (Value, bool) {
	d := &jsonDoc{maxDepth: depth}
	if !d.scan(data) {
		return Value{}, false
	}
	return Value{doc: d}, true
}

func (v Value) kind() byte { return v.doc.nodes[v.n].kind }

// IsObject and IsArray report whether v is an object or an array.
func (v Value) IsObject() bool { return v.kind() == kindObject }

// IsArray reports whether v is an array.
func (v Value) IsArray() bool { return v.kind() == kindArray }

// IsString reports whether v is a string.
func (v Value) IsString() bool { return v.kind() == kindString }

// IsNumber reports whether v is a number.
func (v Value) IsNumber() bool { return v.kind() == kindNumber }

// IsBool reports whether v is true or false.
func (v Value) IsBool() bool { return v.kind() == kindTrue || v.kind() == kindFalse }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind() == kindNull }

// Raw is v's JSON text, a copy.
func (v Value) Raw() string { return string(v.doc.raw(v.n)) }

// Str is the string v holds, unescaped, a copy; v must be a string.
func (v Value) Str() string {
	if v.doc.nodes[v.n].escaped {
		return string(unescapeJSON(nil, v.doc.inner(v.n)))
	}
	return string(v.doc.inner(v.n))
}

// Bool is whether v is true.
func (v Value) Bool() bool { return v.kind() == kindTrue }

// Array is the elements of array v.
func (v Value) Array() []Value {
	var out []Value
	for m, end := v.n+1, v.doc.nodes[v.n].next; m < end; m = v.doc.nodes[m].next {
		out = append(out, Value{doc: v.doc, n: m})
	}
	return out
}

// ForEach calls each with the key and value of every member of object v, in document
// order, until it returns false.
func (v Value) ForEach(each func(key string, value Value) bool) {
	for m, end := v.n+1, v.doc.nodes[v.n].next; m < end; m = v.doc.nodes[m].next {
		if !each(string(v.doc.key(m)), Value{doc: v.doc, n: m}) {
			return
		}
	}
}

// DepthWithin reports whether the JSON text nests at most max levels; if not, it
// returns the offset where it goes deeper. It reads brackets outside strings only.
func DepthWithin(data []byte, max int) (int, bool) {
	depth, inString, escaped := 0, false, false
	for i, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return i, false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return 0, true
}
