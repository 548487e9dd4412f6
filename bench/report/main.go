// Command report runs the benchmarks of package bench in both engines, wazero
// (wasmhost) and V8 (node, bench/v8/host.mjs), and writes what BENCHMARKS.md shows:
// the two engines' ratios side by side, each engine's table of cost per request
// against the floors and its chart, module sizes and start times.
//
// Each round runs every scenario through meshmirror and the floors, one after the
// other, so that a ratio compares measurements taken a moment apart on a noisy
// machine; the tables give the median over rounds of each ratio, with the lowest and
// highest. The raw results are written in Go's benchmark format (bench.txt,
// bench-v8.txt), which benchstat reads. Progress goes to stderr, a line per scenario
// and round.
//
//	go run ./bench/report -count 6 -out bench/results
//	go run ./bench/report -engines v8 -scenarios compare,copy -count 3
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
	"time"

	"github.com/meshmirror/meshmirror/bench"
)

func main() {
	root := flag.String("root", ".", "the repository")
	out := flag.String("out", "bench/results", "where to write the results")
	count := flag.Int("count", 6, "rounds")
	benchtime := flag.Duration("benchtime", time.Second, "time per benchmark and round")
	allocRequests := flag.Int("allocs", 5000, "requests over which allocations are counted")
	plugin := flag.String("module", "build/meshmirror.wasm", "the meshmirror build to measure")
	only := flag.String("scenarios", "", "comma-separated scenarios to run; all when empty")
	engines := flag.String("engines", "wazero,v8,interp", "comma-separated engines to run: wazero (wasmhost, compiled), v8 (node), interp (wasmhost in wazero's interpreter)")
	flag.Parse()
	if *only != "" {
		var keep []bench.Scenario
		for _, name := range strings.Split(*only, ",") {
			sc, ok := bench.ScenarioByName(name)
			if !ok {
				log.Fatalf("-scenarios: no scenario %q", name)
			}
			keep = append(keep, sc)
		}
		bench.Scenarios = keep
	}
	run := map[string]bool{}
	for _, e := range strings.Split(*engines, ",") {
		if e != "wazero" && e != "v8" && e != "interp" {
			log.Fatalf("-engines: no engine %q (wazero, v8, interp)", e)
		}
		run[e] = true
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

	env := environment(*root, run["v8"])
	log.Printf("%s", strings.Join(env, "; "))
	rep := &report{mods: mods, env: env, plugin: *plugin, count: *count, benchtime: *benchtime,
		allocs: map[key]bench.Allocs{}}
	if run["wazero"] {
		w := &results{engine: "wazero", ns: map[key][]float64{}}
		rep.engines = append(rep.engines, w)
		rep.starts, rep.compiles = runWazero(mods, w, rep.allocs, *out, *count, *benchtime, *allocRequests)
	}
	if run["v8"] {
		v := &results{engine: "V8", ns: map[key][]float64{}}
		rep.engines = append(rep.engines, v)
		runV8(mods, v, *out, *count, *benchtime)
	}
	if run["interp"] {
		v := &results{engine: "wazero interpreter", interpreter: true, ns: map[key][]float64{}}
		rep.engines = append(rep.engines, v)
		runInterpreter(mods, v, *out, *count, *benchtime)
	}
	table := rep.tables()
	write(filepath.Join(*out, "table.md"), table)
	for _, r := range rep.engines {
		svg, err := r.chart(mods)
		if err != nil {
			log.Fatalf("the %s chart: %v", r.engine, err)
		}
		write(filepath.Join(*out, r.chartFile()), string(svg))
	}
	fmt.Print(table)
}

// runWazero measures every scenario through every module on wasmhost, in rounds, and
// writes the raw results to bench.txt; it returns start and compile times.
func runWazero(mods []bench.Module, r *results, allocs map[key]bench.Allocs, out string, count int,
	benchtime time.Duration, allocRequests int) (
	starts, compiles map[string]time.Duration) {
	for i, sc := range bench.Scenarios {
		for _, m := range mods {
			a, err := bench.CountAllocs(m, sc, allocRequests)
			if err != nil {
				log.Fatalf("%s/%s: %v", sc.Name, m.Name, err)
			}
			allocs[key{sc.Name, m.Name}] = a
		}
		log.Printf("wazero: allocations counted, %d/%d: %s", i+1, len(bench.Scenarios), sc.Name)
	}
	raw := &strings.Builder{}
	fmt.Fprintf(raw, "goos: %s\ngoarch: %s\npkg: github.com/meshmirror/meshmirror/bench\ncpu: %s\n",
		runtime.GOOS, runtime.GOARCH, cpuModel())
	for round := 1; round <= count; round++ {
		for _, sc := range bench.Scenarios {
			for _, m := range mods {
				res, err := bench.Measure(m, sc, benchtime)
				if err != nil {
					log.Fatalf("%s/%s: %v", sc.Name, m.Name, err)
				}
				k := key{sc.Name, m.Name}
				r.ns[k] = append(r.ns[k], res.CPUNsPerRequest())
				a := allocs[k]
				fmt.Fprintf(raw, "BenchmarkRequest/scenario=%s/module=%s-%d\t%d\t%.1f ns/op\t%.1f cpu-ns/op\t%.1f vm-allocs/op\t%.0f vm-B/op\n",
					sc.Name, m.Name, runtime.GOMAXPROCS(0), res.Requests, res.NsPerRequest(), res.CPUNsPerRequest(), a.Count, a.Bytes)
			}
			log.Printf("wazero: round %d/%d: %s done", round, count, sc.Name)
		}
	}
	starts, compiles = map[string]time.Duration{}, map[string]time.Duration{}
	for _, m := range mods {
		d, err := bench.StartTime(m, bench.Scenarios[0], 20)
		if err != nil {
			log.Fatal(err)
		}
		starts[m.Name] = d
		if compiles[m.Name], err = bench.CompileTime(m, 20); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(raw, "BenchmarkStart/module=%s-%d\t20\t%d ns/op\n", m.Name, runtime.GOMAXPROCS(0), d.Nanoseconds())
	}
	write(filepath.Join(out, "bench.txt"), raw.String())
	return starts, compiles
}

// runInterpreter measures every scenario through every module on wasmhost in wazero's
// interpreter, in rounds, and writes the raw results to bench-interp.txt.
func runInterpreter(mods []bench.Module, r *results, out string, count int, benchtime time.Duration) {
	raw := &strings.Builder{}
	fmt.Fprintf(raw, "goos: %s\ngoarch: %s\npkg: github.com/meshmirror/meshmirror/bench/interp\ncpu: %s\n",
		runtime.GOOS, runtime.GOARCH, cpuModel())
	for round := 1; round <= count; round++ {
		for _, sc := range bench.Scenarios {
			for _, m := range mods {
				res, err := bench.MeasureIn(bench.Interpreter, m, sc, benchtime)
				if err != nil {
					log.Fatalf("interpreter: %s/%s: %v", sc.Name, m.Name, err)
				}
				k := key{sc.Name, m.Name}
				r.ns[k] = append(r.ns[k], res.CPUNsPerRequest())
				fmt.Fprintf(raw, "BenchmarkRequestInterp/scenario=%s/module=%s-%d\t%d\t%.1f ns/op\t%.1f cpu-ns/op\n",
					sc.Name, m.Name, runtime.GOMAXPROCS(0), res.Requests, res.NsPerRequest(), res.CPUNsPerRequest())
			}
			log.Printf("interpreter: round %d/%d: %s done", round, count, sc.Name)
		}
	}
	write(filepath.Join(out, "bench-interp.txt"), raw.String())
}

// runV8 measures every scenario through every module in the V8 host, in rounds, and
// writes the raw results to bench-v8.txt in Go's benchmark format.
func runV8(mods []bench.Module, r *results, out string, count int, benchtime time.Duration) {
	raw := &strings.Builder{}
	fmt.Fprintf(raw, "goos: %s\ngoarch: %s\npkg: github.com/meshmirror/meshmirror/bench/v8\ncpu: %s\n",
		runtime.GOOS, runtime.GOARCH, cpuModel())
	err := bench.RunV8(mods, bench.Scenarios, bench.V8Options{Rounds: count, Benchtime: benchtime, Progress: os.Stderr},
		func(s bench.V8Sample) {
			k := key{s.Scenario, s.Module}
			r.ns[k] = append(r.ns[k], s.CPUNsPerRequest)
			fmt.Fprintf(raw, "BenchmarkRequestV8/scenario=%s/module=%s\t%d\t%.1f ns/op\t%.1f cpu-ns/op\n", s.Scenario,
				s.Module, s.Requests, s.NsPerRequest, s.CPUNsPerRequest)
		})
	if err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(out, "bench-v8.txt"), raw.String())
}

