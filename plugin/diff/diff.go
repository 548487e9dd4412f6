// Package diff is the vocabulary of a comparison: a Difference between two answers to
// the same request, the Part it is in, how the sides differ there, and the place it is
// learned by as noise.
//
// It knows nothing of how the answers were obtained or compared, and allocates only
// the values it cuts.
package diff

import "github.com/meshmirror/meshmirror/plugin/internal/text"

// Limits of a comparison.
const (
	// MaxDifferences is the most differences a comparison locates; it stops looking
	// once it has found them.
	MaxDifferences = 16
	// MaxValueBytes is the most bytes of a value that logs and reports show.
	MaxValueBytes = 64
)

// Part is the part of an answer a Difference is in.
type Part uint8

// The parts of an answer.
const (
	PartStatus Part = iota
	PartHeader
	PartBody
)

var partNames = [...]string{"status", "header", "body"}

// String is "status", "header" or "body".
func (p Part) String() string { return partNames[p] }

// Kind says how the two sides differ at one place.
type Kind uint8

// The kinds of differences.
const (
	// Changed: both sides have a value there, and they differ.
	Changed Kind = iota
	// Missing: only the primary has a value there.
	Missing
	// Extra: only the shadow has a value there.
	Extra
)

var kindNames = [...]string{"changed", "missing", "extra"}

// String is "changed", "missing" or "extra".
func (k Kind) String() string { return kindNames[k] }

// Difference is one place where the shadow's answer differs from the primary's.
type Difference struct {
	Part Part
	Kind Kind
	// Where is the header's name for PartHeader, and for PartBody the JSON path of
	// the value (items.3.price: keys joined by dots, array indexes as numbers, a dot,
	// # or * inside a key escaped with a backslash); empty for the status and for
	// a body compared as a whole.
	Where string
	// Primary and Shadow are the values, cut to MaxValueBytes: a header's value, a
	// status, or the JSON text of a body's value. Filled only with
	// compare.includeValues; empty for a side that has no value there.
	Primary, Shadow string
	// Noise says that the difference is noise: the baseline, a second instance of the
	// primary's version, differs there too (SPEC.md, "Noise").
	Noise bool
	// Hash is the hash of the Hash as noise is learned by: the part, and the JSON
	// path with array indexes written # (body items.#.price).
	Hash uint64
}

// PlaceOf hashes a place that is not in a JSON body: "status", "header <name>", or
// "body" for a body compared as a whole.
func PlaceOf(part Part, where string) uint64 {
	h := text.FNV1aString(text.FNVOffset, part.String())
	if where != "" {
		h = text.FNV1aString(text.FNV1aString(h, " "), where)
	}
	return h
}

// Place is where the difference is, as logs show it: "status", "header
// content-type", "body items.3.price", or "body" for a body as a whole.
func (d *Difference) Place() string {
	if d.Where == "" {
		return d.Part.String()
	}
	return d.Part.String() + " " + d.Where
}

// The hashes of a whole body's place, and of "body " that begins a JSON path's.
var (
	BodyPlace       = PlaceOf(PartBody, "")
	BodyPlacePrefix = text.FNV1aString(text.FNVOffset, "body ")
	StatusPlace     = PlaceOf(PartStatus, "")
)

// Whole is a difference of two bodies as a whole.
func Whole(a, b []byte, values bool) Difference {
	d := Difference{Part: PartBody, Hash: BodyPlace}
	if values {
		d.Primary, d.Shadow = Cut(text.InPlace(a)), Cut(text.InPlace(b))
	}
	return d
}

// Cut returns a copy of s shortened to MaxValueBytes, at a character boundary: a copy,
// so that a difference kept for a log or a report holds on to no body.
func Cut(s string) string { return text.CutTo(s, MaxValueBytes) }
