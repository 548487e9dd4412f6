package manifests

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// The releases whose CRDs the templates of rollouts/ are checked against: the ones
// README names. argo-rollouts v1.8.3 is the newest release whose module builds with this
// Go (v1.10 needs Go 1.26.10); its CRDs are the same for the fields used here.
const (
	argoRollouts        = "github.com/argoproj/argo-rollouts"
	argoRolloutsVersion = "v1.8.3"
	flagger             = "github.com/fluxcd/flagger"
	flaggerVersion      = "v1.36.1"
)

// schemaOnlyKinds are the kinds checked against their CRD's schema only: Argo Rollouts'
// and Flagger's Go types would bring their whole modules into the tests. The schemas
// are strict enough here (no preserve-unknown-fields in what the templates use).
var schemaOnlyKinds = map[schema.GroupKind]bool{
	{Group: "argoproj.io", Kind: "AnalysisTemplate"}: true,
	{Group: "argoproj.io", Kind: "Rollout"}:          true,
	{Group: "flagger.app", Kind: "MetricTemplate"}:   true,
	{Group: "flagger.app", Kind: "Canary"}:           true,
}

// rolloutsValidator checks objects against Istio's CRDs (istio.io/api v1.22.0, the floor
// README's Compatibility table claims) and
// those of Argo Rollouts and Flagger at the releases README names, fetched from the Go
// module proxy.
func rolloutsValidator(t *testing.T) *validator {
	t.Helper()
	v := newValidatorAt(t, downloadModule(t, "istio.io/api", "v1.22.0"), "") // README's floor for the AuthorizationPolicy
	argo, err := filepath.Glob(filepath.Join(downloadModule(t, argoRollouts, argoRolloutsVersion), "manifests", "crds", "*-crd.yaml"))
	if err != nil || len(argo) == 0 {
		t.Fatalf("argo-rollouts %s: no CRD in manifests/crds (%v)", argoRolloutsVersion, err)
	}
	for _, path := range argo {
		v.load(t, path)
	}
	v.load(t, filepath.Join(downloadModule(t, flagger, flaggerVersion), "artifacts", "flagger", "crd.yaml"))
	for gk := range schemaOnlyKinds {
		found := false
		for gvk := range v.crds {
			found = found || gvk.GroupKind() == gk
		}
		if !found {
			t.Fatalf("no CRD for %s in argo-rollouts %s or flagger %s", gk, argoRolloutsVersion, flaggerVersion)
		}
	}
	return v
}

// checkRolloutObject returns o's problems: its CRD's, and for an AuthorizationPolicy
// those of Istio's Go type as istiod reads it.
func checkRolloutObject(v *validator, o object) []string {
	problems := v.validate(o)
	if gk := o.gvk().GroupKind(); gk == (schema.GroupKind{Group: "security.istio.io", Kind: "AuthorizationPolicy"}) {
		// Until istioTypes lists it, the validator has no Go type for it: decode it here.
		problems = slices.DeleteFunc(problems, func(p string) bool { return p == "kind: no Go type listed for "+gk.String() })
		if err := decodeSpec(o, &securityv1beta1.AuthorizationPolicy{}); err != nil {
			problems = append(problems, "spec: "+err.Error())
		}
	}
	return problems
}

