package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

// shop answers the demo's API as a small shop would, version 1 for the primary and
// its baseline (a second instance), version 2 for the shadow: the same catalog, with a
// timestamp that differs on every answer (noise, which the baseline shows), except
// that v2 prices item 3 differently for one user in four and refuses orders. Other
// paths get an echo. The comparison should find exactly that.
func shop(service string, v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/items":
			price := 12.5
			if v2 && userNumber(r)%4 == 0 {
				price = 13
			}
			fmt.Fprintf(w, `{"service": %q, "items": [{"id": 1, "price": 9.99}, {"id": 2, "price": 5}, {"id": 3, "price": %g}], "generatedAt": %q}`,
				service, price, time.Now().Format(time.RFC3339Nano))
		case r.URL.Path == "/api/orders" && v2:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error": "orders are not open in v2 yet"}`)
		case r.URL.Path == "/api/orders":
			fmt.Fprint(w, `{"order": "accepted"}`)
		default:
			json.NewEncoder(w).Encode(runner.Echo{Service: service, Method: r.Method, Path: r.URL.RequestURI()})
		}
	}
}

// userNumber is N of the header x-user-id: user-N, or -1.
func userNumber(r *http.Request) int {
	n, err := strconv.Atoi(strings.TrimPrefix(r.Header.Get("X-User-Id"), "user-"))
	if err != nil {
		return -1
	}
	return n
}

// noticed keeps the places the plugin said it learned as noise, by target (its info
// lines "meshmirror: target T: PLACE now counts as noise: ..."). The runner calls the
// log function from the VM's goroutine and the ticks', so it locks.
type noticed struct {
	mu     sync.Mutex
	places map[string][]string
}

func (n *noticed) take(msg string) {
	rest, ok := strings.CutPrefix(msg, "meshmirror: target ")
	target, rest, ok2 := strings.Cut(rest, ": ")
	place, _, ok3 := strings.Cut(rest, " now counts as noise")
	if !ok || !ok2 || !ok3 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.places == nil {
		n.places = map[string][]string{}
	}
	n.places[target] = append(n.places[target], place)
}

// comparison prints, for each target that compares, how its pairs were decided (the
// same, differing for real, differing only in noise, skipped), the places its reports
// name most, real or noise, the places it learned as noise, and the primary's latency
// beside the shadow's.
func comparison(r *runner.Runner, cfg *config.Config, reports *runner.Backend, learned *noticed) {
	real, noise := map[string]map[string]int{}, map[string]map[string]int{} // by target
	if reports != nil {
		for _, req := range reports.Requests() {
			var rep struct {
				Target      string `json:"target"`
				Differences []struct {
					Part, Where string
					Noise       bool
				}
			}
			if json.Unmarshal(req.Body, &rep) != nil {
				continue
			}
			for _, d := range rep.Differences {
				where := d.Part + " " + d.Where
				if d.Where == "" && d.Part == "body" {
					where = "body (as a whole)"
				}
				into := real
				if d.Noise {
					into = noise
				}
				if into[rep.Target] == nil {
					into[rep.Target] = map[string]int{}
				}
				into[rep.Target][strings.TrimSpace(where)]++
			}
		}
	}
	h := r.Host()
	learned.mu.Lock()
	defer learned.mu.Unlock()
	for _, t := range cfg.Targets {
		if t.Compare == nil {
			continue
		}
		count := func(c mirror.CompareCounter) uint64 { v, _ := h.Metric(mirror.CompareCounterName(t.Name, c)); return v }
		if isBaseline(cfg, t.Name) {
			fmt.Printf("\nCOMPARISON of %s, a baseline, with the primary: %d same, %d differ (status %d, headers %d, body %d): the noise; %d skipped\n",
				t.Name, count(mirror.CompareSame), count(mirror.CompareDiffers), count(mirror.CompareStatusDiffers),
				count(mirror.CompareHeadersDiffer), count(mirror.CompareBodyDiffers), count(mirror.CompareSkipped))
			continue
		}
		fmt.Printf("\nCOMPARISON of %s with the primary: %d same, %d differ for real (status %d, headers %d, body %d), %d differ only in noise, %d skipped\n",
			t.Name, count(mirror.CompareSame), count(mirror.CompareDiffers), count(mirror.CompareStatusDiffers),
			count(mirror.CompareHeadersDiffer), count(mirror.CompareBodyDiffers), count(mirror.CompareNoise), count(mirror.CompareSkipped))
		if t.Compare.Baseline >= 0 {
			fmt.Printf("  baseline: %s, a second instance of the primary's version: where it differs too, it is noise\n",
				cfg.Targets[t.Compare.Baseline].Name)
		}
		if top := topPlaces(real[t.Name], 6); top != "" {
			fmt.Printf("  real differences (from %d reports): %s\n", count(mirror.ReportsSent), top)
		}
		if top := topPlaces(noise[t.Name], 6); top != "" {
			fmt.Printf("  noise beside them: %s\n", top)
		}
		if places := learned.places[t.Name]; len(places) > 0 {
			fmt.Printf("  learned as noise, for the requests its baseline did not answer: %s\n", strings.Join(places, ", "))
		}
		p, pn, _ := h.Percentiles(mirror.PrimaryLatencyName(t.Name), 50, 99)
		s, sn, _ := h.Percentiles(mirror.LatencyName(t.Name), 50, 99)
		fmt.Printf("  latency, ms:  primary p50 %d p99 %d (%d compared)   shadow p50 %d p99 %d (%d answers)\n",
			p[0], p[1], pn, s[0], s[1], sn)
	}
}

func isBaseline(cfg *config.Config, name string) bool {
	for _, t := range cfg.Targets {
		if t.Compare != nil && t.Compare.BaselineName == name {
			return true
		}
	}
	return false
}

func topPlaces(m map[string]int, n int) string {
	places := make([]string, 0, len(m))
	for p := range m {
		places = append(places, p)
	}
	sort.Slice(places, func(i, j int) bool {
		if m[places[i]] != m[places[j]] {
			return m[places[i]] > m[places[j]]
		}
		return places[i] < places[j]
	})
	var parts []string
	for _, p := range places[:min(n, len(places))] {
		parts = append(parts, fmt.Sprintf("%s ×%d", p, m[p]))
	}
	return strings.Join(parts, ", ")
}
