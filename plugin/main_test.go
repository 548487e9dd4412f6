package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/header"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// wasmPath is the module users run; `make test` builds it before the tests.
const wasmPath = "../build/meshmirror.wasm"

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		log.SetOutput(io.Discard) // the emulator logs every callout
	}
	os.Exit(m.Run())
}

// vmTest runs a behaviour test twice: with the Go VM context, and with the compiled
// module in wazero. A missing module fails the run: it is what users deploy.
func vmTest(t *testing.T, f func(*testing.T, types.VMContext)) {
	t.Helper()
	t.Run("go", func(t *testing.T) { f(t, &vmContext{}) })
	t.Run("wasm", func(t *testing.T) { f(t, wasmVM(t)) })
}

// wasmVM loads the compiled module in wazero, for the test's duration.
func wasmVM(tb testing.TB) types.VMContext {
	tb.Helper()
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		tb.Fatalf("the compiled module is needed (make build): %v", err)
	}
	vm, err := proxytest.NewWasmVMContext(wasm)
	if err != nil {
		tb.Fatalf("loading %s: %v", wasmPath, err)
	}
	tb.Cleanup(func() { vm.Close() })
	return vm
}

// start starts the plugin with config and fails the test unless it starts and took
// the configuration (an invalid one starts too, mirroring nothing).
func start(t *testing.T, vm types.VMContext, config string) proxytest.HostEmulator {
	t.Helper()
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(vm).WithPluginConfiguration([]byte(config)))
	t.Cleanup(reset)
	if status := host.StartPlugin(); status != types.OnPluginStartStatusOK {
		t.Fatalf("plugin did not start: %v", host.GetCriticalLogs())
	}
	if n := configErrors(t, host); n != 0 {
		t.Fatalf("the plugin refused its configuration (%s = %d): %v", mirror.ConfigErrorsMetric, n, host.GetCriticalLogs())
	}
	return host
}

// startStatus starts the plugin with config and returns whether it started, turning a
// trap of the module (which the wazero wrapper panics on) into a test failure.
func startStatus(t *testing.T, vm types.VMContext, config []byte) (status types.OnPluginStartStatus, host proxytest.HostEmulator) {
	t.Helper()
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().
		WithVMContext(vm).WithPluginConfiguration(config))
	t.Cleanup(reset)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("the plugin crashed on its configuration: %v", r)
		}
	}()
	return host.StartPlugin(), host
}

const oneTarget = `{"targets": [{"name": "shadow", "cluster": "shadow-cluster"}]}`

