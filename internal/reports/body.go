package reports

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// DefaultBodyTimeout is how long a report's body may take to arrive once its headers
// have (SPEC: 5 s); a body still arriving then is answered 408.
const DefaultBodyTimeout = 5 * time.Second

// maxBodyBytes bounds the bytes of all the report bodies the receiver holds at once,
// being read or stored: as much as maxPending reports of MaxBytes, the bound memory
// had when each body held a slot from its first byte. A full body's buffer is one
// byte longer, to see its end.
const maxBodyBytes = maxPending * (MaxBytes + 1)

// minBodyBuffer is the buffer a body is first read into; it doubles as bytes arrive.
const minBodyBuffer = 512

// byteBudget is a count of bytes that can be taken and given back from many
// goroutines; take never waits.
type byteBudget struct{ free atomic.Int64 }

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{}
	b.free.Store(n)
	return b
}

// take takes n bytes, or returns false and takes nothing when fewer are free.
func (b *byteBudget) take(n int64) bool {
	if b.free.Add(-n) < 0 {
		b.free.Add(n)
		return false
	}
	return true
}

func (b *byteBudget) give(n int64) { b.free.Add(n) }

// errBodyBusy is readBody's error when the bodies held already take maxBodyBytes.
var errBodyBusy = errors.New("busy: the reports being received and stored already take their memory; try again")

// errBodySlow is readBody's error when the body did not arrive within BodyTimeout.
var errBodySlow = errors.New("the body did not arrive in time")

// readBody reads r's body, at most MaxBytes, within s.BodyTimeout. Its buffer takes
// bytes from s.bodyBytes only as the body arrives, so a client that sends slowly holds
// a few hundred bytes, never a slot of the reports being stored; release gives them
// back, once the body is no longer needed (always call it, error or not).
// Its errors: errBodySlow, errBodyBusy, *http.MaxBytesError, or the read's own.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	var held int64
	release = func() { s.bodyBytes.give(held); held = 0 }
	s.receiving.Inc()
	defer s.receiving.Dec()
	timeout := s.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	// A ResponseRecorder (FuzzServer) has no connection: nothing to bound there.
	rc.SetReadDeadline(time.Now().Add(timeout))
	limit := int64(MaxBytes)
	if r.ContentLength >= 0 {
		limit = r.ContentLength // no buffer beyond what the client said it sends
	}
	in := http.MaxBytesReader(w, r.Body, MaxBytes)
	buf := []byte(nil)
	for {
		if len(buf) == cap(buf) {
			grow := max(minBodyBuffer, int64(cap(buf)))
			// +1: room to see the end, or a body longer than it said.
			grow = min(grow, limit+1-int64(cap(buf)))
			if grow <= 0 { // more than limit+1 arrived: reading into no room would spin
				return nil, release, &http.MaxBytesError{Limit: limit}
			}
			if !s.bodyBytes.take(grow) {
				return nil, release, errBodyBusy
			}
			held += grow
			next := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(next, buf)
			buf = next
		}
		n, err := in.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			// Once the body is in, no deadline: the server's background read must
			// not cancel the request's context while its report commits. A body
			// refused keeps it, for whatever of it the server would still discard.
			rc.SetReadDeadline(time.Time{})
			return buf, release, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, release, fmt.Errorf("%w: %d bytes in %v", errBodySlow, len(buf), timeout)
		case err != nil:
			return nil, release, err
		}
	}
}
