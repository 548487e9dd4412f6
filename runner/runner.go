package runner

import (
	"bufio"
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

// Runner proxies HTTP to the clusters of its routes through the plugin, like an Envoy
// with one worker, and sends the plugin's callouts for real. It speaks HTTP/1.1 and
// cleartext HTTP/2 (h2c) on its listener, and HTTP/2 to the clusters configured for it.
type Runner struct {
	cfg atomic.Pointer[Config]
	// Copies get transports of their own, so that a shadow that hangs cannot take the
	// connections the primary needs (Envoy keeps a pool per cluster too).
	shadows transports
	primary transports
	host    *wasmhost.Host
	server  *http.Server
	ln      net.Listener
}

// transports are an HTTP/1.1 and a cleartext HTTP/2 transport.
type transports struct{ http1, http2 *http.Client }

func newTransports() transports {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return transports{
		http1: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
			CheckRedirect: noRedirect},
		http2: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
			Protocols: &h2c}, CheckRedirect: noRedirect},
	}
}

// to is the client for a cluster of cfg.
func (t transports) to(cfg *Config, cluster string) *http.Client {
	if cfg.HTTP2[cluster] {
		return t.http2
	}
	return t.http1
}

// Options tune a Runner beyond its Config.
type Options struct {
	// Log receives the plugin's log lines.
	Log func(level uint32, msg string)
}

// New starts the plugin with cfg and module; Serve then takes traffic.
func New(ctx context.Context, cfg *Config, module []byte, opts Options) (*Runner, error) {
	r := &Runner{shadows: newTransports(), primary: newTransports()}
	host, err := wasmhost.New(ctx, wasmhost.Options{
		Module: module, PluginConfig: cfg.PluginConfig, Clusters: r.callers(cfg), Log: opts.Log,
	})
	if err != nil {
		return nil, err
	}
	r.host = host
	r.cfg.Store(cfg)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, Protocols: &protocols}
	return r, nil
}

// callers are the clusters of cfg as the plugin's callouts reach them.
func (r *Runner) callers(cfg *Config) map[string]wasmhost.Caller {
	clusters := map[string]wasmhost.Caller{}
	for name, addr := range cfg.Clusters {
		if addr == "" {
			clusters[name] = nil // no endpoint: http_call fails inline, as in Envoy
			continue
		}
		clusters[name] = &caller{addr: addr, client: r.shadows.to(cfg, name)}
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

// hopByHop are connection headers that Envoy's codecs consume instead of passing on;
// "te: trailers" is kept (gRPC needs it), and so are the upgrade headers of an upgrade.
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "te": true}

// ServeHTTP runs one request through the filter and proxies it to the cluster of its
// route.
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
	upgrade := isUpgrade(req)
	noBody := !upgrade && (req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0)
	if _, err := stream.RequestHeaders(headers, noBody); err != nil {
		http.Error(w, "wasm: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The plugin may have changed the headers; the route and the upstream request
	// follow them as they are now.
	headers = stream.RequestHeaderMap()
	path, _ := mirrorHeader(headers, ":path")
	cfg := r.cfg.Load()
	cluster := cfg.Cluster(path)
	if cluster == "" {
		http.Error(w, "no route", http.StatusNotFound) // Envoy's NR
		return
	}
	if cfg.Clusters[cluster] == "" {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable) // Envoy's UH
		return
	}
	if upgrade {
		r.tunnel(w, req, stream, cfg.Clusters[cluster], headers)
		return
	}
	upstream, err := upstreamRequest(req.Context(), cfg.Clusters[cluster], headers)
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
	resp, err := r.primary.to(cfg, cluster).Do(upstream)
	if err != nil {
		http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
		return
	}
	defer resp.Body.Close()
	stream.ResponseHeaders(responseHeaders(resp), false)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			stream.ResponseBody(buf[:n], false)
			w.Write(buf[:n])
			if flusher != nil {
				flusher.Flush() // a streaming response (gRPC server streaming) passes as it comes
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The upstream reset the stream: Envoy resets the downstream's, and the
			// filter sees the stream end with no end of its response.
			panic(http.ErrAbortHandler)
		}
	}
	if trailers := lowerHeaders(resp.Trailer); len(trailers) > 0 {
		for k, vs := range resp.Trailer {
			for _, v := range vs {
				w.Header().Add(http.TrailerPrefix+k, v)
			}
		}
		stream.ResponseTrailers(trailers)
		return
	}
	stream.ResponseBody(nil, true)
}

// isUpgrade reports whether req asks to switch protocols (WebSocket): Envoy passes
// such a request through the filter chain with its upgrade headers, then the tunnel's
// bytes as its body.
func isUpgrade(req *http.Request) bool {
	return req.ProtoMajor == 1 && req.Header.Get("Upgrade") != "" &&
		strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade")
}

// tunnel proxies an upgrade request to addr and, once the upstream has switched
// protocols, the bytes both ways, handing them to the filter as Envoy does: the
// client's as the request body, the upstream's as the response body.
func (r *Runner) tunnel(w http.ResponseWriter, req *http.Request, stream *wasmhost.Stream, addr string, headers [][2]string) {
	upstream, err := upstreamRequest(req.Context(), addr, headers)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
		return
	}
	defer conn.Close()
	upstream.Header.Set("Connection", "Upgrade")
	upstream.Header.Set("Upgrade", req.Header.Get("Upgrade"))
	if err := upstream.Write(conn); err != nil {
		http.Error(w, "upstream reset", http.StatusServiceUnavailable)
		return
	}
	fromUpstream := bufio.NewReader(conn)
	resp, err := http.ReadResponse(fromUpstream, upstream)
	if err != nil {
		http.Error(w, "upstream reset", http.StatusServiceUnavailable)
		return
	}
	defer resp.Body.Close()
	stream.ResponseHeaders(responseHeaders(resp), false)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		stream.ResponseBody(nil, true)
		return
	}
	client, fromClient, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot switch protocols: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer client.Close()
	if err := resp.Write(client); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	relay := func(to net.Conn, from io.Reader, chunk func([]byte, bool) (wasmhost.Action, error)) {
		buf := make([]byte, 16<<10)
		for {
			n, err := from.Read(buf)
			if n > 0 {
				chunk(buf[:n], false)
				if _, err := to.Write(buf[:n]); err != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		chunk(nil, true)
		to.Close() // the other way stops too: the tunnel is over
		done <- struct{}{}
	}
	go relay(conn, fromClient, stream.RequestBody)
	go relay(client, fromUpstream, stream.ResponseBody)
	<-done
	<-done
}

// responseHeaders is the header map of an upstream response, as the filter sees it.
func responseHeaders(resp *http.Response) [][2]string {
	return append([][2]string{{":status", strconv.Itoa(resp.StatusCode)}}, lowerHeaders(resp.Header)...)
}

func mirrorHeader(headers [][2]string, name string) (string, bool) {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
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
	if isUpgrade(req) {
		h = append(h, [2]string{"connection", "Upgrade"}, [2]string{"upgrade", req.Header.Get("Upgrade")})
	}
	if strings.EqualFold(req.Header.Get("Te"), "trailers") {
		h = append(h, [2]string{"te", "trailers"})
	}
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
