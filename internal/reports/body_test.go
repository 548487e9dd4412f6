package reports

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// realReceiver serves a new store on 127.0.0.1 with the http.Server of `meshmirror
// reports` (NewHTTPServer's timeouts), not httptest's, and returns its address.
func realReceiver(t *testing.T, bodyTimeout time.Duration) (string, *Server) {
	t.Helper()
	store, err := Open(filepath.Join(t.TempDir(), "reports.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(store, t.Logf)
	s.BodyTimeout = bodyTimeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(s)
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String(), s
}

// slowAnswer is what a slow client got: the status, and how long after its headers.
type slowAnswer struct {
	code  int
	after time.Duration
	err   error
}

// slowPost sends a report's headers for a body of size bytes, then one byte of it
// every gap until the receiver answers, stop is closed, or 15 s have passed.
func slowPost(addr string, size int, gap time.Duration, stop <-chan struct{}) slowAnswer {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return slowAnswer{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", Path, addr, size); err != nil {
		return slowAnswer{err: err}
	}
	answered := make(chan slowAnswer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- slowAnswer{err: err}
			return
		}
		resp.Body.Close()
		answered <- slowAnswer{code: resp.StatusCode, after: time.Since(start)}
	}()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for sent := 0; ; {
		select {
		case a := <-answered:
			return a
		case <-stop:
			return slowAnswer{err: fmt.Errorf("stopped after %d bytes, unanswered", sent)}
		case <-tick.C:
			if sent < size {
				if _, err := conn.Write([]byte{' '}); err == nil {
					sent++
				}
			}
		}
	}
}

// TestServer_slowBodies: 200 connections that send a 1,000-byte body a byte at a time
// (the attack of issue 25, beyond the 64 slots) do not make real reports 503: they
// hold no slot while they send, and each is answered 408 once BodyTimeout has passed.
// A body that arrives slowly but in time is stored.
func TestServer_slowBodies(t *testing.T) {
	const slow, timeout = 200, 3 * time.Second
	addr, s := realReceiver(t, timeout)
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	defer halt()
	answers := make(chan slowAnswer, slow)
	for range slow {
		go func() { answers <- slowPost(addr, 1000, 20*time.Millisecond, stop) }()
	}
	// Well within BodyTimeout, so that the real reports below meet them all.
	for deadline := time.Now().Add(timeout / 2); testutil.ToFloat64(s.receiving) < slow; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("after %v, %v of %d slow bodies are being received", timeout/2, testutil.ToFloat64(s.receiving), slow)
			break
		}
	}
	if held := testutil.ToFloat64(s.inFlight); held != 0 {
		t.Errorf("%d slow bodies arriving hold %v slots of %d; want none", slow, held, maxPending)
	}

	// Real reports meanwhile, from 8 clients as 8 sidecars would send them.
	client := &http.Client{Timeout: 5 * time.Second}
	var mu sync.Mutex
	codes := map[int]int{}
	var took []time.Duration
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				start := time.Now()
				resp, err := client.Post("http://"+addr+Path, "application/json",
					strings.NewReader(doc("v2", "GET", "/a", fmt.Sprintf("real-%d-%d", w, i), "status:changed:")))
				code := -1
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				took = append(took, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := testutil.ToFloat64(s.receiving); n != slow {
		t.Errorf("when the real reports were answered, %v slow bodies were arriving, want all %d: the test proved nothing", n, slow)
	}
	slices.Sort(took)
	t.Logf("200 real reports beside %d slow bodies: %v; median %v, slowest %v", slow, codes, took[len(took)/2], took[len(took)-1])
	if codes[http.StatusAccepted] != 200 {
		t.Errorf("real reports while %d slow bodies arrive: %v; want all 200 answered 202", slow, codes)
	}

	// The slow ones are cut off at BodyTimeout, with 408.
	late := map[string]int{}
	for range slow {
		a := <-answers
		switch {
		case a.err != nil:
			late["error: "+a.err.Error()]++
		case a.code != http.StatusRequestTimeout:
			late[fmt.Sprintf("%d", a.code)]++
		case a.after < timeout || a.after > timeout+2*time.Second:
			late[fmt.Sprintf("408 after %v", a.after.Round(100*time.Millisecond))]++
		}
	}
	if len(late) > 0 {
		t.Errorf("slow bodies, want each 408 between %v and %v after its headers; not so: %v", timeout, timeout+2*time.Second, late)
	}
	// Every byte they took is given back.
	for deadline := time.Now().Add(2 * time.Second); s.bodyBytes.free.Load() != maxBodyBytes || testutil.ToFloat64(s.receiving) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the slow bodies: %d of %d body bytes free, %v still receiving", s.bodyBytes.free.Load(), maxBodyBytes, testutil.ToFloat64(s.receiving))
		}
	}
	if got := testutil.ToFloat64(s.answered.WithLabelValues("408")); got != slow {
		t.Errorf("meshmirror_reports_requests_total{code=\"408\"} %v, want %d", got, slow)
	}

	// Slow, but within BodyTimeout: stored.
	body := doc("v2", "GET", "/b", "in-time", "status:changed:")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", Path, addr, len(body))
	for i := 0; i < len(body); i += len(body)/10 + 1 {
		time.Sleep(50 * time.Millisecond)
		conn.Write([]byte(body[i:min(len(body), i+len(body)/10+1)]))
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("a body sent in 10 parts over 0.5 s, within %v: %v %v; want 202", timeout, resp, err)
	}
}

// TestServer_bodyBudget: the bytes of the bodies held at once are bounded; beyond
// the bound a report is answered 503 with Retry-After, and the bytes of every body
// come back once it is answered.
func TestServer_bodyBudget(t *testing.T) {
	addr, s := realReceiver(t, DefaultBodyTimeout)
	if s.BodyTimeout != 5*time.Second || DefaultBodyTimeout != 5*time.Second {
		t.Errorf("BodyTimeout defaults to %v (%v); SPEC says 5 s", s.BodyTimeout, DefaultBodyTimeout)
	}
	s.bodyBytes = newByteBudget(1000)
	big := doc("v2", "GET", "/a", strings.Repeat("x", 150), "status:changed:", "body:changed:"+strings.Repeat("y", 900))
	resp, err := http.Post("http://"+addr+Path, "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(msg), "busy") {
		t.Errorf("a %d-byte report with 1,000 bytes for bodies: %d %q, Retry-After %q; want 503", len(big), resp.StatusCode, msg, resp.Header.Get("Retry-After"))
	}
	if free := s.bodyBytes.free.Load(); free != 1000 {
		t.Errorf("after the 503, %d of 1000 bytes free", free)
	}
	for i := range 3 {
		small := doc("v2", "GET", "/a", fmt.Sprint("small-", i), "status:changed:")
		if code, msg := post(t, "http://"+addr, small); code != http.StatusAccepted {
			t.Errorf("a %d-byte report: %d %s", len(small), code, msg)
		}
	}
	if free := s.bodyBytes.free.Load(); free != 1000 {
		t.Errorf("after three reports, %d of 1000 bytes free", free)
	}
}
