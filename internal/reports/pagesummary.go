package reports

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"time"
)

// static holds the page's script and the charting library it uses, uPlot (vendored
// from npm with its licence: static/uplot/README.md), served at /static/: the page
// needs no CDN and has no inline script.
//
//go:embed static
var static embed.FS

// staticHandler serves static/ at /static/.
func staticHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// PageWindows are the windows the page offers, and the step of its charts in each:
// about 15 to 100 points.
var PageWindows = []struct {
	Name string
	Step int64 // minutes per point
}{{"15m", 1}, {"1h", 1}, {"6h", 5}, {"24h", 15}}

// defaultPageWindow is the page's window when the address names none (or another).
const defaultPageWindow = "1h"

// summaryView is what the page shows of the summaries: each target's verdict over the
// window chosen, and a card per endpoint.
type summaryView struct {
	Window  string
	Windows []windowLink
	Targets []targetView
	// ReportEndpoints is the number of endpoints with reports, with summaries or not.
	ReportEndpoints int
}

type windowLink struct {
	Name     string
	Selected bool
}

// targetView is one target's verdict on the page.
type targetView struct {
	*Verdict
	DifferText, NoiseText, PrimaryText, ShadowText string
	Cards                                          []endpointCard
}

// endpointCard is one endpoint of a target with summaries: its share of the verdict,
// its chart, its places by rate, and the latest reports of it, if any.
type endpointCard struct {
	Target string
	EndpointVerdict
	DifferText, NoiseText, PrimaryText, ShadowText string
	// Chart is the chart's data as JSON, for static/page.js.
	Chart   string
	Places  []placeView
	Reports *EndpointSummary
}

// placeView is one place of an endpoint: its rates among the endpoint's compared pairs.
type placeView struct {
	Place                 string
	DifferRate, NoiseRate float64
	DifferText, NoiseText string
	Noise                 bool // every difference counted there was noise
}

// chartData is an endpoint's chart: per step with compared pairs, its start (Unix s),
// the difference rate in % and both p99s in ms; From and To bound the x axis.
type chartData struct {
	From    int64     `json:"from"`
	To      int64     `json:"to"`
	T       []int64   `json:"t"`
	Differ  []float64 `json:"differ"`
	Primary []float64 `json:"primary"`
	Shadow  []float64 `json:"shadow"`
}

// pageWindow returns the window the page's address asks for (?window=1h).
func pageWindow(r *http.Request) (name string, window time.Duration, step int64) {
	name = r.URL.Query().Get("window")
	for _, w := range PageWindows {
		if w.Name == name {
			d, _ := time.ParseDuration(name)
			return name, d, w.Step
		}
	}
	d, _ := time.ParseDuration(defaultPageWindow)
	return defaultPageWindow, d, 1
}

// summaries reads, for the page, every target's verdict over the window r asks for
// (SPEC's default thresholds), with a card per endpoint; reports are the report
// summaries, whose examples go on the endpoints' cards. It returns the reports left
// over: endpoints with reports and no summary in the window.
func (s *Store) summaries(ctx context.Context, r *http.Request, now time.Time, reports []EndpointSummary) (summaryView, []EndpointSummary, error) {
	name, window, step := pageWindow(r)
	view := summaryView{Window: name, ReportEndpoints: len(reports)}
	for _, w := range PageWindows {
		view.Windows = append(view.Windows, windowLink{w.Name, w.Name == name})
	}
	targets, err := s.summaryTargets(ctx)
	if err != nil {
		return view, reports, err
	}
	byKey := map[[3]string]*EndpointSummary{}
	for i := range reports {
		e := &reports[i]
		byKey[[3]string{e.Target, e.Method, e.Endpoint}] = e
	}
	used := map[*EndpointSummary]bool{}
	th := DefaultThresholds
	th.Window = window
	since := now.Add(-window)
	for _, target := range targets {
		v, err := s.verdict(ctx, target, th, now, true)
		if err == ErrUnknownTarget {
			continue
		}
		if err != nil {
			return view, reports, err
		}
		series, err := s.series(ctx, target, since.UnixMilli(), step)
		if err != nil {
			return view, reports, err
		}
		tv := targetView{Verdict: v, DifferText: percent(v.DifferRate), NoiseText: percent(v.NoiseRate),
			PrimaryText: ms(v.Latency.PrimaryP99), ShadowText: ms(v.Latency.ShadowP99)}
		for _, e := range v.Endpoints {
			if e.Pairs == 0 {
				continue // only skipped pairs in the window
			}
			card := endpointCard{Target: target, EndpointVerdict: e,
				DifferText: percent(e.DifferRate), NoiseText: percent(e.NoiseRate), PrimaryText: ms(e.PrimaryP99), ShadowText: ms(e.ShadowP99)}
			card.Chart = chartJSON(series[[2]string{e.Method, e.Endpoint}], since, now)
			for _, p := range e.Places {
				pv := placeView{Place: p.Place, DifferRate: rate(p.Differs, e.Pairs), NoiseRate: rate(p.Noise, e.Pairs), Noise: p.Differs == 0}
				pv.DifferText, pv.NoiseText = percent(pv.DifferRate), percent(pv.NoiseRate)
				card.Places = append(card.Places, pv)
			}
			if rep := byKey[[3]string{target, e.Method, e.Endpoint}]; rep != nil {
				card.Reports, used[rep] = rep, true
			}
			tv.Cards = append(tv.Cards, card)
		}
		view.Targets = append(view.Targets, tv)
	}
	var rest []EndpointSummary
	for i := range reports {
		if !used[&reports[i]] {
			rest = append(rest, reports[i])
		}
	}
	return view, rest, nil
}

// chartJSON writes an endpoint's points for static/page.js.
func chartJSON(points []point, since, now time.Time) string {
	d := chartData{From: since.Unix(), To: now.Unix(), T: []int64{}, Differ: []float64{}, Primary: []float64{}, Shadow: []float64{}}
	for _, p := range points {
		if p.c.compared() == 0 {
			continue
		}
		d.T = append(d.T, p.At.Unix())
		d.Differ = append(d.Differ, round(100*rate(p.c.differs(), p.c.compared()), 4))
		d.Primary = append(d.Primary, round(Quantile(0.99, p.c.primaryMs()), 2))
		d.Shadow = append(d.Shadow, round(Quantile(0.99, p.c.shadowMs()), 2))
	}
	if len(d.T) > 0 && d.T[0] < d.From {
		d.From = d.T[0] // the step the window starts in, whole
	}
	out, _ := json.Marshal(d)
	return string(out)
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// verdictClass is the CSS class of a verdict on the page.
func verdictClass(v string) string {
	switch v {
	case Pass, Fail, Inconclusive:
		return v
	}
	return "inconclusive"
}

// formatFloat writes a rate or a latency exactly, for the page's data-value attributes.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
