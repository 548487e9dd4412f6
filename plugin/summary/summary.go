// Package summary counts a target's compared pairs per endpoint between two summaries
// (SPEC.md, "Summaries: how often, and how fast"): how many were the same, differed,
// were noise or were skipped, at which places they differed, and how fast each side
// answered, in the fixed latency buckets of LatencyBounds. Table.Append writes the
// summary document.
//
// It knows nothing of Envoy or of how pairs are compared: it is told each pair's
// outcome. Its memory is bounded whatever the traffic (MaxEndpoints endpoints of
// MaxPlaces places); a pair of an endpoint already counted allocates nothing, and
// nothing here panics on any input.
package summary

import (
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/endpoint"
	"github.com/meshmirror/meshmirror/plugin/internal/text"
	"github.com/meshmirror/meshmirror/plugin/report"
)

// Bounds of a Table.
const (
	// MaxEndpoints is the most endpoints a summary names; pairs of further endpoints
	// count under Other.
	MaxEndpoints = 64
	// MaxPlaces is the most places counted per endpoint; later ones are not counted.
	MaxPlaces = 16
	// Other is the endpoint of the pairs beyond MaxEndpoints, with method "".
	Other = "(other)"
	// NumBuckets is the number of latency buckets: LatencyBounds and +Inf.
	NumBuckets = len(LatencyBounds) + 1
)

// LatencyBounds are the inclusive upper bounds, in milliseconds, of the latency
// buckets but the last, +Inf.
var LatencyBounds = [...]int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// Outcome is how a pair ended, as the compare_* counters count it.
type Outcome uint8

// The outcomes of a pair.
const (
	Same Outcome = iota
	Differs
	Noise
	Skipped
)

// Table holds the counts of one target since its last summary. The zero value is an
// empty table.
type Table struct {
	endpoints []counts // the first MaxEndpoints named, then Other
	pairs     int
	scratch   []byte // an endpoint's name, built in place
}

// counts are one endpoint's.
type counts struct {
	hash                          uint64 // of method and endpoint
	method, endpoint              string
	same, differs, noise, skipped uint32
	places                        [MaxPlaces]place
	nplaces                       int
	primaryMs, shadowMs           [NumBuckets]uint32
}

// place is a place's counts: pairs with a real difference there, and with noise.
type place struct {
	hash           uint64 // diff.Difference.Hash
	name           string
	differs, noise uint32
}

// Pairs is the number of pairs counted since the last Reset.
func (t *Table) Pairs() int { return t.pairs }

// Reset empties the table, for the next interval.
func (t *Table) Reset() {
	clear(t.endpoints)
	t.endpoints, t.pairs = t.endpoints[:0], 0
}

// Add counts a pair of the request method path (its query, if any, is left out) that
// ended with outcome o. A compared pair (Same, Differs, Noise) has its differences,
// each marked noise or not, and both sides' latencies in milliseconds; a skipped pair
// has neither.
func (t *Table) Add(method, path string, o Outcome, diffs []diff.Difference, primaryMs, shadowMs int64) {
	c := t.find(method, path)
	t.pairs++
	switch o {
	case Skipped:
		c.skipped++
		return
	case Same:
		c.same++
	case Differs:
		c.differs++
	case Noise:
		c.noise++
	}
	c.primaryMs[bucket(primaryMs)]++
	c.shadowMs[bucket(shadowMs)]++
	for i := range diffs {
		c.count(diffs[:i], &diffs[i])
	}
}

// find returns the counts of method's endpoint of path, a new one while there is room,
// else Other's.
func (t *Table) find(method, path string) *counts {
	t.scratch = endpoint.Append(t.scratch[:0], path)
	name := text.InPlace(t.scratch)
	h := text.FNV1aString(text.FNV1aString(text.FNVOffset, method), " ")
	h = text.FNV1a(h, t.scratch)
	for i := range t.endpoints {
		if c := &t.endpoints[i]; c.hash == h && c.method == method && c.endpoint == name {
			return c
		}
	}
	switch {
	case len(t.endpoints) > MaxEndpoints:
		return &t.endpoints[MaxEndpoints] // Other's
	case len(t.endpoints) == MaxEndpoints:
		method, name, h = "", Other, 0
	default:
		method, name = strings.Clone(method), string(t.scratch) // copies: the table outlives the request
	}
	t.endpoints = append(t.endpoints, counts{hash: h, method: method, endpoint: name})
	return &t.endpoints[len(t.endpoints)-1]
}

