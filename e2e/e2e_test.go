// Package e2e tests meshmirror end to end over real sockets: clients, the runner with
// build/meshmirror.wasm on the wazero host, and real HTTP backends.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

const wasmPath = "../build/meshmirror.wasm"

// mesh is a runner with its primary and shadow backends.
type mesh struct {
	addr    string // the runner's listener
	runner  *runner.Runner
	primary *runner.Backend
	shadows map[string]*runner.Backend
}

func backend(t *testing.T, name string, handle http.HandlerFunc) *runner.Backend {
	t.Helper()
	b, err := runner.StartBackend(name, "127.0.0.1:0", handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// start runs the plugin with config in front of primary; clusters maps cluster names
// to addresses.
func start(t *testing.T, config string, primary *runner.Backend, clusters map[string]string) *mesh {
	t.Helper()
	m := serve(t, config, primary, clusters)
	if n := m.metric(t, mirror.ConfigErrorsMetric); n != 0 {
		t.Fatalf("the plugin took none of its configuration (%s = %d)", mirror.ConfigErrorsMetric, n)
	}
	return m
}

// serve is start with any configuration: an invalid one starts a plugin that mirrors
// nothing.
func serve(t *testing.T, config string, primary *runner.Backend, clusters map[string]string) *mesh {
	t.Helper()
	all := map[string]string{"primary": primary.Addr}
	for name, addr := range clusters {
		all[name] = addr
	}
	m := run(t, &runner.Config{Listen: "127.0.0.1:0", Primary: "primary", Clusters: all, PluginConfig: []byte(config)})
	m.primary = primary
	return m
}

// run serves cfg with build/meshmirror.wasm for the test's duration.
func run(t *testing.T, cfg *runner.Config) *mesh {
	t.Helper()
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("the compiled module is needed (make build): %v", err)
	}
	r, err := runner.New(context.Background(), cfg, module, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := r.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return &mesh{addr: addr, runner: r}
}

func (m *mesh) metric(t *testing.T, name string) uint64 {
	t.Helper()
	v, ok := m.runner.Host().Metric(name)
	if !ok {
		t.Fatalf("metric %s is not defined", name)
	}
	return v
}

// waitFor polls until cond holds, for at most 3 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// send makes one request and returns the response with its body read.
func send(t *testing.T, addr, method, path string, header http.Header, body []byte) (*http.Response, []byte, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Host = "shop.example.com"
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got, time.Since(start)
}

func TestCopyArrivesAtTheShadow(t *testing.T) {
	shadow := backend(t, "shadow", nil)
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "authoritySuffix": "-shadow",
		"headers": {"set": {"x-env": "shadow"}, "remove": ["authorization"]}}]}`,
		backend(t, "primary", nil), map[string]string{"shadow": shadow.Addr})
	body := bytes.Repeat([]byte("order;"), 5000)
	resp, _, _ := send(t, m.addr, "POST", "/api/orders?x=1", http.Header{
		"Authorization": {"Bearer secret"}, "Content-Type": {"text/plain"}, "X-User-Id": {"u1"}}, body)
	if resp.StatusCode != 200 {
		t.Fatalf("primary answered %d", resp.StatusCode)
	}
	waitFor(t, "the copy", func() bool { return len(shadow.Requests()) == 1 })
	got := shadow.Requests()[0]
	if got.Method != "POST" || got.Path != "/api/orders?x=1" || !bytes.Equal(got.Body, body) {
		t.Errorf("copy = %s %s with %d body bytes; want POST /api/orders?x=1 with %d", got.Method, got.Path, len(got.Body), len(body))
	}
	if got.Host != "shop.example.com-shadow" {
		t.Errorf("copy host = %q", got.Host)
	}
	for name, want := range map[string]string{"X-Env": "shadow", "X-Meshmirror": "shadow", "X-User-Id": "u1",
		"Content-Type": "text/plain", "Authorization": ""} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("copy header %s = %q, want %q", name, v, want)
		}
	}
	primary := m.primary.Requests()[0]
	if primary.Header.Get("Authorization") != "Bearer secret" || primary.Header.Get("X-Meshmirror") != "" {
		t.Errorf("the primary's request was changed: %v", primary.Header)
	}
	waitFor(t, "the answer to be counted", func() bool { return m.metric(t, "meshmirror.shadow.response_2xx") == 1 })
}

// TestPrimaryUnchanged compares what the client and the primary see with mirroring
// on, with a configuration that never copies, and with an invalid one, which starts a
// plugin that mirrors nothing.
func TestPrimaryUnchanged(t *testing.T) {
	seen := func(config string, problems uint64) (string, string) {
		primary := backend(t, "primary", nil)
		shadow := backend(t, "shadow", nil)
		m := serve(t, config, primary, map[string]string{"shadow": shadow.Addr})
		if n := m.metric(t, mirror.ConfigErrorsMetric); n != problems {
			t.Fatalf("%s = %d for %s, want %d", mirror.ConfigErrorsMetric, n, config, problems)
		}
		defer func() {
			if problems > 0 && len(shadow.Requests()) != 0 {
				t.Errorf("the shadow received %d copies from an invalid configuration", len(shadow.Requests()))
			}
		}()
		var answers strings.Builder
		for i, body := range [][]byte{nil, []byte("small"), bytes.Repeat([]byte{7}, 200<<10)} {
			h := http.Header{"X-Request-Id": {fmt.Sprint("req-", i)}, "X-Trace": {"a", "b"}}
			resp, got, _ := send(t, m.addr, "PUT", fmt.Sprintf("/v1/things/%d?q=%d", i, i), h, body)
			resp.Header.Del("Date")
			fmt.Fprintf(&answers, "%d %v %s\n", resp.StatusCode, resp.Header, got)
		}
		var requests strings.Builder
		for _, r := range primary.Requests() {
			fmt.Fprintf(&requests, "%s %s %s %v %x\n", r.Method, r.Path, r.Host, r.Header, r.Body)
		}
		return answers.String(), requests.String()
	}
	onAnswers, onRequests := seen(`{"targets": [{"name": "shadow", "cluster": "shadow"}]}`, 0)
	offAnswers, offRequests := seen(`{"targets": [{"name": "shadow", "cluster": "shadow", "percentage": 0}]}`, 0)
	if onAnswers != offAnswers {
		t.Errorf("the client saw different answers with mirroring on:\n%s\nand off:\n%s", onAnswers, offAnswers)
	}
	if onRequests != offRequests {
		t.Errorf("the primary saw different requests with mirroring on:\n%s\nand off:\n%s", onRequests, offRequests)
	}
	badAnswers, badRequests := seen(`{"targets": [{"name": "shadow", "cluster": "shadow", "percent": 5, "timeoutMs": 0}]}`, 2)
	if badAnswers != offAnswers || badRequests != offRequests {
		t.Errorf("an invalid configuration changed the primary traffic:\n%s%s\nwant:\n%s%s", badAnswers, badRequests, offAnswers, offRequests)
	}
}

// TestShadowFaults: whatever the shadow does, the primary's answer is the same and
// comes without waiting for the shadow.
func TestShadowFaults(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()
	hangs := backend(t, "hangs", func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) })
	resetsEarly := backend(t, "resets", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	resetsLate := backend(t, "resets-late", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, _ := w.(http.Hijacker).Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
		buf.Flush()
		conn.Close()
	})
	fails := backend(t, "fails", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 503) })

	tests := []struct {
		name, addr, counter string
	}{
		{"refuses connections", refusedAddr, "response_failed"}, // Envoy's own 503: a failure
		{"hangs past the timeout", hangs.Addr, "response_failed"},
		{"resets before answering", resetsEarly.Addr, "response_failed"}, // Envoy's own 503: a failure
		{"resets while answering", resetsLate.Addr, "response_failed"},
		{"answers 5xx", fails.Addr, "response_5xx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "timeoutMs": 200}]}`,
				backend(t, "primary", nil), map[string]string{"shadow": tc.addr})
			const n = 20
			var slowest time.Duration
			for range n {
				resp, body, took := send(t, m.addr, "POST", "/api/x", nil, []byte("payload"))
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"service":"primary"`)) {
					t.Fatalf("primary answered %d %s", resp.StatusCode, body)
				}
				slowest = max(slowest, took)
			}
			// The copies go out on the plugin's next tick (1 ms); the primary never
			// waits for them, nor for a shadow that takes 2 s.
			if slowest > 150*time.Millisecond {
				t.Errorf("the slowest primary request took %v", slowest)
			}
			name := mirror.CounterName("shadow", counterByName(t, tc.counter))
			waitFor(t, name, func() bool { return m.metric(t, name) == n })
			if v := m.metric(t, mirror.InFlightName("shadow")); v != 0 {
				t.Errorf("in_flight = %d after every copy was answered", v)
			}
		})
	}
}

// TestShadowWithoutEndpoints: a shadow cluster with no endpoint (scaled to zero) fails
// every copy inline, as Envoy's AsyncClient does; the copies count in dispatch_failed
// and leave no slot taken, and the primary is untouched.
func TestShadowWithoutEndpoints(t *testing.T) {
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow"}]}`, backend(t, "primary", nil),
		map[string]string{"shadow": ""})
	for range 5 {
		if resp, _, _ := send(t, m.addr, "GET", "/api/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("primary answered %d", resp.StatusCode)
		}
	}
	name := mirror.CounterName("shadow", mirror.DispatchFailed)
	waitFor(t, name, func() bool { return m.metric(t, name) == 5 })
	for _, n := range []string{mirror.InFlightName("shadow"), mirror.CounterName("shadow", mirror.Dispatched)} {
		if v := m.metric(t, n); v != 0 {
			t.Errorf("%s = %d", n, v)
		}
	}
}

