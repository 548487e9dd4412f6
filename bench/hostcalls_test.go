package bench

import (
	"maps"
	"testing"
)

// TestHostCalls: a request that matches no target makes the one host call F1 makes
// (reading the headers), and every scenario makes one proxy_http_call per copy it
// sends, no more: what BENCHMARKS.md's host-call counts rest on.
func TestHostCalls(t *testing.T) {
	mods := loadModules(t)
	for _, sc := range Scenarios {
		calls, err := CountHostCalls(mods[0], sc, 20)
		if err != nil {
			t.Fatal(err)
		}
		if got := calls["env.proxy_http_call"]; got != float64(sc.Copies) {
			t.Errorf("%s: %.2f proxy_http_call per request, want %d: %v", sc.Name, got, sc.Copies, calls)
		}
		if sc.Name == "nomatch" && !maps.Equal(calls, map[string]float64{"env.proxy_get_header_map_pairs": 1}) {
			t.Errorf("nomatch makes the host calls %v, want F1's one proxy_get_header_map_pairs", calls)
		}
	}
}
