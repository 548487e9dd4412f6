package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

// Series are loaded as a Prometheus scrape of Envoy's /stats/prometheus would store
// them: one sample every scrapeInterval (Istio's sample Prometheus scrapes every 15 s),
// for loadSteps samples, with the labels the scrape adds.
const (
	scrapeInterval = 15 * time.Second
	loadSteps      = 240 // one hour
	testNamespace  = "meshmirror-demo"
)

// envoyBuckets are the upper bounds of Envoy's default histogram buckets
// (source/common/stats/histogram_impl.h), as /stats/prometheus writes them in le.
var envoyBuckets = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1.8e+06", "3.6e+06", "+Inf"}

// exported is one metric the plugin defines as Prometheus stores it from Envoy's
// /stats/prometheus: its name and the labels the stats_tags gave it.
type exported struct {
	pluginMetric
	name string
	tags []tag
}

// envoyExport returns every metric the plugin defines for targets as Envoy exports it
// under rules (nil: a proxy without meshmirror's stats_tags): tags extracted as Envoy's
// tag extractor does, the name as its Prometheus formatter writes it.
func envoyExport(t *testing.T, rules []tagRule, targets []string) []exported {
	t.Helper()
	var out []exported
	for _, m := range pluginMetrics(t, targets) {
		extracted, tags := produceTags(rules, "wasmcustom."+m.name)
		name, ok := prometheusName(extracted)
		if !ok {
			t.Fatalf("%s: Envoy does not export %q", m.name, extracted)
		}
		out = append(out, exported{m, name, tags})
	}
	return out
}

// tagForms are the two ways a proxy can export the plugin's metrics: with the stats_tags
// of envoy.yaml and manifests/app/stats-tags.yaml (the target a label), and without them
// (a proxy not given the override: the target in every name).
func tagForms(t *testing.T) map[string][]tagRule {
	t.Helper()
	tagged, err := compileTagRules(statsTags(t))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]tagRule{"labelled": tagged, "unlabelled": nil}
}

// values gives the value each metric of a pod has: for a counter the increase per
// scrape, for a gauge its value; for a histogram the observations per scrape.
type values func(e exported) float64

// loadSeries returns a Prometheus storage holding the plugin's metrics of each pod, as
// Envoy exports them under rules, with the values pods gives them.
func loadSeries(t *testing.T, rules []tagRule, targets []string, pods map[string]values) storage.Storage {
	t.Helper()
	var load strings.Builder
	fmt.Fprintf(&load, "load %s\n", scrapeInterval)
	series := func(name string, lbls []tag, pod string, sequence string) {
		fmt.Fprintf(&load, "  {__name__=%q, namespace=%q, pod=%q", name, testNamespace, pod)
		for _, l := range lbls {
			fmt.Fprintf(&load, ", %s=%q", sanitizeName(l.name), l.value)
		}
		fmt.Fprintf(&load, "} %s\n", sequence)
	}
	counter := func(perStep float64) string { return fmt.Sprintf("0+%gx%d", perStep, loadSteps) }
	for pod, value := range pods {
		for _, e := range envoyExport(t, rules, targets) {
			v := value(e)
			switch {
			case e.histogram:
				// Observations spread evenly over the buckets below +Inf: bucket i holds
				// the share (i+1)/n of them.
				for i, le := range envoyBuckets {
					share := float64(i+1) / float64(len(envoyBuckets)-1)
					series(e.name+"_bucket", append(slices.Clone(e.tags), tag{"le", le}), pod, counter(v*min(share, 1)))
				}
				series(e.name+"_count", e.tags, pod, counter(v))
				series(e.name+"_sum", e.tags, pod, counter(v*100))
			case isGauge(e):
				series(e.name, e.tags, pod, fmt.Sprintf("%g+0x%d", v, loadSteps))
			default:
				series(e.name, e.tags, pod, counter(v))
			}
		}
	}
	return promqltest.LoadedStorage(t, load.String())
}

// isGauge reports whether a metric the plugin defines is a gauge (SPEC.md: in_flight
// and config_errors); every other one that is not a histogram is a counter.
func isGauge(e exported) bool {
	return e.metric == "in_flight" || e.metric == "config_errors"
}

// newEngine returns Prometheus's query engine with the options a Prometheus server
// starts with: in particular without the feature promql-delayed-name-removal, so a
// function over series of different names that keep the same labels fails, as it does
// in a default Prometheus (the promqltest engine turns the feature on).
func newEngine(t *testing.T) *promql.Engine {
	t.Helper()
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:                   slog.New(slog.DiscardHandler),
		MaxSamples:               50_000_000,
		Timeout:                  time.Minute,
		LookbackDelta:            5 * time.Minute,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		Parser:                   parser.NewParser(parser.Options{}),
	})
	t.Cleanup(func() { engine.Close() })
	return engine
}

