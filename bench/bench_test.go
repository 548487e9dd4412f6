package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/wasmhost"
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

// runScenario starts m's deployed build for sc on wasmhost and runs n requests; the
// VM is closed when the test ends.
func runScenario(t *testing.T, m Module, sc Scenario, n int) *VM {
	t.Helper()
	return runScenarioIn(t, Compiler, m, sc, n)
}

// runScenarioIn is runScenario in engine e.
func runScenarioIn(t *testing.T, e Engine, m Module, sc Scenario, n int) *VM {
	t.Helper()
	vm, err := StartIn(context.Background(), e, m.Wasm, sc.Config, Clusters(sc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	for range n {
		if err := vm.Do(&sc.Request); err != nil {
			t.Fatal(err)
		}
	}
	return vm
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
				vm, err := Start(context.Background(), m.Wasm, sc.Config, Clusters(sc))
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
				const n = 5
				vm := runScenario(t, m, sc, n)
				if m.Name == "meshmirror" && vm.Host.MemoryBytes() < 2<<20 {
					t.Errorf("meshmirror runs in %d bytes of memory: it reserves a 2 MiB heap (RATIONALE.md)",
						vm.Host.MemoryBytes())
				}
				want := map[string]int{"f0": 0, "f1": 0, "f2": n, "f3": n}[m.Name]
				if m.Name == "meshmirror" {
					want = n * sc.Copies
					if sc.Name == "ratelimited" {
						want = 1 // the burst
					}
				}
				if vm.Answered != want {
					t.Errorf("%d copies answered, want %d", vm.Answered, want)
				}
				if m.Name == "meshmirror" {
					// A compared pair is answered after the primary: every pair is compared.
					for _, name := range sc.PerRequest {
						if got, _ := vm.Host.Metric(name); got != n {
							t.Errorf("%s = %d, want %d", name, got, n)
						}
					}
				}
				if _, err := CountAllocs(m, sc, 1); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestMeasure times a scenario as the report does: it runs for the time asked, and
// reports the requests it made and the CPU time they took.
func TestMeasure(t *testing.T) {
	sc, _ := ScenarioByName("copy")
	const d = 50 * time.Millisecond
	res, err := Measure(loadModules(t)[0], sc, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 1 || res.Wall < d || res.CPU <= 0 || res.CPUNsPerRequest() <= 0 {
		t.Errorf("%+v after %v", res, d)
	}
}

func ExampleMedian() {
	fmt.Println(Median([]float64{3, 1, 2}), Median([]float64{4, 1, 3, 2}))
	// Output: 2 2.5
}

// TestSoak runs a short soak on Envoy's allocator, with a configuration change every
// 5,000 requests: every kind of request and answer of the mix shows in the module's
// metrics, every copy has exactly one outcome, and the memory does not grow after the
// warm-up (the first tenth).
func TestSoak(t *testing.T) {
	m := loadModules(t)[0]
	const n, every, reconfigure = 100_000, 1000, 5000
	res, err := Soak(m.Wasm, SoakOptions{Requests: n, Every: every, Seed: 1, ReconfigureEvery: reconfigure}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != n/every+1 || res.Reconfigured != n/reconfigure {
		t.Errorf("%d samples and %d configuration changes, want %d and %d", len(res.Samples), res.Reconfigured,
			n/every+1, n/reconfigure)
	}
	for _, name := range []string{"reviews-v2.dispatched", "reviews-v2.response_4xx", "audit.sampled_out",
		"audit.dispatched", "flaky.dropped_body_too_large", "flaky.response_5xx", "flaky.response_failed",
		"loop_skipped", "reviews-v2.cancelled", "audit.compare_same", "audit.compare_differs", "audit.compare_skipped"} {
		if res.Metrics["meshmirror."+name] == 0 {
			t.Errorf("meshmirror.%s is 0: the mix no longer exercises it", name)
		}
	}
	if err := CheckOutcomes(res.Metrics); err != nil {
		t.Error(err)
	}
	// A tenth of the audit shadow's pages differ, a third are gzip: decoded, those
	// are the same as the primary's.
	if same, differs := res.Metrics["meshmirror.audit.compare_same"], res.Metrics["meshmirror.audit.compare_differs"]; same < 5*differs {
		t.Errorf("audit: %d pairs the same, %d differ: gzip answers are not compared decoded", same, differs)
	}
	if len(res.Timers) > 0 {
		t.Errorf("tick timers still set at the end, by root context: %v", res.Timers)
	}
	// The receiver answers 202: a report or summary not answered was cancelled by a
	// configuration change, and counts as failed.
	summaries, reports := res.Metrics["meshmirror.audit.compare_summaries"], res.Metrics["meshmirror.audit.compare_reports"]
	if failed := res.Metrics["meshmirror.audit.compare_reports_failed"]; summaries == 0 || int(summaries+reports) != res.Reported+int(failed) {
		t.Errorf("%d summaries and %d reports sent, %d answered, %d failed: want summaries, each with one outcome", summaries, reports, res.Reported, failed)
	}
	var sent, cancelled uint64
	for _, target := range []string{"reviews-v2", "audit", "flaky"} {
		sent += res.Metrics["meshmirror."+target+".dispatched"]
		cancelled += res.Metrics["meshmirror."+target+".cancelled"]
	}
	if int(sent) != res.Answered+int(cancelled) {
		t.Errorf("%d copies sent, %d answered and %d cancelled", sent, res.Answered, cancelled)
	}
	warm := res.Samples[len(res.Samples)/10]
	for _, s := range res.Samples[len(res.Samples)/10:] {
		if s.MemoryBytes > warm.MemoryBytes {
			t.Errorf("memory grew after the warm-up: %d KiB at %d requests, %d KiB at %d",
				warm.MemoryBytes>>10, warm.Requests, s.MemoryBytes>>10, s.Requests)
			break
		}
	}
}

// TestBodyChunksGoStraightIn: Envoy writes each chunk of a copied body where the
// plugin's malloc points it, into the body the copy sends (plugin/buffers_tinygo.go),
// so a 64 KiB body in 16 chunks allocates less per request than one chunk; through
// the SDK's buffers it allocated every chunk again, over 64 KiB a request. Each copy
// carries the request's body, byte for byte, though the chunks differ and the
// buffers are reused from request to request.
func TestBodyChunksGoStraightIn(t *testing.T) {
	sc, _ := ScenarioByName("body64k")
	sc.Request.Body = slices.Clone(sc.Request.Body)
	for i := range sc.Request.Body {
		sc.Request.Body[i] = bytes.Repeat([]byte{byte('a' + i)}, len(sc.Request.Body[i]))
	}
	want := bytes.Join(sc.Request.Body, nil)
	for _, m := range loadModules(t) {
		if m.Name != "meshmirror" {
			continue
		}
		allocs, err := CountAllocs(m, sc, 100)
		if err != nil {
			t.Fatal(err)
		}
		if chunk := len(sc.Request.Body[0]); allocs.Bytes >= float64(chunk) {
			t.Errorf("a request with a %d-byte body in %d chunks allocates %.0f bytes in %.1f allocations; want fewer than a chunk's %d",
				len(want), len(sc.Request.Body), allocs.Bytes, allocs.Count, chunk)
		}
		copies := 0
		clusters := map[string]wasmhost.Caller{"shadow": wasmhost.CallerFunc(func(_ context.Context, c *wasmhost.Callout) (*wasmhost.Response, error) {
			if copies++; !bytes.Equal(c.Body, want) {
				t.Errorf("copy %d carries %d bytes that are not the request's %d", copies, len(c.Body), len(want))
			}
			return Answers(sc)["shadow"], nil
		})}
		vm, err := Start(context.Background(), m.Wasm, sc.Config, clusters)
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		for range 50 {
			if err := vm.Do(&sc.Request); err != nil {
				t.Fatal(err)
			}
		}
		if copies != 50 {
			t.Errorf("%d copies sent for 50 requests", copies)
		}
		return
	}
	t.Fatal("no meshmirror module")
}
