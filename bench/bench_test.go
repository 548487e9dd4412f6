package bench

import (
	"context"
	"fmt"
	"testing"
)

// root is the repository, from this package's directory.
const root = ".."

func loadModules(tb testing.TB) []Module {
	tb.Helper()
	mods, err := LoadModules(root)
	if err != nil {
		tb.Fatal(err)
	}
	return mods
}

// BenchmarkRequest runs every scenario through meshmirror and the floors, in one
// run: BenchmarkRequest/scenario=<name>/module=<name> (benchstat -col /module). ns/op is one request's whole life;
// vm-allocs/op and vm-B/op are the module's own allocations (CountAllocs); allocs/op
// and B/op are the Go host's, the same for every module.
func BenchmarkRequest(b *testing.B) {
	mods := loadModules(b)
	for _, sc := range Scenarios {
		b.Run("scenario="+sc.Name, func(b *testing.B) {
			for _, m := range mods {
				b.Run("module="+m.Name, func(b *testing.B) { benchmarkRequest(b, m, sc) })
			}
		})
	}
}

func benchmarkRequest(b *testing.B, m Module, sc Scenario) {
	allocs, err := CountAllocs(m, sc, 200)
	if err != nil {
		b.Fatal(err)
	}
	RunRequests(b, m, sc)
	b.ReportMetric(allocs.Count, "vm-allocs/op")
	b.ReportMetric(allocs.Bytes, "vm-B/op")
}

// BenchmarkStart is wasmhost.New: compiling, instantiating and starting a module
// until the plugin accepts its configuration.
func BenchmarkStart(b *testing.B) {
	sc := Scenarios[0]
	for _, m := range loadModules(b) {
		b.Run("module="+m.Name, func(b *testing.B) {
			for b.Loop() {
				vm, err := Start(context.Background(), m.Wasm, sc.Config, Clusters())
				if err != nil {
					b.Fatal(err)
				}
				vm.Close()
			}
		})
	}
}

// TestScenarios runs each scenario a few times through every module, checks that
// it does what the scenario says, and that the module's allocations can be
// counted: a cheap check that `make bench` will work.
func TestScenarios(t *testing.T) {
	mods := loadModules(t)
	for _, sc := range Scenarios {
		for _, m := range mods {
			t.Run(sc.Name+"/"+m.Name, func(t *testing.T) {
				vm, err := Start(context.Background(), m.Wasm, sc.Config, Clusters())
				if err != nil {
					t.Fatal(err)
				}
				defer vm.Close()
				if m.Name == "meshmirror" && vm.Host.MemoryBytes() < 2<<20 {
					t.Errorf("meshmirror started with %d bytes of memory: it reserves a 2 MiB heap (RATIONALE.md)",
						vm.Host.MemoryBytes())
				}
				const n = 5
				for range n {
					if err := vm.Do(&sc.Request); err != nil {
						t.Fatal(err)
					}
				}
				want := map[string]int{"f0": 0, "f1": 0, "f2": n}[m.Name]
				if m.Name == "meshmirror" {
					want = n * sc.Copies
					if sc.Name == "ratelimited" {
						want = 1 // the burst
					}
				}
				if vm.Answered != want {
					t.Errorf("%d copies answered, want %d", vm.Answered, want)
				}
				if _, err := CountAllocs(m, sc, 1); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func ExampleMedian() {
	fmt.Println(Median([]float64{3, 1, 2}), Median([]float64{4, 1, 3, 2}))
	// Output: 2 2.5
}

// TestSoak runs a short soak: every kind of request and answer of the mix shows in
// the module's metrics, and every copy is answered.
func TestSoak(t *testing.T) {
	m := loadModules(t)[0]
	res, err := Soak(m.Wasm, SoakOptions{Requests: 3000, Every: 500, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != 7 {
		t.Errorf("%d samples, want 7 (at 0 and every 500 requests)", len(res.Samples))
	}
	for _, name := range []string{"reviews-v2.dispatched", "reviews-v2.response_4xx", "audit.sampled_out",
		"audit.dispatched", "flaky.dropped_body_too_large", "flaky.response_5xx", "flaky.response_failed",
		"loop_skipped"} {
		if res.Metrics["meshmirror."+name] == 0 {
			t.Errorf("meshmirror.%s is 0: the mix no longer exercises it", name)
		}
	}
	var sent, inFlight uint64
	for _, target := range []string{"reviews-v2", "audit", "flaky"} {
		sent += res.Metrics["meshmirror."+target+".dispatched"]
		inFlight += res.Metrics["meshmirror."+target+".in_flight"]
	}
	if int(sent) != res.Answered || inFlight != 0 {
		t.Errorf("%d copies sent, %d answered, %d still in flight", sent, res.Answered, inFlight)
	}
}
