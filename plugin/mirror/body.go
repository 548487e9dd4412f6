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
