// Package bench measures what mirroring costs inside the VM: it runs
// build/meshmirror.wasm and four reference modules (the floors, in testdata/) on the
// project's own proxy-wasm host, wasmhost, in its Manual mode, so that a measured
// request is the module's work plus the ABI crossings Envoy would make too, and
// nothing of timers or goroutines; and the same in V8, on the proxy-wasm host of
// v8/host.mjs run by Node (RunV8).
//
// The Go benchmarks (bench_test.go) and the programs under bench/ that write
// BENCHMARKS.md's tables, charts and soak curve share the scenarios and the driver
// defined here.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/wasmhost"
)

// Module is a compiled proxy-wasm module under test.
type Module struct {
	// Name is how the tables and benchmarks call it: meshmirror, f0, f1 or f2.
	Name string
	// Wasm is the module as deployed: stripped of its name section.
	Wasm []byte
	// Names is the same build before stripping; its name section lets CountAllocs
	// find TinyGo's allocator.
	Names []byte
}

// Floors are the reference modules, in testdata/, built like the plugin by `make testdata`:
// f0 does nothing, f1 reads every request header, f2 reads them and sends one copy
// of every request from the root context on the next tick, as meshmirror sends its
// copies, and f3 is f2 that also reads the primary's response (headers and body) and
// its copy's answer: what a comparison reads before it compares anything.
var Floors = []string{"f0", "f1", "f2", "f3"}

// LoadModules reads meshmirror (build/) and the floors (bench/testdata/) from the
// repository at root.
func LoadModules(root string) ([]Module, error) {
	return LoadModulesWith(root, filepath.Join(root, "build", "meshmirror.wasm"))
}

// LoadModulesWith is LoadModules with meshmirror read from the file plugin (and its
// named build from the .names.wasm next to it): another build to compare.
func LoadModulesWith(root, plugin string) ([]Module, error) {
	paths := map[string]string{"meshmirror": strings.TrimSuffix(plugin, ".wasm")}
	names := []string{"meshmirror"}
	for _, f := range Floors {
		paths[f] = filepath.Join(root, "bench", "testdata", f)
		names = append(names, f)
	}
	var mods []Module
	for _, name := range names {
		wasm, err := os.ReadFile(paths[name] + ".wasm")
		if err != nil {
			return nil, fmt.Errorf("%v (make build, make testdata)", err)
		}
		named, err := os.ReadFile(paths[name] + ".names.wasm")
		if err != nil {
			return nil, fmt.Errorf("%v (make build, make testdata)", err)
		}
		mods = append(mods, Module{Name: name, Wasm: wasm, Names: named})
	}
	return mods, nil
}

// Request is one request as a scenario sends it: headers, then the body in chunks,
// then trailers. The end of stream is on the last of them. A scenario with
// ResponseHeaders then streams the primary's response back through the filter, its
// body in chunks.
type Request struct {
	Headers  [][2]string
	Body     [][]byte
	Trailers [][2]string

	ResponseHeaders [][2]string
	ResponseBody    [][]byte
}

// Scenario is one kind of request and the configuration meshmirror runs it with.
// The floors ignore the configuration and see the same requests.
type Scenario struct {
	Name string
	// What is measured, for the table.
	About  string
	Config string
	// Request is sent over and over.
	Request Request
	// Floor is the reference the scenario's target compares with ("f1" or "f2"), and
	// Target the ratio to it that BENCHMARKS.md aims for (issue 28's goals); 0 for
	// none. InterpTarget is the goal in an interpreter where it is another: there
	// every byte a comparison inspects costs instructions, and the host's copies run
	// natively.
	Floor        string
	Target       float64
	InterpTarget float64
	// Copies is how many copies meshmirror sends per request once warmed up.
	Copies int
	// Shadow is what every shadow cluster answers in this scenario; nil for a 200
	// with no body.
	Shadow *wasmhost.Response
	// PerRequest are meshmirror's counters that grow by one per request, by name:
	// what TestScenarios checks the scenario does.
	PerRequest []string
}

// canary is the rule the scenarios mirror on: API calls of the canary group. The
// request that matches no target fails on the last rule, so it pays for all of them.
const canary = `"match": {"methods": ["GET", "POST"], "paths": [{"prefix": "/api/"}],
	"headers": [{"name": "x-canary", "exact": "true"}]}`

