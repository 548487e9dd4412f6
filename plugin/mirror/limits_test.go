package mirror

import "testing"

const (
	ms  = int64(1e6)
	sec = int64(1e9)
)

func TestTokenBucket(t *testing.T) {
	type step struct {
		at   int64 // nanoseconds
		want bool
	}
	tests := []struct {
		name      string
		perSecond float64
		burst     float64
		steps     []step
	}{
		{
			name: "burst 5 at 10/s", perSecond: 10, burst: 5,
			steps: []step{
				// The burst is available at once.
				{0, true}, {0, true}, {0, true}, {0, true}, {0, true},
				{0, false}, {50 * ms, false}, {99 * ms, false},
				// Then one per 100ms.
				{100 * ms, true}, {100 * ms, false}, {150 * ms, false},
				{200 * ms, true}, {200 * ms, false},
				{300 * ms, true}, {400 * ms, true}, {400 * ms, false},
			},
		},
		{
			name: "refill is capped at the burst", perSecond: 10, burst: 5,
			steps: []step{
				{0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, false},
				// An hour later: only the burst is available.
				{3600 * sec, true}, {3600 * sec, true}, {3600 * sec, true}, {3600 * sec, true},
				{3600 * sec, true}, {3600 * sec, false},
			},
		},
		{
			name: "0.5 per second", perSecond: 0.5, burst: 1,
			steps: []step{
				{0, true}, {0, false}, {1 * sec, false}, {1999 * ms, false},
				{2 * sec, true}, {3 * sec, false}, {4 * sec, true}, {4 * sec, false},
			},
		},
		{
			name: "0.5 per second, late start", perSecond: 0.5, burst: 1,
			steps: []step{
				{1_700_000_000 * sec, true}, {1_700_000_000*sec + sec, false}, {1_700_000_000*sec + 2*sec, true},
			},
		},
		{
			name: "burst 1 at 1/s", perSecond: 1, burst: 1,
			steps: []step{
				{5 * sec, true}, {5*sec + 500*ms, false}, {6 * sec, true}, {6 * sec, false},
			},
		},
		{
			name: "no limit", perSecond: 0, burst: 0,
			steps: []step{{0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {1, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTokenBucket(tt.perSecond, tt.burst)
			for i, s := range tt.steps {
				if got := b.take(s.at); got != s.want {
					t.Errorf("step %d at %dms: take = %v, want %v", i, s.at/ms, got, s.want)
				}
			}
		})
	}
}

func TestTokenBucketSteadyRate(t *testing.T) {
	// At 10/s with burst 5, offered 1000/s for 10 s: 5 + 10*10 = 105 pass.
	b := newTokenBucket(10, 5)
	passed := 0
	for now := int64(0); now < 10*sec; now += ms {
		if b.take(now) {
			passed++
		}
	}
	if passed < 104 || passed > 105 {
		t.Errorf("passed %d in 10 s, want 105", passed)
	}

	nolimit := newTokenBucket(0, 0)
	for i := 0; i < 100000; i++ {
		if !nolimit.take(0) {
			t.Fatalf("no-limit bucket refused take %d", i)
		}
	}
}

func TestThrottle(t *testing.T) {
	type step struct {
		at             int64
		ok             bool
		wantSuppressed int
	}
	th := &Throttle{Every: 10 * sec}
	steps := []step{
		{0, true, 0},
		{1 * sec, false, 0},
		{2 * sec, false, 0},
		{9 * sec, false, 0},
		{10 * sec, true, 3},
		{11 * sec, false, 0},
		{25 * sec, true, 1},
		{40 * sec, true, 0},
		{40 * sec, false, 0},
		{40 * sec, false, 0},
		{49 * sec, false, 0},
		{50 * sec, true, 3},
	}
	for i, s := range steps {
		ok, suppressed := th.Allow(s.at)
		if ok != s.ok || suppressed != s.wantSuppressed {
			t.Errorf("step %d at %ds: Allow = %v, %d; want %v, %d", i, s.at/sec, ok, suppressed, s.ok, s.wantSuppressed)
		}
	}
}

func TestThrottleFirstEventLateClock(t *testing.T) {
	th := &Throttle{Every: sec}
	now := int64(1_700_000_000) * sec
	if ok, n := th.Allow(now); !ok || n != 0 {
		t.Errorf("first Allow = %v, %d; want true, 0", ok, n)
	}
	for i := 0; i < 1000; i++ {
		if ok, _ := th.Allow(now + int64(i)*ms); ok {
			t.Fatalf("event %d within the interval let through", i)
		}
	}
	if ok, n := th.Allow(now + sec); !ok || n != 1000 {
		t.Errorf("Allow after the interval = %v, %d; want true, 1000", ok, n)
	}
}
