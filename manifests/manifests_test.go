package manifests

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"

	"github.com/google/cel-go/cel"
	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	telemetryv1 "istio.io/api/telemetry/v1"
	typev1beta1 "istio.io/api/type/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/meshmirror/meshmirror/internal/validate"
)

// TestManifests validates every document of every YAML file under manifests/ (testdata
// aside) and everything kustomize builds from each kustomization, which is what
// `kubectl apply -k` sends; and checks that some kustomization applies each file.
func TestManifests(t *testing.T) {
	v := newValidator(t)
	inFiles := map[string]string{} // object id → file
	for _, file := range yamlFiles(t) {
		for _, o := range readObjects(t, file) {
			inFiles[o.id()] = file
			for _, problem := range check(v, o) {
				t.Errorf("%s: %s: %s", file, o.id(), problem)
			}
		}
	}
	if len(inFiles) == 0 {
		t.Fatal("no manifests found")
	}
	applied := map[string]bool{}
	for _, dir := range kustomizations(t) {
		for _, o := range build(t, dir) {
			applied[o.id()] = true
			for _, problem := range check(v, o) {
				t.Errorf("kubectl apply -k %s: %s: %s", dir, o.id(), problem)
			}
		}
	}
	for id, file := range inFiles {
		if !applied[id] {
			t.Errorf("%s: %s is in no kustomization, so kubectl apply -k never applies it", file, id)
		}
	}
}

// TestBrokenManifests checks that validation fails, with the path of the bad field, for
// each document of testdata/broken.yaml, finding every problem and no other; a
// document's name says what is wrong with it.
func TestBrokenManifests(t *testing.T) {
	want := map[string][]string{
		"unknown-field":              {`unknown field "spec.selector.matchLabel"`},
		"bad-enum":                   {`spec.failStrategy: Unsupported value: "FAIL_OPN"`},
		"cel-rule":                   {`spec.url: Invalid value`},
		"plugin-config":              {`spec.pluginConfig.targets[0].percentage: must be between 0 and 100, got 150`},
		"serviceentry-port":          {`spec.ports[0].number: Invalid value`},
		"deployment-unknown-field":   {`unknown field "spec.template.spec.containers[0].imagePullPolcy"`},
		"deployment-wrong-type":      {`spec.replicas`},
		"deployment-selector":        {`spec.template.metadata.labels: Invalid value`},
		"service-metadata-bad-label": {`metadata.labels: Invalid value: "-v1"`},
		"plugin-config-several": {
			`spec.pluginConfig.targets[0]: unknown key "percent" (did you mean "percentage"?)`,
			`spec.pluginConfig.targets[1].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got "Shadow2"`,
			`spec.pluginConfig.targets[1].service: must be a fully qualified host name`,
		},
		"plugin-config-missing": {`spec.pluginConfig: the configuration is empty`},
		"plugin-name":           {`spec.pluginName: must be "meshmirror"`},
		"traffic-extension":     {`spec.wasm.pluginConfig.targets[0].timeoutMs: must be between 1 and 60000, got 0`},
	}
	v := newValidator(t)
	seen := map[string]bool{}
	for _, o := range readObjects(t, "testdata/broken.yaml") {
		name := o["metadata"].(map[string]any)["name"].(string)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			problems := check(v, o)
			if len(problems) != len(want[name]) {
				t.Errorf("%s: got problems %q, want %d: %q", o.id(), problems, len(want[name]), want[name])
			}
			for _, w := range want[name] {
				if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
					t.Errorf("%s: got problems %q, want one containing %q", o.id(), problems, w)
				}
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("testdata/broken.yaml has no document named %s", name)
		}
	}
}

// check returns every problem of o: the API server's and, for a WasmPlugin or a
// TrafficExtension of meshmirror, `meshmirror validate`'s.
func check(v *validator, o object) []string {
	problems := v.validate(o)
	for _, p := range validate.Object(o).Problems {
		problems = append(problems, p.Path+": "+p.Message)
	}
	return problems
}

