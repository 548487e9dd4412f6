package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/wasmhost"
)

// SoakConfig is what the soak runs: a copy of canary traffic with its body under a
// rate limit, a sticky quarter of all API traffic without bodies, and a flaky shadow
// that fails half its answers, refuses large bodies and has few slots in flight.
const SoakConfig = `{"targets": [
	{"name": "reviews-v2", "cluster": "shadow", ` + canary + `,
	 "rateLimit": {"perSecond": 20000, "burst": 200}},
	{"name": "audit", "cluster": "shadow-b", "stickyHeader": "x-user-id", "percentage": 25,
	 "authoritySuffix": "-shadow", "headers": {"set": {"x-env": "shadow"}, "remove": ["cookie"]},
	 "body": {"enabled": false}, "match": {"paths": [{"regex": "/api/v[0-9]+/.*"}]},
	 "compare": {"headers": ["content-type"], "ignore": ["at"], "maxBytes": 8192,
	             "report": {"cluster": "reports", "perSecond": 50, "summarySeconds": 1}}},
	{"name": "flaky", "cluster": "flaky", "match": {"paths": [{"prefix": "/api/"}]},
	 "body": {"maxBytes": 16384}, "maxInFlight": 8, "timeoutMs": 200}]}`

// SoakSample is the module's memory after a number of requests.
type SoakSample struct {
	Requests    int
	MemoryBytes uint32
	Elapsed     time.Duration
}

// SoakResult is what a soak observed.
type SoakResult struct {
	Samples []SoakSample
	// Metrics are the module's at the end, every copy answered.
	Metrics map[string]uint64
	// Answered is the number of copies answered.
	Answered int
	// Reported is the number of reports and summaries answered.
	Reported int
	// Reconfigured is the number of configuration changes made.
	Reconfigured int
	// Timers are the tick timers still set at the end, by root context id: none,
	// unless a context left its tick running.
	Timers  map[uint32]time.Duration
	Elapsed time.Duration
}

// SoakOptions shape a soak.
type SoakOptions struct {
	// Requests is how many requests to send.
	Requests int
	// Every is how many requests pass between two samples of the memory.
	Every int
	// Seed draws the traffic and the answers: two modules soaked with the same seed
	// see the same requests.
	Seed uint64
	// MaxBody is the largest request body, in bytes. Defaults to 64 KiB.
	MaxBody int
	// ReconfigureEvery is how many requests pass between two configuration changes,
	// made as Envoy makes them (Host.Reconfigure) with copies queued and in flight;
	// the configurations alternate between SoakConfig and a variant of it. Zero means
	// none.
	ReconfigureEvery int
}

// soakVariant is SoakConfig with a rate and a share changed: what an operator's edit
// of the WasmPlugin looks like.
var soakVariant = strings.Replace(strings.Replace(SoakConfig, `"percentage": 25`, `"percentage": 30`, 1),
	`"perSecond": 20000`, `"perSecond": 15000`, 1)

