// Package runner serves HTTP through meshmirror on the wasmhost VM, configured by the
// envoy.yaml users give Envoy: the listener, the route's primary cluster, the clusters'
// addresses and the plugin's configuration are read with Envoy's own protos.
package runner

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmextv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	// The typed configs envoy.yaml names must be registered to decode.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// Config is what the runner takes from an Envoy bootstrap.
type Config struct {
	// Listen is the listener's address, host:port.
	Listen string
	// Primary is the cluster of the first route.
	Primary string
	// Routes are the route table's prefix and path rules, in order: a request goes to
	// the cluster of the first that matches. Empty means every request goes to Primary.
	Routes []Route
	// Clusters maps cluster names to the address of their first endpoint, "" for a
	// cluster with none (a service scaled to zero).
	Clusters map[string]string
	// HTTP2 names the clusters that Envoy reaches over HTTP/2 (cleartext here): those
	// whose typed_extension_protocol_options set explicit_http_config.http2_protocol_options.
	HTTP2 map[string]bool
	// Module is the wasm filter's local module file.
	Module string
	// PluginConfig is the wasm filter's configuration.
	PluginConfig []byte

	// The decoded messages the fields above come from.
	Bootstrap *bootstrapv3.Bootstrap
	Manager   *hcmv3.HttpConnectionManager
	Wasm      *wasmextv3.PluginConfig
}

// LoadEnvoyConfig reads an Envoy bootstrap file; see ParseEnvoyConfig.
func LoadEnvoyConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseEnvoyConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseEnvoyConfig decodes a bootstrap (YAML or JSON) into Envoy's Bootstrap message,
// validates it as Envoy would, and takes the first listener, its route's cluster, the
// meshmirror wasm filter and the static clusters.
func ParseEnvoyConfig(data []byte) (*Config, error) {
	boot, err := DecodeBootstrap(data)
	if err != nil {
		return nil, err
	}
	if errs := validateAll(boot); len(errs) > 0 {
		return nil, fmt.Errorf("invalid Envoy bootstrap: %w", errors.Join(errs...))
	}
	res := boot.GetStaticResources()
	if len(res.GetListeners()) == 0 {
		return nil, fmt.Errorf("no listener in static_resources")
	}
	listener := res.GetListeners()[0]
	listen, err := address(listener.GetAddress())
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", listener.GetName(), err)
	}
	cfg := &Config{Listen: listen, Clusters: map[string]string{}, HTTP2: map[string]bool{}, Bootstrap: boot}
	for _, c := range res.GetClusters() {
		if opts, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptions]; ok {
			var http upstreamhttpv3.HttpProtocolOptions
			if err := opts.UnmarshalTo(&http); err != nil {
				return nil, fmt.Errorf("cluster %s: %s: %w", c.GetName(), httpProtocolOptions, err)
			}
			cfg.HTTP2[c.GetName()] = http.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
		}
		eps := c.GetLoadAssignment().GetEndpoints()
		if len(eps) == 0 || len(eps[0].GetLbEndpoints()) == 0 {
			cfg.Clusters[c.GetName()] = "" // Envoy takes it; a call to it finds no upstream
			continue
		}
		addr, err := address(eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress())
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.GetName(), err)
		}
		cfg.Clusters[c.GetName()] = addr
	}
	hcm := &hcmv3.HttpConnectionManager{}
	for _, chain := range listener.GetFilterChains() {
		for _, f := range chain.GetFilters() {
			if tc := f.GetTypedConfig(); tc != nil && tc.MessageIs(hcm) {
				if err := tc.UnmarshalTo(hcm); err != nil {
					return nil, err
				}
				cfg.Manager = hcm
			}
		}
	}
	if cfg.Manager == nil {
		return nil, fmt.Errorf("listener %s has no http_connection_manager", listener.GetName())
	}
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			c := r.GetRoute().GetCluster()
			if c == "" {
				continue
			}
			if _, ok := cfg.Clusters[c]; !ok {
				return nil, fmt.Errorf("route: no cluster %q among the static clusters", c)
			}
			if cfg.Primary == "" {
				cfg.Primary = c
			}
			cfg.Routes = append(cfg.Routes, Route{Prefix: r.GetMatch().GetPrefix(), Path: r.GetMatch().GetPath(), Cluster: c})
		}
	}
	if cfg.Primary == "" {
		return nil, fmt.Errorf("no route to a cluster")
	}
	for _, f := range hcm.GetHttpFilters() {
		wasm := &wasmv3.Wasm{}
		if tc := f.GetTypedConfig(); tc != nil && tc.MessageIs(wasm) {
			if err := tc.UnmarshalTo(wasm); err != nil {
				return nil, err
			}
			cfg.Wasm = wasm.GetConfig()
			var value wrapperspb.StringValue
			if err := wasm.GetConfig().GetConfiguration().UnmarshalTo(&value); err != nil {
				return nil, fmt.Errorf("the wasm filter's configuration must be a google.protobuf.StringValue: %w", err)
			}
			cfg.PluginConfig = []byte(value.GetValue())
			cfg.Module = wasm.GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename()
		}
	}
	if cfg.Module == "" {
		return nil, fmt.Errorf("no wasm filter with a local module in the http_connection_manager")
	}
	return cfg, nil
}