// wasmPlugin returns the plugin o configures, in WasmPlugin's shape, and the path of
// its module fields: o itself for a WasmPlugin (spec.), or for a TrafficExtension the
// same fields, which it keeps under spec.wasm (Istio 1.30 made it WasmPlugin's
// successor with the same selector, targetRefs, phase, priority and match), so that
// every check of a WasmPlugin holds for both. It is nil for any other kind.
func wasmPlugin(o object) (*extensionsv1alpha1.WasmPlugin, string, error) {
	switch o.gvk().Kind {
	case "WasmPlugin":
		plugin := &extensionsv1alpha1.WasmPlugin{}
		return plugin, "spec.", decodeSpec(o, plugin)
	case "TrafficExtension":
		te := &extensionsv1alpha1.TrafficExtension{}
		if err := decodeSpec(o, te); err != nil {
			return nil, "", err
		}
		w := te.GetWasm()
		if w == nil {
			return nil, "", fmt.Errorf("spec.wasm: meshmirror is a Wasm module, not %T", te.GetFilterConfig())
		}
		plugin := &extensionsv1alpha1.WasmPlugin{
			Selector: te.GetSelector(), TargetRefs: te.GetTargetRefs(),
			Phase: extensionsv1alpha1.PluginPhase(te.GetPhase()), Priority: te.GetPriority(),
			Url: w.GetUrl(), Sha256: w.GetSha256(), ImagePullPolicy: w.GetImagePullPolicy(),
			ImagePullSecret: w.GetImagePullSecret(), VerificationKey: w.GetVerificationKey(),
			PluginConfig: w.GetPluginConfig(), PluginName: w.GetPluginName(),
			FailStrategy: w.GetFailStrategy(), VmConfig: w.GetVmConfig(), Type: w.GetType(),
		}
		for _, m := range te.GetMatch() {
			plugin.Match = append(plugin.Match, &extensionsv1alpha1.WasmPlugin_TrafficSelector{Mode: m.GetMode(), Ports: m.GetPorts()})
		}
		return plugin, "spec.wasm.", nil
	}
	return nil, "", nil
}

// parsePluginConfig parses a WasmPlugin's pluginConfig as the module does, after Istio
// has turned it into JSON with protojson (pilot/pkg/model/extensions.go).
func parsePluginConfig(plugin *extensionsv1alpha1.WasmPlugin) (*config.Config, error) {
	data, err := protojson.Marshal(plugin.GetPluginConfig())
	if err != nil {
		return nil, err
	}
	return config.Parse(data)
}

// TestManifestsFitTogether checks what the schemas cannot: within each kustomization,
// meshmirror runs in pods that exist and keep its metrics, and every target and route
// names a cluster that Istio creates from these objects.
func TestManifestsFitTogether(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			m := index(t, build(t, dir))
			for _, p := range m.plugins {
				checkPlugin(t, m, p)
			}
			checkTelemetry(t, m)
			for _, vs := range m.virtualServices {
				for _, route := range vs.spec.GetHttp() {
					for _, dest := range route.GetRoute() {
						d := dest.GetDestination()
						if problem := m.cluster(vs.namespace, d.GetHost(), d.GetPort().GetNumber(), d.GetSubset()); problem != "" {
							t.Errorf("VirtualService %s: %s", vs.name, problem)
						}
					}
				}
			}
		})
	}
}

