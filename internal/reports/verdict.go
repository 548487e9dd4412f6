package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VerdictPath is where the receiver answers whether a target's version may go on.
const VerdictPath = "/api/verdict"

// The verdicts (SPEC "Verdict").
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Thresholds are what a verdict is decided by, with SPEC's defaults in
// DefaultThresholds.
type Thresholds struct {
	// Window is how far back the summaries are read: those that ended within it.
	Window time.Duration
	// MaxDifferRate is the largest share of compared pairs with a real difference that
	// passes, overall and for each endpoint with at least MinPairs pairs.
	MaxDifferRate float64
	// MaxLatencyRatio is the largest shadow p99 / primary p99 that passes.
	MaxLatencyRatio float64
	// MinPairs is the fewest compared pairs a verdict other than inconclusive needs.
	MinPairs int64
}

// DefaultThresholds are SPEC's: 1h, 0.01, 1.5, 100.
var DefaultThresholds = Thresholds{Window: time.Hour, MaxDifferRate: 0.01, MaxLatencyRatio: 1.5, MinPairs: 100}

// Verdict is the answer of GET /api/verdict: whether a target's version may go on,
// and the measurements it is decided from.
type Verdict struct {
	Target     string   `json:"target"`
	Window     string   `json:"window"`
	Verdict    string   `json:"verdict"`
	Pairs      int64    `json:"pairs"`
	DifferRate float64  `json:"differRate"`
	NoiseRate  float64  `json:"noiseRate"`
	Latency    Latency  `json:"latency"`
	Reasons    []string `json:"reasons"`
	// Endpoints are ordered by DifferRate, highest first.
	Endpoints []EndpointVerdict `json:"endpoints"`
}

// Latency is the percentiles of a verdict's compared pairs, in ms, and the ratio of
// the shadow's p99 to the primary's (0 when the primary's is 0).
type Latency struct {
	PrimaryP50 float64 `json:"primaryP50"`
	PrimaryP99 float64 `json:"primaryP99"`
	ShadowP50  float64 `json:"shadowP50"`
	ShadowP99  float64 `json:"shadowP99"`
	Ratio      float64 `json:"ratio"`
}

