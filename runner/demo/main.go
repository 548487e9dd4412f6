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

	"github.com/meshmirror/meshmirror/plugin/config"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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
	// The reports of differing pairs go to a real receiver (meshmirror reports) on the
	// report cluster's address, whose page is the place to look at them.
	receiver, err := startReceiver()
	if err != nil {
		return err
	}
	defer receiver.close()
	backends := map[string]*runner.Backend{} // by cluster; clusters of one address share it
	byAddr := map[string]*runner.Backend{}
	for _, name := range names(cfg.Clusters) {
		addr := cfg.Clusters[name]
		if addr == "" {
			continue // a cluster with no endpoint has nothing to start
		}
		if b := byAddr[addr]; b != nil {
			backends[name] = b
			continue
		}
		var handle http.HandlerFunc
		switch name {
		case cfg.Primary, "primary":
			handle = shop("primary", false)
		case "shadow-v2":
			handle = shop("shadow-v2", true)
		case "shadow-v1":
			handle = shop("shadow-v1", false) // a second instance of the primary's version
		case "reports":
			handle = receiver.server.ServeHTTP
		}
		b, err := runner.StartBackend(name, addr, handle)
		if err != nil {
			return fmt.Errorf("backend for cluster %s on %s: %w", name, addr, err)
		}
		defer b.Close()
		backends[name], byAddr[addr] = b, b
	}
	ctx := context.Background()
	var learned noticed
	r, err := runner.New(ctx, cfg, module, runner.Options{Log: func(level uint32, msg string) {
		learned.take(msg)
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
	var routes []string
	for _, r := range cfg.Routes {
		routes = append(routes, r.Prefix+r.Path+" → "+r.Cluster)
	}
	fmt.Printf("meshmirror on %s: routes %s; clusters %v\n\n", addr, strings.Join(routes, ", "), names(backends))

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
	const grpcCall = "gRPC Health/Check as alice"
	order = append(order, grpcCall)
	primaryAnswers[grpcCall] = map[int]int{}
	for range 3 {
		code, err := checkHealth(addr)
		if err != nil {
			return fmt.Errorf("%s: %w", grpcCall, err)
		}
		primaryAnswers[grpcCall][code]++
	}
	time.Sleep(300 * time.Millisecond) // copies leave on the next tick; let them land
	r.Host().Wait()

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "REQUEST\tPRIMARY ANSWERED")
	for _, what := range order {
		if what == grpcCall {
			fmt.Fprintf(w, "%s\t%s\n", what, grpcStatuses(primaryAnswers[what]))
			continue
		}
		fmt.Fprintf(w, "%s\t%s\n", what, statuses(primaryAnswers[what]))
	}
	w.Flush()

	fmt.Println()
	fmt.Fprintln(w, "CLUSTER\tRECEIVED\tBY METHOD AND PATH\tMARKER")
	for _, a := range names(byAddr) {
		b := byAddr[a]
		var clusters []string
		for _, name := range names(backends) {
			if backends[name] == b {
				clusters = append(clusters, name)
			}
		}
		name := strings.Join(clusters, ", ")
		got := b.Requests()
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
		if ps, n, ok := r.Host().Percentiles(name, 50, 99); ok {
			if n > 0 {
				fmt.Fprintf(w, "%s\tp50 %d, p99 %d (%d samples)\n", name, ps[0], ps[1], n)
			}
			continue
		}
		if v := metrics[name]; v != 0 || !strings.HasPrefix(name, "meshmirror.") || strings.HasSuffix(name, "matched") {
			fmt.Fprintf(w, "%s\t%d\n", name, v)
		}
	}
	w.Flush()
	fmt.Println("(metrics at zero are left out)")
	if plugin, err := config.Parse(cfg.PluginConfig); err == nil {
		comparison(r, plugin, backends["reports"], &learned)
		if b := backends["reports"]; b != nil {
			var reporting []string // the targets that send the receiver summaries
			for _, t := range plugin.Targets {
				if t.Compare != nil && t.Compare.ReportCluster != "" {
					reporting = append(reporting, t.Name)
				}
			}
			verdicts(reporting, b.Addr)
		}
	}
	if b := backends["reports"]; b != nil {
		fmt.Printf("\nREPORTS: %d received; the page of them: http://%s/ (JSON: http://%s/api/endpoints)\n", len(b.Requests()), b.Addr, b.Addr)
		if !keep {
			fmt.Println("  make run ARGS=-keep keeps it up to be looked at")
		}
	}
	fmt.Println("\nThe gRPC calls' copies go to shadow-v2, an HTTP/1.1 cluster: its echo answers them with\n" +
		"HTTP 200 and no grpc-status, which a gRPC client would see as an error, so they count in\n" +
		"response_grpc_error. An HTTP/2 cluster with a gRPC server counts them in response_2xx (e2e tests).")

	if keep {
		fmt.Printf("\nserving on http://%s until interrupted; try: curl -H 'x-user-id: alice' http://%s/api/items\n", addr, addr)
		fmt.Printf("kill -HUP %d reloads %s, as Envoy takes a new configuration\n", os.Getpid(), configPath)
		if b := backends["reports"]; b != nil {
			fmt.Printf("the reports of differing pairs: http://%s/\n", b.Addr)
		}
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

// checkHealth makes one gRPC health check through the runner, as a user in the sticky
// share of echo-v2, and returns its status code.
func checkHealth(addr string) (int, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-user-id", "alice")
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return int(status.Code(err)), nil
}

func grpcStatuses(m map[int]int) string {
	var parts []string
	for code, n := range m {
		parts = append(parts, fmt.Sprintf("%d× %s", n, codes.Code(code)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
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
