package manifests

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardFile is the Grafana dashboard README's "Watch the metrics" imports.
const dashboardFile = "grafana/meshmirror.json"

// dashboard holds what Grafana needs to import a dashboard and what these tests check.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
			Regex      string          `json:"regex"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    map[string]int `json:"gridPos"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVariables are replaced as Grafana does before a query reaches Prometheus:
// $target by a regex of the chosen targets, the intervals by a duration.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "${target}", ".*", "$target", ".*")

// TestDashboard checks that manifests/grafana/meshmirror.json is a dashboard Grafana
// imports as is (a schema version, a title and uid, panels placed on the grid, queries
// through a data source variable of type prometheus), that every PromQL expression
// parses with Prometheus' own parser, and that it selects only metric families the
// plugin exports under the stats_tags of TestStatsTags, with their labels: the
// dashboard cannot ask for a name or a label that does not exist.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	// Grafana 10 and later write 36 or more and migrate older documents on import.
	if d.SchemaVersion < 36 || d.Title == "" || d.UID == "" {
		t.Errorf("schemaVersion %d, title %q, uid %q; want a schema version of 36 or more, a title and a uid", d.SchemaVersion, d.Title, d.UID)
	}
	datasource := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			datasource = "${" + v.Name + "}"
		}
	}
	if datasource == "" {
		t.Fatal("no templating variable of type datasource for prometheus: the dashboard would be bound to one Grafana's data source")
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("variable %s: query: %v", v.Name, err)
			}
			checkVariableQuery(t, v.Name, q.Query)
			checkDatasource(t, "variable "+v.Name, v.Datasource, datasource)
		}
	}

	families := prometheusFamilies(t)
	unlabelled := unlabelledSeries(t)
	p := parser.NewParser(parser.Options{})
	used := map[string]bool{}
	ids := map[int]bool{}
	queries := 0
	for _, pn := range d.Panels {
		if pn.Type == "" || pn.Title == "" || pn.GridPos["w"] == 0 || pn.GridPos["h"] == 0 || ids[pn.ID] {
			t.Errorf("panel %d %q: want a type, a title, a size on the grid and an id of its own", pn.ID, pn.Title)
		}
		ids[pn.ID] = true
		if pn.Type == "row" {
			continue
		}
		checkDatasource(t, "panel "+pn.Title, pn.Datasource, datasource)
		if len(pn.Targets) == 0 {
			t.Errorf("panel %q has no query", pn.Title)
		}
		for _, q := range pn.Targets {
			queries++
			where := "panel " + pn.Title + " query " + q.RefID
			checkDatasource(t, where, q.Datasource, datasource)
			expr, err := p.ParseExpr(grafanaVariables.Replace(q.Expr))
			if err != nil {
				t.Errorf("%s: %q: %v", where, q.Expr, err)
				continue
			}
			for _, problem := range checkExpr(expr, families, unlabelled, used) {
				t.Errorf("%s: %q: %s", where, q.Expr, problem)
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no query")
	}
	// What an operator looks for (README "What to watch"): every family that counts
	// copies not sent, and the ones below.
	want := []string{"meshmirror_matched", "meshmirror_dispatched", "meshmirror_response", "meshmirror_response_failed", "meshmirror_latency_ms", "meshmirror_in_flight", "meshmirror_sampled_out", "meshmirror_dispatch_failed"}
	for name := range families {
		if strings.HasPrefix(name, "meshmirror_dropped_") {
			want = append(want, name)
		}
	}
	for _, name := range want {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// checkExpr returns the problems of a PromQL expression: a selector of a name the
// plugin does not export, a label its family does not have, or an aggregation by such
// a label. It marks in used the families it selects. A selector with no name but a
// regex on __name__ is for the names of a proxy without the stats_tags (unlabelled, as
// unlabelledSeries returns them): it must select some of them, all of one metric, and
// match no other label; the labels label_replace writes count as the expression's own.
func checkExpr(expr parser.Expr, families map[string]family, unlabelled map[string]string, used map[string]bool) []string {
	var problems []string
	labels := map[string]bool{} // the labels of every family the expression selects
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if call, ok := node.(*parser.Call); ok && call.Func.Name == "label_replace" {
			if dst, ok := call.Args[1].(*parser.StringLiteral); ok {
				labels[dst.Val] = true
			}
		}
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			metric, problem := checkUnlabelled(vs, families, unlabelled)
			if problem != "" {
				problems = append(problems, problem)
			}
			if strings.HasSuffix(metric, "_bucket") {
				labels["le"] = true
			}
			return nil
		}
		name, suffix, f, found := familyOf(vs.Name, families)
		if !found {
			problems = append(problems, "selects "+vs.Name+", which the plugin does not export")
			return nil
		}
		used[name] = true
		allowed := slices.Clone(f.labels)
		if suffix == "_bucket" {
			allowed = append(allowed, "le")
		}
		for _, l := range allowed {
			labels[l] = true
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != "__name__" && !slices.Contains(allowed, m.Name) {
				problems = append(problems, vs.Name+" has no label "+m.Name)
			}
		}
		return nil
	})
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if agg, ok := node.(*parser.AggregateExpr); ok {
			for _, l := range agg.Grouping {
				if !labels[l] {
					problems = append(problems, "aggregates by "+l+", a label none of its metrics has")
				}
			}
		}
		return nil
	})
	return problems
}

