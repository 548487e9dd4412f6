// Command soak sends a million mixed requests through one VM running meshmirror
// (bench.Soak), on the allocator Envoy would use and with a configuration change every
// 10,000 requests, records the module's linear memory every thousand requests, and
// writes the curve as CSV and SVG. It fails when the memory grew after the warm-up
// (the first tenth of the requests), unless -check=false, and when a copy did not have
// exactly one outcome.
//
//	go run ./bench/soak -out bench/results
//	go run ./bench/soak -module old.wasm -name before -check=false -out bench/results
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/bench"
)

func main() {
	module := flag.String("module", "build/meshmirror.wasm", "the module to soak")
	name := flag.String("name", "after", "the curve's name: its CSV is soak-<name>.csv")
	requests := flag.Int("requests", 1_000_000, "requests to send")
	every := flag.Int("every", 1000, "requests between two samples of the memory")
	seed := flag.Uint64("seed", 1, "seed of the traffic and the answers")
	out := flag.String("out", "bench/results", "where to write soak-<name>.csv and soak.svg")
	check := flag.Bool("check", true, "fail when the memory grew after the warm-up")
	maxBody := flag.Int("maxbody", 64<<10, "the largest request body, in bytes")
	reconfigure := flag.Int("reconfigure", 10_000, "requests between two configuration changes (0: none)")
	flag.Parse()

	wasm, err := os.ReadFile(*module)
	if err != nil {
		log.Fatalf("%v (make build)", err)
	}
	opts := bench.SoakOptions{Requests: *requests, Every: *every, Seed: *seed, MaxBody: *maxBody,
		ReconfigureEvery: *reconfigure}
	tenth, shown := max(*requests/10, 1), 0
	res, err := bench.Soak(wasm, opts, func(s bench.SoakSample) {
		// Progress: a line each time another tenth of the requests has passed.
		if s.Requests/tenth > shown {
			shown = s.Requests / tenth
			log.Printf("%3d%%: %7d requests, %4.2f MiB, %v", 100*s.Requests / *requests, s.Requests,
				mib(s.MemoryBytes), s.Elapsed.Round(1e6))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	writeCSV(filepath.Join(*out, "soak-"+*name+".csv"), res.Samples)

	warm := res.Samples[len(res.Samples)/10]
	peak := warm
	for _, s := range res.Samples[len(res.Samples)/10:] {
		if s.MemoryBytes > peak.MemoryBytes {
			peak = s
		}
	}
	last := res.Samples[len(res.Samples)-1]
	fmt.Printf("%s: %d requests in %v (%.1f µs each), %d configuration changes, %d copies answered\n", *module,
		*requests, res.Elapsed.Round(1e6), float64(res.Elapsed.Microseconds())/float64(*requests), res.Reconfigured,
		res.Answered)
	fmt.Printf("memory: %.2f MiB at start, %.2f MiB after warm-up (%d requests), peak %.2f MiB after, %.2f MiB at the end\n",
		mib(res.Samples[0].MemoryBytes), mib(warm.MemoryBytes), warm.Requests, mib(peak.MemoryBytes), mib(last.MemoryBytes))
	printMetrics(res.Metrics)

	series := curves(*out)
	for file, limit := range map[string]int{"soak.svg": 0, "soak-warmup.svg": *requests / 20} {
		svg, err := chart(series, limit)
		if err != nil {
			log.Fatalf("%s: %v", file, err)
		}
		if err := os.WriteFile(filepath.Join(*out, file), svg, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if len(res.Timers) > 0 {
		msg := fmt.Sprintf("tick timers still set at the end, by root context: %v", res.Timers)
		if *check {
			log.Fatal(msg)
		}
		fmt.Println(msg)
	}
	if err := bench.CheckOutcomes(res.Metrics); err != nil {
		if *check {
			log.Fatal(err)
		}
		fmt.Println(err)
	} else {
		fmt.Println("every copy sent has exactly one outcome")
	}
	if peak.MemoryBytes > warm.MemoryBytes {
		msg := fmt.Sprintf("memory grew after the warm-up: %.2f MiB to %.2f MiB at %d requests",
			mib(warm.MemoryBytes), mib(peak.MemoryBytes), peak.Requests)
		if *check {
			log.Fatal(msg)
		}
		fmt.Println(msg)
		return
	}
	fmt.Println("memory flat after the warm-up")
}

func mib(b uint32) float64 { return float64(b) / (1 << 20) }

func writeCSV(path string, samples []bench.SoakSample) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"requests", "memory_bytes", "seconds"})
	for _, s := range samples {
		w.Write([]string{strconv.Itoa(s.Requests), strconv.FormatUint(uint64(s.MemoryBytes), 10),
			strconv.FormatFloat(s.Elapsed.Seconds(), 'f', 3, 64)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// curves reads every soak-*.csv in dir: the curve after a change drawn over the one
// before it, dashed.
func curves(dir string) []bench.Series {
	paths, _ := filepath.Glob(filepath.Join(dir, "soak-*.csv"))
	sort.Slice(paths, func(i, j int) bool { // "after" last, so it is drawn on top
		return strings.HasSuffix(paths[j], "soak-after.csv") && !strings.HasSuffix(paths[i], "soak-after.csv")
	})
	var series []bench.Series
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			log.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", p, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "soak-"), ".csv")
		s := bench.Series{Name: name, Dashed: name != "after", Color: bench.Palette[1]}
		if name == "after" {
			s.Color = bench.Palette[0]
		}
		for _, row := range rows[1:] {
			n, _ := strconv.ParseFloat(row[0], 64)
			m, _ := strconv.ParseFloat(row[1], 64)
			s.Points = append(s.Points, [2]float64{n, m / (1 << 20)})
		}
		series = append(series, s)
	}
	return series
}

// chart draws the curves up to limit requests (all when 0).
func chart(series []bench.Series, limit int) ([]byte, error) {
	title := "Linear memory of the module over the soak"
	if limit > 0 {
		title = fmt.Sprintf("The same, first %d requests", limit)
		cut := make([]bench.Series, len(series))
		for i, s := range series {
			cut[i] = s
			cut[i].Points = nil
			for _, p := range s.Points {
				if p[0] <= float64(limit) {
					cut[i].Points = append(cut[i].Points, p)
				}
			}
		}
		series = cut
	}
	return bench.LineChart(title, "requests", "MiB", series,
		func(v float64) string { return fmt.Sprintf("%gk", v/1000) },
		func(v float64) string {
			if v >= 100 {
				return fmt.Sprintf("%.0f", v)
			}
			return fmt.Sprintf("%.2g", v)
		})
}

func printMetrics(m map[string]uint64) {
	names := make([]string, 0, len(m))
	for name, v := range m {
		if v != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("  %-45s %d\n", name, m[name])
	}
}