// checkPlugin checks that a plugin runs where meshmirror can work and its targets'
// clusters exist there: in a waypoint it names with targetRefs, in the ingress gateway
// (match mode CLIENT), or in pods that exist. Their stats need no proxyStatsMatcher:
// Istio's bootstrap always keeps the prefix wasm (pkg/bootstrap/config.go), and so
// wasmcustom.*.
func checkPlugin(t *testing.T, m *mesh, p named[*extensionsv1alpha1.WasmPlugin]) {
	id := p.kind + " " + p.name
	config, err := parsePluginConfig(p.spec)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if refs := p.spec.GetTargetRefs(); len(refs) > 0 {
		for _, ref := range refs {
			waypoint := m.waypoint(p.namespace, ref)
			if waypoint == nil {
				t.Errorf("%s: targetRef %s %s is no Gateway of class istio-waypoint in %s", id, ref.GetKind(), ref.GetName(), p.namespace)
				continue
			}
			if problem := m.waypointStatsTags(waypoint); problem != "" {
				t.Errorf("Gateway %s: %s", waypoint.name, problem)
			}
			for _, target := range config.Targets {
				if problem := m.waypointCluster(p.namespace, waypoint.name, target.Cluster); problem != "" {
					t.Errorf("%s: target %s: %s", id, target.Name, problem)
				}
			}
		}
		// A waypoint's HTTP filters are built as a sidecar's inbound ones
		// (pilot/pkg/networking/core/waypoint.go, buildWaypointHTTPFilters).
		if modes := p.spec.GetMatch(); len(modes) != 1 || modes[0].GetMode() != typev1beta1.WorkloadMode_SERVER {
			t.Errorf("%s: a waypoint's listeners are SERVER; want match [{mode: SERVER}]", id)
		}
		return
	}
	selector := labels.SelectorFromSet(p.spec.GetSelector().GetMatchLabels())
	if p.spec.GetSelector().GetMatchLabels()["istio"] == "ingressgateway" {
		// The gateway is Istio's own Deployment.
		if modes := p.spec.GetMatch(); len(modes) != 1 || modes[0].GetMode() != typev1beta1.WorkloadMode_CLIENT {
			t.Errorf("%s: a gateway's listeners are CLIENT; want match [{mode: CLIENT}]", id)
		}
	} else {
		pods := 0
		for _, d := range m.deployments {
			if d.Namespace != p.namespace || !selector.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			pods++
			if !m.holdsBootstrap(d.Namespace, d.Spec.Template.Annotations["sidecar.istio.io/bootstrapOverride"]) {
				t.Errorf("Deployment %s runs meshmirror but its pods lack the annotation sidecar.istio.io/bootstrapOverride naming a ConfigMap with custom_bootstrap.json: its metrics would have no target label", d.Name)
			}
		}
		if pods == 0 {
			t.Errorf("%s selects no Deployment in %s", id, p.namespace)
		}
	}
	for _, target := range config.Targets {
		// outbound|<port>|<subset>|<host>, Istio's name for the cluster.
		parts := strings.Split(target.Cluster, "|")
		if len(parts) != 4 || parts[0] != "outbound" {
			t.Errorf("%s: target %s: cluster %q is not an Istio outbound cluster", id, target.Name, target.Cluster)
			continue
		}
		port, _ := strconv.Atoi(parts[1])
		if problem := m.cluster(p.namespace, parts[3], uint32(port), parts[2]); problem != "" {
			t.Errorf("%s: target %s: %s", id, target.Name, problem)
		}
		// The receiver of its reports (reports/) must be deployed with it.
		if c := target.Compare; c != nil && c.ReportCluster != "" {
			parts := strings.Split(c.ReportCluster, "|")
			port, _ := strconv.Atoi(parts[min(1, len(parts)-1)])
			if len(parts) != 4 || parts[0] != "outbound" {
				t.Errorf("%s: target %s: report cluster %q is not an Istio outbound cluster", id, target.Name, c.ReportCluster)
			} else if problem := m.cluster(p.namespace, parts[3], uint32(port), parts[2]); problem != "" {
				t.Errorf("%s: target %s: report cluster: %s", id, target.Name, problem)
			}
		}
	}
}

// checkTelemetry checks that the kustomization has a Telemetry that labels the
// shadow's request count and duration with mirrored, the label README's shadow queries
// use: its CEL expression, evaluated as Istio's stats filter does on request.headers,
// says "true" for a request with the plugin's marker header, whatever its value, and
// "false" for one without, and nothing else: a header's own value would give every
// client a new series (istio_stats.cc puts the value in the stat's name).
func checkTelemetry(t *testing.T, m *mesh) {
	for _, p := range m.plugins {
		config, err := parsePluginConfig(p.spec)
		if err != nil {
			continue // checkPlugin reports it
		}
		for _, metric := range []telemetryv1.MetricSelector_IstioMetric{telemetryv1.MetricSelector_REQUEST_COUNT, telemetryv1.MetricSelector_REQUEST_DURATION} {
			found := false
			for _, tel := range m.telemetries {
				for _, metrics := range tel.spec.GetMetrics() {
					for _, o := range metrics.GetOverrides() {
						expr := o.GetTagOverrides()["mirrored"].GetValue()
						if o.GetMatch().GetMetric() != metric || expr == "" {
							continue
						}
						found = true
						if problem := checkMirroredLabel(expr, config.Marker); problem != "" {
							t.Errorf("Telemetry %s: %s mirrored: %q: %s", tel.name, metric, expr, problem)
						}
					}
				}
			}
			if !found {
				t.Errorf("%s %s: no Telemetry labels %s with mirrored", p.kind, p.name, metric)
			}
		}
	}
}

