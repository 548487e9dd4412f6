package manifests

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// mirrorDir holds the package that names every metric the plugin defines.
const mirrorDir = "../plugin/mirror"

// pluginMetric is one metric the plugin defines, as SPEC.md names it.
type pluginMetric struct {
	name      string // meshmirror.<t>.<metric>, or meshmirror.<metric> for a global one
	target    string // "" for a global metric
	metric    string
	histogram bool
}

// perTargetNames are plugin/mirror's functions that name a target's metrics besides its
// counters (mirror.CounterName, over mirror.NumCounters, and mirror.CompareCounterName, over
// mirror.NumCompareCounters, for a target with compare), and whether each is a histogram,
// which Prometheus shows as _bucket, _sum and _count.
var perTargetNames = map[string]struct {
	name      func(target string) string
	histogram bool
}{
	"InFlightName":       {mirror.InFlightName, false},
	"LatencyName":        {mirror.LatencyName, true},
	"PrimaryLatencyName": {mirror.PrimaryLatencyName, true},
}

// pluginMetrics returns every metric the plugin defines for these targets, derived from
// plugin/mirror rather than listed here, so that a metric added there is covered: each
// Counter up to NumCounters, each function of perTargetNames, and each string constant
// of the package that names a global metric (meshmirror.<metric>, like
// LoopSkippedMetric). An exported function of the package that names a metric but is
// not in perTargetNames fails the test: it cannot be called without being listed.
func pluginMetrics(t *testing.T, targets []string) []pluginMetric {
	t.Helper()
	globals, nameFuncs := scanMirror(t)
	for _, fn := range nameFuncs {
		if _, known := perTargetNames[fn]; !known && fn != "CounterName" && fn != "CompareCounterName" {
			t.Errorf("plugin/mirror.%s names a metric that this test does not know: add it to perTargetNames", fn)
		}
	}
	var metrics []pluginMetric
	for _, name := range globals {
		metrics = append(metrics, pluginMetric{name: name, metric: strings.TrimPrefix(name, "meshmirror.")})
	}
	for _, target := range targets {
		prefix := "meshmirror." + target + "."
		add := func(name string, histogram bool) {
			if !strings.HasPrefix(name, prefix) {
				t.Fatalf("metric %q is not named %s<metric> (SPEC.md)", name, prefix)
			}
			metrics = append(metrics, pluginMetric{name, target, strings.TrimPrefix(name, prefix), histogram})
		}
		for c := range mirror.NumCounters {
			add(mirror.CounterName(target, c), false)
		}
		for c := range mirror.NumCompareCounters {
			add(mirror.CompareCounterName(target, c), false)
		}
		for _, f := range perTargetNames {
			add(f.name(target), f.histogram)
		}
	}
	return metrics
}

// scanMirror reads plugin/mirror's source: the string constants that name a global
// metric, and the exported functions that return a metric name (…Name(target …) string).
func scanMirror(t *testing.T) (globals, nameFuncs []string) {
	files, err := filepath.Glob(filepath.Join(mirrorDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				if n.Tok != token.CONST {
					return false
				}
				for _, spec := range n.Specs {
					if names := spec.(*ast.ValueSpec).Names; len(names) > 0 && strings.HasPrefix(names[0].Name, "otlp") {
						continue // OpenTelemetry attribute keys of reports (plugin/report/otlp.go), not metrics
					}
					for _, v := range spec.(*ast.ValueSpec).Values {
						lit, ok := v.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						if s, _ := strconv.Unquote(lit.Value); strings.HasPrefix(s, "meshmirror.") {
							globals = append(globals, s)
						}
					}
				}
			case *ast.FuncDecl:
				results := n.Type.Results
				if n.Recv == nil && n.Name.IsExported() && strings.HasSuffix(n.Name.Name, "Name") &&
					results != nil && len(results.List) == 1 && fmt.Sprint(results.List[0].Type) == "string" {
					nameFuncs = append(nameFuncs, n.Name.Name)
				}
			}
			return true
		})
	}
	if len(globals) == 0 || len(nameFuncs) == 0 {
		t.Fatalf("%s: found no metric names (globals %q, functions %q)", mirrorDir, globals, nameFuncs)
	}
	return globals, nameFuncs
}

