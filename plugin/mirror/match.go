package mirror

import "strings"

// Headers is a request's header list as Envoy hands it over: lower-case names,
// pseudo-headers included, a name possibly repeated.
type Headers [][2]string

// Get returns the value of the header name (lower case) and whether it is present.
// Repeated headers are joined with ",", as Envoy's header matchers see them. A
// pseudo-header appears at most once (RFC 9113, 8.3; Envoy's codecs refuse repeats)
// and first, so its search stops where it is found.
func (h Headers) Get(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	value, found := "", false
	pseudo := name[0] == ':'
	for _, kv := range h {
		// Comparing the lengths first skips most names without the call into TinyGo's
		// runtime that comparing strings is: this runs for every rule of every request.
		if len(kv[0]) != len(name) || kv[0][0] != name[0] || kv[0] != name {
			continue
		}
		if pseudo {
			return kv[1], true
		}
		if found {
			value += "," + kv[1]
		} else {
			value, found = kv[1], true
		}
	}
	return value, found
}

// match reports whether the request satisfies every rule of m.
func (m *Match) match(h RawHeaders) bool {
	if len(m.Methods) > 0 {
		method, _ := h.Get(":method")
		if !contains(m.Methods, method) {
			return false
		}
	}
	if len(m.Paths) > 0 {
		path, _ := h.Get(":path")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if !anyPath(m.Paths, path) {
			return false
		}
	}
	for i := range m.Headers {
		if !m.Headers[i].holds(h) {
			return false
		}
	}
	return true
}

func anyPath(rules []PathRule, path string) bool {
	for _, r := range rules {
		switch {
		case r.Regex != nil:
			if r.Regex.MatchString(path) {
				return true
			}
		case r.Prefix != "":
			if strings.HasPrefix(path, r.Prefix) {
				return true
			}
		case path == r.Exact:
			return true
		}
	}
	return false
}

// holds evaluates the condition; an inverted condition holds when the header is absent.
func (r *HeaderRule) holds(h RawHeaders) bool {
	value, present := h.Get(r.Name)
	var ok bool
	switch r.Kind {
	case Present:
		ok = present == r.Present
	case Exact:
		ok = present && value == r.Value
	case Prefix:
		ok = present && strings.HasPrefix(value, r.Value)
	case Suffix:
		ok = present && strings.HasSuffix(value, r.Value)
	case Contains:
		ok = present && strings.Contains(value, r.Value)
	case Regex:
		ok = present && r.Regex.MatchString(value)
	}
	return ok != r.Invert
}
