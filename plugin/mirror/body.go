package mirror

// Reused body buffers: at most poolBuffers of them, of at most poolBufferCap bytes
// each, so a VM keeps no more than 4 MiB for reuse.
const (
	poolBuffers   = 16
	poolBufferCap = 256 << 10
)

// maxBodyBudget caps BodyBudget at 1 GiB: a wasm32 VM has 4 GiB of memory at most.
const maxBodyBudget = 1 << 30

// BodyBudget is the most body bytes a VM holds at once for copies: each target can
// have at most maxInFlight copies of at most maxBytes, and the whole is capped at
// 1 GiB. Bodies are held while a request streams and until its copies are handed to
// Envoy on the next tick; Envoy keeps its own copy after that.
func BodyBudget(cfg *Config) int {
	var budget int64 // int is 32 bits in the module: 256 copies of 16 MiB overflow it
	for _, t := range cfg.Targets {
		if t.BodyEnabled {
			budget += int64(t.MaxInFlight) * int64(t.MaxBodyBytes)
		}
	}
	return int(min(budget, maxBodyBudget))
}

// bodyStore accounts for the body bytes held and keeps buffers for reuse, which
// spares TinyGo's collector most of the garbage of copying bodies.
type bodyStore struct {
	budget int
	held   int
	free   [][]byte
}

// reserve accounts for n more bytes, unless that would pass the budget.
func (s *bodyStore) reserve(n int) bool {
	if s.held+n > s.budget {
		return false
	}
	s.held += n
	return true
}

// take returns an empty buffer, reused when one is free.
func (s *bodyStore) take() []byte {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return b
	}
	return nil
}

// release gives back a body that is no longer needed.
func (s *bodyStore) release(b []byte) {
	if b == nil {
		return
	}
	s.held -= len(b)
	if cap(b) <= poolBufferCap && len(s.free) < poolBuffers {
		s.free = append(s.free, b[:0])
	}
}

// Held is the number of body bytes the mirror holds for copies.
func (m *Mirror) Held() int { return m.bodies.held }

// Streams that end without a word. Envoy ends a stream in the order its protocol
// uses: HTTP/1 and HTTP/2 log, then done and delete, and the SDK calls
// OnHttpStreamDone at the log; HTTP/3 with deferred logging ends it with done and
// delete, and logs only later, which the SDK drops (FACTS.md). A stream reset before
// its request ended then tells the plugin nothing, and the body bytes it reserved
// would stay reserved for good. The mirror keeps the requests that hold body bytes,
// and when the budget is spent it asks the host, for each, whether its stream still
// exists (proxy_set_effective_context answers BadArgument once Envoy has destroyed
// the stream's context: proxy-wasm-cpp-host src/exports.cc): those that are gone give
// their bytes back (RATIONALE.md).

// SetLiveness gives the mirror a way to ask whether the host's stream still exists;
// without one, every stream is taken to exist.
func (m *Mirror) SetLiveness(alive func(stream uint32) bool) { m.alive = alive }

func (m *Mirror) streamAlive(stream uint32) bool {
	return stream == 0 || m.alive == nil || m.alive(stream)
}

// hold records that r holds body bytes.
func (m *Mirror) hold(r *Request) {
	if r.holder == 0 {
		m.holders = append(m.holders, r)
		r.holder = len(m.holders)
	}
}

// unhold forgets that r holds body bytes.
func (m *Mirror) unhold(r *Request) {
	i := r.holder - 1
	if i < 0 || i >= len(m.holders) || m.holders[i] != r {
		r.holder = 0
		return
	}
	last := len(m.holders) - 1
	m.holders[i] = m.holders[last]
	m.holders[i].holder = i + 1
	m.holders[last] = nil
	m.holders = m.holders[:last]
	r.holder = 0
}

// reclaim takes back the body bytes of requests, other than r, whose stream is gone,
// and reports whether it took any. It asks about at most probesPerReclaim streams,
// going round the holders from where it stopped last: a budget spent by live streams
// costs a few host calls per refused chunk, and a vanished stream is found within a
// few rounds.
func (m *Mirror) reclaim(r *Request) bool {
	if m.alive == nil {
		return false
	}
	found := false
	for n := min(probesPerReclaim, len(m.holders)); n > 0 && len(m.holders) > 0; n-- {
		i := m.probeNext % len(m.holders)
		h := m.holders[i]
		if h == r || m.streamAlive(h.Stream) {
			m.probeNext = i + 1
			continue
		}
		// The stream is gone: its context will never be called again. letGo moves
		// the last holder to i, which is asked next.
		m.letGo(h)
		h.pending, h.withBody = 0, 0
		found = true
	}
	return found
}

// probesPerReclaim is the most streams one reclaim asks the host about.
const probesPerReclaim = 8
