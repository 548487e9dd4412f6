package manifests

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

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
			checkLabelValues(t, v.Name, q.Query)
			checkDatasource(t, "variable "+v.Name, v.Datasource, datasource)
		}
	}

	families := prometheusFamilies(t)
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
			for _, problem := range checkExpr(expr, families, used) {
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
// a label. It marks in used the families it selects.
func checkExpr(expr parser.Expr, families map[string]family, used map[string]bool) []string {
	var problems []string
	labels := map[string]bool{} // the labels of every family the expression selects
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
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

var labelValues = regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`)

// checkLabelValues checks a variable's label_values(metric, label) query against the
// families the plugin exports.
func checkLabelValues(t *testing.T, variable, query string) {
	m := labelValues.FindStringSubmatch(query)
	if m == nil {
		t.Errorf("variable %s: query %q is not label_values(metric, label)", variable, query)
		return
	}
	f, ok := prometheusFamilies(t)[m[1]]
	if !ok || !slices.Contains(f.labels, m[2]) {
		t.Errorf("variable %s: %s: the plugin exports no %s with a label %s", variable, query, m[1], m[2])
	}
}

func checkDatasource(t *testing.T, where string, ref *datasourceRef, variable string) {
	if ref == nil || ref.Type != "prometheus" || ref.UID != variable {
		t.Errorf("%s: datasource %+v, want {prometheus %s}", where, ref, variable)
	}
}
