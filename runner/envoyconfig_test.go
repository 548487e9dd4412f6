package runner

import "testing"

// TestConfigCluster follows Envoy's RouteMatch (api/envoy/config/route/v3/
// route_components.proto): routes are tried in order and the first that matches wins;
// prefix matches the beginning of :path, path the whole :path once its query string is
// removed; a request no route matches has none (Envoy answers 404).
func TestConfigCluster(t *testing.T) {
	cfg := &Config{Primary: "grpc", Routes: []Route{
		{Prefix: "/grpc.health.v1.Health/", Cluster: "grpc"},
		{Path: "/login", Cluster: "auth"},
		{Prefix: "/api/", Cluster: "api"},
	}}
	for path, want := range map[string]string{
		"/grpc.health.v1.Health/Check": "grpc",
		"/login":                       "auth",
		"/login?next=/home":            "auth",
		"/login/again":                 "",
		"/api/items?page=2":            "api",
		"/home":                        "",
	} {
		if got := cfg.Cluster(path); got != want {
			t.Errorf("Cluster(%q) = %q, want %q", path, got, want)
		}
	}
	if got := (&Config{Primary: "primary"}).Cluster("/anything"); got != "primary" {
		t.Errorf("without routes: %q, want the primary", got)
	}
}

// TestParseEnvoyConfigProtocols: a cluster is HTTP/2 when its
// typed_extension_protocol_options hold HttpProtocolOptions with
// explicit_http_config.http2_protocol_options, and a cluster with no endpoint is taken
// with no address (Envoy accepts it; its calls find no healthy upstream).
func TestParseEnvoyConfigProtocols(t *testing.T) {
	cfg, err := LoadEnvoyConfig("../envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.HTTP2["primary-grpc"] || cfg.HTTP2["primary"] || cfg.HTTP2["shadow-v2"] {
		t.Errorf("HTTP/2 clusters %v, want primary-grpc only", cfg.HTTP2)
	}
	if got := cfg.Cluster("/grpc.health.v1.Health/Check"); got != "primary-grpc" {
		t.Errorf("the gRPC route goes to %q", got)
	}
	empty := []byte(`
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 1}}
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: s
          route_config: {virtual_hosts: [{name: a, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: p}}]}]}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                root_id: meshmirror
                vm_config: {runtime: envoy.wasm.runtime.v8, code: {local: {filename: m.wasm}}}
                configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "{}"}
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - {name: p, type: STATIC, load_assignment: {cluster_name: p, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 2}}}}]}]}}
  - {name: scaled-to-zero, type: STATIC, load_assignment: {cluster_name: scaled-to-zero}}
`)
	cfg, err = ParseEnvoyConfig(empty)
	if err != nil {
		t.Fatal(err)
	}
	if addr, ok := cfg.Clusters["scaled-to-zero"]; !ok || addr != "" {
		t.Errorf("the cluster without endpoints: %q, %v; want it, with no address", addr, ok)
	}
}