// checkMirroredLabel evaluates the CEL expression of the label mirrored on requests
// with and without the marker header, with values a copy and a client may send.
func checkMirroredLabel(expr, marker string) string {
	env, err := cel.NewEnv(cel.Variable("request", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.StringType))))
	if err != nil {
		return err.Error()
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return iss.Err().Error()
	}
	prg, err := env.Program(ast)
	if err != nil {
		return err.Error()
	}
	for _, c := range []struct {
		headers map[string]string
		want    string
	}{
		{map[string]string{marker: "echo-v2"}, "true"},
		{map[string]string{marker: "anything-a-client-sends-" + strconv.Itoa(len(expr))}, "true"},
		{map[string]string{marker: ""}, "true"},
		{map[string]string{"x-user-id": "alice"}, "false"},
		{map[string]string{}, "false"},
	} {
		out, _, err := prg.Eval(map[string]any{"request": map[string]any{"headers": c.headers}})
		if err != nil {
			return fmt.Sprintf("headers %v: %v (Istio reports unknown)", c.headers, err)
		}
		if got, _ := out.Value().(string); got != c.want {
			return fmt.Sprintf("headers %v: %v, want %q", c.headers, out.Value(), c.want)
		}
	}
	return ""
}

// waypoint returns the waypoint a targetRef names in namespace: a Gateway API Gateway
// of class istio-waypoint in these manifests; nil if there is none.
func (m *mesh) waypoint(namespace string, ref *typev1beta1.PolicyTargetReference) *named[*gatewayv1.GatewaySpec] {
	if ref.GetGroup() != "gateway.networking.k8s.io" || ref.GetKind() != "Gateway" {
		return nil
	}
	for i, g := range m.gateways {
		if g.namespace == namespace && g.name == ref.GetName() && g.spec.GatewayClassName == "istio-waypoint" {
			return &m.gateways[i]
		}
	}
	return nil
}

// holdsBootstrap reports whether namespace has a ConfigMap of this name with a
// custom_bootstrap.json, the file Istio's injector mounts for
// sidecar.istio.io/bootstrapOverride (TestStatsTags checks its rules).
func (m *mesh) holdsBootstrap(namespace, name string) bool {
	_, ok := m.configMaps[namespace+"/"+name]["custom_bootstrap.json"]
	return ok
}

// waypointStatsTags says why a waypoint's Envoy would not load the stats_tags, or
// returns "": its parametersRef must name a ConfigMap whose deployment patch, a
// Deployment as Istio merges it, sets ISTIO_BOOTSTRAP_OVERRIDE on the istio-proxy
// container to the custom_bootstrap.json of a mounted ConfigMap.
func (m *mesh) waypointStatsTags(g *named[*gatewayv1.GatewaySpec]) string {
	ref := g.spec.Infrastructure
	if ref == nil || ref.ParametersRef == nil || ref.ParametersRef.Kind != "ConfigMap" || ref.ParametersRef.Group != "" {
		return "no spec.infrastructure.parametersRef to a ConfigMap: the waypoint's metrics would have no target label"
	}
	patch, ok := m.configMaps[g.namespace+"/"+ref.ParametersRef.Name]["deployment"]
	if !ok {
		return "parametersRef: no ConfigMap " + ref.ParametersRef.Name + " with a key deployment"
	}
	js, err := yaml.YAMLToJSON([]byte(patch))
	if err != nil {
		return "ConfigMap " + ref.ParametersRef.Name + ": deployment: " + err.Error()
	}
	var d appsv1.Deployment
	if problems, _ := decodeStrict(json.RawMessage(js), &d); len(problems) > 0 {
		return "ConfigMap " + ref.ParametersRef.Name + ": deployment: " + strings.Join(problems, "; ")
	}
	pod := d.Spec.Template.Spec
	for _, c := range pod.Containers {
		if c.Name != "istio-proxy" {
			continue
		}
		for _, e := range c.Env {
			if e.Name != "ISTIO_BOOTSTRAP_OVERRIDE" {
				continue
			}
			for _, vm := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == vm.Name && v.ConfigMap != nil && e.Value == vm.MountPath+"/custom_bootstrap.json" && m.holdsBootstrap(g.namespace, v.ConfigMap.Name) {
						return ""
					}
				}
			}
		}
	}
	return "ConfigMap " + ref.ParametersRef.Name + ": the istio-proxy container does not get ISTIO_BOOTSTRAP_OVERRIDE pointing at a mounted custom_bootstrap.json"
}

