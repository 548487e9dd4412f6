// Command report runs the benchmarks of package bench and writes what BENCHMARKS.md
// shows: the table of cost per request against the floors, its chart, module sizes
// and start times.
//
// Each round runs every scenario through meshmirror and the three floors, one after
// the other, so that a ratio compares measurements taken a moment apart on a noisy
// machine; the table gives the median over rounds of each ratio. The raw results are
// written in Go's benchmark format (bench.txt), which benchstat reads.
//
//	go run ./bench/report -count 6 -out bench/results
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/bench"
)

func main() {
	testing.Init()
	root := flag.String("root", ".", "the repository")
	out := flag.String("out", "bench/results", "where to write the results")
	count := flag.Int("count", 6, "rounds")
	benchtime := flag.Duration("benchtime", time.Second, "time per benchmark and round")
	allocRequests := flag.Int("allocs", 5000, "requests over which allocations are counted")
	plugin := flag.String("module", "build/meshmirror.wasm", "the meshmirror build to measure")
	only := flag.String("scenarios", "", "comma-separated scenarios to run; all when empty")
	flag.Parse()
	if *only != "" {
		var keep []bench.Scenario
		for _, name := range strings.Split(*only, ",") {
			sc, ok := bench.ScenarioByName(name)
			if !ok {
				log.Fatalf("no scenario %q", name)
			}
			keep = append(keep, sc)
		}
		bench.Scenarios = keep
	}
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		log.Fatal(err)
	}
	if !filepath.IsAbs(*plugin) {
		*plugin = filepath.Join(*root, *plugin)
	}
	mods, err := bench.LoadModulesWith(*root, *plugin)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}

	env := environment(*root)
	log.Printf("%s", strings.Join(env, "; "))
	r := &results{mods: mods, ns: map[key][]float64{}, allocs: map[key]bench.Allocs{}}
	for _, sc := range bench.Scenarios {
		for _, m := range mods {
			a, err := bench.CountAllocs(m, sc, *allocRequests)
			if err != nil {
				log.Fatalf("%s/%s: %v", sc.Name, m.Name, err)
			}
			r.allocs[key{sc.Name, m.Name}] = a
		}
	}

	raw := &strings.Builder{}
	fmt.Fprintf(raw, "goos: %s\ngoarch: %s\npkg: github.com/meshmirror/meshmirror/bench\ncpu: %s\n",
		runtime.GOOS, runtime.GOARCH, cpuModel())
	for round := 1; round <= *count; round++ {
		for _, sc := range bench.Scenarios {
			for _, m := range mods {
				res := testing.Benchmark(func(b *testing.B) { bench.RunRequests(b, m, sc) })
				if res.N == 0 {
					log.Fatalf("%s/%s failed", sc.Name, m.Name)
				}
				k := key{sc.Name, m.Name}
				ns := float64(res.T.Nanoseconds()) / float64(res.N)
				r.ns[k] = append(r.ns[k], ns)
				a := r.allocs[k]
				fmt.Fprintf(raw, "BenchmarkRequest/scenario=%s/module=%s-%d\t%s\t%.1f vm-allocs/op\t%.0f vm-B/op\t%s\n",
					sc.Name, m.Name, runtime.GOMAXPROCS(0), res.String(), a.Count, a.Bytes, res.MemString())
			}
			log.Printf("round %d/%d: %s done", round, *count, sc.Name)
		}
	}

	starts, compiles := map[string]time.Duration{}, map[string]time.Duration{}
	for _, m := range mods {
		d, err := bench.StartTime(m, bench.Scenarios[0].Config, 20)
		if err != nil {
			log.Fatal(err)
		}
		starts[m.Name] = d
		if compiles[m.Name], err = bench.CompileTime(m, 20); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(raw, "BenchmarkStart/module=%s-%d\t20\t%d ns/op\n", m.Name, runtime.GOMAXPROCS(0), d.Nanoseconds())
	}

	write(filepath.Join(*out, "bench.txt"), raw.String())
	table := r.table(env, *plugin, starts, compiles, *count, *benchtime)
	write(filepath.Join(*out, "table.md"), table)
	write(filepath.Join(*out, "cost.svg"), string(r.chart()))
	fmt.Print(table)
}

type key struct{ scenario, module string }

type results struct {
	mods   []bench.Module
	ns     map[key][]float64 // per round
	allocs map[key]bench.Allocs
}