// checkUnlabelled returns the metric a selector by __name__ alone selects, and its
// problem: it must select some unlabelled series, all of them of one metric, no
// series of a proxy with the stats_tags, and match no other label.
func checkUnlabelled(vs *parser.VectorSelector, families map[string]family, unlabelled map[string]string) (metric, problem string) {
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName {
			return "", fmt.Sprintf("%s: an unlabelled series has no label %s", vs, m.Name)
		}
	}
	for name, f := range families {
		for _, series := range []string{name, name + "_bucket", name + "_sum", name + "_count"} {
			if (series == name) != f.histogram && selects(vs.LabelMatchers, series) {
				return "", fmt.Sprintf("%s selects %s, a series of a proxy with the stats_tags", vs, series)
			}
		}
	}
	kinds := map[string]bool{}
	for name, metric := range unlabelled {
		if selects(vs.LabelMatchers, name) {
			kinds[metric] = true
		}
	}
	if len(kinds) != 1 {
		return "", fmt.Sprintf("%s selects the unlabelled series of %d metrics %v, want one", vs, len(kinds), slices.Sorted(maps.Keys(kinds)))
	}
	for metric := range kinds {
		return metric, ""
	}
	return "", ""
}

// unlabelledSeries returns the Prometheus series names of every metric the plugin
// defines, as a proxy without meshmirror's stats_tags exports them (the target in the
// name), for the targets of prometheusFamilies, each with the metric it is of (a
// histogram's _bucket, _sum and _count with the suffix).
func unlabelledSeries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range envoyExport(t, nil, familyTargets(t)) {
		if !e.histogram {
			// response_2xx … response_5xx are one family with the tags, meshmirror_response.
			out[e.name] = statusClass.ReplaceAllString(e.metric, "response")
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			out[e.name+suffix] = e.metric + suffix
		}
	}
	return out
}

// familyOf returns the family a Prometheus series name belongs to: the name itself,
// or for a histogram the name before _bucket, _sum or _count.
func familyOf(series string, families map[string]family) (name, suffix string, f family, ok bool) {
	if f, ok := families[series]; ok && !f.histogram {
		return series, "", f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, cut := strings.CutSuffix(series, suffix); cut {
			if f, ok := families[base]; ok && f.histogram {
				return base, suffix, f, true
			}
		}
	}
	return "", "", family{}, false
}

var queryResult = regexp.MustCompile(`^query_result\((.+)\)$`)

// checkVariableQuery checks a variable's query_result(expr) query as checkExpr checks a
// panel's; TestDashboardForms evaluates it.
func checkVariableQuery(t *testing.T, variable, query string) {
	m := queryResult.FindStringSubmatch(query)
	if m == nil {
		t.Errorf("variable %s: query %q is not query_result(expr)", variable, query)
		return
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(m[1])
	if err != nil {
		t.Errorf("variable %s: %q: %v", variable, query, err)
		return
	}
	for _, problem := range checkExpr(expr, prometheusFamilies(t), unlabelledSeries(t), map[string]bool{}) {
		t.Errorf("variable %s: %q: %s", variable, query, problem)
	}
}

func checkDatasource(t *testing.T, where string, ref *datasourceRef, variable string) {
	if ref == nil || ref.Type != "prometheus" || ref.UID != variable {
		t.Errorf("%s: datasource %+v, want {prometheus %s}", where, ref, variable)
	}
}
