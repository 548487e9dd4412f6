package mirror

import (
	"strings"

	"github.com/meshmirror/meshmirror/plugin/header"
	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// What comes back for a sent copy: its outcome, counted, and the copies in flight.

// Answer is what came back for a sent copy.
type Answer struct {
	// Status is the response's :status, or "" when the call was reset or got no
	// response.
	Status string
	// GRPCStatus is the answer's grpc-status, from its headers or else its trailers;
	// "" when it has none. GRPCMessage is its grpc-message, as sent.
	GRPCStatus, GRPCMessage string
	// Headers are the answer's headers, nil when there are none.
	Headers header.List
	// Body is the answer's body when WantsAnswerBody asked for it, else nil; Size is
	// its size either way.
	Body []byte
	Size int
}

// maxLocalReplyBytes is the largest body that may be one of Envoy's local replies.
const maxLocalReplyBytes = 512

// WantsAnswerBody reports whether the mirror needs the body of a's answer to the copy
// with pair p (nil when not compared): for the comparison, or to tell whether it is
// Envoy's local reply.
func (m *Mirror) WantsAnswerBody(p *Pair, a *Answer) bool {
	if p.WantsBody(m, a.Size) {
		return true
	}
	if a.Size == 0 || a.Size > maxLocalReplyBytes || !localReplyStatus(a.Status) {
		return false
	}
	ct, _ := a.Headers.Get("content-type")
	return ct == "text/plain"
}

// Answered records the outcome of a sent copy of a gRPC request (grpc) or not.
// Envoy's own local replies count as failures: a timeout, a connection refused or
// reset before the response (source/common/router/router.cc), which Envoy's async
// client answers as a text/plain 502, 503 or 504, and for a gRPC request as HTTP 200 with
// grpc-status 14 and the text as grpc-message (Utility::sendLocalReply,
// source/common/http/utility.cc). A 504 that comes at the copy's timeout is one too,
// whatever its body. A gRPC copy answered with HTTP 200 succeeded only with
// grpc-status 0: with another, or none, a gRPC client sees an error. It returns the
// counter the answer counted in.
func (m *Mirror) Answered(target int, grpc bool, a *Answer, latencyMs int64) Counter {
	c := statusCounter(a.Status)
	switch {
	case c == Response5xx && a.Status == "504" && latencyMs >= int64(m.cfg.Targets[target].TimeoutMs),
		localReply(grpc, a):
		c = ResponseFailed
	case grpc && c == Response2xx && (a.Status != "200" || a.GRPCStatus != "0"):
		c = ResponseGRPCError
	}
	m.rec.Count(target, c)
	m.rec.Latency(target, latencyMs)
	m.release(target)
	return c
}

// localReplies begin the texts of the local replies Envoy's router makes for a call
// its upstream never answered (source/common/router/router.cc).
var localReplies = []string{
	"upstream request timeout",
	"upstream connect error or disconnect/reset before headers.",
	"upstream max stream duration reached",
	"no healthy upstream",
}

// localReplyStatus reports whether status is one Envoy's router answers a call with
// when its upstream never answered: 502 (a protocol error), 503 (refused, reset,
// overflow), 504 (timeout).
func localReplyStatus(status string) bool {
	return status == "502" || status == "503" || status == "504"
}

// localReply reports whether a is one of Envoy's local replies rather than the
// shadow's answer.
func localReply(grpc bool, a *Answer) bool {
	var msg string
	switch {
	case grpc && a.Status == "200":
		if a.GRPCStatus != "14" || a.Size != 0 {
			return false
		}
		msg = a.GRPCMessage // percent-encoded, which leaves these texts as they are
	case localReplyStatus(a.Status):
		if ct, _ := a.Headers.Get("content-type"); ct != "text/plain" {
			return false
		}
		msg = text.InPlace(a.Body)
	default:
		return false
	}
	for _, r := range localReplies {
		if strings.HasPrefix(msg, r) {
			return true
		}
	}
	return false
}

// Cancel records that the host cancelled the calls of every copy still awaiting an
// answer, as Envoy does when it deletes the plugin context that sent them: each
// counts in cancelled and leaves in_flight, and every undecided pair is skipped.
func (m *Mirror) Cancel() {
	for len(m.live) > 0 {
		m.skip(m.live[len(m.live)-1])
	}
	for i := range m.targets {
		for m.targets[i].inFlight > 0 {
			m.rec.Count(i, Cancelled)
			m.release(i)
		}
	}
}

// InFlight is the number of copies admitted and still awaiting an outcome, over
// every target.
func (m *Mirror) InFlight() int {
	n := 0
	for i := range m.targets {
		n += m.targets[i].inFlight
	}
	return n
}

func (m *Mirror) release(target int) {
	if s := &m.targets[target]; s.inFlight > 0 {
		s.inFlight--
		m.rec.InFlight(target, -1)
	}
}

// statusCounter maps a :status to its response class; anything that is not a final
// status (no status, 1xx, malformed) counts as a failure.
func statusCounter(status string) Counter {
	if len(status) != 3 || status[1] < '0' || status[1] > '9' || status[2] < '0' || status[2] > '9' {
		return ResponseFailed
	}
	switch status[0] {
	case '2':
		return Response2xx
	case '3':
		return Response3xx
	case '4':
		return Response4xx
	case '5':
		return Response5xx
	}
	return ResponseFailed
}