// ratio is the median over rounds of the ratio of meshmirror to floor in the same
// round, with the lowest and highest.
func (r *results) ratio(sc, floor string) (median, lo, hi float64) {
	mesh, base := r.ns[key{sc, "meshmirror"}], r.ns[key{sc, floor}]
	var ratios []float64
	lo, hi = math.Inf(1), math.Inf(-1)
	for i := range mesh {
		q := mesh[i] / base[i]
		ratios = append(ratios, q)
		lo, hi = math.Min(lo, q), math.Max(hi, q)
	}
	return bench.Median(ratios), lo, hi
}

func (r *results) median(sc, module string) float64 { return bench.Median(r.ns[key{sc, module}]) }

func (r *results) table(env []string, plugin string, starts, compiles map[string]time.Duration, count int, benchtime time.Duration) string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "<!-- written by go run ./bench/report; meshmirror is %s; %s -->\n\n", plugin, strings.Join(env, "; "))
	fmt.Fprintf(b, "Medians of %d rounds of %v per benchmark; a ratio is the median of the per-round ratios (lowest–highest).\n\n", count, benchtime)
	b.WriteString("| scenario | meshmirror ns/req | F0 | F1 | F2 | ×F0 | ×F1 | ×F2 | target | VM allocs/req (B) | F1 / F2 allocs (B) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, sc := range bench.Scenarios {
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %.0f |", sc.About,
			r.median(sc.Name, "meshmirror"), r.median(sc.Name, "f0"), r.median(sc.Name, "f1"), r.median(sc.Name, "f2"))
		for _, f := range bench.Floors {
			m, lo, hi := r.ratio(sc.Name, f)
			fmt.Fprintf(b, " %.2f (%.2f–%.2f) |", m, lo, hi)
		}
		if sc.Target > 0 {
			m, _, _ := r.ratio(sc.Name, sc.Floor)
			verdict := "met"
			if m > sc.Target {
				verdict = fmt.Sprintf("**missed by %.1f%%**", (m/sc.Target-1)*100)
			}
			fmt.Fprintf(b, " ≤ %.1f× %s: %s |", sc.Target, strings.ToUpper(sc.Floor), verdict)
		} else {
			b.WriteString(" — |")
		}
		a, f1, f2 := r.allocs[key{sc.Name, "meshmirror"}], r.allocs[key{sc.Name, "f1"}], r.allocs[key{sc.Name, "f2"}]
		fmt.Fprintf(b, " %.0f (%.0f) | %.0f (%.0f) / %.0f (%.0f) |\n", a.Count, a.Bytes, f1.Count, f1.Bytes, f2.Count, f2.Bytes)
	}
	b.WriteString("\n| module | size (bytes) | start: wasmhost.New (of which compiling), medians of 20 | GC cycles per 1000 requests, by scenario |\n|---|---:|---:|---|\n")
	for _, m := range r.mods {
		var gcs []string
		for _, sc := range bench.Scenarios {
			gcs = append(gcs, fmt.Sprintf("%s %.1f", sc.Name, r.allocs[key{sc.Name, m.Name}].GCs*1000))
		}
		fmt.Fprintf(b, "| %s | %d | %.1f ms (%.1f ms) | %s |\n", m.Name, len(m.Wasm),
			float64(starts[m.Name].Microseconds())/1000, float64(compiles[m.Name].Microseconds())/1000,
			strings.Join(gcs, ", "))
	}
	return b.String()
}

func (r *results) chart() []byte {
	var groups []string
	var values [][]float64
	series := []string{"meshmirror", "F0 no-op", "F1 reads headers", "F2 reads headers, sends a copy"}
	for _, sc := range bench.Scenarios {
		groups = append(groups, sc.Name)
		var row []float64
		for _, m := range r.mods {
			row = append(row, r.median(sc.Name, m.Name)/1000)
		}
		values = append(values, row)
	}
	return bench.BarChart("Cost of a request in the VM, meshmirror against the floors", "µs per request",
		groups, series, values, func(v float64) string { return fmt.Sprintf("%.1f", v) })
}

// environment describes the machine and toolchain.
func environment(root string) []string {
	tinygo := "unknown"
	if out, err := exec.Command(filepath.Join(root, "tools", "tinygo.sh"), "version").Output(); err == nil {
		tinygo = strings.TrimSpace(string(out))
	}
	return []string{
		fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), cpuModel()),
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		tinygo,
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if name, value, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

func write(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		log.Fatal(err)
	}
}
