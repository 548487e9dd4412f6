package text

import "strconv"

// Sprintf formats the configuration's messages as fmt.Sprintf does, for the verbs and
// argument types they use: %s and %v of a string or an error, %d of an integer, %q of a
// string, and %%. Anything else is written as fmt writes a bad verb, "%!v(...)", which
// TestSprintfVerbsInUse keeps out of the parser's messages.
//
// It exists for the module's size: fmt and the reflection it needs cost about 40 KB
// under TinyGo (RATIONALE.md, "Why no fmt in the module?").
func Sprintf(format string, args ...any) string {
	out := make([]byte, 0, len(format)+16*len(args))
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+1 == len(format) {
			out = append(out, "%!(NOVERB)"...)
			break
		}
		i++
		verb := format[i]
		if verb == '%' {
			out = append(out, '%')
			continue
		}
		if next == len(args) {
			out = append(out, "%!"...)
			out = append(out, verb)
			out = append(out, "(MISSING)"...)
			continue
		}
		out = appendArg(out, verb, args[next])
		next++
	}
	if next < len(args) {
		out = append(out, "%!(EXTRA)"...)
	}
	return string(out)
}

func appendArg(out []byte, verb byte, arg any) []byte {
	switch verb {
	case 's', 'v':
		switch a := arg.(type) {
		case string:
			return append(out, a...)
		case error:
			return append(out, a.Error()...)
		}
		if verb == 'v' {
			if n, ok := integer(arg); ok {
				return strconv.AppendInt(out, n, 10)
			}
		}
	case 'q':
		if a, ok := arg.(string); ok {
			return strconv.AppendQuote(out, a)
		}
	case 'd':
		if n, ok := integer(arg); ok {
			return strconv.AppendInt(out, n, 10)
		}
	}
	out = append(out, "%!"...)
	out = append(out, verb)
	return append(out, "(unsupported)"...)
}

func integer(arg any) (int64, bool) {
	switch a := arg.(type) {
	case int:
		return int64(a), true
	case int64:
		return a, true
	case int32:
		return int64(a), true
	case uint32:
		return int64(a), true
	}
	return 0, false
}