// instant evaluates a query at t as Prometheus does for Grafana's instant queries.
func instant(engine *promql.Engine, db storage.Storage, query string, at time.Time) (promql.Vector, error) {
	q, err := engine.NewInstantQuery(context.Background(), db, nil, query, at)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Vector()
}

// healthy are the values of a pod whose copies go well: each target's copies are sent
// and answered, 1% fail, none is refused, the configuration is valid. Each target's
// values differ (by its position), so that a query mixing targets up shows.
func healthy(targets []string) values {
	return func(e exported) float64 {
		scale := float64(slices.Index(targets, e.target) + 1)
		switch e.metric {
		case "matched":
			return 20 * scale
		case "dispatched", "sampled_out", "latency_ms":
			return 10 * scale
		case "response_2xx":
			return 9.8 * scale
		case "response_5xx":
			return 0.1 * scale
		case "response_failed":
			return 0.1 * scale
		case "in_flight":
			return 3 * scale
		}
		return 0
	}
}

// with returns v with metric of target set to value.
func with(v values, target, metric string, value float64) values {
	return func(e exported) float64 {
		if e.target == target && e.metric == metric {
			return value
		}
		return v(e)
	}
}

// alertTargets are the targets of envoy.yaml and the manifests, whose metrics the alert
// test loads: two of them, so that the series of one pod differ only in their names when
// the target is in the name.
var alertTargets = []string{"echo-v2", "external"}

// TestAlertsFire evaluates every alert of the rules file with Prometheus's own engine
// and rule evaluation (the hold of for included) on the plugin's metrics as Envoy
// exports them, labelled and unlabelled: each alert fires for the one pod whose metrics
// say so, in both forms, and no alert fires for a healthy pod.
func TestAlertsFire(t *testing.T) {
	groups := parseRules(t, rulesFile, mustRead(t, rulesFile))
	p := parser.NewParser(parser.Options{})
	good := healthy(alertTargets)
	scenarios := []struct {
		name  string
		fires string // the alert that must fire for the pod "bad"; "" for none
		bad   values
	}{
		{"healthy", "", good},
		{"invalid configuration", "MeshmirrorConfigErrors", func(e exported) float64 {
			if e.metric == "config_errors" {
				return 2
			}
			return 0 // a plugin with problems mirrors nothing
		}},
		{"copies refused for one target", "MeshmirrorDispatchFailing", with(good, "external", "dispatch_failed", 0.5)},
		{"30% of one target's copies fail", "MeshmirrorCopiesFailing", with(good, "echo-v2", "response_failed", 3)},
	}
	start := time.Unix(0, 0).UTC()
	for form, tagRules := range tagForms(t) {
		for _, sc := range scenarios {
			t.Run(form+"/"+sc.name, func(t *testing.T) {
				db := loadSeries(t, tagRules, alertTargets, map[string]values{"echo-v1-good": good, "echo-v1-bad": sc.bad})
				query := rules.EngineQueryFunc(newEngine(t), db)
				seen := 0
				for _, g := range groups.Groups {
					for _, r := range g.Rules {
						seen++
						expr, err := p.ParseExpr(r.Expr)
						if err != nil {
							t.Fatalf("alert %s: %v", r.Alert, err)
						}
						rule := rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
							labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler))
						// As a rule group does: every 30 s for the first 40 minutes.
						for at := start.Add(time.Minute); at.Before(start.Add(40 * time.Minute)); at = at.Add(30 * time.Second) {
							if _, err := rule.Eval(context.Background(), 0, at, query, nil, 0); err != nil {
								t.Fatalf("alert %s on %s metrics at %s: %v", r.Alert, form, at.Sub(start), err)
							}
						}
						var firing []string
						for _, a := range rule.ActiveAlerts() {
							if a.State == rules.StateFiring {
								firing = append(firing, a.Labels.Get("namespace")+"/"+a.Labels.Get("pod"))
							}
						}
						var want []string
						if r.Alert == sc.fires {
							want = []string{testNamespace + "/echo-v1-bad"}
						}
						if !slices.Equal(firing, want) {
							t.Errorf("alert %s on %s metrics: firing for %q, want %q", r.Alert, form, firing, want)
						}
					}
				}
				if seen == 0 {
					t.Fatalf("%s has no rule", rulesFile)
				}
			})
		}
	}
}