// EndpointVerdict is one endpoint's share of a Verdict.
type EndpointVerdict struct {
	Method     string  `json:"method"`
	Endpoint   string  `json:"endpoint"`
	Pairs      int64   `json:"pairs"`
	DifferRate float64 `json:"differRate"`
	NoiseRate  float64 `json:"noiseRate"`
	PrimaryP99 float64 `json:"primaryP99"`
	ShadowP99  float64 `json:"shadowP99"`

	// Places are where its pairs differed, most real differences first; for the page.
	Places []SummaryPlace `json:"-"`
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the pairs counted in buckets (per
// bucket of LatencyBounds, then +Inf), as Prometheus's histogram_quantile computes it:
// interpolated linearly inside the bucket it falls in, from the bucket's lower bound
// (0 for the first) to its upper bound; in the +Inf bucket, that bucket's lower bound
// (10000). It is 0 for no pairs (where histogram_quantile gives NaN, which JSON cannot
// hold).
func Quantile(q float64, buckets []int64) float64 {
	var total int64
	for _, n := range buckets {
		total += n
	}
	if total == 0 || len(buckets) != Buckets || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	var below int64 // the pairs in the buckets before b
	for b, n := range buckets[:Buckets-1] {
		if float64(below+n) >= rank {
			start := 0.0
			if b > 0 {
				start = LatencyBounds[b-1]
			}
			if n == 0 { // rank 0 at an empty first bucket
				return start
			}
			return start + (LatencyBounds[b]-start)*((rank-float64(below))/float64(n))
		}
		below += n
	}
	return LatencyBounds[Buckets-2]
}

// rate is n / of, 0 when of is 0.
func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// decide computes the verdict of target over the endpoints' counts, under th.
func decide(target string, th Thresholds, endpoints []endpointCounts) *Verdict {
	v := &Verdict{Target: target, Window: th.Window.String(), Reasons: []string{}, Endpoints: []EndpointVerdict{}}
	var all counts
	for i := range endpoints {
		e := &endpoints[i]
		all.add(&e.counts)
		v.Endpoints = append(v.Endpoints, EndpointVerdict{
			Method: e.Method, Endpoint: e.Endpoint, Pairs: e.counts.compared(),
			DifferRate: rate(e.counts.differs(), e.counts.compared()), NoiseRate: rate(e.counts.noise(), e.counts.compared()),
			PrimaryP99: Quantile(0.99, e.counts.primaryMs()), ShadowP99: Quantile(0.99, e.counts.shadowMs()),
			Places: e.Places,
		})
	}
	slices.SortStableFunc(v.Endpoints, func(a, b EndpointVerdict) int {
		return cmp.Or(cmp.Compare(b.DifferRate, a.DifferRate), cmp.Compare(b.Pairs, a.Pairs),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	v.Pairs = all.compared()
	v.DifferRate = rate(all.differs(), v.Pairs)
	v.NoiseRate = rate(all.noise(), v.Pairs)
	v.Latency = Latency{
		PrimaryP50: Quantile(0.5, all.primaryMs()), PrimaryP99: Quantile(0.99, all.primaryMs()),
		ShadowP50: Quantile(0.5, all.shadowMs()), ShadowP99: Quantile(0.99, all.shadowMs()),
	}
	if v.Latency.PrimaryP99 > 0 {
		v.Latency.Ratio = v.Latency.ShadowP99 / v.Latency.PrimaryP99
	}
	if v.Pairs < th.MinPairs {
		v.Verdict = Inconclusive
		v.Reasons = append(v.Reasons, fmt.Sprintf("Only %d pairs were compared in the last %s, fewer than the %d a verdict needs (minPairs).",
			v.Pairs, th.Window, th.MinPairs))
		return v
	}
	if v.DifferRate > th.MaxDifferRate {
		v.Reasons = append(v.Reasons, fmt.Sprintf("%s of the %d pairs compared differ, above maxDifferRate %s.",
			percent(v.DifferRate), v.Pairs, percent(th.MaxDifferRate)))
	}
	for _, e := range v.Endpoints {
		if e.Pairs >= th.MinPairs && e.DifferRate > th.MaxDifferRate {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s of the %d pairs of %s differ, above maxDifferRate %s.",
				percent(e.DifferRate), e.Pairs, strings.TrimSpace(e.Method+" "+e.Endpoint), percent(th.MaxDifferRate)))
		}
	}
	if v.Latency.Ratio > th.MaxLatencyRatio {
		v.Reasons = append(v.Reasons, fmt.Sprintf("The shadow's p99 latency, %s ms, is %.2f times the primary's, %s ms, above maxLatencyRatio %g.",
			ms(v.Latency.ShadowP99), v.Latency.Ratio, ms(v.Latency.PrimaryP99), th.MaxLatencyRatio))
	}
	v.Verdict = Pass
	if len(v.Reasons) > 0 {
		v.Verdict = Fail
	}
	return v
}

// percent writes a rate for a person, to 3 significant digits: 1.1%, 16.7%, 0.0123%.
func percent(r float64) string {
	return strconv.FormatFloat(r*100, 'g', 3, 64) + "%"
}

// ms writes a latency in ms for a person, to 2 decimals at most: 9.95, 49.7, 10000.
func ms(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// ErrUnknownTarget is Verdict's error for a target no stored summary names.
var ErrUnknownTarget = errors.New("no summary names this target")

// Verdict decides target's verdict at now, under th, from the stored summaries; its
// error is ErrUnknownTarget when no stored summary names target.
func (s *Store) Verdict(ctx context.Context, target string, th Thresholds, now time.Time) (*Verdict, error) {
	return s.verdict(ctx, target, th, now, false)
}

func (s *Store) verdict(ctx context.Context, target string, th Thresholds, now time.Time, places bool) (*Verdict, error) {
	endpoints, err := s.windowCounts(ctx, target, now.Add(-th.Window).UnixMilli(), places)
	if err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		known, err := s.hasTarget(ctx, target)
		if err != nil {
			return nil, err
		}
		if !known {
			return nil, ErrUnknownTarget
		}
	}
	return decide(target, th, endpoints), nil
}

// ParseThresholds reads the query of GET /api/verdict: target (required), window,
// maxDifferRate, maxLatencyRatio, minPairs. Its error names the bad parameter.
func ParseThresholds(q url.Values) (target string, th Thresholds, err error) {
	th = DefaultThresholds
	for name, values := range q {
		switch name {
		case "target", "window", "maxDifferRate", "maxLatencyRatio", "minPairs":
		default:
			return "", th, fmt.Errorf("%s: unknown parameter (target, window, maxDifferRate, maxLatencyRatio, minPairs)", cut(name))
		}
		if len(values) > 1 {
			return "", th, fmt.Errorf("%s: given %d times, at most once", name, len(values))
		}
	}
	target = q.Get("target")
	switch {
	case !q.Has("target"):
		return "", th, fmt.Errorf("target: required")
	case checkName(target) != "":
		return "", th, fmt.Errorf("target: %s", checkName(target))
	}
	if q.Has("window") {
		d, err := time.ParseDuration(q.Get("window"))
		switch {
		case err != nil:
			return "", th, fmt.Errorf("window: must be a duration such as 15m, 1h or 24h, got %q", cut(q.Get("window")))
		case d <= 0:
			return "", th, fmt.Errorf("window: must be positive, got %s", q.Get("window"))
		case d > 100*365*24*time.Hour:
			return "", th, fmt.Errorf("window: at most 100 years, got %s", q.Get("window"))
		}
		th.Window = d
	}
	number := func(name string, to *float64, ok func(float64) bool, want string) error {
		if !q.Has(name) {
			return nil
		}
		f, err := strconv.ParseFloat(q.Get(name), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || !ok(f) {
			return fmt.Errorf("%s: must be %s, got %q", name, want, cut(q.Get(name)))
		}
		*to = f
		return nil
	}
	if err := number("maxDifferRate", &th.MaxDifferRate, func(f float64) bool { return f >= 0 && f <= 1 }, "a rate from 0 to 1"); err != nil {
		return "", th, err
	}
	if err := number("maxLatencyRatio", &th.MaxLatencyRatio, func(f float64) bool { return f > 0 }, "a ratio above 0"); err != nil {
		return "", th, err
	}
	if q.Has("minPairs") {
		n, err := strconv.ParseInt(q.Get("minPairs"), 10, 64)
		if err != nil || n < 1 {
			return "", th, fmt.Errorf("minPairs: must be a whole number from 1, got %q", cut(q.Get("minPairs")))
		}
		th.MinPairs = n
	}
	return target, th, nil
}

// verdict answers GET /api/verdict: 200 with the Verdict, 400 naming a bad parameter,
// 404 for a target no summary names.
func (s *Server) verdict(w http.ResponseWriter, r *http.Request) {
	target, th, err := ParseThresholds(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v, err := s.store.Verdict(r.Context(), target, th, time.Now())
	switch {
	case errors.Is(err, ErrUnknownTarget):
		http.Error(w, fmt.Sprintf("target %q: no summary names it (the plugin sends summaries with compare.report.cluster)", target), http.StatusNotFound)
		return
	case err != nil:
		s.pageFails.Inc()
		http.Error(w, "reading the summaries: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
