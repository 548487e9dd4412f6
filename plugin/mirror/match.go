package mirror

import (
	"slices"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"
)

// matches reports whether the request satisfies every rule of m.
func matches(m *config.Match, h header.Raw) bool {
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
func holds(r *config.HeaderRule, h header.Raw) bool {
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
