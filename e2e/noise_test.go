package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// A page with a timestamp that every instance writes its own way, and a price.
func stamped(price string) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"at": "%d-%d", "items": [{"id": 1, "price": %s}]}`, time.Now().UnixNano(), n.Add(1), price)
	}
}

func delayed(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { time.Sleep(d); h(w, r) }
}

const noiseConfig = `{"targets": [
	{"name": "v2", "cluster": "v2", "timeoutMs": 300, "compare": {"baseline": "v1", "report": {"cluster": "reports", "perSecond": 100}}},
	{"name": "v1", "cluster": "v1", "timeoutMs": 300, "compare": {}}]}`

// TestNoise: over real sockets, a target (v2) and its baseline (v1, a second instance
// of the primary's version) answer with timestamps of their own. Whatever order the
// three answers come in, the timestamp is noise and a changed price is not.
func TestNoise(t *testing.T) {
	const slow = 60 * time.Millisecond
	orders := []struct {
		name                    string
		primary, target, baseln time.Duration
	}{
		{"primary, target, baseline", 0, slow, 2 * slow},
		{"primary, baseline, target", 0, 2 * slow, slow},
		{"target, primary, baseline", slow, 0, 2 * slow},
		{"target, baseline, primary", 2 * slow, 0, slow},
		{"baseline, primary, target", slow, 2 * slow, 0},
		{"baseline, target, primary", 2 * slow, slow, 0},
	}
	for _, o := range orders {
		for _, price := range []string{"9.99", "10.99"} {
			t.Run(o.name+"/price "+price, func(t *testing.T) {
				reports := backend(t, "reports", nil)
				m := start(t, noiseConfig, backend(t, "primary", delayed(o.primary, stamped("9.99"))), map[string]string{
					"v2": backend(t, "v2", delayed(o.target, stamped(price))).Addr,
					"v1": backend(t, "v1", delayed(o.baseln, stamped("9.99"))).Addr, "reports": reports.Addr})
				send(t, m.addr, "GET", "/api/items", nil, nil)
				got := compared(t, m, "v2")
				want := map[mirror.CompareCounter]uint64{mirror.CompareNoise: 1}
				if price != "9.99" {
					want = map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("v2 counters %v, want %v", got, want)
				}
				if price == "9.99" {
					return
				}
				waitFor(t, "the report", func() bool { return len(reports.Requests()) == 1 })
				body := reports.Requests()[0].Body
				if !gjson.GetBytes(body, `differences.#(where=="at").noise`).Bool() ||
					gjson.GetBytes(body, `differences.#(where=="items.0.price").noise`).Bool() {
					t.Errorf("report %s: want at noise and items.0.price real", body)
				}
			})
		}
	}
}

// TestNoiseLearnedWhenTheBaselineFails: once the baseline has differed at the
// timestamp on every pair, a request whose baseline copy fails is judged by what was
// learned: the timestamp is noise, a changed price is not.
func TestNoiseLearnedWhenTheBaselineFails(t *testing.T) {
	var baselineDown, priceChanged atomic.Bool
	v1 := stamped("9.99")
	v2ok, v2changed := stamped("9.99"), stamped("10.99")
	reports := backend(t, "reports", nil)
	m := start(t, noiseConfig, backend(t, "primary", stamped("9.99")), map[string]string{
		"v1": backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
			if baselineDown.Load() {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close() // Envoy's 503: a failure
				return
			}
			v1(w, r)
		}).Addr,
		"v2": backend(t, "v2", func(w http.ResponseWriter, r *http.Request) {
			if priceChanged.Load() {
				v2changed(w, r)
				return
			}
			v2ok(w, r)
		}).Addr,
		"reports": reports.Addr})
	counter := func(target string, c mirror.CompareCounter) uint64 {
		return m.metric(t, mirror.CompareCounterName(target, c))
	}
	settle := func(n uint64) {
		waitFor(t, fmt.Sprintf("%d pairs of v2", n), func() bool {
			return counter("v2", mirror.CompareNoise)+counter("v2", mirror.CompareDiffers)+counter("v2", mirror.CompareSkipped) == n
		})
	}
	for range 10 {
		send(t, m.addr, "GET", "/api/items", nil, nil)
	}
	settle(10)
	if n := counter("v2", mirror.CompareNoise); n != 10 {
		t.Fatalf("compare_noise = %d of 10 pairs that differ only at the timestamp", n)
	}
	baselineDown.Store(true)
	for range 5 {
		send(t, m.addr, "GET", "/api/items", nil, nil)
	}
	settle(15)
	priceChanged.Store(true)
	send(t, m.addr, "GET", "/api/items", nil, nil)
	settle(16)
	for c, want := range map[mirror.CompareCounter]uint64{mirror.CompareNoise: 15, mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1} {
		if v := counter("v2", c); v != want {
			t.Errorf("v2 %v = %d, want %d", mirror.CompareCounterName("v2", c), v, want)
		}
	}
	if v := m.metric(t, mirror.CounterName("v1", mirror.ResponseFailed)); v != 6 {
		t.Errorf("v1 response_failed = %d, want 6", v)
	}
	waitFor(t, "the report", func() bool { return len(reports.Requests()) == 1 })
	if body := string(reports.Requests()[0].Body); !strings.Contains(body, `"where":"at","noise":true`) {
		t.Errorf("report %s: want the learned timestamp marked noise", body)
	}
}