type key struct{ scenario, module string }

// results are one engine's measurements.
type results struct {
	engine      string
	interpreter bool              // its goals are the InterpTargets
	ns          map[key][]float64 // CPU time per request, per round
}

// report is what table.md shows.
type report struct {
	mods             []bench.Module
	env              []string
	plugin           string
	count            int
	benchtime        time.Duration
	engines          []*results
	allocs           map[key]bench.Allocs // wazero's
	starts, compiles map[string]time.Duration
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

// cell is a ratio as the tables show it: the median (lowest–highest).
func (r *results) cell(sc, floor string) string {
	m, lo, hi := r.ratio(sc, floor)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", m, lo, hi)
}

// target is sc's goal in r's engine; 0 for none.
func (r *results) target(sc bench.Scenario) float64 {
	if r.interpreter && sc.InterpTarget > 0 {
		return sc.InterpTarget
	}
	return sc.Target
}

func (r *results) verdict(sc bench.Scenario) string {
	target := r.target(sc)
	if target == 0 {
		return "—"
	}
	m, _, _ := r.ratio(sc.Name, sc.Floor)
	if m > target {
		return fmt.Sprintf("**missed by %.0f%%**", (m/target-1)*100)
	}
	return "met"
}

func (r *report) tables() string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "<!-- written by go run ./bench/report; meshmirror is %s; %s -->\n\n", r.plugin, strings.Join(r.env, "; "))
	fmt.Fprintf(b, "%d rounds of %v per module and scenario in each engine, modules alternating within a round; "+
		"times are the process's CPU time per request; a ratio is the median of the per-round ratios "+
		"(lowest–highest).\n\n", r.count, r.benchtime)
	r.sideBySide(b)
	for _, e := range r.engines {
		r.engineTable(b, e)
	}
	if r.starts != nil {
		r.moduleTable(b)
	}
	return b.String()
}