func counter(t *testing.T, host proxytest.HostEmulator, name string) uint64 {
	t.Helper()
	v, err := host.GetCounterMetric(name)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// wantCounters checks a target's counters; the ones not named must be zero.
func wantCounters(t *testing.T, host proxytest.HostEmulator, target string, want map[mirror.Counter]uint64) {
	t.Helper()
	wantEach(t, host, mirror.NumCounters, func(c mirror.Counter) string { return mirror.CounterName(target, c) }, want)
}

// wantEach checks the counters 0 to n-1 of one kind, named by name; the ones not in
// want must be zero.
func wantEach[C ~uint8](t *testing.T, host proxytest.HostEmulator, n C, name func(C) string, want map[C]uint64) {
	t.Helper()
	for c := range n {
		if got := counter(t, host, name(c)); got != want[c] {
			t.Errorf("%s = %d, want %d", name(c), got, want[c])
		}
	}
}

func get(headers [][2]string, name string) (string, bool) {
	return header.List(headers).Get(name)
}

var getRequest = [][2]string{
	{":method", "GET"}, {":path", "/api/items?page=2"}, {":authority", "shop.example.com"},
	{":scheme", "https"}, {"user-agent", "test"}, {"x-user-id", "user-7"},
}

// request runs a primary request without a body through the plugin and checks that
// the primary is left alone.
func request(t *testing.T, host proxytest.HostEmulator, headers [][2]string) uint32 {
	t.Helper()
	id := host.InitializeHttpContext()
	if action := host.CallOnRequestHeaders(id, headers, true); action != types.ActionContinue {
		t.Fatalf("request headers action = %v, want continue", action)
	}
	if got := host.GetCurrentRequestHeaders(id); fmt.Sprint(got) != fmt.Sprint(lowerNames(headers)) {
		t.Fatalf("the primary's headers changed:\n got %v\nwant %v", got, headers)
	}
	if resp := host.GetSentLocalResponse(id); resp != nil {
		t.Fatalf("the plugin answered the primary itself: %+v", resp)
	}
	return id
}

func lowerNames(h [][2]string) [][2]string {
	out := make([][2]string, len(h))
	for i, kv := range h {
		out[i] = [2]string{strings.ToLower(kv[0]), kv[1]}
	}
	return out
}

// callouts returns the copies sent so far; they are all sent from the plugin context.
// In wasm mode the emulator's header strings point into the module's memory, so read
// them before the module runs again.
func callouts(host proxytest.HostEmulator) []proxytest.HttpCalloutAttribute {
	return host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
}

func TestPluginContext_OnPluginStart(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [
			{"name": "a", "cluster": "c-a"},
			{"name": "b", "service": "reviews.default.svc.cluster.local", "port": 9080}]}`)
		for _, target := range []string{"a", "b"} {
			wantCounters(t, host, target, nil) // every counter is defined, at zero
			if v, err := host.GetGaugeMetric(mirror.InFlightName(target)); err != nil || v != 0 {
				t.Errorf("%s = %d, %v; want 0", mirror.InFlightName(target), v, err)
			}
			if _, err := host.GetHistogramMetric(mirror.LatencyName(target)); err != nil {
				t.Errorf("%s: %v", mirror.LatencyName(target), err)
			}
		}
		if counter(t, host, mirror.LoopSkippedMetric) != 0 {
			t.Error("loop_skipped is not zero at start")
		}
		if n := configErrors(t, host); n != 0 {
			t.Errorf("%s = %d for a valid configuration, want 0", mirror.ConfigErrorsMetric, n)
		}
		if logs := host.GetCriticalLogs(); len(logs) != 0 {
			t.Errorf("critical logs for a valid configuration: %q", logs)
		}
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period at start = %d, want 0: nothing is queued", p)
		}
	})
}

// TestPluginContext_OnPluginStart_badConfiguration: an invalid configuration never
// fails the start (Envoy would then answer every request with 500); the plugin logs
// every problem, counts them in config_errors, and mirrors nothing.
func TestPluginContext_OnPluginStart_badConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string // each must appear in the critical log
	}{
		{"empty", ``, []string{"empty"}},
		{"not JSON", `{"targets": [`, []string{"not valid JSON"}},
		{"every problem at once", `{"targets": [
			{"name": "a", "cluster": "c", "percent": 5},
			{"name": "b", "cluster": "c", "percentage": 150}]}`,
			[]string{`targets[0]: unknown key "percent" (did you mean "percentage"?)`,
				`targets[1].percentage: must be between 0 and 100, got 150`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := startDisabled(t, vm, []byte(tc.config))
				logs := strings.Join(host.GetCriticalLogs(), "\n")
				for _, w := range tc.want {
					if !strings.Contains(logs, w) {
						t.Errorf("critical log lacks %q:\n%s", w, logs)
					}
				}
				if got := configErrors(t, host); got != uint64(len(tc.want)) {
					t.Errorf("%s = %d, want %d, one per problem", mirror.ConfigErrorsMetric, got, len(tc.want))
				}
				for _, target := range []string{"a", "b"} {
					if _, err := host.GetCounterMetric(mirror.CounterName(target, mirror.Matched)); err == nil {
						t.Errorf("target %s of a refused configuration has metrics", target)
					}
				}
				wantPassThrough(t, host)
			})
		})
	}
}

// TestPluginContext_OnPluginStart_hostileConfiguration feeds the module inputs that
// overflow a 64 KiB wasm stack if they are not bounded first (FACTS.md).
func TestPluginContext_OnPluginStart_hostileConfiguration(t *testing.T) {
	nestedGroups := strings.Repeat("(", 300) + "x" + strings.Repeat(")", 300)
	tests := map[string]string{
		"deep JSON":               strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"deep JSON in a string":   `{"targets": [{"name": "a", "cluster": "` + strings.Repeat("[", 10000) + `"}], "x": ` + strings.Repeat("{", 5000),
		"large counted repeat":    pathRegexConfig(`x{0,60}`),
		"large class repeat":      pathRegexConfig(`[a-z]{0,62}`),
		"nested counted repeats":  pathRegexConfig(`((a{0,30}){0,30}){0,30}`),
		"300 nested groups":       pathRegexConfig(nestedGroups),
		"regex in header rule":    `{"targets": [{"name": "a", "cluster": "c", "match": {"headers": [{"name": "x", "regex": "y{2,999}"}]}}]}`,
		"invalid UTF-8":           "{\"targets\": [{\"name\": \"\xff\xfe\", \"cluster\": \"c\"}]}",
		"NUL bytes":               "{\"targets\"\x00: []}",
		"number out of float64":   `{"targets": [{"name": "a", "cluster": "c", "percentage": 1e400}]}`,
		"huge maxInFlight":        `{"targets": [{"name": "a", "cluster": "c", "maxInFlight": 1e300}]}`,
		"17 targets":              `{"targets": [` + strings.Repeat(`{"name": "a", "cluster": "c"},`, 16) + `{"name": "a", "cluster": "c"}]}`,
		"top level is an array":   `[1, 2, 3]`,
		"top level is a string":   `"targets"`,
		"configuration is null":   `null`,
		"deeply nested match key": `{"targets": [{"name": "a", "cluster": "c", "match": ` + strings.Repeat(`{"paths": `, 20) + `1` + strings.Repeat("}", 20) + `}]}`,
	}
	for name, config := range tests {
		t.Run(name, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				host := startDisabled(t, vm, []byte(config))
				if len(host.GetCriticalLogs()) == 0 {
					t.Error("the problems were not logged")
				}
				if configErrors(t, host) == 0 {
					t.Errorf("%s = 0 for a refused configuration", mirror.ConfigErrorsMetric)
				}
				wantPassThrough(t, host)
			})
		})
	}
}

// startDisabled starts the plugin with an invalid configuration: the start must
// succeed, so that Envoy keeps the filter, with a plugin that mirrors nothing.
func startDisabled(t *testing.T, vm types.VMContext, config []byte) proxytest.HostEmulator {
	t.Helper()
	status, host := startStatus(t, vm, config)
	if status != types.OnPluginStartStatusOK {
		t.Fatalf("OnPluginStart failed on an invalid configuration; Envoy would reject the filter: %v", host.GetCriticalLogs())
	}
	return host
}

func configErrors(t *testing.T, host proxytest.HostEmulator) uint64 {
	t.Helper()
	v, err := host.GetGaugeMetric(mirror.ConfigErrorsMetric)
	if err != nil {
		t.Fatalf("%s: %v", mirror.ConfigErrorsMetric, err)
	}
	return v
}

// wantPassThrough sends requests of every shape through a plugin that mirrors nothing
// and checks that each callback continues, the primary is untouched, and no callout
// nor tick is ever asked for.
func wantPassThrough(t *testing.T, host proxytest.HostEmulator) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("the plugin crashed on a request: %v", r)
		}
	}()
	continues := func(what string, a types.Action) {
		t.Helper()
		if a != types.ActionContinue {
			t.Errorf("%s: action %v, want continue", what, a)
		}
	}
	post := [][2]string{{":method", "POST"}, {":path", "/api/items"}, {":authority", "a"}, {"content-length", "5"}}
	for range 3 {
		request(t, host, getRequest)
		id := host.InitializeHttpContext()
		continues("request headers", host.CallOnRequestHeaders(id, post, false))
		continues("request body", host.CallOnRequestBody(id, []byte("hello"), false))
		continues("request trailers", host.CallOnRequestTrailers(id, [][2]string{{"x-checksum", "1"}}))
		continues("response headers", host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false))
		continues("response body", host.CallOnResponseBody(id, []byte("world"), false))
		continues("response trailers", host.CallOnResponseTrailers(id, [][2]string{{"grpc-status", "0"}}))
		if resp := host.GetSentLocalResponse(id); resp != nil {
			t.Errorf("the plugin answered the primary itself: %+v", resp)
		}
		host.CompleteHttpContext(id)
		host.Tick() // the emulator ticks even without a period
	}
	if p := host.GetTickPeriod(); p != 0 {
		t.Errorf("tick period = %d, want 0: a plugin that mirrors nothing has nothing to send", p)
	}
	if got := callouts(host); len(got) != 0 {
		t.Errorf("%d callouts from a plugin that mirrors nothing", len(got))
	}
}

func pathRegexConfig(re string) string {
	return `{"targets": [{"name": "a", "cluster": "c", "match": {"paths": [{"regex": ` + jsonString(re) + `}]}}]}`
}

func jsonString(s string) string { return fmt.Sprintf("%q", s) }

// TestRegexAtTheLimit compiles and runs, in the module, the largest pattern of each
// costly shape that the parser accepts: the bound must leave room on the stack.
func TestRegexAtTheLimit(t *testing.T) {
	shapes := map[string]func(n int) string{
		"x{0,n}":          func(n int) string { return fmt.Sprintf("[a-z]{0,%d}", n) },
		"nested groups":   func(n int) string { return strings.Repeat("(", n) + "x" + strings.Repeat(")", n) },
		"nested stars":    func(n int) string { return strings.Repeat("(a", n) + "x" + strings.Repeat(")*", n) },
		"nested or":       func(n int) string { return strings.Repeat("(a|", n) + "x" + strings.Repeat(")", n) },
		"groups around x": func(n int) string { return strings.Repeat("(", n) + "x{0,10}" + strings.Repeat(")", n) },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			n := 1
			for ; n < 1000; n++ {
				if _, err := config.Parse([]byte(pathRegexConfig(shape(n + 1)))); err != nil {
					break
				}
			}
			re := shape(n)
			vmTest(t, func(t *testing.T, vm types.VMContext) {
				_, host := startStatus(t, vm, []byte(pathRegexConfig(re)))
				// It always starts: config_errors says whether it took the pattern.
				if n := configErrors(t, host); n != 0 {
					t.Fatalf("refused %q (config_errors = %d): %v", re, n, host.GetCriticalLogs())
				}
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("matching with %q crashed the module: %v", re, r)
					}
				}()
				id := host.InitializeHttpContext()
				path := "/" + strings.Repeat("a", 3000)
				host.CallOnRequestHeaders(id, [][2]string{{":method", "GET"}, {":path", path}, {":authority", "x"}}, true)
				host.CompleteHttpContext(id)
			})
		})
	}
}

func TestHttpContext_copyWithoutBody(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{
			"name": "reviews-v2", "service": "reviews.default.svc.cluster.local", "port": 9080, "subset": "v2",
			"authoritySuffix": "-shadow", "timeoutMs": 750,
			"headers": {"set": {"x-env": "shadow", "user-agent": "meshmirror"}, "remove": ["x-user-id"]}}]}`)
		id := request(t, host, getRequest)
		if got := len(callouts(host)); got != 0 {
			t.Fatalf("%d copies sent before the tick; copies are sent from the plugin context", got)
		}
		if p := host.GetTickPeriod(); p == 0 {
			t.Fatal("a copy waits but the tick period is 0: Envoy would never send it")
		}
		host.Tick()
		if p := host.GetTickPeriod(); p != 0 {
			t.Errorf("tick period after the queue drained = %d, want 0", p)
		}
		sent := callouts(host)
		if len(sent) != 1 {
			t.Fatalf("sent %d copies, want 1", len(sent))
		}
		c := sent[0]
		if c.Upstream != "outbound|9080|v2|reviews.default.svc.cluster.local" {
			t.Errorf("cluster = %q", c.Upstream)
		}
		want := map[string]string{
			":method": "GET", ":path": "/api/items?page=2", ":authority": "shop.example.com-shadow",
			":scheme": "https", "user-agent": "meshmirror", "x-env": "shadow", "x-meshmirror": "reviews-v2",
		}
		for name, value := range want {
			if got, _ := get(c.Headers, name); got != value {
				t.Errorf("copy header %s = %q, want %q", name, got, value)
			}
		}
		if _, ok := get(c.Headers, "x-user-id"); ok {
			t.Error("x-user-id was not removed from the copy")
		}
		if len(c.Headers) != len(want) {
			t.Errorf("copy headers = %v, want exactly %v", c.Headers, want)
		}
		if len(c.Body) != 0 {
			t.Errorf("copy of a request without body has body %q", c.Body)
		}
		host.CompleteHttpContext(id)
		host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", "200"}}, nil, nil)
		wantCounters(t, host, "reviews-v2", map[mirror.Counter]uint64{
			mirror.Matched: 1, mirror.Dispatched: 1, mirror.Response2xx: 1})
	})
}

// TestHttpContext_slowShadowAfterPrimaryEnds is the reason copies are sent from the
// plugin context: answers that come after the primary ended are still recorded.
func TestHttpContext_slowShadowAfterPrimaryEnds(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, oneTarget)
		const n = 5
		for range n {
			id := request(t, host, getRequest)
			host.Tick()
			host.CompleteHttpContext(id) // the primary is done; its copy is not
		}
		if v, _ := host.GetGaugeMetric(mirror.InFlightName("shadow")); v != n {
			t.Fatalf("in_flight = %d, want %d", v, n)
		}
		sent := callouts(host)
		statuses := []string{"200", "302", "404", "503", ""}
		// The emulator reuses answered callout ids: answer the newest first.
		for i := len(sent) - 1; i >= 0; i-- {
			var headers [][2]string
			if statuses[i] != "" {
				headers = [][2]string{{":status", statuses[i]}}
			}
			host.CallOnHttpCallResponse(sent[i].CalloutID, headers, nil, nil)
		}
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: n, mirror.Dispatched: n, mirror.Response2xx: 1, mirror.Response3xx: 1,
			mirror.Response4xx: 1, mirror.Response5xx: 1, mirror.ResponseFailed: 1})
		if v, _ := host.GetGaugeMetric(mirror.InFlightName("shadow")); v != 0 {
			t.Errorf("in_flight after every answer = %d, want 0", v)
		}
	})
}