// relativelyEqual reports whether two query results agree to one part in a million.
func relativelyEqual(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dashboardTargets are the targets the dashboard test loads: envoy.yaml's and one whose
// name has both a dash and an underscore.
var dashboardTargets = []string{"echo-v2", "external", "x-y_z"}

// distinct gives every metric of every target its own value, so that a query that
// picks the wrong metric or mixes targets up gives other numbers than the right one.
func distinct(e exported) float64 {
	h := fnv.New32a()
	h.Write([]byte(e.metric))
	return float64(slices.Index(dashboardTargets, e.target)+2) * float64(h.Sum32()%97+1)
}

// TestDashboardForms evaluates every query of the dashboard, and its target variable,
// with Prometheus's engine on the plugin's metrics as Envoy exports them with the
// stats_tags and without: both forms give the same series with the same values (the
// target's name as Prometheus writes it: echo_v2 for echo-v2 without the tags), for
// every target and for one chosen in the variable.
func TestDashboardForms(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(mustRead(t, dashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	forms := tagForms(t)
	dbs := map[string]storage.Storage{}
	for form, rules := range forms {
		dbs[form] = loadSeries(t, rules, dashboardTargets, map[string]values{"echo-v1": distinct})
	}
	engine := newEngine(t)
	at := time.Unix(0, 0).UTC().Add(30 * time.Minute)
	// eval runs a query on one form, with the target variable set to choice (a regex),
	// and returns each series by its labels, with the target as Prometheus writes it
	// without the tags.
	eval := func(t *testing.T, form, query, choice string) map[string]float64 {
		t.Helper()
		vars := strings.NewReplacer("${target}", choice, "$target", choice)
		vec, err := instant(engine, dbs[form], grafanaVariables.Replace(vars.Replace(query)), at)
		if err != nil {
			t.Fatalf("%s metrics: %q: %v", form, query, err)
		}
		out := map[string]float64{}
		for _, s := range vec {
			b := labels.NewBuilder(s.Metric)
			if target := s.Metric.Get("target"); target != "" {
				b.Set("target", sanitizeName(target))
			}
			out[b.Labels().String()] = s.F
		}
		return out
	}
	compare := func(t *testing.T, query string, choice map[string]string) {
		t.Helper()
		got := map[string]map[string]float64{}
		for form := range forms {
			got[form] = eval(t, form, query, choice[form])
			if len(got[form]) == 0 {
				t.Errorf("%s metrics, target %s: %q returns nothing", form, choice[form], query)
			}
		}
		labelled, unlabelled := got["labelled"], got["unlabelled"]
		if !maps.EqualFunc(labelled, unlabelled, relativelyEqual) {
			t.Errorf("target %v: %q gives\n  with the stats_tags    %v\n  without them           %v", choice, query, labelled, unlabelled)
		}
		for series := range labelled {
			if choice["unlabelled"] != ".*" && strings.Contains(series, "target=") && !strings.Contains(series, `target="`+choice["unlabelled"]+`"`) {
				t.Errorf("target %v: %q returns %s", choice, query, series)
			}
		}
	}
	all := map[string]string{"labelled": ".*", "unlabelled": ".*"}
	one := map[string]string{"labelled": "echo-v2", "unlabelled": "echo_v2"}
	queries := 0
	for _, pn := range d.Panels {
		for _, q := range pn.Targets {
			queries++
			t.Run(pn.Title+"/"+q.RefID, func(t *testing.T) {
				compare(t, q.Expr, all)
				compare(t, q.Expr, one)
			})
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no query")
	}

	// The target variable lists every target in both forms, as Grafana reads them from
	// query_result: its regex over each series' labels.
	for _, v := range d.Templating.List {
		if v.Name != "target" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatal(err)
		}
		m := queryResult.FindStringSubmatch(q.Query)
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(v.Regex, "/"), "/"))
		if m == nil || err != nil {
			t.Fatalf("variable target: query %q, regex %q (%v): want query_result(expr) and a /regex/", q.Query, v.Regex, err)
		}
		for form := range forms {
			vec, err := instant(engine, dbs[form], m[1], at)
			if err != nil {
				t.Fatalf("variable target on %s metrics: %v", form, err)
			}
			var listed []string
			for _, s := range vec {
				if sub := re.FindStringSubmatch(s.Metric.String()); len(sub) == 2 {
					listed = append(listed, sub[1])
				}
			}
			var want []string
			for _, target := range dashboardTargets {
				if form == "unlabelled" {
					target = sanitizeName(target)
				}
				want = append(want, target)
			}
			slices.Sort(listed)
			if !slices.Equal(listed, want) {
				t.Errorf("variable target on %s metrics lists %q, want %q", form, listed, want)
			}
		}
		return
	}
	t.Error("the dashboard has no variable target")
}
