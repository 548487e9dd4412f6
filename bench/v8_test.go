package bench

import (
	"errors"
	"testing"
	"time"
)

// v8Modules loads the modules, or skips the test when there is no node to run the
// V8 host.
func v8Modules(t *testing.T) []Module {
	t.Helper()
	if _, err := NodeVersion(); errors.Is(err, ErrNoNode) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	return loadModules(t)
}

// TestV8MatchesWazero runs every scenario a few times through every module in the V8
// host and on wasmhost, and checks that the module did the same in both: the same
// callouts answered, the same metrics defined, the same counter and gauge values
// (histograms hold latencies, which differ), the same linear memory. A difference
// means the V8 host does not run the module as wasmhost, and Envoy, do.
func TestV8MatchesWazero(t *testing.T) {
	mods := v8Modules(t)
	const n = 5
	checks, err := CheckV8(mods, Scenarios, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != len(Scenarios)*len(mods) {
		t.Fatalf("the V8 host reported %d runs, want %d", len(checks), len(Scenarios)*len(mods))
	}
	byName := map[string]Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	for _, c := range checks {
		t.Run(c.Scenario+"/"+c.Module, func(t *testing.T) {
			sc, ok := ScenarioByName(c.Scenario)
			if !ok {
				t.Fatalf("the V8 host reported scenario %q, which does not exist", c.Scenario)
			}
			vm := runScenario(t, byName[c.Module], sc, n)
			if c.Answered != vm.Answered {
				t.Errorf("V8 answered %d callouts, wazero %d", c.Answered, vm.Answered)
			}
			if mem := vm.Host.MemoryBytes(); c.MemoryBytes != mem {
				t.Errorf("linear memory: %d bytes in V8, %d in wazero", c.MemoryBytes, mem)
			}
			want := vm.Host.Metrics()
			for name, m := range c.Metrics {
				w, ok := want[name]
				switch {
				case !ok:
					t.Errorf("%s is defined in V8, not in wazero", name)
				case m.Kind != 2 && m.Value != w:
					t.Errorf("%s = %d in V8, %d in wazero", name, m.Value, w)
				}
			}
			for name := range want {
				if _, ok := c.Metrics[name]; !ok {
					t.Errorf("%s is defined in wazero, not in V8", name)
				}
			}
			if c.Module == "meshmirror" {
				for _, name := range sc.PerRequest {
					if got := c.Metrics[name].Value; got != n {
						t.Errorf("%s = %d in V8 after %d requests, want %d", name, got, n, n)
					}
				}
			}
		})
	}
}

// TestRunV8 runs one scenario for one short round in the V8 host: every module
// reports a time per request, as `make bench` reads them.
func TestRunV8(t *testing.T) {
	mods := v8Modules(t)
	sc, _ := ScenarioByName("copy")
	got := map[string]V8Sample{}
	err := RunV8(mods, []Scenario{sc}, V8Options{Rounds: 1, Benchtime: 20 * time.Millisecond, Progress: t.Output()},
		func(s V8Sample) { got[s.Module] = s })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		s, ok := got[m.Name]
		if !ok {
			t.Errorf("no measurement of %s", m.Name)
			continue
		}
		if s.Round != 1 || s.Scenario != "copy" || s.Requests < 1 || s.NsPerRequest <= 0 || s.CPUNsPerRequest <= 0 {
			t.Errorf("%s: %+v", m.Name, s)
		}
	}
}
