package wasmhost

// Stream is one HTTP stream through the filter.
type Stream struct {
	h        *Host
	id       uint32
	root     *root
	request  [][2]string
	trailers [][2]string
	response [][2]string
	respTrl  [][2]string
	body     []byte // the chunk the current body callback sees
	deleted  bool   // proxy_on_delete was called: no callback but a deferred log follows
	done     bool
}

// NewStream creates a stream context for a new request, under the root context of
// the current configuration.
func (h *Host) NewStream() (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Stream{h: h, id: h.nextID, root: h.active}
	h.nextID++
	h.streams[s.id] = s
	s.root.streams++
	if _, err := h.call(s.id, "proxy_on_context_create", uint64(s.id), uint64(s.root.id)); err != nil {
		return nil, err
	}
	return s, nil
}

// RequestHeaders hands the request headers to the filter; they may be changed.
func (s *Stream) RequestHeaders(headers [][2]string, endOfStream bool) (Action, error) {
	return s.enter(func() { s.request = headers }, "proxy_on_request_headers", uint64(len(headers)), b2u(endOfStream))
}

// RequestBody hands one chunk of the request body to the filter.
func (s *Stream) RequestBody(chunk []byte, endOfStream bool) (Action, error) {
	return s.enter(func() { s.body = chunk }, "proxy_on_request_body", uint64(len(chunk)), b2u(endOfStream))
}

// RequestTrailers hands the request trailers to the filter.
func (s *Stream) RequestTrailers(trailers [][2]string) (Action, error) {
	return s.enter(func() { s.trailers = trailers }, "proxy_on_request_trailers", uint64(len(trailers)))
}

// ResponseHeaders hands the response headers to the filter.
func (s *Stream) ResponseHeaders(headers [][2]string, endOfStream bool) (Action, error) {
	return s.enter(func() { s.response = headers }, "proxy_on_response_headers", uint64(len(headers)), b2u(endOfStream))
}

// ResponseBody hands one chunk of the response body to the filter.
func (s *Stream) ResponseBody(chunk []byte, endOfStream bool) (Action, error) {
	return s.enter(func() { s.body = chunk }, "proxy_on_response_body", uint64(len(chunk)), b2u(endOfStream))
}

// ResponseTrailers hands the response trailers to the filter; they end the response.
func (s *Stream) ResponseTrailers(trailers [][2]string) (Action, error) {
	return s.enter(func() { s.respTrl = trailers }, "proxy_on_response_trailers", uint64(len(trailers)))
}

// RequestHeaderMap returns the request headers as the filter left them.
func (s *Stream) RequestHeaderMap() [][2]string {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return append([][2]string(nil), s.request...)
}

// Done ends the stream as Envoy does for HTTP/1 and HTTP/2: proxy_on_log, then
// proxy_on_done and proxy_on_delete.
func (s *Stream) Done() error {
	return s.end(true, "proxy_on_log", "proxy_on_done", "proxy_on_delete")
}

// DoneDeferredLog ends the stream as Envoy does for HTTP/3 with
// quic_defer_logging_to_ack_listener: proxy_on_done and proxy_on_delete when the
// stream is destroyed, and proxy_on_log later, when the peer has acknowledged the
// response.
func (s *Stream) DoneDeferredLog() error {
	if err := s.end(false, "proxy_on_done", "proxy_on_delete"); err != nil {
		return err
	}
	return s.end(true, "proxy_on_log")
}

// end runs end-of-stream callbacks; last says they are the stream's last, after which
// its context is destroyed. A deleted stream gets only its deferred log.
func (s *Stream) end(last bool, fns ...string) error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.done || h.closed || s.deleted && fns[0] != "proxy_on_log" {
		return nil
	}
	h.current = s
	defer func() { h.current = nil }()
	for _, fn := range fns {
		if _, err := h.call(s.id, fn, uint64(s.id)); err != nil {
			s.release()
			return err
		}
		s.deleted = s.deleted || fn == "proxy_on_delete"
	}
	if last {
		s.release()
	}
	return nil
}

// release destroys the stream context: it lets go of its root context, which ends
// if it was replaced and this was its last stream. h.mu is held.
func (s *Stream) release() {
	if s.done {
		return
	}
	s.done, s.deleted = true, true
	h := s.h
	delete(h.streams, s.id)
	r := s.root
	if r.streams--; r.streams == 0 && r != h.active && !r.ending && !h.closed {
		h.shutdown(r)
	}
}

// enter runs a stream callback; once the stream is deleted it is not called any
// more, as Envoy calls nothing on a deleted context.
func (s *Stream) enter(setup func(), fn string, args ...uint64) (Action, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.deleted || h.closed {
		return ActionContinue, nil
	}
	setup()
	h.current = s
	defer func() { h.current, s.body = nil, nil }()
	res, err := h.call(s.id, fn, append([]uint64{uint64(s.id)}, args...)...)
	if err != nil {
		return ActionContinue, err
	}
	return Action(res), nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