// TestRolloutTemplates validates what kubectl apply -k manifests/rollouts/ sends against
// the CRDs of the releases it is for, checks that every file there is applied, and that
// the verdict template asks /api/verdict with SPEC's conditions.
func TestRolloutTemplates(t *testing.T) {
	v := rolloutsValidator(t)
	objects := build(t, "rollouts")
	applied := map[string]bool{}
	for _, o := range objects {
		applied[o.id()] = true
		for _, problem := range checkRolloutObject(v, o) {
			t.Errorf("kubectl apply -k manifests/rollouts: %s: %s", o.id(), problem)
		}
	}
	files, _ := filepath.Glob("rollouts/*.yaml")
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		for _, o := range readObjects(t, file) {
			o["metadata"].(map[string]any)["namespace"] = "meshmirror-demo"
			if !applied[o.id()] {
				t.Errorf("%s: %s is not in rollouts/kustomization.yaml", file, o.id())
			}
		}
	}
	want := []string{"AnalysisTemplate meshmirror-demo/meshmirror-verdict", "AnalysisTemplate meshmirror-demo/meshmirror-prometheus",
		"MetricTemplate meshmirror-demo/meshmirror-differ-rate", "MetricTemplate meshmirror-demo/meshmirror-latency-ratio",
		"AuthorizationPolicy meshmirror-demo/meshmirror-reports-verdict"}
	for _, id := range want {
		if !applied[id] {
			t.Errorf("manifests/rollouts lacks %s", id)
		}
	}

	web := analysisMetric(t, objects, "meshmirror-verdict", "meshmirror-verdict")
	if web.SuccessCondition != `result.verdict == "pass"` || web.FailureCondition != `result.verdict == "fail"` {
		t.Errorf("meshmirror-verdict: conditions %q and %q, want SPEC's", web.SuccessCondition, web.FailureCondition)
	}
	url := web.Provider.Web.URL
	for _, param := range []string{"/api/verdict?target={{args.target}}", "window=", "maxDifferRate=", "maxLatencyRatio=", "minPairs="} {
		if !strings.Contains(url, param) {
			t.Errorf("meshmirror-verdict: url %q lacks %q", url, param)
		}
	}
	if got := argoArgs(url); !isSubset(got, templateArgs(t, objects, "meshmirror-verdict")) {
		t.Errorf("meshmirror-verdict: the url uses args %q, the template has %q", got, templateArgs(t, objects, "meshmirror-verdict"))
	}
}

// analysis is the part of an AnalysisTemplate the tests read.
type analysis struct {
	Spec struct {
		Args []struct {
			Name  string
			Value *string
		}
		Metrics []analysisMetricSpec
	}
}

type analysisMetricSpec struct {
	Name             string
	SuccessCondition string `json:"successCondition"`
	FailureCondition string `json:"failureCondition"`
	Provider         struct {
		Web        *struct{ URL string }
		Prometheus *struct{ Query string }
	}
}

func decodeInto(t *testing.T, o object, to any) {
	t.Helper()
	data, err := yaml.Marshal(o)
	if err == nil {
		err = yaml.Unmarshal(data, to)
	}
	if err != nil {
		t.Fatalf("%s: %v", o.id(), err)
	}
}