// count counts d's place once per pair: earlier holds the pair's differences before d.
func (c *counts) count(earlier []diff.Difference, d *diff.Difference) {
	for i := range earlier {
		if earlier[i].Hash == d.Hash {
			return
		}
	}
	var p *place
	for i := range c.places[:c.nplaces] {
		if c.places[i].hash == d.Hash {
			p = &c.places[i]
			break
		}
	}
	if p == nil {
		if c.nplaces == MaxPlaces {
			return
		}
		p = &c.places[c.nplaces]
		*p = place{hash: d.Hash, name: PlaceName(d)}
		c.nplaces++
	}
	if d.Noise {
		p.noise++
	} else {
		p.differs++
	}
}

// PlaceName is the place of d as summaries and the receiver name it: "status",
// "header content-type", "body" for a body as a whole, or "body " and the JSON path
// with array indexes written # (body items.#.price).
func PlaceName(d *diff.Difference) string {
	if d.Part != diff.PartBody || d.Where == "" {
		return d.Place()
	}
	b := append(make([]byte, 0, len("body ")+len(d.Where)), "body "...)
	for start, i := 0, 0; i <= len(d.Where); i++ {
		switch {
		case i < len(d.Where) && d.Where[i] == '\\':
			i++ // an escaped character is part of its key
		case i == len(d.Where) || d.Where[i] == '.':
			if seg := d.Where[start:i]; isIndex(seg) {
				b = append(b, '#')
			} else {
				b = append(b, seg...)
			}
			if i < len(d.Where) {
				b = append(b, '.')
			}
			start = i + 1
		}
	}
	return string(b)
}

// isIndex reports whether a path segment is an array index: digits only.
func isIndex(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return seg != ""
}

// bucket is the index of the latency bucket of ms.
func bucket(ms int64) int {
	for i, bound := range LatencyBounds {
		if ms <= bound {
			return i
		}
	}
	return len(LatencyBounds)
}

// Append appends the summary document of the table to b: SPEC.md's shape, for target
// over the interval fromMs to toMs (Unix milliseconds), endpoints in the order they
// were first seen and places with the most pairs first.
func (t *Table) Append(b []byte, target string, fromMs, toMs int64) []byte {
	b = append(b, `{"kind":"summary","target":`...)
	b = report.AppendString(b, target)
	b = append(b, `,"from":`...)
	b = strconv.AppendInt(b, fromMs, 10)
	b = append(b, `,"to":`...)
	b = strconv.AppendInt(b, toMs, 10)
	b = append(b, `,"endpoints":[`...)
	for i := range t.endpoints {
		c := &t.endpoints[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"method":`...)
		b = report.AppendString(b, c.method)
		b = append(b, `,"endpoint":`...)
		b = report.AppendString(b, c.endpoint)
		b = appendCount(b, `,"same":`, c.same)
		b = appendCount(b, `,"differs":`, c.differs)
		b = appendCount(b, `,"noise":`, c.noise)
		b = appendCount(b, `,"skipped":`, c.skipped)
		b = append(b, `,"places":[`...)
		c.sortPlaces()
		for j := range c.places[:c.nplaces] {
			p := &c.places[j]
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"place":`...)
			b = report.AppendString(b, p.name)
			b = appendCount(b, `,"differs":`, p.differs)
			b = appendCount(b, `,"noise":`, p.noise)
			b = append(b, '}')
		}
		b = appendBuckets(append(b, `],"primaryMs":`...), &c.primaryMs)
		b = appendBuckets(append(b, `,"shadowMs":`...), &c.shadowMs)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// sortPlaces orders the places by their pairs, most first, stably: at most MaxPlaces,
// so an insertion sort.
func (c *counts) sortPlaces() {
	ps := c.places[:c.nplaces]
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].differs+ps[j].noise > ps[j-1].differs+ps[j-1].noise; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func appendCount(b []byte, key string, n uint32) []byte {
	return strconv.AppendUint(append(b, key...), uint64(n), 10)
}

func appendBuckets(b []byte, counts *[NumBuckets]uint32) []byte {
	b = append(b, '[')
	for i, n := range counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	return append(b, ']')
}
