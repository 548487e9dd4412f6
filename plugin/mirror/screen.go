package mirror

import "strings"

// Screening: most requests match no target, and reading every header of one
// (proxy_get_header_map_pairs) cost more than everything the mirror then did with
// them (BENCHMARKS.md, "Request path"). Screen settles such a request from the few
// headers the rules name, each read on its own (proxy_get_header_map_value); a
// request it cannot settle for certain goes to Start with all of its headers, which
// decides it as before. Screen only ever settles what Start would decide the same
// way, with the same counters: a request that cannot be mirrored, one that carries
// the marker, one that no target can match.
//
// Envoy's proxy_get_header_map_value returns the first value of a repeated header
// (source/extensions/common/wasm/context.cc), while the rules see the values joined
// with "," (Headers.Get). So from a single read a rule is settled only when every
// joined value starting with the one read settles it the same way: an absent header,
// a presence test, an exact or prefix value that cannot be completed into the one
// wanted. Pseudo-headers are never repeated; their reads are exact.

// HeaderLookup reads one request header: its value (for a repeated header, the first
// one or all of them joined with ","), whether it is present, and ok false when the
// host could not be asked.
type HeaderLookup func(name string) (value string, present, ok bool)

// maxScreenReads bounds the header reads Screen makes for one request. Each read is
// a call into the host that costs about a fifth of reading every header at once
// (BENCHMARKS.md), so a configuration whose rules would need more reads than this to
// rule a request out is not screened.
const maxScreenReads = 8

// screenPlan is what a configuration's rules need of a request to rule it out,
// computed once per configuration.
type screenPlan struct {
	// on is false for a configuration no single read can settle: a target with no
	// rule matches every request, or the rules name too many headers.
	on bool
}

// planScreen decides whether the rules of cfg are worth screening: the fixed reads
// (the marker, upgrade, :protocol and :method) and one per other name the rules read.
func planScreen(cfg *Config) screenPlan {
	names := []string{cfg.Marker, "upgrade", ":protocol", ":method"}
	for i := range cfg.Targets {
		m := &cfg.Targets[i].Match
		if len(m.Methods) == 0 && len(m.Paths) == 0 && len(m.Headers) == 0 {
			return screenPlan{}
		}
		if len(m.Paths) > 0 && !contains(names, ":path") {
			names = append(names, ":path")
		}
		for _, r := range m.Headers {
			if !contains(names, r.Name) {
				names = append(names, r.Name)
			}
		}
	}
	return screenPlan{on: len(names) <= maxScreenReads}
}

// headerReads remembers the reads of one request, so that each name is read once.
type headerReads struct {
	get     HeaderLookup
	n       int
	names   [maxScreenReads]string
	values  [maxScreenReads]string
	present [maxScreenReads]bool
}

// read returns the header's value and presence; ok is false when the host could not
// be asked, or when the request has had its share of reads.
func (h *headerReads) read(name string) (value string, present, ok bool) {
	for i := 0; i < h.n; i++ {
		if len(h.names[i]) == len(name) && h.names[i] == name {
			return h.values[i], h.present[i], true
		}
	}
	if h.n == maxScreenReads {
		return "", false, false
	}
	if value, present, ok = h.get(name); !ok {
		return "", false, false
	}
	h.names[h.n], h.values[h.n], h.present[h.n] = name, value, present
	h.n++
	return value, present, true
}

// Screen settles the request from single header reads when it can: a request that
// cannot be mirrored, one that carries the marker, or one that no target can match.
// Those it counts exactly as Start would, and it reports true: the request needs
// nothing more from the mirror. When it reports false, nothing is counted and the
// request goes to Start with all of its headers.
func (m *Mirror) Screen(r *Request, get HeaderLookup) bool {
	if !m.screen.on {
		return false
	}
	reads := headerReads{get: get}
	for i := range m.cfg.Targets {
		if !m.cfg.Targets[i].Match.rulesOut(&reads) {
			return false
		}
	}
	// No target can match: what Start would count then is whether the request is
	// one that cannot be mirrored, or a copy that came back.
	unsupported, ok := reads.unsupported()
	if !ok {
		return false
	}
	_, loop, ok := reads.read(m.cfg.Marker)
	if !ok {
		return false
	}
	m.unhold(r)
	*r = Request{Stream: r.Stream}
	switch {
	case unsupported:
		m.rec.UnsupportedSkipped()
	case loop:
		m.rec.LoopSkipped()
	}
	return true
}

// unsupported is Mirror.scan's first answer from single reads: an upgrade header, a
// :protocol, or the method CONNECT.
func (h *headerReads) unsupported() (unsupported, ok bool) {
	for _, name := range [...]string{"upgrade", ":protocol"} {
		_, present, ok := h.read(name)
		if !ok {
			return false, false
		}
		if present {
			return true, true
		}
	}
	method, _, ok := h.read(":method")
	return ok && method == "CONNECT", ok
}

// rulesOut reports whether no request with the headers read can satisfy m, whatever
// the values of repeated headers beyond the first. It reads the header rules first:
// they tell most requests apart, and the pseudo-headers are read only when they
// must be.
func (m *Match) rulesOut(h *headerReads) bool {
	for i := range m.Headers {
		if m.Headers[i].fails(h) {
			return true
		}
	}
	if len(m.Methods) > 0 {
		if method, _, ok := h.read(":method"); ok && !contains(m.Methods, method) {
			return true
		}
	}
	if len(m.Paths) > 0 {
		path, _, ok := h.read(":path")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if ok && !anyPath(m.Paths, path) {
			return true
		}
	}
	return false
}

// fails reports whether the condition cannot hold for the request, from the header's
// first value (see the top of this file); false when it holds or may hold.
func (r *HeaderRule) fails(h *headerReads) bool {
	first, present, ok := h.read(r.Name)
	if !ok {
		return false
	}
	var holds, settled bool
	switch {
	case !present || r.Kind == Present:
		holds, settled = r.Kind == Present && present == r.Present, true
	case r.Kind == Exact:
		// The joined value equals Value only if first does, or first and a comma begin it.
		holds, settled = false, first != r.Value && !commaContinues(r.Value, first)
	case r.Kind == Prefix:
		switch {
		case strings.HasPrefix(first, r.Value):
			holds, settled = true, true
		default:
			holds, settled = false, !commaContinues(r.Value, first)
		}
	case r.Kind == Contains && strings.Contains(first, r.Value):
		holds, settled = true, true
	}
	return settled && holds == r.Invert
}

// commaContinues reports whether want begins with first and a comma: whether a
// repeated header whose first value is first could be joined into want, or into a
// value starting with want.
func commaContinues(want, first string) bool {
	return len(want) > len(first) && want[len(first)] == ',' && want[:len(first)] == first
}