// waypointCluster says why a waypoint would have no cluster of this name, or returns "".
// A waypoint names a service's cluster inbound-vip|<port>|http[/<subset>]|<host>
// (pilot/pkg/networking/core/waypoint.go), and has it only for the services bound to
// it by the label istio.io/use-waypoint, on the Service, the ServiceEntry or their
// namespace.
func (m *mesh) waypointCluster(namespace, waypoint, cluster string) string {
	parts := strings.Split(cluster, "|")
	protocol, subset, _ := strings.Cut(parts[min(2, len(parts)-1)], "/")
	if len(parts) != 4 || parts[0] != "inbound-vip" || protocol != "http" {
		return fmt.Sprintf("cluster %q is not a waypoint's cluster inbound-vip|<port>|http[/<subset>]|<host>", cluster)
	}
	port, _ := strconv.Atoi(parts[1])
	if problem := m.cluster(namespace, parts[3], uint32(port), subset); problem != "" {
		return problem
	}
	if !m.usesWaypoint(parts[3], waypoint) {
		return parts[3] + " is not bound to the waypoint " + waypoint + " (label istio.io/use-waypoint)"
	}
	return ""
}

// usesWaypoint reports whether the Service or ServiceEntry of host is bound to waypoint.
func (m *mesh) usesWaypoint(host, waypoint string) bool {
	bound := func(own map[string]string, namespace string) bool {
		if w, ok := own["istio.io/use-waypoint"]; ok {
			return w == waypoint
		}
		return m.namespaces[namespace]["istio.io/use-waypoint"] == waypoint
	}
	for _, s := range m.services {
		if s.Name+"."+s.Namespace+".svc.cluster.local" == host && bound(s.Labels, s.Namespace) {
			return true
		}
	}
	for _, se := range m.serviceEntries {
		if slices.Contains(se.spec.GetHosts(), host) && bound(se.labels, se.namespace) {
			return true
		}
	}
	return false
}

// mesh holds the objects of one kustomization, decoded into their Go types.
type mesh struct {
	deployments      []*appsv1.Deployment
	services         []*corev1.Service
	destinationRules []named[*networkingv1.DestinationRule]
	serviceEntries   []named[*networkingv1.ServiceEntry]
	virtualServices  []named[*networkingv1.VirtualService]
	gateways         []named[*gatewayv1.GatewaySpec]
	// plugins are the WasmPlugins and TrafficExtensions, in WasmPlugin's shape.
	plugins     []named[*extensionsv1alpha1.WasmPlugin]
	telemetries []named[*telemetryv1.Telemetry]
	namespaces  map[string]map[string]string // name → labels
	configMaps  map[string]map[string]string // namespace/name → data
}

// named is an object's spec with its kind, name, namespace and labels.
type named[T any] struct {
	name, namespace string
	spec            T
	kind            string
	labels          map[string]string
}

func index(t *testing.T, objects []object) *mesh {
	m := &mesh{namespaces: map[string]map[string]string{}, configMaps: map[string]map[string]string{}}
	for _, o := range objects {
		md := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		namespace, _ := md["namespace"].(string)
		objLabels := map[string]string{}
		if l, ok := md["labels"].(map[string]any); ok {
			for k, v := range l {
				objLabels[k], _ = v.(string)
			}
		}
		var err error
		switch o.gvk().Kind {
		case "Namespace":
			m.namespaces[name] = objLabels
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o, c)
			m.configMaps[namespace+"/"+name] = c.Data
		case "Deployment":
			d := &appsv1.Deployment{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o, d)
			m.deployments = append(m.deployments, d)
		case "Service":
			s := &corev1.Service{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o, s)
			m.services = append(m.services, s)
		case "DestinationRule":
			s := &networkingv1.DestinationRule{}
			err = decodeSpec(o, s)
			m.destinationRules = append(m.destinationRules, named[*networkingv1.DestinationRule]{name: name, namespace: namespace, spec: s})
		case "ServiceEntry":
			s := &networkingv1.ServiceEntry{}
			err = decodeSpec(o, s)
			m.serviceEntries = append(m.serviceEntries, named[*networkingv1.ServiceEntry]{name: name, namespace: namespace, spec: s, labels: objLabels})
		case "VirtualService":
			s := &networkingv1.VirtualService{}
			err = decodeSpec(o, s)
			m.virtualServices = append(m.virtualServices, named[*networkingv1.VirtualService]{name: name, namespace: namespace, spec: s})
		case "Gateway":
			if o.gvk().Group == "gateway.networking.k8s.io" {
				s := &gatewayv1.GatewaySpec{}
				err = runtime.DefaultUnstructuredConverter.FromUnstructured(o["spec"].(map[string]any), s)
				m.gateways = append(m.gateways, named[*gatewayv1.GatewaySpec]{name: name, namespace: namespace, spec: s})
			}
		case "Telemetry":
			s := &telemetryv1.Telemetry{}
			err = decodeSpec(o, s)
			m.telemetries = append(m.telemetries, named[*telemetryv1.Telemetry]{name: name, namespace: namespace, spec: s})
		case "WasmPlugin", "TrafficExtension":
			var s *extensionsv1alpha1.WasmPlugin
			s, _, err = wasmPlugin(o)
			m.plugins = append(m.plugins, named[*extensionsv1alpha1.WasmPlugin]{name: name, namespace: namespace, spec: s, kind: o.gvk().Kind})
		}
		if err != nil {
			t.Fatalf("%s: %v", o.id(), err)
		}
	}
	return m
}

