package mirror

// jsonValue is one value of a scanned jsonDoc, as the configuration parser reads it:
// the few questions it asked of gjson.Result, answered from the scanner's nodes so
// that the module carries one JSON reader, not two.
type jsonValue struct {
	doc *jsonDoc
	n   int32
}

// parseJSON scans data, nested at most depth levels, and returns its root value;
// false when data is not JSON.
func parseJSON(data []byte, depth int) (jsonValue, bool) {
	d := &jsonDoc{maxDepth: depth}
	if !d.scan(data) {
		return jsonValue{}, false
	}
	return jsonValue{doc: d}, true
}

func (v jsonValue) kind() byte { return v.doc.nodes[v.n].kind }

// IsObject and IsArray report whether v is an object or an array.
func (v jsonValue) IsObject() bool { return v.kind() == kindObject }

// IsArray reports whether v is an array.
func (v jsonValue) IsArray() bool { return v.kind() == kindArray }

// IsString reports whether v is a string.
func (v jsonValue) IsString() bool { return v.kind() == kindString }

// IsNumber reports whether v is a number.
func (v jsonValue) IsNumber() bool { return v.kind() == kindNumber }

// IsBool reports whether v is true or false.
func (v jsonValue) IsBool() bool { return v.kind() == kindTrue || v.kind() == kindFalse }

// IsNull reports whether v is null.
func (v jsonValue) IsNull() bool { return v.kind() == kindNull }

// Raw is v's JSON text, a copy.
func (v jsonValue) Raw() string { return string(v.doc.raw(v.n)) }

// Str is the string v holds, unescaped, a copy; v must be a string.
func (v jsonValue) Str() string {
	if v.doc.nodes[v.n].escaped {
		return string(unescapeJSON(nil, v.doc.inner(v.n)))
	}
	return string(v.doc.inner(v.n))
}

// Bool is whether v is true.
func (v jsonValue) Bool() bool { return v.kind() == kindTrue }

// Array is the elements of array v.
func (v jsonValue) Array() []jsonValue {
	var out []jsonValue
	for m, end := v.n+1, v.doc.nodes[v.n].next; m < end; m = v.doc.nodes[m].next {
		out = append(out, jsonValue{doc: v.doc, n: m})
	}
	return out
}

// ForEach calls each with the key and value of every member of object v, in document
// order, until it returns false.
func (v jsonValue) ForEach(each func(key string, value jsonValue) bool) {
	for m, end := v.n+1, v.doc.nodes[v.n].next; m < end; m = v.doc.nodes[m].next {
		if !each(string(v.doc.key(m)), jsonValue{doc: v.doc, n: m}) {
			return
		}
	}
}