func TestHttpContext_loopGuard(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"marker": "X-Shadowed", "targets": [{"name": "shadow", "cluster": "c"}]}`)
		request(t, host, append([][2]string{{"x-shadowed", "other"}}, getRequest...))
		host.Tick()
		if got := len(callouts(host)); got != 0 {
			t.Fatalf("a request carrying the marker was mirrored %d times", got)
		}
		if got := counter(t, host, mirror.LoopSkippedMetric); got != 1 {
			t.Errorf("loop_skipped = %d, want 1", got)
		}
		wantCounters(t, host, "shadow", nil)
		request(t, host, getRequest)
		host.Tick()
		sent := callouts(host)
		if len(sent) != 1 {
			t.Fatalf("sent %d copies, want 1", len(sent))
		}
		if v, _ := get(sent[0].Headers, "x-shadowed"); v != "shadow" {
			t.Errorf("marker on the copy = %q, want the target's name", v)
		}
	})
}

func TestHttpContext_severalTargets(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [
			{"name": "api", "cluster": "c-api", "match": {"paths": [{"prefix": "/api/"}], "methods": ["GET"]}},
			{"name": "posts", "cluster": "c-posts", "match": {"methods": ["POST"]}},
			{"name": "never", "cluster": "c-never", "percentage": 0},
			{"name": "canary", "cluster": "c-canary", "timeoutMs": 100,
			 "match": {"headers": [{"name": "x-canary", "exact": "true"}, {"name": "user-agent", "regex": "curl/.*", "invert": true}]}}]}`)
		request(t, host, getRequest)
		request(t, host, append([][2]string{{"x-canary", "true"}}, getRequest...))
		request(t, host, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"x-canary", "true"}, {"user-agent", "curl/8.0"}})
		// The emulator tells a callout's timeout only in its log.
		var calloutLog strings.Builder
		log.SetOutput(&calloutLog)
		host.Tick()
		log.SetOutput(io.Discard)
		var clusters []string
		for _, c := range callouts(host) {
			clusters = append(clusters, c.Upstream)
		}
		wantTimeouts := "c-api 5000,c-api 5000,c-canary 100,"
		var timeouts strings.Builder
		for _, line := range strings.Split(calloutLog.String(), "\n") {
			var cluster string
			var timeout int
			if i := strings.Index(line, "[http callout to "); i >= 0 {
				if n, _ := fmt.Sscanf(line[i:], "[http callout to %s timeout: %d", &cluster, &timeout); n == 2 {
					fmt.Fprintf(&timeouts, "%s %d,", strings.TrimSuffix(cluster, "]"), timeout)
				}
			}
		}
		if timeouts.String() != wantTimeouts {
			t.Errorf("copy timeouts = %q, want %q (Envoy treats 0 as none)", timeouts.String(), wantTimeouts)
		}
		if got, want := strings.Join(clusters, " "), "c-api c-api c-canary"; got != want {
			t.Errorf("copies went to %q, want %q", got, want)
		}
		wantCounters(t, host, "api", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.Dispatched: 2})
		wantCounters(t, host, "posts", nil)
		wantCounters(t, host, "never", map[mirror.Counter]uint64{mirror.Matched: 3, mirror.SampledOut: 3})
		wantCounters(t, host, "canary", map[mirror.Counter]uint64{mirror.Matched: 1, mirror.Dispatched: 1})
	})
}