// cluster says why Istio would have no cluster outbound|port|subset|host for a proxy in
// namespace, or returns "" when it would: host is a Service of these manifests with that
// port, or a ServiceEntry's host and port; a subset must be defined by a DestinationRule
// and select pods. Port 0 (a route to a service's only port) matches any port.
func (m *mesh) cluster(namespace, host string, port uint32, subset string) string {
	fqdn := host
	if !strings.Contains(host, ".") {
		fqdn = host + "." + namespace + ".svc.cluster.local"
	}
	name := "outbound|" + strconv.Itoa(int(port)) + "|" + subset + "|" + fqdn
	var podLabels []labels.Set // pods behind the host, when they are in the manifests
	found := false
	for _, s := range m.services {
		if s.Name+"."+s.Namespace+".svc.cluster.local" != fqdn || !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return port == 0 || uint32(p.Port) == port }) {
			continue
		}
		found = true
		for _, d := range m.deployments {
			if d.Namespace == s.Namespace && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				podLabels = append(podLabels, d.Spec.Template.Labels)
			}
		}
	}
	for _, se := range m.serviceEntries {
		if slices.Contains(se.spec.GetHosts(), fqdn) && slices.ContainsFunc(se.spec.GetPorts(), func(p *networkingv1.ServicePort) bool { return port == 0 || p.GetNumber() == port }) {
			found = true
		}
	}
	if !found {
		return name + ": no Service or ServiceEntry in these manifests has host " + fqdn + " and port " + strconv.Itoa(int(port))
	}
	if subset == "" {
		return ""
	}
	for _, dr := range m.destinationRules {
		drHost := dr.spec.GetHost()
		if !strings.Contains(drHost, ".") {
			drHost += "." + dr.namespace + ".svc.cluster.local"
		}
		if drHost != fqdn {
			continue
		}
		for _, s := range dr.spec.GetSubsets() {
			if s.GetName() != subset {
				continue
			}
			selector := labels.SelectorFromSet(s.GetLabels())
			if podLabels != nil && !slices.ContainsFunc(podLabels, func(l labels.Set) bool { return selector.Matches(l) }) {
				return name + ": subset " + subset + " of DestinationRule " + dr.name + " selects no pod of " + fqdn
			}
			return ""
		}
	}
	return name + ": no DestinationRule defines subset " + subset + " of " + fqdn
}

// yamlFiles returns the YAML files under manifests/ but testdata, the Prometheus
// rules and kustomizations.
func yamlFiles(t *testing.T) []string {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "prometheus" || d.Name() == "rollouts"):
			return filepath.SkipDir // prometheus, rollouts: not of Istio's or core kinds (prometheus_test.go, rollouts_test.go)
		case !d.IsDir() && strings.HasSuffix(path, ".yaml") && d.Name() != "kustomization.yaml":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// kustomizations returns the directories under manifests/ that kubectl apply -k takes;
// components, which only the kustomizations that include them build, are left out.
func kustomizations(t *testing.T) []string {
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "rollouts"):
			return filepath.SkipDir // rollouts: Argo Rollouts' and Flagger's kinds (rollouts_test.go)
		case d.Name() == "kustomization.yaml":
			var k struct{ Kind string }
			data, err := os.ReadFile(path)
			if err == nil {
				err = yaml.Unmarshal(data, &k)
			}
			if err != nil {
				return err
			}
			if k.Kind != "Component" {
				dirs = append(dirs, filepath.Dir(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// build runs kustomize, as kubectl apply -k does, and returns what it would apply.
func build(t *testing.T, dir string) []object {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	data, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeDocuments(data)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objects
}

func readObjects(t *testing.T, file string) []object {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeDocuments(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return objects
}
