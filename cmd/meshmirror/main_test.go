package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate runs the command as an operator would: exit 1 naming every problem as
// file: document: path: message, 0 for good files of each kind.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.json", `{"targets": [{"name": "a", "cluster": "c"}]}`)
	bad := write("bad.json", `{"targets": [{"name": "a", "cluster": "c", "percentage": 150, "percent": 1}]}`)
	tests := []struct {
		name   string
		args   []string
		stdin  string
		status int
		stdout []string // each line of the output, in order
	}{
		{"good files of each kind", []string{"validate", good, "../../envoy.yaml", "../../manifests/wasmplugin.yaml"}, "", 0, nil},
		{"a file without meshmirror", []string{"validate", "../../manifests/app/echo.yaml"}, "", 0, nil},
		{"bad JSON configuration", []string{"validate", good, bad}, "", 1, []string{
			bad + `: document 1: targets[0]: unknown key "percent" (did you mean "percentage"?)`,
			bad + `: document 1: targets[0].percentage: must be between 0 and 100, got 150`}},
		{"standard input", []string{"validate", "-"}, `{"targets": []}`, 1, []string{
			"-: document 1: targets: must hold 1 to 16 targets, got 0"}},
		{"missing file", []string{"validate", filepath.Join(dir, "nothing.yaml")}, "", 1, []string{
			filepath.Join(dir, "nothing.yaml") + ": open "}},
		{"broken manifests", []string{"validate", "../../manifests/testdata/broken.yaml"}, "", 1, []string{
			"../../manifests/testdata/broken.yaml: document 4 (WasmPlugin meshmirror-demo/plugin-config): spec.pluginConfig.targets[0].percentage: must be between 0 and 100, got 150",
			`document 10 (WasmPlugin meshmirror-demo/plugin-config-several): spec.pluginConfig.targets[0]: unknown key "percent"`,
			"document 10 (WasmPlugin meshmirror-demo/plugin-config-several): spec.pluginConfig.targets[1].name: must match",
			"document 10 (WasmPlugin meshmirror-demo/plugin-config-several): spec.pluginConfig.targets[1].service: must be a fully qualified host name",
			"document 11 (WasmPlugin meshmirror-demo/plugin-config-missing): spec.pluginConfig: the configuration is empty",
			`document 12 (WasmPlugin meshmirror-demo/plugin-name): spec.pluginName: must be "meshmirror"`,
			"document 13 (TrafficExtension meshmirror-demo/traffic-extension): spec.wasm.pluginConfig.targets[0].timeoutMs: must be between 1 and 60000, got 0"}},
		{"no file", []string{"validate"}, "", 2, nil},
		{"no command", nil, "", 2, nil},
		{"unknown command", []string{"check", good}, "", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if status != tt.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, tt.status, stderr.String())
			}
			var lines []string
			if out := strings.TrimSuffix(stdout.String(), "\n"); out != "" {
				lines = strings.Split(out, "\n")
			}
			if len(lines) != len(tt.stdout) {
				t.Fatalf("output:\n%s\nwant %d lines", stdout.String(), len(tt.stdout))
			}
			for i, w := range tt.stdout {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d is %q, want it to contain %q", i+1, lines[i], w)
				}
			}
			if tt.status == 2 && !strings.Contains(stderr.String(), "usage: meshmirror validate FILE") {
				t.Errorf("no usage on stderr: %q", stderr.String())
			}
		})
	}
}
