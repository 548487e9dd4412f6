package mirror

import (
	"hash/fnv"
	"math"
	"strconv"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"
)

const sampleKeys = 100000

func userKey(i int) string { return "user-" + strconv.Itoa(i) }

func TestStickyBucketRange(t *testing.T) {
	for i := 1; i <= 10000; i++ {
		if b := StickyBucket("reviews-v2", userKey(i)); b >= config.PercentScale {
			t.Fatalf("StickyBucket(%q) = %d, not below %d", userKey(i), b, config.PercentScale)
		}
	}
}

func TestStickyDeterministic(t *testing.T) {
	cfg := mustParse(t, oneTarget(`,"percentage":50,"stickyHeader":"x-user-id"`))
	for i := 1; i <= 200; i++ {
		h := req("GET", "/", [2]string{"x-user-id", userKey(i)})
		want := StickyBucket("t", userKey(i)) < cfg.Targets[0].Percent
		// Different seeds: a sticky decision must not depend on the random source.
		for seed := uint64(0); seed < 5; seed++ {
			m := New(cfg, &fakeRecorder{}, seed)
			for rep := 0; rep < 3; rep++ {
				var r Request
				if got := m.Start(&r, h); got != want {
					t.Fatalf("%s, seed %d, try %d: Start = %v, want %v", userKey(i), seed, rep, got, want)
				}
			}
		}
	}
}

func TestStickySplit(t *testing.T) {
	for _, pct := range []float64{10, 25, 50, 90} {
		t.Run(strconv.FormatFloat(pct, 'f', -1, 64), func(t *testing.T) {
			percent := uint32(math.Round(pct * config.PercentScale / 100))
			in := 0
			for i := 1; i <= sampleKeys; i++ {
				if StickyBucket("reviews-v2", userKey(i)) < percent {
					in++
				}
			}
			got := 100 * float64(in) / sampleKeys
			if math.Abs(got-pct) > 1 {
				t.Errorf("sequential keys: %.3f%% in, want %v%% ±1", got, pct)
			}
		})
	}
}

func TestStickySplitThroughConfig(t *testing.T) {
	// The same split measured through ParseConfig's Percent for 25%.
	cfg := mustParse(t, `{"targets":[{"name":"reviews-v2","cluster":"c","percentage":25,"stickyHeader":"x-user-id"}]}`)
	tg := cfg.Targets[0]
	in := 0
	for i := 1; i <= sampleKeys; i++ {
		if StickyBucket(tg.Name, userKey(i)) < tg.Percent {
			in++
		}
	}
	if got := 100 * float64(in) / sampleKeys; math.Abs(got-25) > 1 {
		t.Errorf("%.3f%% in, want 25%% ±1", got)
	}
}

func TestStickyTargetsIndependent(t *testing.T) {
	const half = config.PercentScale / 2
	inA, inB, both := 0, 0, 0
	for i := 1; i <= sampleKeys; i++ {
		a := StickyBucket("reviews-v2", userKey(i)) < half
		b := StickyBucket("reviews-v3", userKey(i)) < half
		if a {
			inA++
		}
		if b {
			inB++
		}
		if a && b {
			both++
		}
	}
	for name, n := range map[string]int{"reviews-v2": inA, "reviews-v3": inB} {
		if got := 100 * float64(n) / sampleKeys; math.Abs(got-50) > 1 {
			t.Errorf("%s: %.3f%% in, want 50%% ±1", name, got)
		}
	}
	if got := 100 * float64(both) / sampleKeys; math.Abs(got-25) > 2 {
		t.Errorf("in both 50%% targets: %.3f%%, want 25%% ±2 (targets must split independently)", got)
	}
}

// TestStickyFormula pins the documented formula: FNV-1a 64 over name + ":" + value,
// reduced modulo PercentScale.
func TestStickyFormula(t *testing.T) {
	tests := []struct {
		name, target, value string
	}{
		{"user id", "reviews-v2", "user-1"},
		{"other target", "reviews-v3", "user-1"},
		{"empty value", "reviews-v2", ""},
		{"long value", "t", "0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz"},
		{"non-ASCII value", "a_b-9", "Zoë ☃"},
		{"colon in value", "t", "a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fnv.New64a()
			h.Write([]byte(tt.target + ":" + tt.value))
			sum := h.Sum64()
			if got := stickyHash(tt.target, tt.value); got != sum {
				t.Errorf("stickyHash = %#x, FNV-1a 64 = %#x", got, sum)
			}
			if got, want := StickyBucket(tt.target, tt.value), uint32(sum%config.PercentScale); got != want {
				t.Errorf("StickyBucket = %d, want FNV-1a 64 %% %d = %d", got, config.PercentScale, want)
			}
		})
	}
	// A known value, computed once with hash/fnv, to catch a change in both.
	h := fnv.New64a()
	h.Write([]byte("reviews-v2:user-42"))
	if got, want := StickyBucket("reviews-v2", "user-42"), uint32(h.Sum64()%config.PercentScale); got != want {
		t.Errorf("StickyBucket(reviews-v2, user-42) = %d, want %d", got, want)
	}
}

func TestStickyHeaderMissingFallsBackToRandom(t *testing.T) {
	cfg := mustParse(t, oneTarget(`,"percentage":50,"stickyHeader":"x-user-id"`))
	rec := &fakeRecorder{}
	m := New(cfg, rec, 7)
	const n = 20000
	in := 0
	for i := 0; i < n; i++ {
		var r Request
		if m.Start(&r, req("GET", "/")) {
			in++
		}
	}
	if got := 100 * float64(in) / n; math.Abs(got-50) > 2 {
		t.Errorf("without the sticky header: %.2f%% in, want 50%% ±2", got)
	}
}

func TestRandomSampling(t *testing.T) {
	for _, seed := range []uint64{1, 42} {
		cfg := mustParse(t, oneTarget(`,"percentage":25`))
		rec := &fakeRecorder{}
		m := New(cfg, rec, seed)
		in := 0
		for i := 0; i < sampleKeys; i++ {
			var r Request
			if m.Start(&r, req("GET", "/x")) {
				in++
			}
		}
		if got := 100 * float64(in) / sampleKeys; math.Abs(got-25) > 1 {
			t.Errorf("seed %d: %.3f%% sampled, want 25%% ±1", seed, got)
		}
		if got := rec.count(0, Matched); got != sampleKeys {
			t.Errorf("seed %d: matched = %d, want %d", seed, got, sampleKeys)
		}
		if got := rec.count(0, SampledOut); got != sampleKeys-in {
			t.Errorf("seed %d: sampled_out = %d, want %d", seed, got, sampleKeys-in)
		}
	}
}

func TestSamplingExtremes(t *testing.T) {
	tests := []struct {
		name string
		pct  string
		want bool
	}{
		{"0 percent never", "0", false},
		{"100 percent always", "100", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, oneTarget(`,"percentage":`+tt.pct+`,"stickyHeader":"x-user-id"`))
			m := New(cfg, &fakeRecorder{}, 3)
			for i := 0; i < 2000; i++ {
				var r Request
				h := req("GET", "/")
				if i%2 == 0 {
					h = append(h, [2]string{"x-user-id", userKey(i)})
				}
				if got := m.Start(&r, h); got != tt.want {
					t.Fatalf("request %d: Start = %v, want %v", i, got, tt.want)
				}
			}
		})
	}
}