// statusClass matches the metrics that count answers of one status class.
var statusClass = regexp.MustCompile(`^response_([0-9]xx)$`)

// tagRule is one stats_tags rule as Envoy compiles it.
type tagRule struct {
	name   string
	re     *regexp.Regexp
	prefix string // the first token a name must have for the rule to run; "" for any
	shared bool   // another rule has the same tag name
}

// tag is one label Envoy extracts from a stat name.
type tag struct{ name, value string }

// compileTagRules compiles stats_tags as Envoy's TagProducerImpl does for rules with a
// regex (source/common/stats/tag_producer_impl.cc): a custom rule is a
// TagExtractorStdRegexImpl, an ECMAScript std::regex. Go's regexp is RE2, which is also
// leftmost-first, so for the patterns both accept they find the same submatches;
// ECMAScript's extras (lookahead, backreferences) fail here, which keeps the rules in
// the common subset. A rule without a regex or with a fixed value is refused: meshmirror
// needs neither.
func compileTagRules(specs []*metricsv3.TagSpecifier) ([]tagRule, error) {
	var rules []tagRule
	seen := map[string]int{}
	for _, s := range specs {
		if s.GetRegex() == "" {
			return nil, fmt.Errorf("tag %s: no regex", s.GetTagName())
		}
		re, err := regexp.Compile(s.GetRegex())
		if err != nil {
			return nil, fmt.Errorf("tag %s: %v", s.GetTagName(), err)
		}
		seen[s.GetTagName()]++
		rules = append(rules, tagRule{name: s.GetTagName(), re: re, prefix: regexPrefix(s.GetRegex())})
	}
	for i := range rules {
		rules[i].shared = seen[rules[i].name] > 1
	}
	return rules, nil
}

// regexPrefix is TagExtractorImplBase::extractRegexPrefix
// (source/common/stats/tag_extractor_impl.cc): for a regex that starts with ^, letters,
// digits and _, then \. (or (?=\.)), the letters before the dot; the rule then runs only
// on names whose first token they are.
func regexPrefix(regex string) string {
	if !strings.HasPrefix(regex, "^") {
		return ""
	}
	for i := 1; i < len(regex); i++ {
		c := regex[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			continue
		}
		if i > 1 {
			last := i == len(regex)-1
			rest := regex[i:]
			if !last && (strings.HasPrefix(rest, `\.`) || strings.HasPrefix(rest, `(?=\.)`)) || last && c == '$' {
				return regex[1:i]
			}
		}
		return ""
	}
	return ""
}

// produceTags is what Envoy does with a stat name (TagProducerImpl::produceTags and
// TagExtractorStdRegexImpl::extractTag, source/common/stats/tag_producer_impl.cc and
// tag_extractor_impl.cc): each rule whose prefix token fits searches the whole name
// (std::regex_search, not anchored); on a match the regex's first group is the part
// removed from the name, and its second group, if the regex has one, the tag's value
// (else the first group's text). Rules without a prefix run first; of several rules
// with the same tag name only the first that matches counts. It returns the
// tag-extracted name and the tags.
func produceTags(rules []tagRule, name string) (string, []tag) {
	firstToken, _, _ := strings.Cut(name, ".")
	remove := make([]bool, len(name))
	matched := map[string]bool{}
	var tags []tag
	for _, withPrefix := range []bool{false, true} {
		for _, r := range rules {
			if (r.prefix != "") != withPrefix || withPrefix && r.prefix != firstToken {
				continue
			}
			if r.shared && matched[r.name] {
				continue
			}
			m := r.re.FindStringSubmatchIndex(name)
			if m == nil || r.re.NumSubexp() < 1 {
				continue
			}
			value := m[2:4]
			if r.re.NumSubexp() >= 2 {
				value = m[4:6]
			}
			v := ""
			if value[0] >= 0 {
				v = name[value[0]:value[1]]
			}
			tags = append(tags, tag{r.name, v})
			matched[r.name] = true
			for i := max(m[2], 0); i < m[3]; i++ {
				remove[i] = true
			}
		}
	}
	var out strings.Builder
	for i := range name {
		if !remove[i] {
			out.WriteByte(name[i])
		}
	}
	return out.String(), tags
}

