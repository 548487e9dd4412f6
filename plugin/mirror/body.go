package mirror

import "github.com/meshmirror/meshmirror/plugin/config"

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
func BodyBudget(cfg *config.Config) int {
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
// would stay reserved for good. So each request that holds body bytes has a lease:
// its stream's id and its bytes, and nothing that keeps the request or its body alive
// (a vanished stream's body goes with its context, to the collector). When the budget
// is spent, the mirror asks the host whether a lease's stream still exists
// (proxy_set_effective_context answers BadArgument once Envoy has destroyed the
// stream's context: proxy-wasm-cpp-host src/exports.cc); the bytes of one that is
// gone come back (RATIONALE.md).

// lease is what the mirror knows of a request that holds body bytes.
type lease struct {
	stream uint32
	bytes  int
	gen    uint32 // counts the lease's reuses, so that a request can tell it lost it
	used   bool
}

// SetLiveness gives the mirror a way to ask whether the host's stream still exists;
// without one, every stream is taken to exist.
func (m *Mirror) SetLiveness(alive func(stream uint32) bool) { m.alive = alive }

func (m *Mirror) streamAlive(stream uint32) bool {
	return stream == 0 || m.alive == nil || m.alive(stream)
}

// leaseOf returns the index of r's lease, or -1 when it has none (or lost it to
// reclaim).
func (m *Mirror) leaseOf(r *Request) int {
	if i := r.lease - 1; i >= 0 && i < len(m.leases) && m.leases[i].used && m.leases[i].gen == r.leaseGen {
		return i
	}
	return -1
}

// lost reports whether r holds a body whose lease reclaim took: its bytes are no
// longer accounted for, and its copies may not have them.
func (m *Mirror) lost(r *Request) bool { return r.body != nil && m.leaseOf(r) < 0 }

// hold accounts n more body bytes to r's lease, taking one if r has none.
func (m *Mirror) hold(r *Request, n int) {
	i := m.leaseOf(r)
	if i < 0 {
		if k := len(m.freeLeases); k > 0 {
			i = m.freeLeases[k-1]
			m.freeLeases = m.freeLeases[:k-1]
		} else {
			i = len(m.leases)
			m.leases = append(m.leases, lease{})
		}
		l := &m.leases[i]
		l.gen++
		l.stream, l.bytes, l.used = r.Stream, 0, true
		r.lease, r.leaseGen = i+1, l.gen
	}
	m.leases[i].bytes += n
}

// unhold ends r's lease: its bytes are given back, or handed to its copies.
func (m *Mirror) unhold(r *Request) {
	if i := m.leaseOf(r); i >= 0 {
		m.endLease(i)
	}
	r.lease = 0
}

func (m *Mirror) endLease(i int) {
	m.leases[i].used, m.leases[i].bytes = false, 0
	m.freeLeases = append(m.freeLeases, i)
}

// reclaim takes back the body bytes of leases, other than r's, whose stream is gone,
// and reports whether it took any. It asks about at most probesPerReclaim streams,
// going round the leases from where it stopped last: a budget spent by live streams
// costs a few host calls per refused chunk, and a vanished stream is found within a
// few rounds.
func (m *Mirror) reclaim(r *Request) bool {
	if m.alive == nil || len(m.leases) == 0 {
		return false
	}
	own := m.leaseOf(r)
	found := false
	for n := min(probesPerReclaim, len(m.leases)); n > 0; n-- {
		i := (m.probeNext + 1) % len(m.leases)
		m.probeNext = i
		if l := &m.leases[i]; !l.used || i == own || m.streamAlive(l.stream) {
			continue
		}
		m.bodies.held -= m.leases[i].bytes // its body goes with the stream's context
		m.endLease(i)
		found = true
	}
	return found
}

// probesPerReclaim is the most streams one reclaim asks the host about.
const probesPerReclaim = 8
