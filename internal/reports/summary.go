package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshmirror/meshmirror/plugin/summary"
)

// Buckets is the number of latency buckets in a summary: LatencyBounds and +Inf, as
// the plugin counts them (plugin/summary).
const Buckets = summary.NumBuckets

// LatencyBounds are the upper bounds, in ms and inclusive, of a summary's latency
// buckets but the last, +Inf (SPEC "Summaries"): the plugin's, as numbers to
// interpolate between.
var LatencyBounds = func() (bounds [Buckets - 1]float64) {
	for i, b := range summary.LatencyBounds {
		bounds[i] = float64(b)
	}
	return bounds
}()

// OtherEndpoint is the endpoint under which the plugin counts the pairs of the
// endpoints beyond the 64 it tracks per target and worker, with method "".
const OtherEndpoint = summary.Other

// Limits of a summary document. The plugin sends at most 64 endpoints (and
// OtherEndpoint) and 16 places per endpoint; the margins let a later plugin send more
// without being refused, and bound what one document can make the receiver store.
const (
	maxSummaryEndpoints = 256
	maxSummaryPlaces    = 64
)

// Summary is one summary document: how the pairs of one target's worker went, per
// endpoint, over the interval From to To (SPEC "Summaries: how often, and how fast").
type Summary struct {
	Target string
	// From and To are the interval the summary covers, in Unix milliseconds.
	From, To  int64
	Endpoints []SummaryEndpoint
}

// SummaryEndpoint is what a summary says of one endpoint's pairs.
type SummaryEndpoint struct {
	Method   string
	Endpoint string
	// Same, Differs, Noise and Skipped count pairs as compare_same, compare_differs,
	// compare_noise and compare_skipped do.
	Same, Differs, Noise, Skipped int64
	Places                        []SummaryPlace
	// PrimaryMs and ShadowMs count the compared pairs (same, differs and noise) per
	// latency bucket (LatencyBounds, then +Inf).
	PrimaryMs, ShadowMs [Buckets]int64
}

// SummaryPlace counts the pairs of an endpoint with a real difference (Differs) or a
// noise one (Noise) at Place.
type SummaryPlace struct {
	Place          string
	Differs, Noise int64
}

// Kind values of a document: a summary, or a report of one pair ("pair", or no kind).
const (
	KindSummary = "summary"
	KindPair    = "pair"
)

// addDocument stores d, whose bytes are doc, received at at.
func (s *Store) addDocument(ctx context.Context, d document, doc []byte, at time.Time) error {
	if d.summary != nil {
		return s.AddSummary(ctx, d.summary, at)
	}
	return s.Add(ctx, d.report, doc, at)
}

// document is one document POSTed to the receiver: a report or a summary.
type document struct {
	report  *Report
	summary *Summary
}