// sideBySide is each scenario's ratio to its floor, and to F3, in every engine.
func (r *report) sideBySide(b *strings.Builder) {
	b.WriteString("| scenario | target |")
	sep := "|---|---|"
	for _, e := range r.engines {
		fmt.Fprintf(b, " %s: × its floor | %s ×F3 | %s |", e.engine, e.engine, e.engine)
		sep += "---:|---:|---|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, sc := range bench.Scenarios {
		target := "—"
		if sc.Target > 0 {
			target = fmt.Sprintf("≤ %.1f× %s", sc.Target, strings.ToUpper(sc.Floor))
		}
		if sc.InterpTarget > 0 {
			target += fmt.Sprintf(", interpreter ≤ %.1f×", sc.InterpTarget)
		}
		fmt.Fprintf(b, "| %s | %s |", sc.About, target)
		for _, e := range r.engines {
			fmt.Fprintf(b, " %s× %s | %s | %s |", e.cell(sc.Name, sc.Floor), strings.ToUpper(sc.Floor),
				e.cell(sc.Name, "f3"), e.verdict(sc))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// engineTable is one engine's times and every ratio; wazero's has the module's
// allocations.
func (r *report) engineTable(b *strings.Builder, e *results) {
	fmt.Fprintf(b, "**%s**, CPU ns per request (medians) and ratios:\n\n", e.engine)
	b.WriteString("| scenario | meshmirror | F0 | F1 | F2 | F3 | ×F0 | ×F1 | ×F2 | ×F3 |")
	sep := "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	allocs := e.engine == "wazero"
	if allocs {
		b.WriteString(" VM allocs/req (B) | F2 / F3 allocs (B) |")
		sep += "---:|---:|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, sc := range bench.Scenarios {
		fmt.Fprintf(b, "| %s | %.0f |", sc.Name, e.median(sc.Name, "meshmirror"))
		for _, f := range bench.Floors {
			fmt.Fprintf(b, " %.0f |", e.median(sc.Name, f))
		}
		for _, f := range bench.Floors {
			fmt.Fprintf(b, " %s |", e.cell(sc.Name, f))
		}
		if allocs {
			a, f2, f3 := r.allocs[key{sc.Name, "meshmirror"}], r.allocs[key{sc.Name, "f2"}], r.allocs[key{sc.Name, "f3"}]
			fmt.Fprintf(b, " %.0f (%.0f) | %.0f (%.0f) / %.0f (%.0f) |", a.Count, a.Bytes, f2.Count, f2.Bytes, f3.Count, f3.Bytes)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (r *report) moduleTable(b *strings.Builder) {
	b.WriteString("| module | size (bytes) | start: wasmhost.New (of which compiling), medians of 20 | GC cycles per 1000 requests, by scenario |\n|---|---:|---:|---|\n")
	for _, m := range r.mods {
		var gcs []string
		for _, sc := range bench.Scenarios {
			gcs = append(gcs, fmt.Sprintf("%s %.1f", sc.Name, r.allocs[key{sc.Name, m.Name}].GCs*1000))
		}
		fmt.Fprintf(b, "| %s | %d | %.1f ms (%.1f ms) | %s |\n", m.Name, len(m.Wasm),
			float64(r.starts[m.Name].Microseconds())/1000, float64(r.compiles[m.Name].Microseconds())/1000,
			strings.Join(gcs, ", "))
	}
}

func (r *results) chartFile() string {
	if r.engine == "wazero" {
		return "cost.svg"
	}
	return "cost-" + strings.ReplaceAll(strings.ToLower(r.engine), " ", "-") + ".svg"
}

func (r *results) chart(mods []bench.Module) ([]byte, error) {
	var groups []string
	var values [][]float64
	series := []string{"meshmirror", "F0 no-op", "F1 reads headers", "F2 reads headers, sends a copy",
		"F3 F2 reading both answers"}
	for _, sc := range bench.Scenarios {
		groups = append(groups, sc.Name)
		var row []float64
		for _, m := range mods {
			row = append(row, r.median(sc.Name, m.Name)/1000)
		}
		values = append(values, row)
	}
	return bench.BarChart(fmt.Sprintf("Cost of a request in %s, meshmirror against the floors", r.engine),
		"CPU µs per request", groups, series, values, func(v float64) string { return fmt.Sprintf("%.1f", v) })
}

// environment describes the machine and toolchain.
func environment(root string, v8 bool) []string {
	tinygo := "unknown"
	if out, err := exec.Command(filepath.Join(root, "tools", "tinygo.sh"), "version").Output(); err == nil {
		tinygo = strings.TrimSpace(string(out))
	}
	env := []string{
		fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), cpuModel()),
		runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		tinygo,
	}
	if v8 {
		node, err := bench.NodeVersion()
		if err != nil {
			log.Fatal(err)
		}
		env = append(env, "node "+node+" "+strings.Join(bench.NodeFlags, " "))
	}
	return env
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
