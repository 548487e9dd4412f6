package validate

import (
	"os"
	"strings"
	"testing"
)

const wasmPlugin = `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: mm, namespace: demo}
spec:
  url: oci://ghcr.io/meshmirror/meshmirror:0.1.0
  pluginName: meshmirror
  pluginConfig:
    targets:
    - {name: shadow, cluster: shadow}
`

func TestFile(t *testing.T) {
	envoy, err := os.ReadFile("../../envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const filter = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration"
	tests := []struct {
		name    string
		data    string
		configs int
		want    []string // every problem, as Problem.String
	}{
		{"JSON", `{"targets": [{"name": "a", "cluster": "c"}]}`, 1, nil},
		{"JSON, two problems", `{"targets": [{"name": "a", "cluster": "c", "percent": 5}, {"name": "b", "cluster": "c", "percentage": 150}]}`, 1, []string{
			`document 1: targets[0]: unknown key "percent" (did you mean "percentage"?)`,
			`document 1: targets[1].percentage: must be between 0 and 100, got 150`}},
		{"empty", " \n", 1, []string{"document 1: the configuration is empty; the plugin needs at least one target"}},
		{"not JSON", `{"targets": [`, 1, []string{"document 1: not valid JSON"}},
		{"too deep", strings.Repeat("[", 10000), 1, []string{"document 1: nested deeper than 32 levels at byte 32"}},
		{"YAML configuration", "targets:\n- {name: a, cluster: c, timeoutMs: 0}\n", 1, []string{
			"document 1: targets[0].timeoutMs: must be between 1 and 60000, got 0"}},
		{"WasmPlugin", wasmPlugin, 1, nil},
		{"summarySeconds", "targets:\n- {name: a, cluster: c, compare: {report: {cluster: r, summarySeconds: 0}}}\n- {name: b, cluster: c, compare: {report: {cluster: r, summarySeconds: 2.5}}}\n", 1, []string{
			"document 1: targets[0].compare.report.summarySeconds: must be between 1 and 3600, got 0",
			"document 1: targets[1].compare.report.summarySeconds: must be a whole number, got 2.5"}},
		{"WasmPlugin in JSON", `{"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", "metadata": {"name": "mm"},
			"spec": {"pluginName": "meshmirror", "pluginConfig": {"targets": [{"name": "a"}]}}}`, 1, []string{
			"document 1 (WasmPlugin mm): spec.pluginConfig.targets[0]: cluster or service with port: required"}},
		{"manifests, one broken", "---\n" + wasmPlugin + "---\n# a comment only\n---\n" +
			strings.Replace(wasmPlugin, "cluster: shadow}", "cluster: shadow, percentage: 150, marker: host}", 1) +
			"---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n", 2, []string{
			"document 2 (WasmPlugin demo/mm): spec.pluginConfig.targets[0]: unknown key \"marker\"",
			"document 2 (WasmPlugin demo/mm): spec.pluginConfig.targets[0].percentage: must be between 0 and 100, got 150"}},
		{"no pluginConfig", strings.Split(wasmPlugin, "  pluginConfig:")[0], 1, []string{
			"document 1 (WasmPlugin demo/mm): spec.pluginConfig: the configuration is empty; the plugin needs at least one target"}},
		{"pluginConfig not an object", strings.Split(wasmPlugin, "  pluginConfig:")[0] + "  pluginConfig: [1]\n", 1, []string{
			"document 1 (WasmPlugin demo/mm): spec.pluginConfig: must be an object"}},
		{"another plugin", strings.NewReplacer("pluginName: meshmirror", "pluginName: other", "ghcr.io/meshmirror/meshmirror:0.1.0", "example.com/other:1").Replace(wasmPlugin) +
			"    percent: 5\n", 0, nil},
		{"meshmirror's module, wrong plugin name", strings.Replace(wasmPlugin, "pluginName: meshmirror", "pluginName: mirror", 1), 0, []string{
			`document 1 (WasmPlugin demo/mm): spec.pluginName: must be "meshmirror", the plugin's root id, for the module oci://ghcr.io/meshmirror/meshmirror:0.1.0, got "mirror"`}},
		{"TrafficExtension", "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: te}\nspec:\n  wasm:\n" +
			"    pluginName: meshmirror\n    pluginConfig: {targets: [{name: a, cluster: c, body: {maxBytes: -1}}]}\n", 1, []string{
			"document 1 (TrafficExtension te): spec.wasm.pluginConfig.targets[0].body.maxBytes: must be between 0 and 16777216, got -1"}},
		{"TrafficExtension in Lua", "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: te}\nspec:\n  lua: {inlineCode: x}\n", 0, nil},
		{"envoy.yaml", string(envoy), 1, nil},
		{"envoy.yaml, configuration refused", strings.Replace(string(envoy), `"percentage": 50`, `"percentage": 150`, 1), 1, []string{
			"document 1 (Envoy bootstrap): " + filter + ".targets[0].percentage: must be between 0 and 100, got 150"}},
		{"envoy.yaml, configuration not JSON", strings.Replace(string(envoy), `"targets": [`, `"targets": [,`, 1), 1, []string{
			"document 1 (Envoy bootstrap): " + filter + ": not valid JSON"}},
		{"envoy.yaml, another root id", strings.Replace(string(envoy), "root_id: meshmirror", "root_id: other", 1), 0, nil},
		{"envoy.yaml, port out of range", strings.Replace(string(envoy), "port_value: 8082", "port_value: 70000", 1), 1, []string{
			"PortValue: value must be less than or equal to 65535"}},
		{"envoy.yaml, unknown field", strings.Replace(string(envoy), "stat_prefix: main", "stat_prefx: main", 1), 0, []string{
			`document 1 (Envoy bootstrap): not an Envoy bootstrap: `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.name, "envoy.yaml, ") && tt.data == string(envoy) {
				t.Fatal("envoy.yaml no longer has what this case changes")
			}
			r := File([]byte(tt.data))
			var got []string
			for _, p := range r.Problems {
				got = append(got, p.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d: %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d is %q, want it to contain %q", i, got[i], w)
				}
			}
			if r.Configurations != tt.configs {
				t.Errorf("%d configurations checked, want %d", r.Configurations, tt.configs)
			}
		})
	}
}

// TestIstioPluginConfig: the configuration is the one istiod writes, numbers as
// protojson formats them, and none at all for an empty pluginConfig.
func TestIstioPluginConfig(t *testing.T) {
	got, err := IstioPluginConfig(map[string]any{"targets": []any{map[string]any{"port": 9080, "percentage": 0.5}}})
	// protojson varies its spacing on purpose; the parser does not mind.
	if err != nil || strings.ReplaceAll(string(got), " ", "") != `{"targets":[{"percentage":0.5,"port":9080}]}` {
		t.Errorf("got %s, %v", got, err)
	}
	for _, empty := range []any{nil, map[string]any{}} {
		if got, err := IstioPluginConfig(empty); got != nil || err != nil {
			t.Errorf("IstioPluginConfig(%v) = %q, %v; want nothing", empty, got, err)
		}
	}
}
