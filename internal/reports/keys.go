package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// checkKeys refuses a document in which an object has a key twice, or two keys that
// encoding/json takes for one: it matches keys to fields without regard to case, and
// the last one wins, so {"target":"first","TARGET":"second"} would be indexed under
// "second" while the stored document says "first" to whoever reads it first. The
// error names the keys and the object's path (differences[0]: key "Kind" repeats
// "kind"). A document that is not JSON passes: Parse's decoding says what is wrong.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		path   string
		index  int               // the next element's index, in an array
		keys   map[string]string // folded key → the key as written, in an object
		key    bool              // in an object, the next token is a key
	}
	var stack []frame
	// child is the path of the value about to start in the innermost container.
	child := func(key string) string {
		if len(stack) == 0 {
			return ""
		}
		top := &stack[len(stack)-1]
		if !top.object {
			top.index++
			return top.path + "[" + strconv.Itoa(top.index-1) + "]"
		}
		if top.path == "" {
			return key
		}
		return top.path + "." + key
	}
	var key string // the last key read
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: decoding reports it
		}
		if len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].key {
			top := &stack[len(stack)-1]
			k, ok := tok.(string)
			if !ok { // the end of the object: a value of its container ended
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			folded := foldKey(k)
			if first, seen := top.keys[folded]; seen {
				where := ""
				if top.path != "" {
					where = top.path + ": "
				}
				if first == k {
					return fmt.Errorf("%skey %q appears twice: a report has each key once", where, cut(k))
				}
				return fmt.Errorf("%skey %q repeats %q: keys that differ only in case are one key to a JSON decoder; a report has each once", where, cut(k), cut(first))
			}
			top.keys[folded] = k
			top.key = false
			key = k
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, path: child(key), keys: map[string]string{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{path: child(key)})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		default: // a scalar value
			child(key)
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true // a value ended: a key or the end comes next
		}
	}
}

// foldKey is key as encoding/json compares it with a field's name: two keys are one
// field when their folds are equal (bytes.EqualFold, which also folds the Kelvin sign
// K to k and the long s ſ to s).
func foldKey(key string) string {
	var b []byte
	for i := 0; i < len(key); {
		r, n := utf8.DecodeRuneInString(key[i:])
		b = utf8.AppendRune(b, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return string(b)
}