// Soak sends mixed requests through one VM running wasm (SoakConfig), answering
// copies in batches and ticking as Envoy would, and samples the module's linear
// memory. The mix: 40% GET, 20% GET of the canary group, 15% POST of it with a body
// of up to MaxBody in up to 16 chunks, 10% POST with trailers, 8% reset before their
// end, 7% carrying the marker; a quarter of the streams end as HTTP/3 ones with
// deferred logging do (done, delete, then log). The shadows answer 200 or 404; the
// audit target's compared shadow answers the page, a third of the time gzip; the
// flaky one answers 200, 503, a connection failure, a reset or a timeout.
func Soak(wasm []byte, opts SoakOptions, progress func(SoakSample)) (SoakResult, error) {
	n, every, seed := opts.Requests, opts.Every, opts.Seed
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	answers := rand.New(rand.NewPCG(seed+2, seed+3))
	var reported atomic.Int64 // reports and summaries answered: calls, not copies
	vm, err := Start(context.Background(), wasm, SoakConfig, soakClusters(answers, &reported))
	if err != nil {
		return SoakResult{}, err
	}
	defer vm.Close()
	body := make([]byte, opts.MaxBody)
	for i := range body {
		body[i] = byte('a' + i%26)
	}

	var res SoakResult
	start := time.Now()
	sample := func(i int) {
		s := SoakSample{Requests: i, MemoryBytes: vm.Host.MemoryBytes(), Elapsed: time.Since(start)}
		res.Samples = append(res.Samples, s)
		if progress != nil {
			progress(s)
		}
	}
	sample(0)
	untilAnswer := 1
	for i := 1; i <= n; i++ {
		if err := soakRequest(vm, rng, body); err != nil {
			return res, fmt.Errorf("request %d: %w", i, err)
		}
		// Envoy ticks every millisecond while copies wait: several requests may end
		// in between, and answers come back later, in batches.
		if vm.Host.TickPeriod() > 0 && rng.IntN(2) == 0 {
			if err := vm.Host.Tick(); err != nil {
				return res, fmt.Errorf("tick after request %d: %w", i, err)
			}
		}
		if untilAnswer--; untilAnswer == 0 {
			untilAnswer = 1 + rng.IntN(8)
			a, err := vm.Host.Answer()
			res.Answered += a
			if err != nil {
				return res, fmt.Errorf("answers after request %d: %w", i, err)
			}
		}
		if opts.ReconfigureEvery > 0 && i%opts.ReconfigureEvery == 0 {
			config := SoakConfig
			if i/opts.ReconfigureEvery%2 == 1 {
				config = soakVariant
			}
			if err := vm.Host.Reconfigure(context.Background(), []byte(config)); err != nil {
				return res, fmt.Errorf("configuration change after request %d: %w", i, err)
			}
			res.Reconfigured++
		}
		if i%every == 0 {
			sample(i)
		}
	}
	// Tick until no timer is set, answer what is left, and tick once more for the
	// contexts that end on their last answer. A timer that survives that is one Envoy
	// would fire for good.
	for range 1000 {
		if vm.Host.TickPeriod() == 0 {
			break
		}
		if err := vm.Host.Tick(); err != nil {
			return res, err
		}
	}
	a, err := vm.Host.Answer()
	res.Answered += a
	if err == nil && vm.Host.TickPeriod() > 0 {
		err = vm.Host.Tick()
	}
	// The audit target's last summary is due at most summarySeconds (1 s) after its
	// interval began: its tick is one that ends, once the summary is sent.
	for deadline := time.Now().Add(3 * time.Second); err == nil && vm.Host.TickPeriod() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Duration(min(vm.Host.TickPeriod(), 50*time.Millisecond)))
		if err = vm.Host.Tick(); err == nil {
			a, err = vm.Host.Answer() // the summary's answer, taken out below
			res.Answered += a
		}
	}
	res.Reported = int(reported.Load())
	res.Answered -= res.Reported
	res.Timers = vm.Host.Timers()
	res.Elapsed = time.Since(start)
	res.Metrics = vm.Host.Metrics()
	return res, err
}

var soakPaths = []string{"/api/v1/reviews/12345?lang=en", "/api/v2/orders", "/api/v1/users/42/cart",
	"/static/app.js", "/healthz", "/api/internal/report"}

func soakRequest(vm *VM, rng *rand.Rand, body []byte) error {
	headers := with(browserHeaders,
		[2]string{":path", soakPaths[rng.IntN(len(soakPaths))]},
		[2]string{"x-user-id", "user-" + strconv.Itoa(rng.IntN(10000))},
		[2]string{"x-request-id", strconv.FormatUint(rng.Uint64(), 16)})
	r := Request{Headers: headers, ResponseHeaders: soakResponse, ResponseBody: soakPage(rng)}
	reset := false
	switch k := rng.IntN(100); {
	case k < 40:
	case k < 60:
		r.Headers = with(r.Headers, [2]string{"x-canary", "true"})
	case k < 85:
		size := 1 + rng.IntN(len(body))
		chunks := 1 + rng.IntN(16)
		r.Headers = with(r.Headers, [2]string{"x-canary", "true"}, [2]string{":method", "POST"},
			[2]string{"content-length", strconv.Itoa(size)})
		for c := range chunks {
			r.Body = append(r.Body, body[c*size/chunks:(c+1)*size/chunks])
		}
		if k >= 75 {
			r.Trailers = [][2]string{{"x-checksum", strconv.Itoa(size)}}
		}
	case k < 93:
		r.Headers = with(r.Headers, [2]string{"x-canary", "true"}, [2]string{":method", "POST"})
		r.Body = [][]byte{body[:1+rng.IntN(min(8192, len(body)))]}
		reset = true
	default:
		r.Headers = with(r.Headers, [2]string{"x-meshmirror", "reviews-v2"})
	}
	s, err := vm.Host.NewStream()
	if err != nil {
		return err
	}
	if reset { // headers and a chunk, then the stream ends without its end of stream
		if _, err := s.RequestHeaders(r.Headers, false); err != nil {
			return err
		}
		if _, err := s.RequestBody(r.Body[0], false); err != nil {
			return err
		}
		return end(s, rng)
	}
	if err := vm.send(s, &r); err != nil {
		return err
	}
	return end(s, rng)
}

// end ends a stream as HTTP/1 and HTTP/2 do, or a quarter of the time as HTTP/3 with
// deferred logging does.
func end(s *wasmhost.Stream, rng *rand.Rand) error {
	if rng.IntN(4) == 0 {
		return s.DoneDeferredLog()
	}
	return s.Done()
}