// parseDocument reads a report or a summary, by its kind.
func parseDocument(data []byte) (document, error) {
	var head struct {
		Kind json.RawMessage `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		// Not one JSON object: the report's parser says what is wrong, as it did
		// before there were summaries.
		r, err := Parse(data)
		return document{report: r}, err
	}
	var kind *string
	if head.Kind != nil && string(head.Kind) != "null" {
		if err := json.Unmarshal(head.Kind, &kind); err != nil {
			return document{}, fmt.Errorf("kind: must be a string, got %s", cut(string(head.Kind)))
		}
	}
	switch {
	case kind == nil || *kind == KindPair:
		r, err := Parse(data)
		return document{report: r}, err
	case *kind == KindSummary:
		s, err := ParseSummary(data)
		if err == nil && s.To > time.Now().Add(MaxSummaryAhead).UnixMilli() {
			return document{}, fmt.Errorf("to: %d is %v ahead of the receiver's clock, more than %v", s.To,
				time.Until(time.UnixMilli(s.To)).Round(time.Second), MaxSummaryAhead)
		}
		return document{summary: s}, err
	}
	return document{}, fmt.Errorf("kind: must be %q or %q (or absent, for a report), got %q", KindPair, KindSummary, cut(*kind))
}

// maxCount bounds each count: far above what a worker counts in an hour, and low
// enough that the sums over a window (and their float64 rates) stay exact.
const maxCount = 1 << 40

// ParseSummary reads one summary document. Its error names every problem with its
// path (endpoints[2].primaryMs: must have 14 counts, got 13), for the 400 answer.
// Keys it does not know are left alone: a newer plugin may add some.
func ParseSummary(data []byte) (*Summary, error) {
	if err := checkKeys(data); err != nil { // SPEC: every document POSTed, not only reports
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value: a summary is one object")
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a JSON object, got a JSON %s", jsonType(v))
	}
	r := &reader{}
	s := &Summary{}
	if kind, ok := r.str(root, "", "kind"); ok && kind != KindSummary {
		r.add("kind", `must be "summary"`)
	}
	if target, ok := r.str(root, "", "target"); ok {
		if msg := checkName(target); msg != "" {
			r.add("target", msg)
		} else {
			s.Target = target
		}
	}
	from, fromOK := r.time(root, "from")
	to, toOK := r.time(root, "to")
	s.From, s.To = from, to
	if fromOK && toOK && from > to {
		r.add("to", fmt.Sprintf("must not be before from (%d), got %d", from, to))
	}
	endpoints, ok := r.array(root, "", "endpoints")
	switch {
	case !ok:
	case len(endpoints) == 0:
		r.add("endpoints", "empty: a summary is sent for a target that decided pairs")
	case len(endpoints) > maxSummaryEndpoints:
		r.add("endpoints", fmt.Sprintf("%d, more than %d", len(endpoints), maxSummaryEndpoints))
	default:
		seen := map[string]int{}
		for i, item := range endpoints {
			at := "endpoints[" + strconv.Itoa(i) + "]"
			obj, ok := item.(map[string]any)
			if !ok {
				r.add(at, "must be an object, got a JSON "+jsonType(item))
				continue
			}
			e, ok := r.endpoint(obj, at)
			if ok {
				key := e.Method + " " + e.Endpoint
				if j, dup := seen[key]; dup {
					r.add(at, fmt.Sprintf("%s %s is also endpoints[%d]: each endpoint once per summary", cut(e.Method), cut(e.Endpoint), j))
				} else {
					seen[key] = i
				}
			}
			s.Endpoints = append(s.Endpoints, e)
		}
	}
	if len(r.problems) > 0 {
		problems := r.problems
		if len(problems) > 8 {
			problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
		}
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return s, nil
}

// endpoint reads one of a summary's endpoints at path at; ok says its method and
// endpoint are good (its counts may not be).
func (r *reader) endpoint(obj map[string]any, at string) (e SummaryEndpoint, ok bool) {
	method, methodOK := r.str(obj, at, "method")
	name, nameOK := r.str(obj, at, "endpoint")
	ok = methodOK && nameOK
	switch {
	case !methodOK:
	case method != "" && checkMethod(method) != "":
		r.add(at+".method", checkMethod(method))
		ok = false
	case method == "" && nameOK && name != OtherEndpoint:
		r.add(at+".method", fmt.Sprintf("required: \"\" is only for endpoint %q", OtherEndpoint))
		ok = false
	case method != "" && name == OtherEndpoint:
		r.add(at+".method", fmt.Sprintf("must be \"\" for endpoint %q, got %q", OtherEndpoint, cut(method)))
		ok = false
	}
	if nameOK && name != OtherEndpoint && checkPath(name) != "" {
		r.add(at+".endpoint", checkPath(name)+fmt.Sprintf(" (or be %q)", OtherEndpoint))
		ok = false
	}
	e.Method, e.Endpoint = method, name
	var counted [3]bool
	e.Same, counted[0] = r.count(obj, at, "same")
	e.Differs, counted[1] = r.count(obj, at, "differs")
	e.Noise, counted[2] = r.count(obj, at, "noise")
	e.Skipped, _ = r.count(obj, at, "skipped")
	compared := e.Same + e.Differs + e.Noise
	for _, side := range []struct {
		key string
		to  *[Buckets]int64
	}{{"primaryMs", &e.PrimaryMs}, {"shadowMs", &e.ShadowMs}} {
		counts, present := r.array(obj, at, side.key)
		path := at + "." + side.key
		if !present {
			continue
		}
		if len(counts) != Buckets {
			r.add(path, fmt.Sprintf("must have %d counts (pairs up to 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000 ms, and above), got %d", Buckets, len(counts)))
			continue
		}
		var sum int64
		all := true
		for b, c := range counts {
			n, ok := r.countValue(path+"["+strconv.Itoa(b)+"]", c)
			side.to[b] = n
			sum += n
			all = all && ok
		}
		if all && counted == [3]bool{true, true, true} && sum > compared {
			r.add(path, fmt.Sprintf("counts %d pairs, more than the %d compared (same + differs + noise)", sum, compared))
		}
	}
	places, present := obj["places"]
	if !present || places == nil {
		return e, ok
	}
	list, isList := places.([]any)
	switch {
	case !isList:
		r.add(at+".places", "must be an array, got a JSON "+jsonType(places))
	case len(list) > maxSummaryPlaces:
		r.add(at+".places", fmt.Sprintf("%d, more than %d", len(list), maxSummaryPlaces))
	default:
		for k, item := range list {
			pat := at + ".places[" + strconv.Itoa(k) + "]"
			po, isObj := item.(map[string]any)
			if !isObj {
				r.add(pat, "must be an object, got a JSON "+jsonType(item))
				continue
			}
			var p SummaryPlace
			if place, ok := r.str(po, pat, "place"); ok {
				switch {
				case place == "":
					r.add(pat+".place", "empty")
				case checkLength(place, 1024) != "":
					r.add(pat+".place", checkLength(place, 1024))
				default:
					p.Place = place
				}
			}
			var okD, okN bool
			p.Differs, okD = r.count(po, pat, "differs")
			p.Noise, okN = r.count(po, pat, "noise")
			if okD && counted[1] && p.Differs > e.Differs {
				r.add(pat+".differs", fmt.Sprintf("%d, more than the endpoint's differing pairs (%d)", p.Differs, e.Differs))
			}
			if okN && counted[1] && counted[2] && p.Noise > e.Differs+e.Noise {
				r.add(pat+".noise", fmt.Sprintf("%d, more than the endpoint's differing and noise pairs (%d)", p.Noise, e.Differs+e.Noise))
			}
			// Two places the plugin tells apart can have one name (an object key "3"
			// and an array index are both #): they are one place here, counted at
			// most once per pair.
			if i := slices.IndexFunc(e.Places, func(q SummaryPlace) bool { return q.Place == p.Place }); i >= 0 {
				q := &e.Places[i]
				q.Differs, q.Noise = min(q.Differs+p.Differs, e.Differs), min(q.Noise+p.Noise, e.Differs+e.Noise)
				continue
			}
			e.Places = append(e.Places, p)
		}
	}
	return e, ok
}

// reader collects the problems of a document decoded into JSON values, each with its
// path.
type reader struct{ problems []string }

func (r *reader) add(path, msg string) { r.problems = append(r.problems, path+": "+msg) }

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// str reads the required string obj[key].
func (r *reader) str(obj map[string]any, at, key string) (string, bool) {
	v, present := obj[key]
	if !present {
		r.add(join(at, key), "required")
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		r.add(join(at, key), "must be a string, got a JSON "+jsonType(v))
	}
	return s, ok
}

// array reads the required array obj[key].
func (r *reader) array(obj map[string]any, at, key string) ([]any, bool) {
	v, present := obj[key]
	if !present {
		r.add(join(at, key), "required")
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		r.add(join(at, key), "must be an array, got a JSON "+jsonType(v))
	}
	return a, ok
}

// count reads the required count obj[key]: a whole number from 0 to maxCount.
func (r *reader) count(obj map[string]any, at, key string) (int64, bool) {
	v, present := obj[key]
	if !present {
		r.add(join(at, key), "required")
		return 0, false
	}
	return r.countValue(join(at, key), v)
}

// maxTimeMs is the last millisecond of the year 9999.
const maxTimeMs = 253402300799999

// time reads the required Unix time in ms root[key].
func (r *reader) time(root map[string]any, key string) (int64, bool) {
	v, present := root[key]
	if !present {
		r.add(key, "required")
		return 0, false
	}
	return r.number(key, v, maxTimeMs)
}

func (r *reader) countValue(path string, v any) (int64, bool) { return r.number(path, v, maxCount) }

// number reads a whole number from 0 to max.
func (r *reader) number(path string, v any, max int64) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		r.add(path, "must be a whole number, got a JSON "+jsonType(v))
		return 0, false
	}
	c, err := strconv.ParseInt(string(n), 10, 64)
	switch {
	case err != nil && !strings.ContainsAny(string(n), ".eE"):
		r.add(path, fmt.Sprintf("must be at most %d, got %s", max, cut(string(n))))
	case err != nil:
		r.add(path, "must be a whole number, got "+cut(string(n)))
	case c < 0:
		r.add(path, fmt.Sprintf("must not be negative, got %d", c))
	case c > max:
		r.add(path, fmt.Sprintf("must be at most %d, got %d", max, c))
	default:
		return c, true
	}
	return 0, false
}

// jsonType names the JSON type of a decoded value, for messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}