func findObject(t *testing.T, objects []object, kind, name string) object {
	t.Helper()
	for _, o := range objects {
		if o.gvk().Kind == kind && o["metadata"].(map[string]any)["name"] == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

func analysisMetric(t *testing.T, objects []object, template, metric string) analysisMetricSpec {
	t.Helper()
	var a analysis
	decodeInto(t, findObject(t, objects, "AnalysisTemplate", template), &a)
	for _, m := range a.Spec.Metrics {
		if m.Name == metric {
			return m
		}
	}
	t.Fatalf("AnalysisTemplate %s has no metric %s", template, metric)
	return analysisMetricSpec{}
}

// templateArgs are the names of an AnalysisTemplate's args.
func templateArgs(t *testing.T, objects []object, template string) []string {
	var a analysis
	decodeInto(t, findObject(t, objects, "AnalysisTemplate", template), &a)
	var names []string
	for _, arg := range a.Spec.Args {
		names = append(names, arg.Name)
	}
	return names
}

var argoArg = regexp.MustCompile(`\{\{\s*args\.([a-z0-9-]+)\s*\}\}`)

// argoArgs are the names of the args a text uses.
func argoArgs(text string) []string {
	var out []string
	for _, m := range argoArg.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func isSubset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// resolveArgo substitutes args into text as Argo Rollouts does ({{args.name}}).
func resolveArgo(t *testing.T, text string, args map[string]string) string {
	t.Helper()
	return argoArg.ReplaceAllStringFunc(text, func(m string) string {
		name := argoArg.FindStringSubmatch(m)[1]
		v, ok := args[name]
		if !ok {
			t.Fatalf("%q: no arg %s", text, name)
		}
		return v
	})
}

// renderFlagger renders a MetricTemplate's query as Flagger v1.36 does
// (pkg/metrics/observers/render.go: text/template, missingkey=error, a function per
// field of its MetricTemplateModel).
func renderFlagger(query, interval string, variables map[string]string) (string, error) {
	funcs := template.FuncMap{
		"name": func() string { return "echo" }, "namespace": func() string { return testNamespace },
		"target": func() string { return "echo" }, "service": func() string { return "echo" },
		"ingress": func() string { return "" }, "route": func() string { return "" },
		"interval": func() string { return interval }, "variables": func() map[string]string { return variables },
	}
	tmpl, err := template.New("tmpl").Option("missingkey=error").Funcs(funcs).Parse(query)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tmpl.Execute(&b, nil)
	return b.String(), err
}

// rolloutScenario gives a target's compared pairs per scrape and the buckets of its
// latencies: Envoy's bucket (an index of envoyBuckets) that holds all of the copies'
// (latency_ms) and of the primaries' (primary_latency_ms).
type rolloutScenario struct {
	same, differs, noise        float64
	shadowBucket, primaryBucket int
}

// rolloutValue is a scenario's value for each metric of a target, and the bucket of its
// histograms.
func (s rolloutScenario) values(e exported) (float64, int) {
	switch e.metric {
	case "compare_same":
		return s.same, 0
	case "compare_differs":
		return s.differs, 0
	case "compare_noise":
		return s.noise, 0
	case "compare_skipped":
		return 7, 0 // never counted
	case "latency_ms":
		return s.same + s.differs + s.noise, s.shadowBucket
	case "primary_latency_ms":
		return s.same + s.differs + s.noise, s.primaryBucket
	}
	return 1, 0
}

// loadRolloutSeries stores the plugin's metrics of two pods, as Envoy exports them under
// rules, with each target's values from scenarios; a histogram's observations all in the
// scenario's bucket.
func loadRolloutSeries(t *testing.T, rules []tagRule, scenarios map[string]rolloutScenario) string {
	t.Helper()
	var load strings.Builder
	fmt.Fprintf(&load, "load %s\n", scrapeInterval)
	var targets []string
	for target := range scenarios {
		targets = append(targets, target)
	}
	slices.Sort(targets)
	for _, pod := range []string{"echo-v1-a", "echo-v1-b"} {
		for _, e := range envoyExport(t, rules, targets) {
			if e.target == "" {
				continue
			}
			series := func(name string, tags []tag, perStep float64) {
				fmt.Fprintf(&load, "  {__name__=%q, namespace=%q, pod=%q", name, testNamespace, pod)
				for _, l := range tags {
					fmt.Fprintf(&load, ", %s=%q", sanitizeName(l.name), l.value)
				}
				fmt.Fprintf(&load, "} 0+%gx%d\n", perStep, loadSteps)
			}
			v, bucket := scenarios[e.target].values(e)
			if !e.histogram {
				series(e.name, e.tags, v)
				continue
			}
			for i, le := range envoyBuckets {
				n := 0.0
				if i >= bucket {
					n = v
				}
				series(e.name+"_bucket", append(slices.Clone(e.tags), tag{"le", le}), n)
			}
			series(e.name+"_count", e.tags, v)
			series(e.name+"_sum", e.tags, v*10)
		}
	}
	return load.String()
}

// TestRolloutQueries runs the PromQL of the Argo Rollouts template and of the Flagger
// MetricTemplates on Prometheus's engine over the plugin's metrics as Envoy exports them
// with the stats_tags and without: each gives the chosen target's difference rate
// (noise and skipped pairs aside) and p99 latency ratio, in both forms, never another
// target's.
func TestRolloutQueries(t *testing.T) {
	objects := build(t, "rollouts")
	argoDiffer := analysisMetric(t, objects, "meshmirror-prometheus", "meshmirror-differ-rate").Provider.Prometheus.Query
	argoLatency := analysisMetric(t, objects, "meshmirror-prometheus", "meshmirror-latency-ratio").Provider.Prometheus.Query
	flaggerQuery := func(name string) string {
		var m struct{ Spec struct{ Query string } }
		decodeInto(t, findObject(t, objects, "MetricTemplate", name), &m)
		return m.Spec.Query
	}
	flaggerDiffer, flaggerLatency := flaggerQuery("meshmirror-differ-rate"), flaggerQuery("meshmirror-latency-ratio")
	if !isSubset(argoArgs(argoDiffer+argoLatency), templateArgs(t, objects, "meshmirror-prometheus")) {
		t.Errorf("meshmirror-prometheus uses args %q, has %q", argoArgs(argoDiffer+argoLatency), templateArgs(t, objects, "meshmirror-prometheus"))
	}

	// Envoy's buckets: index 3 is (5, 10] ms, 6 is (50, 100]: p99s 9.95 and 99.5.
	scenarios := map[string]rolloutScenario{
		"echo-v2":  {same: 90, differs: 6, noise: 4, shadowBucket: 6, primaryBucket: 3},
		"external": {same: 10, differs: 30, noise: 0, shadowBucket: 3, primaryBucket: 3},
	}
	wantRate, wantRatio := 6.0/100, 99.5/9.95
	at := time.Unix(0, 0).UTC().Add(30 * time.Minute)
	engine := newEngine(t)
	for form, rules := range tagForms(t) {
		db := promqltest.LoadedStorage(t, loadRolloutSeries(t, rules, scenarios))
		series := "echo-v2"
		if form == "unlabelled" {
			series = sanitizeName("echo-v2")
		}
		argo := map[string]string{"target": "echo-v2", "target-series": series, "window": "5m", "prometheus": "http://prometheus:9090"}
		vars := map[string]string{"target": "echo-v2", "targetSeries": series}
		queries := map[string]string{}
		queries["argo differ-rate"] = resolveArgo(t, argoDiffer, argo)
		queries["argo latency-ratio"] = resolveArgo(t, argoLatency, argo)
		var err error
		if queries["flagger differ-rate"], err = renderFlagger(flaggerDiffer, "5m", vars); err != nil {
			t.Fatalf("rendering meshmirror-differ-rate as Flagger does: %v", err)
		}
		if queries["flagger latency-ratio"], err = renderFlagger(flaggerLatency, "5m", vars); err != nil {
			t.Fatalf("rendering meshmirror-latency-ratio as Flagger does: %v", err)
		}
		for name, query := range queries {
			vec, err := instant(engine, db, query, at)
			if err != nil {
				t.Errorf("%s metrics: %s: %v\n%s", form, name, err, query)
				continue
			}
			want := wantRate
			if strings.HasSuffix(name, "latency-ratio") {
				want = wantRatio
			}
			if len(vec) != 1 || math.Abs(vec[0].F-want) > 1e-9*want {
				t.Errorf("%s metrics: %s = %v, want one value %g\n%s", form, name, vec, want, query)
			}
		}
	}
	// A Flagger Canary that forgets a variable is refused at render, not run with "".
	if _, err := renderFlagger(flaggerDiffer, "5m", map[string]string{"target": "echo-v2"}); err == nil {
		t.Error("meshmirror-differ-rate rendered without targetSeries")
	}
}

// TestREADMERollouts validates the Rollout and the Canary of README's "Gate a rollout on
// it" against the CRDs of the releases it names, and checks that they use the templates
// of manifests/rollouts with the args and variables those need.
func TestREADMERollouts(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := section(t, string(data), "## Gate a rollout on it")
	for _, s := range []string{"argo-rollouts " + argoRolloutsVersion, "Flagger " + strings.TrimPrefix(flaggerVersion, "v")} {
		if !strings.Contains(text, s) {
			t.Errorf("README, Gate a rollout on it: does not name %q, the release the tests check", s)
		}
	}
	v := rolloutsValidator(t)
	templates := build(t, "rollouts")
	var kinds []string
	for _, block := range yamlBlocks(text) {
		objects, err := decodeDocuments([]byte(block))
		if err != nil {
			t.Fatalf("README yaml: %v\n%s", err, block)
		}
		for _, o := range objects {
			kinds = append(kinds, o.gvk().Kind)
			for _, problem := range checkRolloutObject(v, o) {
				t.Errorf("README: %s: %s", o.id(), problem)
			}
			switch o.gvk().Kind {
			case "Rollout":
				checkRolloutUses(t, o, templates)
			case "Canary":
				checkCanaryUses(t, o, templates)
			}
		}
	}
	slices.Sort(kinds)
	if !slices.Contains(kinds, "Rollout") || !slices.Contains(kinds, "Canary") {
		t.Errorf("README, Gate a rollout on it: kinds %q, want a Rollout and a Canary", kinds)
	}
}

// yamlBlocks returns the ```yaml blocks of a Markdown text.
func yamlBlocks(text string) []string {
	var out []string
	for _, part := range strings.Split(text, "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// checkRolloutUses checks that every analysis step of a Rollout names a template of
// manifests/rollouts and gives each of its args that has no default.
func checkRolloutUses(t *testing.T, o object, templates []object) {
	t.Helper()
	var r struct {
		Spec struct {
			Strategy struct {
				Canary struct {
					Steps []struct {
						Analysis *struct {
							Templates []struct{ TemplateName string }
							Args      []struct{ Name string }
						}
					}
				}
			}
		}
	}
	decodeInto(t, o, &r)
	found := 0
	for _, step := range r.Spec.Strategy.Canary.Steps {
		if step.Analysis == nil {
			continue
		}
		var given []string
		for _, a := range step.Analysis.Args {
			given = append(given, a.Name)
		}
		for _, ref := range step.Analysis.Templates {
			found++
			var a analysis
			decodeInto(t, findObject(t, templates, "AnalysisTemplate", ref.TemplateName), &a)
			for _, arg := range a.Spec.Args {
				if arg.Value == nil && !slices.Contains(given, arg.Name) {
					t.Errorf("README: %s: the analysis of %s does not give its arg %s", o.id(), ref.TemplateName, arg.Name)
				}
			}
		}
	}
	if found == 0 {
		t.Errorf("README: %s has no analysis step", o.id())
	}
}

// checkCanaryUses checks that a Canary's metrics name MetricTemplates of
// manifests/rollouts, give the variables their queries use, and bound them.
func checkCanaryUses(t *testing.T, o object, templates []object) {
	t.Helper()
	var c struct {
		Spec struct {
			Analysis struct {
				Metrics []struct {
					Name              string
					TemplateRef       *struct{ Name string }
					TemplateVariables map[string]string
					ThresholdRange    *struct{ Max *float64 }
				}
			}
		}
	}
	decodeInto(t, o, &c)
	if len(c.Spec.Analysis.Metrics) == 0 {
		t.Errorf("README: %s has no metric", o.id())
	}
	for _, m := range c.Spec.Analysis.Metrics {
		if m.TemplateRef == nil || m.ThresholdRange == nil || m.ThresholdRange.Max == nil {
			t.Errorf("README: %s: metric %s needs a templateRef and a thresholdRange.max", o.id(), m.Name)
			continue
		}
		var mt struct{ Spec struct{ Query string } }
		decodeInto(t, findObject(t, templates, "MetricTemplate", m.TemplateRef.Name), &mt)
		if _, err := renderFlagger(mt.Spec.Query, "5m", m.TemplateVariables); err != nil {
			t.Errorf("README: %s: metric %s: Flagger cannot render %s with its templateVariables: %v", o.id(), m.Name, m.TemplateRef.Name, err)
		}
	}
}