// httpProtocolOptions is the key of a cluster's HTTP protocol options in
// typed_extension_protocol_options.
const httpProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Route is one route of the route table: a prefix or an exact path (without the query
// string), as Envoy's RouteMatch has them, and its cluster.
type Route struct {
	Prefix, Path, Cluster string
}

// Cluster is the cluster a request for path goes to: that of the first route that
// matches, as Envoy's route table picks it; Primary when there are no routes; "" when
// none matches (Envoy answers 404).
func (c *Config) Cluster(path string) string {
	if len(c.Routes) == 0 {
		return c.Primary
	}
	withoutQuery, _, _ := strings.Cut(path, "?")
	for _, r := range c.Routes {
		if r.Path != "" && r.Path == withoutQuery || r.Path == "" && strings.HasPrefix(path, r.Prefix) {
			return r.Cluster
		}
	}
	return ""
}

// DecodeBootstrap decodes a bootstrap (YAML or JSON) into Envoy's Bootstrap message,
// refusing unknown fields and typed_config types, without Envoy's validation rules
// (ValidateBootstrap) or anything the runner needs.
func DecodeBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	boot := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, boot); err != nil {
		return nil, fmt.Errorf("not an Envoy bootstrap: %w", err)
	}
	return boot, nil
}

// ValidateBootstrap returns every violation of Envoy's validation rules in boot, each
// starting with the path of its message (see validateAll).
func ValidateBootstrap(boot *bootstrapv3.Bootstrap) []error { return validateAll(boot) }

// WasmFilter is a wasm HTTP filter found in a bootstrap.
type WasmFilter struct {
	// Path is where its Wasm message is, in proto field names:
	// static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.
	Path string
	Wasm *wasmv3.Wasm
}

// WasmFilters returns every wasm HTTP filter of boot, wherever it is (any listener,
// filter chain or typed_config), in the order of the document.
func WasmFilters(boot *bootstrapv3.Bootstrap) []WasmFilter {
	var filters []WasmFilter
	walkMessages(boot.ProtoReflect(), "", func(m proto.Message, path string) {
		if w, ok := m.(*wasmv3.Wasm); ok {
			filters = append(filters, WasmFilter{Path: path, Wasm: w})
		}
	})
	return filters
}

// validateAll runs the validation rules (protoc-gen-validate) of m and of every
// message packed in an Any inside it, as Envoy does on load: a message's own rules stop
// at its Any fields, so a typed_config would otherwise go unchecked. Each error starts
// with the path of its message.
func validateAll(m proto.Message) []error {
	var errs []error
	check := func(m proto.Message, path string) {
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	check(m, "bootstrap")
	return append(errs, walkMessages(m.ProtoReflect(), "bootstrap", check)...)
}

// walkMessages calls visit for every message packed in an Any inside m (a
// typed_config), unpacked, with the path of the Any; it returns the Anys it cannot
// unpack.
func walkMessages(m protoreflect.Message, path string, visit func(m proto.Message, path string)) []error {
	var errs []error
	var walk func(m protoreflect.Message, path string)
	walk = func(m protoreflect.Message, path string) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
				return
			}
			visit(inner, path)
			m = inner.ProtoReflect()
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := string(fd.Name())
			if path != "" {
				name = path + "." + name
			}
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
						walk(v.Message(), fmt.Sprintf("%s[%v]", name, k))
						return true
					})
				}
			case fd.IsList():
				if fd.Message() != nil {
					for i := range v.List().Len() {
						walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i))
					}
				}
			case fd.Message() != nil:
				walk(v.Message(), name)
			}
			return true
		})
	}
	walk(m, path)
	return errs
}

func address(a *corev3.Address) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", fmt.Errorf("only socket addresses are supported")
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
}
