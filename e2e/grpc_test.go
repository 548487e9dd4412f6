package e2e

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

// grpcCall is one call a gRPC server received.
type grpcCall struct {
	method string
	md     metadata.MD
	req    any
}

// grpcServer serves gRPC's health service on a real socket; fail, when set, is the
// status every unary call gets instead.
type grpcServer struct {
	addr  string
	mu    sync.Mutex
	calls []grpcCall
}

func startGRPC(t *testing.T, fail codes.Code) *grpcServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &grpcServer{addr: ln.Addr().String()}
	record := func(ctx context.Context, method string, req any) {
		md, _ := metadata.FromIncomingContext(ctx)
		s.mu.Lock()
		s.calls = append(s.calls, grpcCall{method: method, md: md, req: req})
		s.mu.Unlock()
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx, info.FullMethod, req)
			if fail != codes.OK {
				return nil, status.Error(fail, "the shadow is down")
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context(), info.FullMethod, nil)
			return h(srv, ss)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer()) // "" is SERVING
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return s
}

func (s *grpcServer) received() []grpcCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]grpcCall(nil), s.calls...)
}

// grpcMesh runs the plugin in front of a gRPC primary, with every cluster reached over
// HTTP/2, as a cluster whose typed_extension_protocol_options hold HttpProtocolOptions
// with explicit_http_config.http2_protocol_options is in Envoy
// (api/envoy/extensions/upstreams/http/v3/http_protocol_options.proto).
func grpcMesh(t *testing.T, config string, primary string, clusters map[string]string) (*mesh, healthpb.HealthClient) {
	t.Helper()
	cfg := &runner.Config{Listen: "127.0.0.1:0", Primary: "primary",
		Clusters: map[string]string{"primary": primary}, HTTP2: map[string]bool{"primary": true},
		PluginConfig: []byte(config)}
	for name, addr := range clusters {
		cfg.Clusters[name], cfg.HTTP2[name] = addr, true
	}
	m := run(t, cfg)
	conn, err := grpc.NewClient("passthrough:///"+m.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return m, healthpb.NewHealthClient(conn)
}

// check makes a unary call with metadata and returns the answer and its metadata.
func check(t *testing.T, client healthpb.HealthClient) (*healthpb.HealthCheckResponse, metadata.MD, metadata.MD) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-user-id", "alice", "x-tenant", "blue")
	var header, trailer metadata.MD
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: ""}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("the primary's call failed: %v", err)
	}
	return resp, header, trailer
}

// TestGRPCUnary: a unary call is copied with its metadata and message, and the
// shadow's answer is classified by grpc-status: OK in response_2xx, UNAVAILABLE in
// response_grpc_error. The primary's answer is the same with mirroring on and off.
func TestGRPCUnary(t *testing.T) {
	primary := startGRPC(t, codes.OK)
	for _, tc := range []struct {
		name    string
		shadow  codes.Code
		counter mirror.Counter
	}{
		{"shadow answers OK", codes.OK, mirror.Response2xx},
		{"shadow answers UNAVAILABLE", codes.Unavailable, mirror.ResponseGRPCError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shadow := startGRPC(t, tc.shadow)
			m, client := grpcMesh(t, `{"targets": [{"name": "shadow", "cluster": "shadow"}]}`, primary.addr,
				map[string]string{"shadow": shadow.addr})
			resp, _, _ := check(t, client)
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("the primary answered %v", resp.GetStatus())
			}
			name := mirror.CounterName("shadow", tc.counter)
			waitFor(t, name, func() bool { return m.metric(t, name) == 1 })
			other := map[mirror.Counter]bool{mirror.Response2xx: true, mirror.ResponseGRPCError: true}
			for c := range other {
				if c != tc.counter {
					if v := m.metric(t, mirror.CounterName("shadow", c)); v != 0 {
						t.Errorf("%s = %d", mirror.CounterName("shadow", c), v)
					}
				}
			}
			calls := shadow.received()
			if len(calls) != 1 {
				t.Fatalf("the shadow received %d calls, want 1", len(calls))
			}
			got := calls[0]
			if got.method != "/grpc.health.v1.Health/Check" {
				t.Errorf("the copy called %s", got.method)
			}
			for k, v := range map[string]string{"x-user-id": "alice", "x-tenant": "blue", "x-meshmirror": "shadow"} {
				if vs := got.md.Get(k); len(vs) != 1 || vs[0] != v {
					t.Errorf("the copy's metadata %s = %v, want %q", k, vs, v)
				}
			}
			if !proto.Equal(got.req.(*healthpb.HealthCheckRequest), &healthpb.HealthCheckRequest{Service: ""}) {
				t.Errorf("the copy's message %v", got.req)
			}
		})
	}

	t.Run("primary identical with mirroring on and off", func(t *testing.T) {
		shadow := startGRPC(t, codes.Unavailable)
		answers := map[string][3]any{}
		for _, config := range []string{
			`{"targets": [{"name": "shadow", "cluster": "shadow"}]}`,
			`{"targets": [{"name": "shadow", "cluster": "shadow", "percentage": 0}]}`,
		} {
			_, client := grpcMesh(t, config, primary.addr, map[string]string{"shadow": shadow.addr})
			resp, header, trailer := check(t, client)
			delete(header, "date")
			answers[config] = [3]any{resp.String(), header, trailer}
		}
		var first [3]any
		for _, a := range answers {
			if first[0] == nil {
				first = a
				continue
			}
			if first[0] != a[0] || !mdEqual(first[1].(metadata.MD), a[1].(metadata.MD)) || !mdEqual(first[2].(metadata.MD), a[2].(metadata.MD)) {
				t.Errorf("the primary's answer differs with mirroring on and off:\n%v\n%v", first, a)
			}
		}
	})
}

func mdEqual(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, vs := range a {
		if len(b[k]) != len(vs) {
			return false
		}
		for i := range vs {
			if b[k][i] != vs[i] {
				return false
			}
		}
	}
	return true
}

// TestGRPCServerStreaming: a server-streaming call (Watch) reaches the client
// message by message through the runner with mirroring on. Its request ends with its
// one message, so it is copied then; the shadow's stream never ends, and the copy
// counts in response_failed at its timeout.
func TestGRPCServerStreaming(t *testing.T) {
	primary, shadow := startGRPC(t, codes.OK), startGRPC(t, codes.OK)
	m, client := grpcMesh(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "timeoutMs": 300}]}`,
		primary.addr, map[string]string{"shadow": shadow.addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	got, err := watch.Recv()
	if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the first streamed message: %v, %v", got, err)
	}
	name := mirror.CounterName("shadow", mirror.ResponseFailed)
	waitFor(t, name, func() bool { return m.metric(t, name) == 1 })
	if v := m.metric(t, mirror.InFlightName("shadow")); v != 0 {
		t.Errorf("in_flight = %d", v)
	}
	cancel()
}
