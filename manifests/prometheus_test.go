package manifests

import (
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
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

	// The metric each selector of an alert is for, in order.
	want := map[string][]string{
		"MeshmirrorConfigErrors":    {"config_errors"},
		"MeshmirrorDispatchFailing": {"dispatch_failed"},
		"MeshmirrorCopiesFailing":   {"response_failed", "dispatched"},
	}
	forms := tagForms(t)
	for _, g := range plain.Groups {
		for _, r := range g.Rules {
			metrics, ok := want[r.Alert]
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
			if len(selectors) != len(metrics) {
				t.Errorf("alert %s selects %d series, want %d: %s", r.Alert, len(selectors), len(metrics), r.Expr)
				continue
			}
			// Each selector selects its metric of every target, under the names
			// Envoy gives it with the stats_tags and without, and nothing else.
			for i, matchers := range selectors {
				for form, rules := range forms {
					for _, e := range envoyExport(t, rules, []string{"echo-v2", "reviews", "a_b-c"}) {
						if got := selects(matchers, e.name); got != (e.metric == metrics[i]) {
							t.Errorf("alert %s: on %s metrics, selector %v selects %s (%s): %v, want %v", r.Alert, form, matchers, e.name, e.pluginMetric.name, got, !got)
						}
					}
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
