package manifests

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/mirror"
)

// TestREADMEGuide checks that the README's mesh guide and local Envoy section name what
// the files hold: paths, cluster names, Deployments, WasmPlugins, local addresses, and a
// user id said to be mirrored.
func TestREADMEGuide(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := section(t, string(data), "## Mesh guide") + section(t, string(data), "## Local Envoy")

	for _, path := range regexp.MustCompile(`manifests/[\w./-]*\w/?|envoy\.yaml|compose\.yaml`).FindAllString(readme, -1) {
		if _, err := os.Stat("../" + path); err != nil {
			t.Errorf("README names %s: %v", path, err)
		}
	}

	clusters := map[string]bool{}
	deployments := map[string]bool{"istio-ingressgateway": true} // installed with Istio
	plugins := map[string]bool{}
	var echoV2 *config.Target
	for _, file := range yamlFiles(t) {
		for _, o := range readObjects(t, file) {
			md := o["metadata"].(map[string]any)
			switch o.gvk().Kind {
			case "Deployment":
				deployments[md["name"].(string)] = true
			case "Gateway":
				// Istio deploys a waypoint as a Deployment of the Gateway's name.
				if spec, _ := o["spec"].(map[string]any); spec["gatewayClassName"] == "istio-waypoint" {
					deployments[md["name"].(string)] = true
				}
			case "WasmPlugin", "TrafficExtension":
				plugins[strings.ToLower(o.gvk().Kind)+" "+md["name"].(string)+" -n "+md["namespace"].(string)] = true
				plugin, _, err := wasmPlugin(o)
				if err != nil {
					t.Fatal(err)
				}
				config, err := parsePluginConfig(plugin)
				if err != nil {
					t.Fatal(err)
				}
				for i, target := range config.Targets {
					clusters[target.Cluster] = true
					if target.Name == "echo-v2" {
						echoV2 = &config.Targets[i]
					}
				}
			}
		}
	}
	for _, c := range regexp.MustCompile(`outbound\|\d+\|[\w-]*\|[\w.-]+`).FindAllString(readme, -1) {
		if !clusters[c] {
			t.Errorf("README names cluster %s, which no target of the manifests uses", c)
		}
	}
	for _, m := range regexp.MustCompile(`deployment/([\w-]+)`).FindAllStringSubmatch(readme, -1) {
		if !deployments[m[1]] {
			t.Errorf("README names deployment/%s, which the manifests do not define", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`(?:wasmplugin|trafficextension) [\w-]+ -n [\w-]+`).FindAllString(readme, -1) {
		if !plugins[m] {
			t.Errorf("README names %s, which the manifests do not define", m)
		}
	}

	config := loadEnvoy(t)
	ports := map[string]bool{
		strconv.Itoa(int(config.Bootstrap.GetAdmin().GetAddress().GetSocketAddress().GetPortValue())):                             true,
		strconv.Itoa(int(config.Bootstrap.GetStaticResources().GetListeners()[0].GetAddress().GetSocketAddress().GetPortValue())): true,
	}
	for _, c := range config.Bootstrap.GetStaticResources().GetClusters() {
		ports[strconv.Itoa(int(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()))] = true
	}
	for _, m := range regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(readme, -1) {
		if !ports[m[1]] {
			t.Errorf("README names 127.0.0.1:%s, which envoy.yaml does not use", m[1])
		}
	}

	if echoV2 == nil {
		t.Fatal("no target echo-v2 in the manifests")
	}
	for _, m := range regexp.MustCompile(`x-user-id: ([\w-]+)`).FindAllStringSubmatch(readme, -1) {
		if mirror.StickyBucket(echoV2.Name, m[1]) >= echoV2.Percent {
			t.Errorf("README's examples send x-user-id %s, which echo-v2 does not mirror", m[1])
		}
	}
}

// section returns a README section, from its heading to the next heading of its level.
func section(t *testing.T, readme, heading string) string {
	_, text, found := strings.Cut(readme, "\n"+heading+"\n")
	if !found {
		t.Fatalf("README has no section %q", heading)
	}
	text, _, _ = strings.Cut(text, "\n## ")
	return text
}