// TestHttpContext_stickySampling checks in the module that a sticky decision follows
// the documented hash.
func TestHttpContext_stickySampling(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "half", "cluster": "c", "percentage": 50, "stickyHeader": "x-user-id"}]}`)
		var want []string
		for i := range 40 {
			user := fmt.Sprintf("user-%d", i)
			for range 2 { // the same user twice: always in or always out
				request(t, host, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a"}, {"x-user-id", user}})
				if mirror.StickyBucket("half", user) < 50*config.PercentScale/100 {
					want = append(want, user)
				}
			}
		}
		host.Tick()
		var got []string
		for _, c := range callouts(host) {
			user, _ := get(c.Headers, "x-user-id")
			got = append(got, user)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("mirrored users:\n got %v\nwant %v", got, want)
		}
		if len(want) == 0 || len(want) == 80 {
			t.Errorf("%d of 80 requests mirrored at 50%%", len(want))
		}
	})
}

func TestHttpContext_timeoutAndReset(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "shadow", "cluster": "c", "timeoutMs": 1}]}`)
		for range 2 {
			id := request(t, host, getRequest)
			host.Tick()
			host.CompleteHttpContext(id)
		}
		time.Sleep(2 * time.Millisecond) // the copies have waited past their timeout
		sent := callouts(host)
		// Envoy answers a timed-out call with its own 504, a reset with no headers.
		host.CallOnHttpCallResponse(sent[1].CalloutID, [][2]string{{":status", "504"}}, nil, []byte("upstream request timeout"))
		host.CallOnHttpCallResponse(sent[0].CalloutID, nil, nil, nil)
		wantCounters(t, host, "shadow", map[mirror.Counter]uint64{
			mirror.Matched: 2, mirror.Dispatched: 2, mirror.ResponseFailed: 2})
	})
}

