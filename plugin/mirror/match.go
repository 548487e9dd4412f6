package mirror

import (
	"slices"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
)

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

// matches reports whether the request satisfies every rule of m.
func matches(m *config.Match, h RawHeaders) bool {
	if len(m.Methods) > 0 {
		method, _ := h.Get(":method")
		if !slices.Contains(m.Methods, method) {
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
		if !holds(&m.Headers[i], h) {
			return false
		}
	}
	return true
}

func anyPath(rules []config.PathRule, path string) bool {
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

// holds evaluates the condition r; an inverted condition holds when the header is absent.
func holds(r *config.HeaderRule, h RawHeaders) bool {
	value, present := h.Get(r.Name)
	var ok bool
	switch r.Kind {
	case config.Present:
		ok = present == r.Present
	case config.Exact:
		ok = present && value == r.Value
	case config.Prefix:
		ok = present && strings.HasPrefix(value, r.Value)
	case config.Suffix:
		ok = present && strings.HasSuffix(value, r.Value)
	case config.Contains:
		ok = present && strings.Contains(value, r.Value)
	case config.Regex:
		ok = present && r.Regex.MatchString(value)
	}
	return ok != r.Invert
}