// soakResponse is the primary's response headers in the soak; soakPage its body, a
// JSON page of about 1 KiB in one or two chunks, which the audit target compares.
var (
	soakResponse     = [][2]string{{":status", "200"}, {"content-type", "application/json"}}
	soakGzipResponse = [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-encoding", "gzip"}}
)

func soakPage(rng *rand.Rand) [][]byte {
	page := []byte(`{"at": "` + strconv.FormatUint(rng.Uint64(), 16) + `", "items": [` +
		strings.Repeat(`{"id": 1, "name": "a product", "price": 9.99}, `, 20) + `{"id": 2}]}`)
	if rng.IntN(2) == 0 {
		return [][]byte{page}
	}
	return [][]byte{page[:len(page)/2], page[len(page)/2:]}
}

// soakClusters answer from rng: the shadows mostly 200, the flaky one anything, the
// reports cluster 202, counting its calls in reported.
func soakClusters(rng *rand.Rand, reported *atomic.Int64) map[string]wasmhost.Caller {
	ok := &wasmhost.Response{Headers: [][2]string{{":status", "200"}, {"content-length", "2"}}, Body: []byte("ok")}
	notFound := &wasmhost.Response{Headers: [][2]string{{":status", "404"}}}
	unavailable := &wasmhost.Response{Headers: [][2]string{{":status", "503"}}}
	shadow := wasmhost.CallerFunc(func(context.Context, *wasmhost.Callout) (*wasmhost.Response, error) {
		if rng.IntN(20) == 0 {
			return notFound, nil
		}
		return ok, nil
	})
	flaky := wasmhost.CallerFunc(func(context.Context, *wasmhost.Callout) (*wasmhost.Response, error) {
		switch k := rng.IntN(100); {
		case k < 50:
			return ok, nil
		case k < 75:
			return unavailable, nil
		case k < 85:
			return nil, errors.New("connection refused")
		case k < 93:
			return nil, wasmhost.ErrReset
		default:
			return nil, context.DeadlineExceeded
		}
	})
	// The audit target's shadow answers with the primary's page, its own timestamp,
	// and now and then a changed price: mostly the same answer, some that differ.
	// A third of its answers are gzip, as a shadow answers a client's accept-encoding:
	// the comparison decodes them.
	audit := wasmhost.CallerFunc(func(context.Context, *wasmhost.Callout) (*wasmhost.Response, error) {
		page := bytes.Join(soakPage(rng), nil)
		if rng.IntN(10) == 0 {
			page = bytes.Replace(page, []byte("9.99"), []byte("10.99"), 1)
		}
		if rng.IntN(3) == 0 {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(page)
			w.Close()
			return &wasmhost.Response{Headers: soakGzipResponse, Body: b.Bytes()}, nil
		}
		return &wasmhost.Response{Headers: soakResponse, Body: page}, nil
	})
	// The receiver takes every report and summary.
	accepted := &wasmhost.Response{Headers: [][2]string{{":status", "202"}}}
	reports := wasmhost.CallerFunc(func(context.Context, *wasmhost.Callout) (*wasmhost.Response, error) {
		reported.Add(1)
		return accepted, nil
	})
	return map[string]wasmhost.Caller{"shadow": shadow, "shadow-b": audit, "flaky": flaky, "reports": reports}
}

// CheckOutcomes reports, for every target in metrics (named as the plugin names
// them), whether each copy Envoy accepted has had exactly one outcome: an answer
// (response_2xx … response_5xx, response_failed, response_grpc_error) or a cancellation; none may still
// be in flight.
func CheckOutcomes(metrics map[string]uint64) error {
	var problems []string
	for name, dispatched := range metrics {
		target, ok := strings.CutSuffix(strings.TrimPrefix(name, "meshmirror."), ".dispatched")
		if !ok || mirror.CounterName(target, mirror.Dispatched) != name {
			continue
		}
		var outcomes uint64
		for _, c := range []mirror.Counter{mirror.Response2xx, mirror.Response3xx, mirror.Response4xx,
			mirror.Response5xx, mirror.ResponseFailed, mirror.ResponseGRPCError, mirror.Cancelled} {
			outcomes += metrics[mirror.CounterName(target, c)]
		}
		if inFlight := metrics[mirror.InFlightName(target)]; outcomes != dispatched || inFlight != 0 {
			problems = append(problems, fmt.Sprintf("%s: %d dispatched, %d outcomes, %d in flight",
				target, dispatched, outcomes, inFlight))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New("copies without exactly one outcome: " + strings.Join(problems, "; "))
	}
	return nil
}