// TestHttpContext_answersOfReusedCalls answers copies to two targets, then copies of
// a second request, which reuse the first ones' calls: each answer counts for its own
// target.
func TestHttpContext_answersOfReusedCalls(t *testing.T) {
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, `{"targets": [{"name": "a", "cluster": "c-a"}, {"name": "b", "cluster": "c-b"}]}`)
		statuses := [][2]string{{"503", "200"}, {"200", "404"}} // b's, then a's, per round
		for round, answers := range statuses {
			host.CompleteHttpContext(request(t, host, getRequest))
			host.Tick()
			sent := callouts(host) // every callout so far
			if len(sent) != 2*(round+1) {
				t.Fatalf("round %d: %d callouts in all, want %d", round+1, len(sent), 2*(round+1))
			}
			sent = sent[2*round:]
			if sent[0].Upstream != "c-a" || sent[1].Upstream != "c-b" {
				t.Fatalf("round %d: callouts %+v, want one to c-a, then one to c-b", round+1, sent)
			}
			// The newest first: the emulator reuses the ids of answered callouts.
			host.CallOnHttpCallResponse(sent[1].CalloutID, [][2]string{{":status", answers[0]}}, nil, nil)
			host.CallOnHttpCallResponse(sent[0].CalloutID, [][2]string{{":status", answers[1]}}, nil, nil)
		}
		wantCounters(t, host, "a", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.Dispatched: 2,
			mirror.Response2xx: 1, mirror.Response4xx: 1})
		wantCounters(t, host, "b", map[mirror.Counter]uint64{mirror.Matched: 2, mirror.Dispatched: 2,
			mirror.Response5xx: 1, mirror.Response2xx: 1})
		for _, name := range []string{"a", "b"} {
			if v, _ := host.GetGaugeMetric(mirror.InFlightName(name)); v != 0 {
				t.Errorf("%s in_flight = %d, want 0", name, v)
			}
		}
	})
}