func counterByName(t *testing.T, name string) mirror.Counter {
	for c := range mirror.NumCounters {
		if strings.HasSuffix(mirror.CounterName("", c), "."+name) {
			return c
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// TestLoopGuard runs the plugin on the shadow's side too: the copy carries the
// marker, so the shadow's plugin does not mirror it again.
func TestLoopGuard(t *testing.T) {
	third := backend(t, "third", nil)
	shadowApp := backend(t, "shadow-app", nil)
	shadowSide := start(t, `{"targets": [{"name": "onward", "cluster": "third"}]}`, shadowApp,
		map[string]string{"third": third.Addr})
	m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow"}]}`, backend(t, "primary", nil),
		map[string]string{"shadow": shadowSide.addr})
	send(t, m.addr, "GET", "/api/items", nil, nil)
	waitFor(t, "the copy at the shadow's app", func() bool { return len(shadowApp.Requests()) == 1 })
	waitFor(t, "loop_skipped", func() bool { return shadowSide.metric(t, mirror.LoopSkippedMetric) == 1 })
	time.Sleep(50 * time.Millisecond) // time for a wrong copy to arrive
	if n := len(third.Requests()); n != 0 {
		t.Errorf("the shadow's plugin mirrored the copy again (%d requests)", n)
	}
	// A request of its own at the shadow's side is mirrored onward.
	send(t, shadowSide.addr, "GET", "/own", nil, nil)
	waitFor(t, "the shadow side's own copy", func() bool { return len(third.Requests()) == 1 })
}

// TestSamplingShare checks the sampled share over many requests, random and sticky.
func TestSamplingShare(t *testing.T) {
	random := backend(t, "random", nil)
	sticky := backend(t, "sticky", nil)
	m := start(t, `{"targets": [
		{"name": "random", "cluster": "random", "percentage": 30, "maxInFlight": 10000},
		{"name": "sticky", "cluster": "sticky", "percentage": 10, "stickyHeader": "x-user-id", "maxInFlight": 10000}]}`,
		backend(t, "primary", nil), map[string]string{"random": random.Addr, "sticky": sticky.Addr})
	const n = 1500
	wantSticky := 0
	for i := range n {
		user := fmt.Sprint("user-", i)
		if mirror.StickyBucket("sticky", user) < 10*config.PercentScale/100 {
			wantSticky++
		}
		send(t, m.addr, "GET", "/", http.Header{"X-User-Id": {user}}, nil)
	}
	waitFor(t, "every copy", func() bool {
		return m.metric(t, "meshmirror.random.in_flight")+m.metric(t, "meshmirror.sticky.in_flight") == 0
	})
	if got := len(random.Requests()); got < n*25/100 || got > n*35/100 {
		t.Errorf("random 30%%: %d of %d requests copied", got, n)
	}
	if got := len(sticky.Requests()); got != wantSticky {
		t.Errorf("sticky 10%%: %d copies, want the %d users the documented hash selects", got, wantSticky)
	}
	var users []string
	for _, r := range sticky.Requests() {
		users = append(users, r.Header.Get("X-User-Id"))
	}
	sort.Strings(users)
	for i := 1; i < len(users); i++ {
		if users[i] == users[i-1] {
			t.Fatalf("user %s copied twice", users[i])
		}
	}
}

// TestEnvoyYAML reads the envoy.yaml users run with Envoy, as the runner does.
func TestEnvoyYAML(t *testing.T) {
	cfg, err := runner.LoadEnvoyConfig("../envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Module != "build/meshmirror.wasm" || cfg.Primary == "" || len(cfg.Clusters) < 3 {
		t.Errorf("envoy.yaml: %+v", cfg)
	}
	if _, err := config.Parse(cfg.PluginConfig); err != nil {
		t.Errorf("envoy.yaml's plugin configuration: %v", err)
	}
}

// TestRealEnvoy runs a request through a real Envoy with envoy.yaml, when this
// machine has one.
func TestRealEnvoy(t *testing.T) {
	envoy, err := exec.LookPath("envoy")
	if err != nil {
		t.Skip("Envoy variant skipped: no envoy binary on PATH (these machines have none, and no Docker engine). " +
			"Install Envoy >= 1.33 (failure_policy) and run: go test ./e2e -run RealEnvoy -v")
	}
	cfg, err := runner.LoadEnvoyConfig("../envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	backends := map[string]*runner.Backend{}
	for name, addr := range cfg.Clusters {
		b, err := runner.StartBackend(name, addr, nil)
		if err != nil {
			t.Fatalf("cluster %s needs %s: %v", name, addr, err)
		}
		defer b.Close()
		backends[name] = b
	}
	cmd := exec.Command(envoy, "-c", "envoy.yaml", "--concurrency", "1", "--log-level", "warn")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "Envoy to listen", func() bool {
		c, err := net.Dial("tcp", cfg.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// alice is in envoy.yaml's sticky 50% of the echo-v2 target (README).
	resp, _, _ := send(t, cfg.Listen, "GET", "/api/items", http.Header{"X-User-Id": {"alice"}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("Envoy answered %d; its log:\n%s", resp.StatusCode, stderr.String())
	}
	waitFor(t, "a copy at shadow-v2", func() bool { return len(backends["shadow-v2"].Requests()) == 1 })
}

// TestEnvoyYAMLInvalid: a bootstrap Envoy would refuse is refused with the reason.
func TestEnvoyYAMLInvalid(t *testing.T) {
	good, err := os.ReadFile("../envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct{ from, to, want string }{
		"unknown field":     {"connect_timeout: 1s", "connect_timeot: 1s", "connect_timeot"},
		"port out of range": {"port_value: 8082", "port_value: 70000", "PortValue: value must be less than or equal to 65535"},
		"no local module":   {"local: {filename: build/meshmirror.wasm}", `local: {inline_string: "x"}`, "no wasm filter with a local module"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			broken := strings.Replace(string(good), tc.from, tc.to, 1)
			if broken == string(good) {
				t.Fatalf("envoy.yaml has no %q to break", tc.from)
			}
			_, err := runner.ParseEnvoyConfig([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one that names %q", err, tc.want)
			}
		})
	}
}
