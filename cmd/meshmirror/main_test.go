package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
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

// TestReports runs meshmirror reports as an operator would: it listens, stores a
// report it is sent, and exits 0 when told to stop; bad flags exit 2.
func TestReports(t *testing.T) {
	var stderr bytes.Buffer
	if code := receive(context.Background(), []string{"-retain", "-1h"}, io.Discard, &stderr); code != 2 {
		t.Errorf("-retain -1h: exit %d, want 2", code)
	}
	if code := receive(context.Background(), []string{"-nothing"}, io.Discard, &stderr); code != 2 {
		t.Errorf("an unknown flag: exit %d, want 2", code)
	}
	stderr.Reset()
	if code := receive(context.Background(), []string{"-host", "reports:8089"}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `invalid value "reports:8089" for flag -host: host name "reports:8089": a name without a port`) {
		t.Errorf("-host reports:8089: exit %d, want 2 and the reason: %s", code, stderr.String())
	}
	db := filepath.Join(t.TempDir(), "r.db")
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- receive(ctx, []string{"-listen", "127.0.0.1:0", "-db", db, "-host", "reports.example", "-host", "reports"}, w, &stderr)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (%s)", err, stderr.String())
	}
	go io.Copy(io.Discard, out)
	url := strings.Fields(line)[2] // meshmirror reports: http://ADDR/ ...
	resp, err := http.Post(url+"meshmirror/reports", "application/json", strings.NewReader(
		`{"target":"v2","method":"GET","path":"/a/1","primary":{"status":200},"shadow":{"status":500},"differences":[{"part":"status","kind":"changed","where":""}]}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST a report: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(url + "api/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"endpoint":"/a/{id}"`) {
		t.Errorf("/api/endpoints: %s", body)
	}
	// Names of -host are answered; others are not (DNS rebinding).
	for host, want := range map[string]int{"reports.example": 200, "reports:8089": 200, "evil.example": 421} {
		req, _ := http.NewRequest("GET", url+"healthz", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /healthz, Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after the stop, want 0: %s", code, stderr.String())
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the database: %v", err)
	}
}
