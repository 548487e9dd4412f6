package mirror

// tokenBucket limits copies to a rate with bursts. Tokens are fractional, so rates
// below one per second work; time is in nanoseconds from any fixed origin.
type tokenBucket struct {
	perNano float64 // tokens added per nanosecond; 0 means no limit
	burst   float64
	tokens  float64
	last    int64
}

func newTokenBucket(perSecond, burst float64) tokenBucket {
	return tokenBucket{perNano: perSecond / 1e9, burst: burst, tokens: burst}
}

// take removes one token if there is one.
func (b *tokenBucket) take(now int64) bool {
	if b.perNano == 0 {
		return true
	}
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+float64(elapsed)*b.perNano)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Throttle lets an event through at most once per interval, and counts the ones it
// held back, so that a fault seen on every request is logged without flooding.
type Throttle struct {
	// Every is the interval in nanoseconds.
	Every      int64
	next       int64
	suppressed int
}

// Allow reports whether the event at now may be logged, and how many were held back
// since the last one that was.
func (t *Throttle) Allow(now int64) (ok bool, suppressed int) {
	if now < t.next {
		t.suppressed++
		return false, 0
	}
	t.next = now + t.Every
	suppressed, t.suppressed = t.suppressed, 0
	return true, suppressed
}
