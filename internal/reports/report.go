// Package reports is the receiver of meshmirror's reports (`meshmirror reports`): it
// takes the report documents the plugin POSTs for differing pairs, stores them in
// SQLite, and shows them per target and endpoint on a web page and as JSON (SPEC
// "Reports receiver").
package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxBytes is the largest report document taken; a larger one is answered 413. The
// plugin's reports are a few KiB at most (16 differences of 64-byte values).
const MaxBytes = 1 << 20

// maxDifferences is the most differences a report may hold: the plugin sends 16 at
// most; the margin lets a later plugin send more without being refused.
const maxDifferences = 256

// Report is one report document, as the plugin sends it for a differing pair.
type Report struct {
	Target string `json:"target"`
	Method string `json:"method"`
	// Path is the request's path, without its query.
	Path string `json:"path"`
	// RequestID is the primary's x-request-id, "" when the request had none.
	RequestID   string       `json:"requestId,omitempty"`
	Primary     Answer       `json:"primary"`
	Shadow      Answer       `json:"shadow"`
	Differences []Difference `json:"differences"`
}

// Answer is what a report says of one side's answer.
type Answer struct {
	// Status is the HTTP status, 0 when the report had none (null).
	Status    int   `json:"status"`
	Bytes     int64 `json:"bytes"`
	LatencyMs int64 `json:"latencyMs"`
}

// Difference is one place where the shadow's answer differed from the primary's.
type Difference struct {
	Part  string `json:"part"`
	Kind  string `json:"kind"`
	Where string `json:"where"`
	// Primary and Shadow are the values, present only when the plugin's
	// compare.includeValues allows them; nil for none (or null: the side had none).
	Primary *string `json:"primary,omitempty"`
	Shadow  *string `json:"shadow,omitempty"`
	// Noise says the difference is noise (SPEC "Noise"); absent means false.
	Noise bool `json:"noise,omitempty"`
}

// Place is where the difference is, as SPEC names places: status, header <name>,
// body <JSON path> with array indices written #, or body for a body compared whole.
func (d *Difference) Place() string {
	if d.Where == "" {
		return d.Part
	}
	if d.Part != "body" {
		return d.Part + " " + d.Where
	}
	segs := strings.Split(d.Where, ".")
	for i, s := range segs {
		if isDigits(s) {
			segs[i] = "#"
		}
	}
	return "body " + strings.Join(segs, ".")
}

// wire is a report as decoded, with pointers that tell a missing field from a zero.
type wire struct {
	Target      *string           `json:"target"`
	Method      *string           `json:"method"`
	Path        *string           `json:"path"`
	RequestID   *string           `json:"requestId"`
	Primary     *wireAnswer       `json:"primary"`
	Shadow      *wireAnswer       `json:"shadow"`
	Differences *[]wireDifference `json:"differences"`
}

type wireAnswer struct {
	Status    *int   `json:"status"`
	Bytes     *int64 `json:"bytes"`
	LatencyMs *int64 `json:"latencyMs"`
}

type wireDifference struct {
	Part    *string `json:"part"`
	Kind    *string `json:"kind"`
	Where   *string `json:"where"`
	Primary *string `json:"primary"`
	Shadow  *string `json:"shadow"`
	Noise   *bool   `json:"noise"`
}

