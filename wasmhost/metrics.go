package wasmhost

import (
	"math"
	mathrand "math/rand/v2"
	"slices"
	"sort"
)

type metric struct {
	kind  uint32
	name  string
	value uint64 // a histogram's last sample
	// A histogram's samples: every one up to maxSamples, then a uniform sample of
	// them (reservoir sampling), for its percentiles.
	samples []uint64
	count   uint64
	rng     *mathrand.Rand
}

// maxSamples bounds the samples a histogram keeps.
const maxSamples = 1 << 16

func (m *metric) record(v uint64) {
	m.count++
	if len(m.samples) < maxSamples {
		m.samples = append(m.samples, v)
		return
	}
	if m.rng == nil {
		m.rng = mathrand.New(mathrand.NewPCG(1, 2))
	}
	if i := m.rng.Uint64N(m.count); i < maxSamples {
		m.samples[i] = v
	}
}

// Percentiles returns percentiles ps (0 to 100, nearest rank) of the samples the
// histogram named name recorded, and how many it recorded, as Envoy's admin shows a
// histogram's quantiles; ok is false when name is not a histogram.
func (h *Host) Percentiles(name string, ps ...float64) (values []uint64, count uint64, ok bool) {
	h.mu.Lock()
	st, found := h.stats[name]
	if !found || st.kind != metricHistogram {
		h.mu.Unlock()
		return nil, 0, false
	}
	sorted := slices.Clone(st.samples)
	count = st.count
	h.mu.Unlock()
	slices.Sort(sorted)
	values = make([]uint64, len(ps))
	if len(sorted) == 0 {
		return values, count, true
	}
	for i, p := range ps {
		rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
		values[i] = sorted[min(max(rank, 0), len(sorted)-1)]
	}
	return values, count, true
}

// Metric returns the value of the metric the module defined with name.
func (h *Host) Metric(name string) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.stats[name]
	if !ok {
		return 0, false
	}
	return st.value, true
}

// Metrics returns every metric the module defined, by name.
func (h *Host) Metrics() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.stats))
	for name, st := range h.stats {
		out[name] = st.value
	}
	return out
}

// MetricNames returns the names of the metrics the module defined, sorted.
func (h *Host) MetricNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.stats))
	for name := range h.stats {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
