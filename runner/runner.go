package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshmirror/meshmirror/wasmhost"
)

// Runner proxies HTTP to the primary cluster through the plugin, like an Envoy with
// one worker, and sends the plugin's callouts for real.
type Runner struct {
	cfg     atomic.Pointer[Config]
	shadows *http.Transport
	host    *wasmhost.Host
	primary *http.Client
	server  *http.Server
	ln      net.Listener
}

// Options tune a Runner beyond its Config.
type Options struct {
	// Log receives the plugin's log lines.
	Log func(level uint32, msg string)
}

// New starts the plugin with cfg and module; Serve then takes traffic.
func New(ctx context.Context, cfg *Config, module []byte, opts Options) (*Runner, error) {
	// Copies get a transport of their own, so that a shadow that hangs cannot take
	// the connections the primary needs (Envoy keeps a pool per cluster too).
	r := &Runner{
		shadows: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		primary: &http.Client{
			Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	host, err := wasmhost.New(ctx, wasmhost.Options{
		Module: module, PluginConfig: cfg.PluginConfig, Clusters: r.callers(cfg), Log: opts.Log,
	})
	if err != nil {
		return nil, err
	}
	r.host = host
	r.cfg.Store(cfg)
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return r, nil
}

// callers are the clusters of cfg as the plugin's callouts reach them.
func (r *Runner) callers(cfg *Config) map[string]wasmhost.Caller {
	clusters := map[string]wasmhost.Caller{}
	for name, addr := range cfg.Clusters {
		clusters[name] = &caller{addr: addr, client: &http.Client{Transport: r.shadows}}
	}
	return clusters
}

// Reload applies a changed configuration as Envoy applies one it is sent: the
// clusters and the route's cluster at once, and the plugin's configuration in a new
// root context of the same VM, which takes the new requests while those under way
// finish under the old one (wasmhost.Host.Reconfigure). The listener and the module
// are those the runner started with: a change to either is an error and changes
// nothing.
func (r *Runner) Reload(ctx context.Context, cfg *Config) error {
	old := r.cfg.Load()
	if cfg.Listen != old.Listen || cfg.Module != old.Module {
		return fmt.Errorf("the listener (%s) and the module (%s) cannot change without a restart", old.Listen, old.Module)
	}
	r.host.SetClusters(r.callers(cfg))
	r.cfg.Store(cfg)
	if bytes.Equal(cfg.PluginConfig, old.PluginConfig) {
		return nil // the same filter configuration: Envoy keeps its plugin
	}
	return r.host.Reconfigure(ctx, cfg.PluginConfig)
}

// Host is the VM the runner drives.
func (r *Runner) Host() *wasmhost.Host { return r.host }

// Listen opens the listener of the configuration (or addr, when not empty) and serves
// on it in the background; it returns the address it listens on.
func (r *Runner) Listen(addr string) (string, error) {
	if addr == "" {
		addr = r.cfg.Load().Listen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	r.ln = ln
	go r.server.Serve(ln)
	return ln.Addr().String(), nil
}

// Close stops serving, lets the requests under way finish (until ctx is done), then
// waits for the copies still out and frees the VM.
func (r *Runner) Close(ctx context.Context) error {
	if err := r.server.Shutdown(ctx); err != nil {
		r.server.Close()
	}
	return r.host.Close(ctx)
}

// hopByHop are connection headers that Envoy's codecs consume instead of passing on.
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "te": true}

// ServeHTTP runs one request through the filter and proxies it to the primary.
func (r *Runner) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	stream, err := r.host.NewStream()
	if err != nil {
		http.Error(w, "wasm: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The stream ends once its body has been handed over: Envoy deletes a context
	// only after its last callback, and net/http forbids reading a request's body
	// after the handler returns.
	bodyDone := make(chan struct{})
	close(bodyDone) // until a body is streaming
	defer func() { <-bodyDone; stream.Done() }()

	headers := requestHeaders(req)
	noBody := req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0
	if _, err := stream.RequestHeaders(headers, noBody); err != nil {
		http.Error(w, "wasm: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The plugin may have changed the headers; the primary gets them as they are now.
	cfg := r.cfg.Load()
	upstream, err := upstreamRequest(req.Context(), cfg.Clusters[cfg.Primary], stream.RequestHeaderMap())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !noBody {
		bodyDone = make(chan struct{})
		pr, pw := io.Pipe()
		defer pr.Close() // a primary that answered early stops taking the body
		upstream.Body, upstream.ContentLength = pr, req.ContentLength
		go func() {
			defer close(bodyDone)
			pw.CloseWithError(streamBody(stream, req, pw))
		}()
	}
	resp, err := r.primary.Do(upstream)
	if err != nil {
		http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
		return
	}
	defer resp.Body.Close()
	respHeaders := append([][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, lowerHeaders(resp.Header)...)
	stream.ResponseHeaders(respHeaders, false)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			stream.ResponseBody(buf[:n], false)
			w.Write(buf[:n])
		}
		if err != nil {
			stream.ResponseBody(nil, true)
			return
		}
	}
}

// streamBody hands the request body to the filter chunk by chunk as it passes to the
// primary, then ends the stream with the trailers or an empty last chunk.
func streamBody(stream *wasmhost.Stream, req *http.Request, to io.Writer) error {
	buf := make([]byte, 16<<10)
	for {
		n, err := req.Body.Read(buf)
		if n > 0 {
			if _, err := stream.RequestBody(buf[:n], false); err != nil {
				return err
			}
			if _, err := to.Write(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			if trailers := lowerHeaders(req.Trailer); len(trailers) > 0 {
				_, err = stream.RequestTrailers(trailers)
				return err
			}
			_, err = stream.RequestBody(nil, true)
			return err
		}
		if err != nil {
			return err // the client went away: the stream ends without its end
		}
	}
}

// requestHeaders is the header map Envoy's codec builds: pseudo-headers first, names
// in lower case, connection headers gone, and an x-request-id.
func requestHeaders(req *http.Request) [][2]string {
	h := [][2]string{{":authority", req.Host}, {":path", req.URL.RequestURI()},
		{":method", req.Method}, {":scheme", "http"}}
	h = append(h, lowerHeaders(req.Header)...)
	if req.Header.Get("X-Request-Id") == "" {
		var id [16]byte
		rand.Read(id[:])
		h = append(h, [2]string{"x-request-id", hex.EncodeToString(id[:])})
	}
	return h
}

func lowerHeaders(hdr http.Header) [][2]string {
	var out [][2]string
	for k, vs := range hdr {
		name := strings.ToLower(k)
		if hopByHop[name] {
			continue
		}
		for _, v := range vs {
			out = append(out, [2]string{name, v})
		}
	}
	return out
}

// upstreamRequest turns a header map back into an HTTP/1.1 request to addr.
func upstreamRequest(ctx context.Context, addr string, headers [][2]string) (*http.Request, error) {
	var method, path, authority string
	hdr := http.Header{}
	for _, kv := range headers {
		switch kv[0] {
		case ":method":
			method = kv[1]
		case ":path":
			path = kv[1]
		case ":authority":
			authority = kv[1]
		case ":scheme", "content-length":
		default:
			if !strings.HasPrefix(kv[0], ":") {
				hdr.Add(kv[0], kv[1])
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("bad request %s %s: %w", method, path, err)
	}
	req.Header, req.Host = hdr, authority
	return req, nil
}

// caller sends the plugin's callouts to one cluster over HTTP/1.1.
type caller struct {
	addr   string
	client *http.Client
}

// Call implements wasmhost.Caller. A failure before the response is a plain error
// (Envoy answers 503), a failure while reading it wasmhost.ErrReset.
func (c *caller) Call(ctx context.Context, co *wasmhost.Callout) (*wasmhost.Response, error) {
	req, err := upstreamRequest(ctx, c.addr, co.Headers)
	if err != nil {
		return nil, err
	}
	if len(co.Body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(co.Body))
		req.ContentLength = int64(len(co.Body))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.Join(wasmhost.ErrReset, err)
	}
	return &wasmhost.Response{
		Headers:  append([][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, lowerHeaders(resp.Header)...),
		Body:     body,
		Trailers: lowerHeaders(resp.Trailer),
	}, nil
}
