// Command demo is `make run`: it serves envoy.yaml with the local runner and
// build/meshmirror.wasm, starts demo backends for its clusters, sends a short burst of
// traffic that exercises the example rules, and prints what happened.
//
//	go run ./runner/demo [-config envoy.yaml] [-keep]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshmirror/meshmirror/runner"
)

func main() {
	config := flag.String("config", "envoy.yaml", "the Envoy bootstrap to serve")
	keep := flag.Bool("keep", false, "keep serving after the summary, until interrupted")
	flag.Parse()
	if err := run(*config, *keep); err != nil {
		log.Fatal(err)
	}
}

// scenario is one kind of request of the sample traffic.
type scenario struct {
	what   string
	method string
	path   string
	header http.Header
	body   []byte
	times  int
}

func scenarios() []scenario {
	var users []scenario
	for i := range 20 {
		users = append(users, scenario{what: "GET /api/items as user-N", method: "GET",
			path: "/api/items", header: http.Header{"X-User-Id": {fmt.Sprint("user-", i)}}, times: 1})
	}
	return append(users,
		scenario{what: "POST /api/orders, 2 KiB, as alice", method: "POST", path: "/api/orders",
			header: http.Header{"X-User-Id": {"alice"}, "Authorization": {"Bearer demo"}},
			body:   bytes.Repeat([]byte("o"), 2048), times: 5},
		scenario{what: "POST /api/upload, 1.5 MiB (over maxBytes)", method: "POST", path: "/api/upload",
			header: http.Header{"X-User-Id": {"alice"}}, body: bytes.Repeat([]byte("u"), 3<<19), times: 2},
		scenario{what: "GET /home without a user", method: "GET", path: "/home", times: 6},
		scenario{what: "GET /api/items already mirrored (marker)", method: "GET", path: "/api/items",
			header: http.Header{"X-Meshmirror": {"upstream"}, "X-User-Id": {"alice"}}, times: 2},
	)
}

func run(configPath string, keep bool) error {
	cfg, err := runner.LoadEnvoyConfig(configPath)
	if err != nil {
		return err
	}
	module, err := os.ReadFile(cfg.Module)
	if err != nil {
		return fmt.Errorf("the module (make build): %w", err)
	}
	backends := map[string]*runner.Backend{}
	for name, addr := range cfg.Clusters {
		b, err := runner.StartBackend(name, addr, nil)
		if err != nil {
			return fmt.Errorf("backend for cluster %s on %s: %w", name, addr, err)
		}
		defer b.Close()
		backends[name] = b
	}
	ctx := context.Background()
	r, err := runner.New(ctx, cfg, module, runner.Options{Log: func(level uint32, msg string) {
		if level >= 3 { // warn and above
			log.Printf("plugin: %s", msg)
		}
	}})
	if err != nil {
		return err
	}
	addr, err := r.Listen("")
	if err != nil {
		return err
	}
	fmt.Printf("meshmirror on %s: primary %q, clusters %v\n\n", addr, cfg.Primary, names(backends))

	primaryAnswers := map[string]map[int]int{}
	var order []string
	for _, s := range scenarios() {
		if primaryAnswers[s.what] == nil {
			primaryAnswers[s.what] = map[int]int{}
			order = append(order, s.what)
		}
		for range s.times {
			status, err := send(addr, s)
			if err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
			primaryAnswers[s.what][status]++
		}
	}
	time.Sleep(300 * time.Millisecond) // copies leave on the next tick; let them land
	r.Host().Wait()

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "REQUEST\tPRIMARY ANSWERED")
	for _, what := range order {
		fmt.Fprintf(w, "%s\t%s\n", what, statuses(primaryAnswers[what]))
	}
	w.Flush()

	fmt.Println()
	fmt.Fprintln(w, "CLUSTER\tRECEIVED\tBY METHOD AND PATH\tMARKER")
	for _, name := range names(backends) {
		got := backends[name].Requests()
		kinds := map[string]int{}
		markers := map[string]int{}
		for _, req := range got {
			kinds[req.Method+" "+strings.SplitN(req.Path, "?", 2)[0]]++
			if m := req.Header.Get("X-Meshmirror"); m != "" {
				markers[m]++
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", name, len(got), counts(kinds), counts(markers))
	}
	w.Flush()

	fmt.Println()
	fmt.Fprintln(w, "METRIC (wasmcustom.*)\tVALUE")
	metrics := r.Host().Metrics()
	for _, name := range r.Host().MetricNames() {
		if v := metrics[name]; v != 0 || !strings.HasPrefix(name, "meshmirror.") || strings.HasSuffix(name, "matched") {
			fmt.Fprintf(w, "%s\t%d\n", name, v)
		}
	}
	w.Flush()
	fmt.Println("(metrics at zero are left out)")

	if keep {
		fmt.Printf("\nserving on http://%s until interrupted; try: curl -H 'x-user-id: alice' http://%s/api/items\n", addr, addr)
		fmt.Printf("kill -HUP %d reloads %s, as Envoy takes a new configuration\n", os.Getpid(), configPath)
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGHUP)
		for sig := range signals {
			if sig != syscall.SIGHUP {
				break
			}
			if err := reload(ctx, r, configPath); err != nil {
				log.Printf("reloading %s: %v; the previous configuration stays", configPath, err)
			} else {
				log.Printf("reloaded %s", configPath)
			}
		}
	}
	return r.Close(ctx)
}

// reload reads the configuration file again and applies it to the runner.
func reload(ctx context.Context, r *runner.Runner, path string) error {
	cfg, err := runner.LoadEnvoyConfig(path)
	if err != nil {
		return err
	}
	return r.Reload(ctx, cfg)
}

func send(addr string, s scenario) (int, error) {
	var body io.Reader
	if s.body != nil {
		body = bytes.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, "http://"+addr+s.path, body)
	if err != nil {
		return 0, err
	}
	req.Header = s.header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Host = "shop.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range names(m) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func statuses(m map[int]int) string {
	var parts []string
	for status, n := range m {
		parts = append(parts, fmt.Sprintf("%d ×%d", status, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
