package manifests

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestREADMEQueries parses every promql block of README.md with Prometheus' own
// parser and checks that it selects only families the plugin exports, with their
// labels (as TestDashboard does for the dashboard).
func TestREADMEQueries(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(data), "```promql\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("found %d promql blocks in README.md, want the 2 of Comparing responses", len(blocks))
	}
	families := prometheusFamilies(t)
	p := parser.NewParser(parser.Options{})
	used := map[string]bool{}
	for _, block := range blocks {
		query := block[:strings.Index(block, "```")]
		expr, err := p.ParseExpr(query)
		if err != nil {
			t.Errorf("%q: %v", query, err)
			continue
		}
		for _, problem := range checkExpr(expr, families, unlabelledSeries(t), used) {
			t.Errorf("%q: %s", query, problem)
		}
	}
	for _, name := range []string{"meshmirror_compare_differs", "meshmirror_compare_same", "meshmirror_primary_latency_ms"} {
		if !used[name] {
			t.Errorf("no README query selects %s", name)
		}
	}
}
