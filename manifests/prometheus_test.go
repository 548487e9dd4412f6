package manifests

import (
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

const (
	rulesFile          = "prometheus/meshmirror-alerts.rules.yaml"
	prometheusRuleFile = "prometheus/meshmirror-alerts.yaml"
)

// parseRules parses a rules file with Prometheus's own parser, as prometheus and
// promtool check rules do, refusing unknown fields.
func parseRules(t *testing.T, name string, data []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%s: %v", name, err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

// TestAlertRules checks both forms of the alerts: the plain rules file and the
// PrometheusRule hold the same groups, Prometheus accepts them, and each alert selects
// metrics under the names Prometheus gives the plugin's own.
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	plain := parseRules(t, rulesFile, data)

	data, err = os.ReadFile(prometheusRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec any `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &rule); err != nil {
		t.Fatalf("%s: %v", prometheusRuleFile, err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" || rule.Metadata.Name == "" {
		t.Errorf("%s: %s %s %q, want a named monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, rule.APIVersion, rule.Kind, rule.Metadata.Name)
	}
	spec, err := yaml.Marshal(rule.Spec) // the operator hands spec to Prometheus as a rules file
	if err != nil {
		t.Fatal(err)
	}
	operator := parseRules(t, prometheusRuleFile+" spec", spec)
	if !reflect.DeepEqual(stripNodes(operator), stripNodes(plain)) {
		t.Errorf("%s and %s hold different rules: change both", prometheusRuleFile, rulesFile)
	}

	// The names Prometheus shows for the plugin's metrics, for a target echo-v2.
	promName := func(name string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(name) }
	want := map[string][]string{
		"MeshmirrorConfigErrors":    {promName(mirror.ConfigErrorsMetric)},
		"MeshmirrorDispatchFailing": {promName(mirror.CounterName("echo-v2", mirror.DispatchFailed))},
		"MeshmirrorCopiesFailing": {promName(mirror.CounterName("echo-v2", mirror.ResponseFailed)),
			promName(mirror.CounterName("echo-v2", mirror.Dispatched))},
	}
	for _, g := range plain.Groups {
		for _, r := range g.Rules {
			names, ok := want[r.Alert]
			if !ok {
				t.Errorf("alert %q is not one this test knows", r.Alert)
				continue
			}
			delete(want, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: want a severity label and summary and description annotations", r.Alert)
			}
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("alert %s: %v", r.Alert, err)
			}
			selectors := parser.ExtractSelectors(expr)
			if len(selectors) != len(names) {
				t.Errorf("alert %s selects %d series, want %d: %s", r.Alert, len(selectors), len(names), r.Expr)
				continue
			}
			for i, matchers := range selectors {
				if !selects(matchers, names[i]) {
					t.Errorf("alert %s: selector %v does not select %s", r.Alert, matchers, names[i])
				}
				// Other targets' metrics of the same kind are selected too, and no other.
				other := strings.Replace(names[i], "echo_v2", "reviews", 1)
				if !selects(matchers, other) || selects(matchers, promName(mirror.CounterName("echo-v2", mirror.Matched))) {
					t.Errorf("alert %s: selector %v must select %s and no other kind of metric", r.Alert, matchers, other)
				}
			}
		}
	}
	for alert := range want {
		t.Errorf("no alert %s in %s", alert, rulesFile)
	}
}

func selects(matchers []*labels.Matcher, name string) bool {
	for _, m := range matchers {
		if m.Name == labels.MetricName && !m.Matches(name) {
			return false
		}
	}
	return true
}

// stripNodes drops the YAML positions that rulefmt keeps, which differ between the two
// files; what is left is what Prometheus evaluates.
func stripNodes(g *rulefmt.RuleGroups) string {
	data, err := yaml.Marshal(g)
	if err != nil {
		return err.Error()
	}
	return regexp.MustCompile(`(?m)^\s*(line|column):.*$`).ReplaceAllString(string(data), "")
}
