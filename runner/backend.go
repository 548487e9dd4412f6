package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Backend is a small echo service for demos and tests: it records every request it
// receives and answers with a JSON summary of it. Over cleartext HTTP/2 it also
// serves gRPC's health service (grpc.health.v1.Health, "" SERVING), as a gRPC
// backend of an HTTP/2 cluster would.
type Backend struct {
	// Name is the service's name, echoed in its answers.
	Name string
	// Addr is the address it listens on.
	Addr string

	mu       sync.Mutex
	received []Received
	handle   http.HandlerFunc
	grpc     *grpc.Server
	server   *http.Server
}

// Received is one request a Backend got.
type Received struct {
	Method, Path string
	Header       http.Header
	Host         string
	Body         []byte
	At           time.Time
}

// Echo is what a Backend answers.
type Echo struct {
	Service    string `json:"service"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	BodyBytes  int    `json:"bodyBytes"`
	BodySHA256 string `json:"bodySha256"`
}

// StartBackend serves an echo service named name on addr ("127.0.0.1:0" for any port).
// handle, when not nil, answers instead of the echo, after the request is recorded; it
// reads the body as it was sent.
func StartBackend(name, addr string, handle http.HandlerFunc) (*Backend, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Backend{Name: name, Addr: ln.Addr().String(), handle: handle, grpc: grpc.NewServer()}
	healthpb.RegisterHealthServer(b.grpc, health.NewServer())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	b.server = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
	go b.server.Serve(ln)
	return b, nil
}

// ServeHTTP records the request and echoes it.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		b.record(r, nil)
		b.grpc.ServeHTTP(w, r) // gRPC needs HTTP/2; over HTTP/1.1 it gets the echo
		return
	}
	body, _ := io.ReadAll(r.Body)
	b.record(r, body)
	if b.handle != nil {
		r.Body = io.NopCloser(bytes.NewReader(body)) // the handler reads it as sent
		b.handle(w, r)
		return
	}
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Echo{Service: b.Name, Method: r.Method, Path: r.URL.RequestURI(),
		BodyBytes: len(body), BodySHA256: hex.EncodeToString(sum[:])})
}

func (b *Backend) record(r *http.Request, body []byte) {
	b.mu.Lock()
	b.received = append(b.received, Received{Method: r.Method, Path: r.URL.RequestURI(),
		Header: r.Header.Clone(), Host: r.Host, Body: body, At: time.Now()})
	b.mu.Unlock()
}

// Requests returns what the backend has received so far.
func (b *Backend) Requests() []Received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Received(nil), b.received...)
}

// Close stops the backend.
func (b *Backend) Close() error { return b.server.Close() }