// browserHeaders are what a request through an Istio sidecar typically carries.
var browserHeaders = [][2]string{
	{":authority", "reviews.default.svc.cluster.local:9080"},
	{":path", "/api/v1/reviews/12345?lang=en"},
	{":method", "GET"},
	{":scheme", "http"},
	{"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
	{"accept", "application/json"},
	{"accept-encoding", "gzip, deflate, br"},
	{"accept-language", "en-US,en;q=0.5"},
	{"cookie", "session=4f2c9a1e8b7d6c5a; theme=dark"},
	{"x-forwarded-proto", "http"},
	{"x-forwarded-for", "10.244.1.17"},
	{"x-request-id", "0c5f3b9e-7a41-4d2e-9f3a-1b6c8d2e4f70"},
	{"x-user-id", "user-4242"},
	{"x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"},
	{"x-b3-spanid", "e457b5a2e4d86bd1"},
	{"x-b3-sampled", "1"},
	{"x-envoy-attempt-count", "1"},
}

func with(headers [][2]string, extra ...[2]string) [][2]string {
	out := append([][2]string(nil), headers...)
	for _, kv := range extra {
		replaced := false
		for i := range out {
			if out[i][0] == kv[0] {
				out[i][1], replaced = kv[1], true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// BodyChunks is the body of the body scenario: 64 KiB in 16 chunks.
func BodyChunks() [][]byte {
	const size, chunks = 64 << 10, 16
	body := make([]byte, size)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	out := make([][]byte, chunks)
	for i := range out {
		out[i] = body[i*size/chunks : (i+1)*size/chunks]
	}
	return out
}

// CompareBody is the JSON body of the compare scenarios, about 2 KiB: a page of 16
// items. With shadow set it is the shadow's answer, the same value written another
// way (1.0 for 1, other spacing), so that the comparison walks all of it.
func CompareBody(shadow bool) []byte {
	var b strings.Builder
	b.WriteString(`{"page":1,"items":[`)
	for i := range 16 {
		if i > 0 {
			b.WriteString(",")
		}
		price, sep := fmt.Sprintf("%d.50", 10+i), ":"
		if shadow {
			price, sep = fmt.Sprintf("%d.5", 10+i), ": "
		}
		fmt.Fprintf(&b, `{"id"%s%d,"name":"Item number %d","price"%s%s,"tags":["a","b","c"],"stock":{"warehouse":"eu-west-1","count":%d}}`,
			sep, 1000+i, i, sep, price, i*7)
	}
	b.WriteString(`],"meta":{"requestId":"0c5f3b9e-7a41-4d2e-9f3a-1b6c8d2e4f70","total":16}}`)
	return []byte(b.String())
}

// OneFieldDiffers is CompareBody(false) with one price changed, in the 12th of the 16
// items: the pair a comparison finds different.
func OneFieldDiffers() []byte {
	return bytes.Replace(CompareBody(false), []byte(`"price":21.50`), []byte(`"price":21.75`), 1)
}

// jsonAnswer is a shadow's 200 with a JSON body.
func jsonAnswer(body []byte) *wasmhost.Response {
	return &wasmhost.Response{Headers: [][2]string{{":status", "200"}, {"content-type", "application/json"},
		{"content-length", fmt.Sprint(len(body))}}, Body: body}
}

// comparedScenario is a scenario of one copy compared (with compare's settings, the
// members of a JSON object): the copied request with the primary's response, a JSON
// page, streamed back through the filter in two chunks, the shadow answering shadow,
// and outcomes the counters each request adds to. Its target is against F2.
func comparedScenario(name, about, compare string, shadow []byte, target, interpTarget float64,
	outcomes ...mirror.CompareCounter) Scenario {
	page := CompareBody(false)
	sc := Scenario{
		Name: name, About: about,
		Config: `{"targets": [{"name": "reviews-v2", "cluster": "shadow", ` + canary + `, "compare": {` + compare + `}}]}`,
		Request: Request{
			Headers: with(browserHeaders, [2]string{"x-canary", "true"}),
			ResponseHeaders: [][2]string{{":status", "200"}, {"content-type", "application/json"},
				{"content-length", fmt.Sprint(len(page))}},
			ResponseBody: [][]byte{page[:1024], page[1024:]},
		},
		Shadow: jsonAnswer(shadow),
		Floor:  "f2", Target: target, InterpTarget: interpTarget, Copies: 1,
	}
	for _, c := range outcomes {
		sc.PerRequest = append(sc.PerRequest, mirror.CompareCounterName("reviews-v2", c))
	}
	return sc
}

// twoCompared is comparedScenario with a second compared target, reviews-v1, and
// baseline added to the first's compare.
func twoCompared(name, about, baseline string) Scenario {
	sc := comparedScenario(name, about, `"ignore": ["meta.requestId"]`+baseline, CompareBody(true), 0, 0, mirror.CompareSame)
	sc.Config = `{"targets": [
		{"name": "reviews-v2", "cluster": "shadow", ` + canary + `, "compare": {"ignore": ["meta.requestId"]` + baseline + `}},
		{"name": "reviews-v1", "cluster": "shadow-b", ` + canary + `, "compare": {"ignore": ["meta.requestId"]}}]}`
	sc.Copies = 2
	sc.PerRequest = append(sc.PerRequest, mirror.CompareCounterName("reviews-v1", mirror.CompareSame))
	return sc
}

// Scenarios are the requests BENCHMARKS.md reports, in its order.
var Scenarios = []Scenario{
	{
		Name:    "nomatch",
		About:   "request that matches no target",
		Config:  `{"targets": [{"name": "reviews-v2", "cluster": "shadow", ` + canary + `}]}`,
		Request: Request{Headers: browserHeaders},
		Floor:   "f1", Target: 1.0,
	},
	{
		Name:    "copy",
		About:   "one target matched and copied (headers only)",
		Config:  `{"targets": [{"name": "reviews-v2", "cluster": "shadow", ` + canary + `}]}`,
		Request: Request{Headers: with(browserHeaders, [2]string{"x-canary", "true"})},
		Floor:   "f2", Target: 1.3, Copies: 1,
	},
	{
		Name:  "copy3",
		About: "three targets matched and copied",
		Config: `{"targets": [
			{"name": "reviews-v2", "cluster": "shadow", ` + canary + `},
			{"name": "reviews-v3", "cluster": "shadow-b", "authoritySuffix": "-shadow",
			 "headers": {"set": {"x-env": "shadow"}, "remove": ["cookie"]}, ` + canary + `},
			{"name": "audit", "cluster": "shadow-c", "stickyHeader": "x-user-id", "percentage": 100,
			 "match": {"paths": [{"regex": "/api/v[0-9]+/.*"}]}}]}`,
		Request: Request{Headers: with(browserHeaders, [2]string{"x-canary", "true"})},
		Floor:   "f2", Target: 2.5, Copies: 3,
	},
	{
		Name:   "body64k",
		About:  "64 KiB body in 16 chunks, copied",
		Config: `{"targets": [{"name": "reviews-v2", "cluster": "shadow", ` + canary + `}]}`,
		Request: Request{
			Headers: with(browserHeaders, [2]string{"x-canary", "true"}, [2]string{":method", "POST"},
				[2]string{"content-type", "application/json"}, [2]string{"content-length", "65536"}),
			Body: BodyChunks(),
		},
		Floor: "f2", Target: 3, Copies: 1,
	},
	comparedScenario("compare", "one copy compared: the same 2 KiB JSON written differently",
		`"ignore": ["meta.requestId"]`, CompareBody(true), 4, 5, mirror.CompareSame),
	// Summaries (issue 26) are to add at most 5% to a compared pair: this row against
	// compare's, in the same run.
	comparedScenario("compare-summary", "compare, with a summary of the pairs per endpoint every second",
		`"ignore": ["meta.requestId"], "report": {"cluster": "reports", "summarySeconds": 1}`, CompareBody(true), 4, 5, mirror.CompareSame),
	comparedScenario("compare-same", "one copy compared: the same bytes",
		`"ignore": ["meta.requestId"]`, CompareBody(false), 2, 2.5, mirror.CompareSame),
	comparedScenario("compare-differs", "one copy compared: one field differs",
		`"ignore": ["meta.requestId"]`, OneFieldDiffers(), 4, 5, mirror.CompareDiffers, mirror.CompareBodyDiffers),
	comparedScenario("compare-none", `one copy compared with body "none": status and content-type only`,
		`"body": "none"`, CompareBody(true), 1.5, 0, mirror.CompareSame),
	// Noise cancellation: two compared copies of the request, without and with the
	// second as the first's baseline. Their answers are the same, so the baseline
	// must cost nothing: the two are to cost the same.
	twoCompared("compare2", "two copies compared, the same JSON written differently", ""),
	twoCompared("compare-baseline", "the same, the second copy the first's baseline (noise cancellation)",
		`, "baseline": "reviews-v1"`),
	{
		Name:  "ratelimited",
		About: "copy refused by the rate limit",
		Config: `{"targets": [{"name": "reviews-v2", "cluster": "shadow", ` + canary + `,
			"rateLimit": {"perSecond": 0.001, "burst": 1}}]}`,
		Request: Request{Headers: with(browserHeaders, [2]string{"x-canary", "true"})},
		Floor:   "f1", Target: 1.2,
	},
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Answers are what the shadow clusters answer in sc: sc.Shadow, or a 200 with no
// body. Both engines' hosts answer from them.
func Answers(sc Scenario) map[string]*wasmhost.Response {
	answer := sc.Shadow
	if answer == nil {
		answer = &wasmhost.Response{Headers: [][2]string{{":status", "200"}, {"content-length", "0"}}}
	}
	accepted := &wasmhost.Response{Headers: [][2]string{{":status", "202"}, {"content-length", "0"}}}
	return map[string]*wasmhost.Response{"shadow": answer, "shadow-b": answer, "shadow-c": answer, "reports": accepted}
}

// Clusters are the shadows of sc on wasmhost; each answers at once (Answers).
func Clusters(sc Scenario) map[string]wasmhost.Caller {
	out := map[string]wasmhost.Caller{}
	for name, answer := range Answers(sc) {
		out[name] = wasmhost.CallerFunc(func(context.Context, *wasmhost.Callout) (*wasmhost.Response, error) {
			return answer, nil
		})
	}
	return out
}

// VM is one module on a Manual host.
type VM struct {
	Host *wasmhost.Host
	// Answered counts the callouts answered so far.
	Answered int
}

// Start starts wasm on a Manual host with the plugin configuration and clusters.
// ctx may carry a wazero function listener (CountAllocs does).
func Start(ctx context.Context, wasm []byte, config string, clusters map[string]wasmhost.Caller) (*VM, error) {
	return StartIn(ctx, Compiler, wasm, config, clusters)
}

// Engine is the wazero engine a VM runs in.
type Engine uint8

// The engines of wazero.
const (
	// Compiler compiles the module to machine code, as V8 does in Envoy.
	Compiler Engine = iota
	// Interpreter interprets it, as WAMR's fast-interp does (wasmhost.Options.Interpreter).
	Interpreter
)

// StartIn is Start in engine e.
func StartIn(ctx context.Context, e Engine, wasm []byte, config string, clusters map[string]wasmhost.Caller) (*VM, error) {
	h, err := wasmhost.New(ctx, wasmhost.Options{Module: wasm, PluginConfig: []byte(config),
		Clusters: clusters, Manual: true, Interpreter: e == Interpreter})
	if err != nil {
		return nil, err
	}
	// An invalid configuration starts a plugin that mirrors nothing: a benchmark of
	// that would measure the wrong thing. The floors define no such metric.
	if n, ok := h.Metric(mirror.ConfigErrorsMetric); ok && n != 0 {
		h.Close(ctx)
		return nil, fmt.Errorf("the plugin took none of its configuration (%s = %d)", mirror.ConfigErrorsMetric, n)
	}
	return &VM{Host: h}, nil
}

// Close frees the VM.
func (vm *VM) Close() error { return vm.Host.Close(context.Background()) }

// Do runs one request's whole life through the module, as an Envoy worker would:
// a new stream, its headers, body chunks and trailers, the end of the stream, the
// tick the module asked for (which sends the copies), and the copies' answers.
func (vm *VM) Do(r *Request) error {
	s, err := vm.Host.NewStream()
	if err != nil {
		return err
	}
	if err := vm.send(s, r); err != nil {
		return err
	}
	if err := s.Done(); err != nil {
		return err
	}
	if vm.Host.TickPeriod() > 0 {
		if err := vm.Host.Tick(); err != nil {
			return err
		}
	}
	n, err := vm.Host.Answer()
	vm.Answered += n
	return err
}

func (vm *VM) send(s *wasmhost.Stream, r *Request) error {
	headersEnd := len(r.Body) == 0 && r.Trailers == nil
	if _, err := s.RequestHeaders(r.Headers, headersEnd); err != nil {
		return err
	}
	for i, chunk := range r.Body {
		if _, err := s.RequestBody(chunk, i == len(r.Body)-1 && r.Trailers == nil); err != nil {
			return err
		}
	}
	if r.Trailers != nil {
		if _, err := s.RequestTrailers(r.Trailers); err != nil {
			return err
		}
	}
	if r.ResponseHeaders == nil {
		return nil
	}
	if _, err := s.ResponseHeaders(r.ResponseHeaders, len(r.ResponseBody) == 0); err != nil {
		return err
	}
	for i, chunk := range r.ResponseBody {
		if _, err := s.ResponseBody(chunk, i == len(r.ResponseBody)-1); err != nil {
			return err
		}
	}
	return nil
}

// RunRequests is the timed loop of a benchmark: it starts m's deployed build for sc,
// runs Warmup requests, then one request per iteration of b.Loop.
func RunRequests(b *testing.B, m Module, sc Scenario) {
	vm, err := Start(context.Background(), m.Wasm, sc.Config, Clusters(sc))
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	for range Warmup {
		if err := vm.Do(&sc.Request); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := vm.Do(&sc.Request); err != nil {
			b.Fatal(err)
		}
	}
}

// Measurement is what a module cost over a timed run of a scenario.
type Measurement struct {
	Requests int
	// Wall is the time the run took; CPU the CPU time the process used meanwhile
	// (Wall where the system cannot tell).
	Wall, CPU time.Duration
}

// NsPerRequest is the wall-clock time per request.
func (m Measurement) NsPerRequest() float64 {
	return float64(m.Wall.Nanoseconds()) / float64(m.Requests)
}

// CPUNsPerRequest is the CPU time per request: on a shared machine, what the other
// processes take from a run lengthens its wall-clock time, not its CPU time.
func (m Measurement) CPUNsPerRequest() float64 {
	return float64(m.CPU.Nanoseconds()) / float64(m.Requests)
}

// Measure starts m's deployed build for sc, runs Warmup requests, then requests in
// batches that double (up to 4096) until d has passed, and returns what they cost.
// The report measures with it, as the V8 host does, rather than with
// testing.Benchmark, which starts a new VM (and compiles the module) for every try
// of b.N and reports wall-clock time only.
func Measure(m Module, sc Scenario, d time.Duration) (Measurement, error) {
	return MeasureIn(Compiler, m, sc, d)
}

// MeasureIn is Measure in engine e.
func MeasureIn(e Engine, m Module, sc Scenario, d time.Duration) (Measurement, error) {
	vm, err := StartIn(context.Background(), e, m.Wasm, sc.Config, Clusters(sc))
	if err != nil {
		return Measurement{}, err
	}
	defer vm.Close()
	for range Warmup {
		if err := vm.Do(&sc.Request); err != nil {
			return Measurement{}, err
		}
	}
	var res Measurement
	cpu0, cpuOK := cpuTime()
	start := time.Now()
	for batch := 1; res.Wall < d; batch = min(2*batch, 4096) {
		for range batch {
			if err := vm.Do(&sc.Request); err != nil {
				return Measurement{}, err
			}
		}
		res.Requests += batch
		res.Wall = time.Since(start)
	}
	res.CPU = res.Wall
	if cpu1, ok := cpuTime(); ok && cpuOK {
		res.CPU = cpu1 - cpu0
	}
	return res, nil
}

// Warmup is how many requests run before anything is measured: the first ones grow
// the module's heap and slices, and take a rate limit's burst.
const Warmup = 200

// Allocs is what the module allocates per request, counted in TinyGo's allocator.
type Allocs struct {
	// Count and Bytes are per request.
	Count, Bytes float64
	// GCs is the share of requests that ran TinyGo's collector.
	GCs float64
}

// The functions of TinyGo's runtime (0.41, gc_blocks.go) that CountAllocs listens to:
// every heap allocation (make, new, append, strings, the SDK's
// proxy_on_memory_allocate) goes through alloc; buildFreeRanges runs after each
// collection and each growth of the heap (growHeap); the collector itself is inlined.
const (
	allocator  = "runtime.alloc"
	freeRanges = "runtime.buildFreeRanges"
	heapGrowth = "runtime.growHeap"
)

// CountAllocs runs n requests of sc through the named build of m, after Warmup,
// and counts its allocations with a wazero function listener on TinyGo's allocator.
// The count is exact and repeatable; the listener slows the run, so it is kept apart
// from the timed runs.
func CountAllocs(m Module, sc Scenario, n int) (Allocs, error) {
	counter := &allocCounter{}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), counter)
	vm, err := Start(ctx, m.Names, sc.Config, Clusters(sc))
	if err != nil {
		return Allocs{}, err
	}
	defer vm.Close()
	if !counter.found {
		return Allocs{}, fmt.Errorf("%s: no function %s in its name section", m.Name, allocator)
	}
	for range Warmup {
		if err := vm.Do(&sc.Request); err != nil {
			return Allocs{}, err
		}
	}
	*counter = allocCounter{found: true}
	for range n {
		if err := vm.Do(&sc.Request); err != nil {
			return Allocs{}, err
		}
	}
	return Allocs{Count: float64(counter.calls) / float64(n), Bytes: float64(counter.bytes) / float64(n),
		GCs: float64(counter.rebuilds-counter.grows) / float64(n)}, nil
}

// allocCounter is a wazero FunctionListenerFactory that counts calls to TinyGo's
// allocator (whose first argument is the size), collections and heap growths.
type allocCounter struct {
	found           bool
	calls, bytes    uint64
	rebuilds, grows uint64
}

func (c *allocCounter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	switch def.Name() {
	case allocator:
		c.found = true
		return listenerFunc(func(params []uint64) { c.calls++; c.bytes += uint64(uint32(params[0])) })
	case freeRanges:
		return listenerFunc(func([]uint64) { c.rebuilds++ })
	case heapGrowth:
		return listenerFunc(func([]uint64) { c.grows++ })
	}
	return nil
}

// listenerFunc is an experimental.FunctionListener that calls itself before the
// function runs.
type listenerFunc func(params []uint64)

func (f listenerFunc) Before(_ context.Context, _ api.Module, _ api.FunctionDefinition, params []uint64,
	_ experimental.StackIterator) {
	f(params)
}
func (listenerFunc) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {}
func (listenerFunc) Abort(context.Context, api.Module, api.FunctionDefinition, error)    {}

// CompileTime is how long wazero takes to compile m (the first part of StartTime):
// the median of runs, each with a new runtime and no cache.
func CompileTime(m Module, runs int) (time.Duration, error) {
	ctx := context.Background()
	times := make([]float64, 0, runs)
	for range runs {
		r := wazero.NewRuntime(ctx)
		start := time.Now()
		if _, err := r.CompileModule(ctx, m.Wasm); err != nil {
			return 0, err
		}
		times = append(times, float64(time.Since(start)))
		r.Close(ctx)
	}
	return time.Duration(Median(times)), nil
}

// StartTime is how long wasmhost.New takes to compile, instantiate and start m with
// sc's configuration and have the plugin accept it: the median of runs.
func StartTime(m Module, sc Scenario, runs int) (time.Duration, error) {
	times := make([]float64, 0, runs)
	for range runs {
		start := time.Now()
		vm, err := Start(context.Background(), m.Wasm, sc.Config, Clusters(sc))
		if err != nil {
			return 0, err
		}
		times = append(times, float64(time.Since(start)))
		vm.Close()
	}
	return time.Duration(Median(times)), nil
}

// Median returns the median of xs (the mean of the middle two for an even count).
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// CountHostCalls runs n requests of sc through m after Warmup and counts, by name,
// the calls the module makes into the host (the env and WASI imports), per request:
// what a host call costs in every engine is what a request pays that the module's own
// instructions do not show.
func CountHostCalls(m Module, sc Scenario, n int) (map[string]float64, error) {
	counter := &hostCallCounter{calls: map[string]uint64{}}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), counter)
	vm, err := Start(ctx, m.Wasm, sc.Config, Clusters(sc))
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	for range Warmup {
		if err := vm.Do(&sc.Request); err != nil {
			return nil, err
		}
	}
	clear(counter.calls)
	for range n {
		if err := vm.Do(&sc.Request); err != nil {
			return nil, err
		}
	}
	out := map[string]float64{}
	for name, c := range counter.calls {
		out[name] = float64(c) / float64(n)
	}
	return out, nil
}

// hostCallCounter is a wazero FunctionListenerFactory that counts calls to the
// functions of the host's modules, by name.
type hostCallCounter struct{ calls map[string]uint64 }

func (c *hostCallCounter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() == nil {
		return nil // the module's own code
	}
	name := def.ModuleName() + "." + def.Name()
	return listenerFunc(func([]uint64) { c.calls[name]++ })
}
