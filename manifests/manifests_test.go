package manifests

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	typev1beta1 "istio.io/api/type/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/meshmirror/meshmirror/internal/validate"
	"github.com/meshmirror/meshmirror/plugin/mirror"
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

// parsePluginConfig parses a WasmPlugin's pluginConfig as the module does, after Istio
// has turned it into JSON with protojson (pilot/pkg/model/extensions.go).
func parsePluginConfig(plugin *extensionsv1alpha1.WasmPlugin) (*mirror.Config, error) {
	config, err := protojson.Marshal(plugin.GetPluginConfig())
	if err != nil {
		return nil, err
	}
	return mirror.ParseConfig(config)
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

// checkPlugin checks that a WasmPlugin selects pods of these manifests (or the ingress
// gateway, with match mode CLIENT), and that its targets' clusters exist. Their stats
// need no proxyStatsMatcher: Istio's bootstrap always keeps the prefix wasm
// (pkg/bootstrap/config.go), and so wasmcustom.*.
func checkPlugin(t *testing.T, m *mesh, p named[*extensionsv1alpha1.WasmPlugin]) {
	selector := labels.SelectorFromSet(p.spec.GetSelector().GetMatchLabels())
	if p.spec.GetSelector().GetMatchLabels()["istio"] == "ingressgateway" {
		// The gateway is Istio's own Deployment.
		if modes := p.spec.GetMatch(); len(modes) != 1 || modes[0].GetMode() != typev1beta1.WorkloadMode_CLIENT {
			t.Errorf("WasmPlugin %s: a gateway's listeners are CLIENT; want match [{mode: CLIENT}]", p.name)
		}
	} else {
		pods := 0
		for _, d := range m.deployments {
			if d.Namespace != p.namespace || !selector.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			pods++
		}
		if pods == 0 {
			t.Errorf("WasmPlugin %s selects no Deployment in %s", p.name, p.namespace)
		}
	}
	config, err := parsePluginConfig(p.spec)
	if err != nil {
		t.Fatalf("WasmPlugin %s: %v", p.name, err)
	}
	for _, target := range config.Targets {
		// outbound|<port>|<subset>|<host>, Istio's name for the cluster.
		parts := strings.Split(target.Cluster, "|")
		if len(parts) != 4 || parts[0] != "outbound" {
			t.Errorf("WasmPlugin %s: target %s: cluster %q is not an Istio outbound cluster", p.name, target.Name, target.Cluster)
			continue
		}
		port, _ := strconv.Atoi(parts[1])
		if problem := m.cluster(p.namespace, parts[3], uint32(port), parts[2]); problem != "" {
			t.Errorf("WasmPlugin %s: target %s: %s", p.name, target.Name, problem)
		}
	}
}

// mesh holds the objects of one kustomization, decoded into their Go types.
type mesh struct {
	deployments      []*appsv1.Deployment
	services         []*corev1.Service
	destinationRules []named[*networkingv1.DestinationRule]
	serviceEntries   []named[*networkingv1.ServiceEntry]
	virtualServices  []named[*networkingv1.VirtualService]
	plugins          []named[*extensionsv1alpha1.WasmPlugin]
}

// named is an Istio object's spec with its name and namespace.
type named[T any] struct {
	name, namespace string
	spec            T
}

func index(t *testing.T, objects []object) *mesh {
	m := &mesh{}
	for _, o := range objects {
		md := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		namespace, _ := md["namespace"].(string)
		var err error
		switch o.gvk().Kind {
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
			m.destinationRules = append(m.destinationRules, named[*networkingv1.DestinationRule]{name, namespace, s})
		case "ServiceEntry":
			s := &networkingv1.ServiceEntry{}
			err = decodeSpec(o, s)
			m.serviceEntries = append(m.serviceEntries, named[*networkingv1.ServiceEntry]{name, namespace, s})
		case "VirtualService":
			s := &networkingv1.VirtualService{}
			err = decodeSpec(o, s)
			m.virtualServices = append(m.virtualServices, named[*networkingv1.VirtualService]{name, namespace, s})
		case "WasmPlugin":
			s := &extensionsv1alpha1.WasmPlugin{}
			err = decodeSpec(o, s)
			m.plugins = append(m.plugins, named[*extensionsv1alpha1.WasmPlugin]{name, namespace, s})
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
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "prometheus"):
			return filepath.SkipDir // prometheus: not Kubernetes objects of Istio's or core kinds (prometheus_test.go)
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

// kustomizations returns the directories under manifests/ that kubectl apply -k takes.
func kustomizations(t *testing.T) []string {
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return filepath.SkipDir
		case d.Name() == "kustomization.yaml":
			dirs = append(dirs, filepath.Dir(path))
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
