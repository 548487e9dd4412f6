package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Caller sends one callout to its cluster. It returns the answer, or an error when no
// response came; the host turns errors into what Envoy would report (see Host).
type Caller interface {
	Call(ctx context.Context, c *Callout) (*Response, error)
}

// CallerFunc adapts a function to Caller.
type CallerFunc func(ctx context.Context, c *Callout) (*Response, error)

// Call calls f.
func (f CallerFunc) Call(ctx context.Context, c *Callout) (*Response, error) { return f(ctx, c) }

// Callout is an HTTP call the module made.
type Callout struct {
	Cluster  string
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	// Timeout is zero for none.
	Timeout time.Duration
}

// Response is an answer to a callout.
type Response struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
}

// ErrReset tells the host that the stream broke after its response began: Envoy then
// reports the call as failed, with no headers and no body.
var ErrReset = errors.New("stream reset after the response began")

// pendingCall is a callout awaiting its answer.
type pendingCall struct {
	root   uint32
	cancel context.CancelFunc
}

type heldCall struct {
	token  uint32
	caller Caller
	call   *Callout
}

// SetClusters replaces the clusters that http_call may name, as a cluster update
// reaches Envoy; callouts already out keep going.
func (h *Host) SetClusters(clusters map[string]Caller) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opts.Clusters = clusters
}

// Wait blocks until every callout sent so far has been answered and delivered.
func (h *Host) Wait() { h.callouts.Wait() }

// httpCall checks a callout as Envoy's Context::httpCall does and sends it for the
// root context r. h.mu is held.
func (h *Host) httpCall(r *root, cluster string, headers [][2]string, body []byte, trailers [][2]string, timeoutMs uint32) (uint32, Status) {
	if h.closed || r == nil {
		return 0, StatusInternalFailure // no callout may start once Close waits for them
	}
	caller, ok := h.opts.Clusters[cluster]
	if !ok || int32(timeoutMs) < 0 {
		return 0, StatusBadArgument
	}
	for _, required := range []string{":path", ":method", ":authority"} {
		if _, ok := lookup(headers, required); !ok {
			return 0, StatusBadArgument
		}
	}
	if caller == nil {
		// A cluster with no healthy endpoint: AsyncClient::send fails inline and
		// Envoy's httpCall returns InternalFailure, with no callback.
		return 0, StatusInternalFailure
	}
	if len(body) > 0 {
		headers = setHeader(headers, "content-length", fmt.Sprint(len(body)))
	}
	// Envoy's router lets the request's own x-envoy-upstream-rq-timeout-ms replace the
	// call's timeout, 0 meaning none (FilterUtility::finalTimeout,
	// source/common/router/router.cc): a plugin must not pass it on.
	if v, ok := lookup(headers, "x-envoy-upstream-rq-timeout-ms"); ok {
		if ms, err := strconv.ParseUint(v, 10, 32); err == nil {
			timeoutMs = uint32(ms)
		}
	}
	h.nextToken++
	token := h.nextToken
	c := &Callout{Cluster: cluster, Headers: headers, Body: body, Trailers: trailers,
		Timeout: time.Duration(timeoutMs) * time.Millisecond}
	if h.opts.Manual {
		h.held = append(h.held, heldCall{token: token, caller: caller, call: c})
		h.pending[token] = &pendingCall{root: r.id, cancel: func() {}}
		return token, StatusOK
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	h.pending[token] = &pendingCall{root: r.id, cancel: cancel}
	h.callouts.Add(1)
	go func() {
		defer h.callouts.Done()
		resp, err := caller.Call(ctx, c)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		h.deliver(token, envoyAnswer(c, resp, err, timedOut))
	}()
	return token, StatusOK
}

// envoyAnswer is what Envoy's async client reports for call c's outcome: a timeout is
// the router's own 504, a failure before any response its 503 (router.cc,
// onUpstreamTimeoutAbort and onUpstreamReset), and a reset after the response began a
// failure (nil: no headers, no body; context.cc onHttpCallFailure). For a gRPC request
// (AsyncStreamImpl::sendHeaders sets is_grpc_request_ from its content-type) a local
// reply is a trailers-only HTTP 200 with content-type application/grpc, grpc-status
// mapped from the HTTP code (grpc/status.cc httpToGrpcStatus: 503 and 504 are
// UNAVAILABLE, 14) and the text as grpc-message, percent-encoded, which leaves these
// texts as they are (Utility::prepareLocalReply, source/common/http/utility.cc).
func envoyAnswer(c *Callout, resp *Response, err error, timedOut bool) *Response {
	local := func(status, body string) *Response {
		if ct, _ := lookup(c.Headers, "content-type"); isGRPC(ct) {
			return &Response{Headers: [][2]string{{":status", "200"}, {"content-type", "application/grpc"},
				{"grpc-status", "14"}, {"grpc-message", body}}}
		}
		return &Response{Headers: [][2]string{{":status", status}, {"content-length", fmt.Sprint(len(body))},
			{"content-type", "text/plain"}}, Body: []byte(body)}
	}
	switch {
	case timedOut:
		return local("504", "upstream request timeout")
	case errors.Is(err, ErrReset):
		return nil
	case err != nil:
		return local("503", "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure")
	}
	return resp
}

// isGRPC is Envoy's Grpc::Common::hasGrpcContentType: application/grpc, alone or
// followed by + or ;.
func isGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(contentType, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// Answer sends the callouts a Manual host holds to their clusters, one after the
// other in the order the module made them and in the calling goroutine, and delivers
// each answer to the module. Callouts the module makes meanwhile wait for the next
// call; those of a root context deleted meanwhile were cancelled and are not sent. A
// Caller stands for a timeout by returning an error that wraps
// context.DeadlineExceeded (its context has no deadline here): the module sees
// Envoy's 504, at once rather than after the timeout. Answer returns how many
// callouts it answered, and the first error of the module (a trap).
func (h *Host) Answer() (int, error) {
	h.mu.Lock()
	batch := h.held
	h.held, h.answering = h.answering[:0], nil
	h.mu.Unlock()
	var first error
	answered := 0
	for i, c := range batch {
		batch[i] = heldCall{}
		if !h.isPending(c.token) {
			continue
		}
		resp, err := c.caller.Call(context.Background(), c.call)
		answered++
		if err := h.deliver(c.token, envoyAnswer(c.call, resp, err, errors.Is(err, context.DeadlineExceeded))); err != nil && first == nil {
			first = err
		}
	}
	h.mu.Lock()
	h.answering = batch[:0]
	h.mu.Unlock()
	return answered, first
}

func (h *Host) isPending(token uint32) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.pending[token]
	return ok
}

// deliver hands a callout's answer to the root context that made it, unless the call
// was cancelled meanwhile.
func (h *Host) deliver(token uint32, resp *Response) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pending[token]
	if !ok || h.closed {
		return nil
	}
	delete(h.pending, token)
	h.answer = resp
	defer func() { h.answer = nil }()
	var nh, nb, nt uint64
	if resp != nil {
		nh, nb, nt = uint64(len(resp.Headers)), uint64(len(resp.Body)), uint64(len(resp.Trailers))
	}
	_, err := h.call(p.root, "proxy_on_http_call_response", uint64(p.root), uint64(token), nh, nb, nt)
	if err != nil {
		h.opts.Log(4, "proxy_on_http_call_response: "+err.Error())
	}
	return err
}