// Parse reads one report document. Its error says what is wrong and where
// (differences[2].kind: must be one of changed, missing, extra, got "moved"), for the
// 400 answer. Keys it does not know are left alone: a newer plugin may add some. A
// document with a key twice, or with keys that differ only in case, is refused.
func Parse(data []byte) (*Report, error) {
	if err := checkKeys(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var w wire
	if err := dec.Decode(&w); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value: a report is one object")
	}
	r := &Report{}
	var problems []string
	str := func(name string, p *string, check func(string) string) string {
		switch {
		case p == nil:
			problems = append(problems, name+": required")
		case check != nil && check(*p) != "":
			problems = append(problems, name+": "+check(*p))
		default:
			return *p
		}
		return ""
	}
	r.Target = str("target", w.Target, checkName)
	r.Method = str("method", w.Method, checkMethod)
	r.Path = str("path", w.Path, checkPath)
	if w.RequestID != nil {
		r.RequestID = str("requestId", w.RequestID, func(s string) string { return checkLength(s, 200) })
	}
	for _, side := range []struct {
		name string
		w    *wireAnswer
		r    *Answer
	}{{"primary", w.Primary, &r.Primary}, {"shadow", w.Shadow, &r.Shadow}} {
		if side.w == nil {
			problems = append(problems, side.name+": required")
			continue
		}
		if s := side.w.Status; s != nil {
			if *s < 100 || *s > 999 {
				problems = append(problems, fmt.Sprintf("%s.status: must be an HTTP status (100 to 999) or null, got %d", side.name, *s))
			}
			side.r.Status = *s
		}
		for _, n := range []struct {
			name string
			v    *int64
			to   *int64
		}{{"bytes", side.w.Bytes, &side.r.Bytes}, {"latencyMs", side.w.LatencyMs, &side.r.LatencyMs}} {
			if n.v != nil && *n.v < 0 {
				problems = append(problems, fmt.Sprintf("%s.%s: must not be negative, got %d", side.name, n.name, *n.v))
			} else if n.v != nil {
				*n.to = *n.v
			}
		}
	}
	switch {
	case w.Differences == nil:
		problems = append(problems, "differences: required")
	case len(*w.Differences) == 0:
		problems = append(problems, "differences: empty: a report is of a pair that differs")
	case len(*w.Differences) > maxDifferences:
		problems = append(problems, fmt.Sprintf("differences: %d, more than %d", len(*w.Differences), maxDifferences))
	default:
		for i, d := range *w.Differences {
			at := "differences[" + strconv.Itoa(i) + "]"
			var out Difference
			out.Part = str(at+".part", d.Part, oneOf("status", "header", "body"))
			out.Kind = str(at+".kind", d.Kind, oneOf("changed", "missing", "extra"))
			if d.Where != nil {
				out.Where = str(at+".where", d.Where, func(s string) string { return checkLength(s, 1024) })
			}
			for _, v := range []struct {
				name string
				p    *string
				to   **string
			}{{"primary", d.Primary, &out.Primary}, {"shadow", d.Shadow, &out.Shadow}} {
				if v.p != nil {
					if msg := checkLength(*v.p, 4096); msg != "" {
						problems = append(problems, at+"."+v.name+": "+msg)
					}
					*v.to = v.p
				}
			}
			out.Noise = d.Noise != nil && *d.Noise
			r.Differences = append(r.Differences, out)
		}
	}
	if len(problems) > 0 {
		if len(problems) > 8 {
			problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
		}
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return r, nil
}

// decodeError says what encoding/json found, with the field's path.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%s: must be %s, got a JSON %s", typeErr.Field, goTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("must be a JSON object, got a JSON %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not JSON: %v (at byte %d)", err, syntaxErr.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not JSON: empty or cut short")
	}
	return fmt.Errorf("not JSON: %v", err)
}

func goTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	}
	return "an object"
}

func oneOf(values ...string) func(string) string {
	return func(s string) string {
		for _, v := range values {
			if s == v {
				return ""
			}
		}
		return fmt.Sprintf("must be one of %s, got %q", strings.Join(values, ", "), cut(s))
	}
}

// checkName checks a target name as the plugin's configuration does.
func checkName(s string) string {
	ok := s != "" && len(s) <= 63
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
	}
	if !ok {
		return fmt.Sprintf("must be a target name (^[a-z0-9][a-z0-9_-]{0,62}$), got %q", cut(s))
	}
	return ""
}

func checkMethod(s string) string {
	ok := s != "" && len(s) <= 32
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] > ' ' && s[i] < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(s[i]))
	}
	if !ok {
		return fmt.Sprintf("must be an HTTP method, got %q", cut(s))
	}
	return ""
}

func checkPath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("must start with /, got %q", cut(s))
	}
	return checkLength(s, 4096)
}

func checkLength(s string, max int) string {
	if len(s) > max {
		return fmt.Sprintf("longer than %d bytes (%d)", max, len(s))
	}
	return ""
}

// cut shortens a value quoted in an error message.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