// prometheusName is the name Envoy's /stats/prometheus gives a tag-extracted name
// (PrometheusStatsFormatter::metricName, source/server/admin/prometheus_stats.cc): a
// name in the custom namespace wasmcustom (where define_metric puts a module's metrics)
// loses that prefix and gets no envoy_ prefix; every character outside [a-zA-Z0-9_]
// becomes _. ok is false for a name Envoy would not export.
func prometheusName(extracted string) (name string, ok bool) {
	rest, custom := strings.CutPrefix(extracted, "wasmcustom.")
	if !custom {
		return "envoy_" + sanitizeName(extracted), true
	}
	name = sanitizeName(rest)
	return name, name != "" && (name[0] < '0' || name[0] > '9')
}

var invalidPrometheusChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitizeName(s string) string { return invalidPrometheusChars.ReplaceAllString(s, "_") }

// family is a Prometheus metric family meshmirror exports: its label names and whether
// it is a histogram.
type family struct {
	labels    []string
	histogram bool
}

// statsTags returns the stats_tags of envoy.yaml, decoded with Envoy's protos.
func statsTags(t *testing.T) []*metricsv3.TagSpecifier {
	t.Helper()
	return loadEnvoy(t).Bootstrap.GetStatsConfig().GetStatsTags()
}

// prometheusFamilies returns the families Prometheus shows for the plugin's metrics,
// with envoy.yaml's rules applied as Envoy applies them, for every target of envoy.yaml
// and names chosen to be awkward (one character, digits, words that are metric names).
// Every problem with the names and labels is an error of t.
func prometheusFamilies(t *testing.T) map[string]family {
	t.Helper()
	rules, err := compileTagRules(statsTags(t))
	if err != nil {
		t.Fatalf("%s: stats_tags: %v", envoyFile, err)
	}
	targets := familyTargets(t)
	families := map[string]family{}
	series := map[string]string{} // name{labels} → the stat it comes from
	for _, m := range pluginMetrics(t, targets) {
		stat := "wasmcustom." + m.name // Envoy's stats_handler.h, CustomStatNamespace
		extracted, tags := produceTags(rules, stat)
		name, ok := prometheusName(extracted)
		if !ok {
			t.Errorf("%s: Envoy does not export %q to Prometheus", stat, extracted)
			continue
		}
		wantName, wantTags := "meshmirror_"+sanitizeName(m.metric), []tag(nil)
		if m.target != "" {
			wantTags = []tag{{"target", m.target}}
			if class := statusClass.FindStringSubmatch(m.metric); class != nil {
				wantName = "meshmirror_response"
				wantTags = append(wantTags, tag{"class", class[1]})
			}
		}
		if name != wantName || !slices.Equal(tags, wantTags) {
			t.Errorf("%s: Prometheus shows %s%v, want %s%v", stat, name, tags, wantName, wantTags)
			continue
		}
		var labels []string
		for _, tg := range tags {
			labels = append(labels, sanitizeName(tg.name))
		}
		id := fmt.Sprint(name, tags)
		if other, dup := series[id]; dup {
			t.Errorf("%s and %s are both shown as %s", other, stat, id)
		}
		series[id] = stat
		f, seen := families[name]
		if seen && (!slices.Equal(f.labels, labels) || f.histogram != m.histogram) {
			t.Errorf("%s: family %s has labels %v (histogram %v) here and %v (histogram %v) elsewhere", stat, name, labels, m.histogram, f.labels, f.histogram)
		}
		families[name] = family{labels, m.histogram}
	}
	return families
}

