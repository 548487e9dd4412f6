package manifests

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/meshmirror/meshmirror/internal/validate"
	"github.com/meshmirror/meshmirror/runner"
)

// envoyFile is the standalone configuration of README's "Local Envoy"; Envoy runs it
// from the repository root, so its paths are relative to that.
const envoyFile = "../envoy.yaml"

// TestEnvoyConfig checks envoy.yaml as Envoy would load it, and that it runs meshmirror
// as README says: one listener routing to the primary, the module from build/, and a
// plugin configuration that the plugin accepts, naming clusters that exist.
func TestEnvoyConfig(t *testing.T) {
	data, err := os.ReadFile(envoyFile)
	if err != nil {
		t.Fatal(err)
	}
	config, problems := checkEnvoy(data)
	for _, p := range problems {
		t.Errorf("%s: %s", envoyFile, p)
	}
	if config == nil {
		return
	}
	if addr := config.Bootstrap.GetAdmin().GetAddress().GetSocketAddress().GetAddress(); addr != "127.0.0.1" {
		t.Errorf("admin listens on %q, want 127.0.0.1: the admin API can stop Envoy", addr)
	}
	if got := config.Wasm.GetFailurePolicy(); got != wasmv3.FailurePolicy_FAIL_OPEN {
		t.Errorf("failure_policy %v, want FAIL_OPEN like the WasmPlugins", got)
	}
	vm := config.Wasm.GetVmConfig()
	if vm.GetRuntime() != "envoy.wasm.runtime.v8" || config.Wasm.GetRootId() != "meshmirror" {
		t.Errorf("runtime %q, root_id %q; want envoy.wasm.runtime.v8 and meshmirror", vm.GetRuntime(), config.Wasm.GetRootId())
	}
	if module := vm.GetCode().GetLocal().GetFilename(); module != "build/meshmirror.wasm" {
		t.Errorf("the module is %q, want build/meshmirror.wasm (what make build writes)", module)
	}
	// Every request reaches the primary service: the last route, for "/", names the
	// cluster primary, and the routes before it clusters of the same address (the
	// same service over HTTP/2, for gRPC).
	hosts := config.Manager.GetRouteConfig().GetVirtualHosts()
	if len(hosts) != 1 || len(hosts[0].GetRoutes()) == 0 {
		t.Fatalf("want one virtual host with routes, got %v", hosts)
	}
	routes := hosts[0].GetRoutes()
	if last := routes[len(routes)-1]; last.GetMatch().GetPrefix() != "/" || last.GetRoute().GetCluster() != "primary" {
		t.Errorf("the last route is %v, want prefix / to the cluster primary", last)
	}
	for _, r := range routes {
		if c := r.GetRoute().GetCluster(); config.Clusters[c] != config.Clusters["primary"] {
			t.Errorf("route %v: cluster %s at %s, not the primary service at %s", r.GetMatch(), c, config.Clusters[c], config.Clusters["primary"])
		}
	}
	if !config.HTTP2["primary-grpc"] || config.HTTP2["primary"] {
		t.Errorf("HTTP/2 clusters %v, want primary-grpc only", config.HTTP2)
	}
	for _, c := range config.Bootstrap.GetStaticResources().GetClusters() {
		for _, e := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range e.GetLbEndpoints() {
				if addr := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); addr != "127.0.0.1" {
					t.Errorf("cluster %s: endpoint %s, want 127.0.0.1 (compose.yaml uses the host's network)", c.GetName(), addr)
				}
			}
		}
	}
}

// TestBrokenEnvoyConfig checks that a mistake in envoy.yaml fails the checks, wherever
// it is: in the bootstrap, inside a typed_config, or in the plugin's configuration.
func TestBrokenEnvoyConfig(t *testing.T) {
	data, err := os.ReadFile(envoyFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown field", "stat_prefix: main", "stat_prefx: main", `unknown field "stat_prefx"`},
		{"port out of range", "port_value: 10000", "port_value: 70000", "invalid SocketAddress.PortValue"},
		{"unknown typed_config type", "router.v3.Router", "router.v3.Routr", "envoy.extensions.filters.http.router.v3.Routr"},
		{"bad value inside a typed_config", "route: {cluster: primary}", `route: {cluster: ""}`, "invalid RouteAction.Cluster"},
		{"bad value inside the wasm filter", "filename: build/meshmirror.wasm", `filename: ""`, "invalid DataSource.Filename"},
		{"plugin configuration refused", `"percentage": 50`, `"percentage": 150`, "configuration.targets[0].percentage: must be between 0 and 100, got 150"},
		{"target names no cluster", `"cluster": "shadow-v2"`, `"cluster": "shadow-v3"`, `target echo-v2: no cluster "shadow-v3"`},
		{"route names no cluster", "route: {cluster: primary}", "route: {cluster: primry}", `route: no cluster "primry"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(data), tt.old) {
				t.Fatalf("%s no longer contains %q", envoyFile, tt.old)
			}
			_, problems := checkEnvoy([]byte(strings.Replace(string(data), tt.old, tt.new, 1)))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

// TestPluginConfigsAgree checks that envoy.yaml, the WasmPlugins and the
// TrafficExtensions mirror to the same targets with the same rules; only how they name
// the destination differs (an Envoy cluster here, an Istio service and port or a
// waypoint's cluster there).
func TestPluginConfigsAgree(t *testing.T) {
	config := loadEnvoy(t)
	want := withoutDestinations(t, config.PluginConfig)
	plugins := 0
	for _, file := range yamlFiles(t) {
		for _, o := range readObjects(t, file) {
			plugin, _, err := wasmPlugin(o)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if plugin == nil {
				continue
			}
			plugins++
			pluginConfig, err := protojson.Marshal(plugin.GetPluginConfig())
			if err != nil {
				t.Fatal(err)
			}
			if got := withoutDestinations(t, pluginConfig); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the pluginConfig of %s differs from envoy.yaml's beyond the destinations:\n%s\nenvoy.yaml:\n%s", file, o.id(), indent(got), indent(want))
			}
		}
	}
	if plugins == 0 {
		t.Error("no WasmPlugin or TrafficExtension in the manifests")
	}
}

// TestCompose checks that compose.yaml runs envoy.yaml as it is: with the module where
// envoy.yaml looks for it, on the host's network, and a backend on each cluster's port.
func TestCompose(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string            `json:"image"`
			Command     []string          `json:"command"`
			NetworkMode string            `json:"network_mode"`
			WorkingDir  string            `json:"working_dir"`
			Volumes     []string          `json:"volumes"`
			Environment map[string]string `json:"environment"`
			DependsOn   []string          `json:"depends_on"`
		} `json:"services"`
	}
	data, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	config := loadEnvoy(t)

	envoy, ok := compose.Services["envoy"]
	if !ok {
		t.Fatal("compose.yaml has no service envoy")
	}
	module := path.Join(envoy.WorkingDir, config.Wasm.GetVmConfig().GetCode().GetLocal().GetFilename())
	for _, want := range []string{"./envoy.yaml:", "./build/meshmirror.wasm:" + module + ":ro"} {
		if !slices.ContainsFunc(envoy.Volumes, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("envoy mounts %v, want one starting with %s", envoy.Volumes, want)
		}
	}
	ports := map[string]bool{}
	for name, s := range compose.Services {
		if s.NetworkMode != "host" {
			t.Errorf("service %s: network_mode %q, want host: envoy.yaml's addresses are 127.0.0.1", name, s.NetworkMode)
		}
		if p := s.Environment["HTTP_PORT"]; p != "" {
			ports[p] = true
		}
	}
	for _, c := range config.Bootstrap.GetStaticResources().GetClusters() {
		port := strconv.Itoa(int(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()))
		if !ports[port] {
			t.Errorf("cluster %s: no compose service listens on its port %s", c.GetName(), port)
		}
	}
}

// loadEnvoy returns envoy.yaml as checkEnvoy reads it; a problem fails the test.
func loadEnvoy(t *testing.T) *runner.Config {
	t.Helper()
	data, err := os.ReadFile(envoyFile)
	if err != nil {
		t.Fatal(err)
	}
	config, problems := checkEnvoy(data)
	if config == nil || len(problems) > 0 {
		t.Fatalf("%s: %s", envoyFile, strings.Join(problems, "\n"))
	}
	return config
}

// checkEnvoy decodes an Envoy configuration as the runner does (Envoy's protos, with
// the validation rules of every typed_config), and adds what only a test of this file
// needs: one listener with one filter, routes and targets that name defined clusters,
// and the plugin's verdict on its configuration. The configuration is nil when it
// cannot be decoded or lacks the meshmirror filter.
func checkEnvoy(data []byte) (*runner.Config, []string) {
	c, err := runner.ParseEnvoyConfig(data)
	if err != nil {
		return nil, strings.Split(err.Error(), "\n")
	}
	var problems []string
	listeners := c.Bootstrap.GetStaticResources().GetListeners()
	if len(listeners) != 1 || len(listeners[0].GetFilterChains()) != 1 || len(listeners[0].GetFilterChains()[0].GetFilters()) != 1 {
		problems = append(problems, "want one listener with one filter chain and one filter, the HTTP connection manager")
	}
	for _, vh := range c.Manager.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if name := r.GetRoute().GetCluster(); name != "" && c.Clusters[name] == "" {
				problems = append(problems, fmt.Sprintf("route: no cluster %q", name))
			}
		}
	}
	for _, p := range validate.File(data).Problems {
		problems = append(problems, p.Path+": "+p.Message)
	}
	plugin, err := config.Parse(c.PluginConfig)
	if err != nil {
		return c, problems
	}
	for _, target := range plugin.Targets {
		if c.Clusters[target.Cluster] == "" {
			problems = append(problems, fmt.Sprintf("configuration: target %s: no cluster %q", target.Name, target.Cluster))
		}
	}
	return c, problems
}

// withoutDestinations returns a plugin configuration as JSON values, without the keys
// that name where copies go (cluster; service, port and subset).
func withoutDestinations(t *testing.T, config []byte) any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(config, &v); err != nil {
		t.Fatal(err)
	}
	targets, _ := v["targets"].([]any)
	for _, target := range targets {
		for _, key := range []string{"cluster", "service", "port", "subset"} {
			delete(target.(map[string]any), key)
		}
		// Reports go to a receiver that envoy.yaml has and the sample mesh does not.
		if compare, ok := target.(map[string]any)["compare"].(map[string]any); ok {
			delete(compare, "report")
		}
	}
	return v
}

func indent(v any) string {
	out, _ := json.MarshalIndent(v, "  ", "  ")
	return "  " + string(out)
}