// familyTargets are the targets whose metrics the family checks name: every target of
// envoy.yaml and names chosen to be awkward (one character, digits, words that are
// metric names).
func familyTargets(t *testing.T) []string {
	t.Helper()
	plugin, err := config.Parse(loadEnvoy(t).PluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"a", "0", "x_y-z", "response", "loop_skipped", "matched", strings.Repeat("z", 63)}
	for _, target := range plugin.Targets {
		targets = append(targets, target.Name)
	}
	return targets
}

// TestStatsTags checks the Prometheus names and labels of every metric the plugin
// defines under envoy.yaml's stats_tags, applied as Envoy applies them, and that the
// bootstrap override Istio's proxies load has the same rules.
func TestStatsTags(t *testing.T) {
	families := prometheusFamilies(t)
	for _, want := range []string{"meshmirror_matched", "meshmirror_response", "meshmirror_latency_ms", "meshmirror_loop_skipped"} {
		if _, ok := families[want]; !ok {
			t.Errorf("no family %s", want)
		}
	}

	want := statsTags(t)
	overrides := 0
	for _, dir := range kustomizations(t) {
		for _, o := range build(t, dir) {
			if o.gvk().Kind != "ConfigMap" {
				continue
			}
			data, _ := o["data"].(map[string]any)
			js, ok := data["custom_bootstrap.json"].(string)
			if !ok {
				continue
			}
			overrides++
			boot, err := bootstrapOverride(js)
			if err != nil {
				t.Errorf("%s: %s: custom_bootstrap.json: %v", dir, o.id(), err)
				continue
			}
			if got := boot.GetStatsConfig().GetStatsTags(); !slices.EqualFunc(got, want, func(a, b *metricsv3.TagSpecifier) bool { return proto.Equal(a, b) }) {
				t.Errorf("%s: %s: stats_tags %v differ from %s's %v", dir, o.id(), got, envoyFile, want)
			}
		}
	}
	if overrides == 0 {
		t.Error("no ConfigMap in the manifests holds a custom_bootstrap.json")
	}
}

// bootstrapOverride decodes a bootstrap override as Envoy does with --config-yaml: a
// Bootstrap message that is merged into Istio's, checked with its validation rules.
func bootstrapOverride(js string) (*bootstrapv3.Bootstrap, error) {
	boot := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal([]byte(js), boot); err != nil {
		return nil, err
	}
	return boot, boot.ValidateAll()
}

// TestTagExtraction checks the imitation of Envoy's tag extractor on Envoy's own
// examples (its default rules for cluster names and response codes).
func TestTagExtraction(t *testing.T) {
	rules, err := compileTagRules([]*metricsv3.TagSpecifier{
		{TagName: "envoy.cluster_name", TagValue: &metricsv3.TagSpecifier_Regex{Regex: `^cluster\.((.+?)\.)`}},
		{TagName: "envoy.response_code", TagValue: &metricsv3.TagSpecifier_Regex{Regex: `_rq(_(\d{3}))$`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rules[0].prefix != "cluster" || rules[1].prefix != "" {
		t.Errorf("prefixes %q, %q; want cluster and none", rules[0].prefix, rules[1].prefix)
	}
	name, tags := produceTags(rules, "cluster.backend.upstream_rq_200")
	if want := []tag{{"envoy.response_code", "200"}, {"envoy.cluster_name", "backend"}}; name != "cluster.upstream_rq" || !slices.Equal(tags, want) {
		t.Errorf("got %s %v, want cluster.upstream_rq %v", name, tags, want)
	}
	if name, tags := produceTags(rules, "http.backend.upstream_rq_2000"); name != "http.backend.upstream_rq_2000" || tags != nil {
		t.Errorf("got %s %v, want no tags", name, tags)
	}
}
