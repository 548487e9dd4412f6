package manifests

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// floor is the oldest release of Istio, and of the Gateway API's standard channel, that
// README's Compatibility table claims for a kustomization, as the versions of the Go
// modules that hold their CRDs: istio.io/api (tagged with Istio's release) and
// sigs.k8s.io/gateway-api ("" where the kustomization has no Gateway API object).
type floor struct {
	dir        string // the kustomization, relative to manifests/
	istio      string // README's "Istio 1.x"
	istioAPI   string
	gatewayAPI string
}

// floors is README's Compatibility table for the manifests. istio.io/api v1.30.0 is not
// served by the Go module proxy ("not available"), so 1.30 is checked at v1.30.1, the
// first 1.30 release it serves.
var floors = []floor{
	{".", "1.22", "v1.22.0", ""},
	{"app", "1.22", "v1.22.0", ""},
	{"gateway", "1.22", "v1.22.0", ""},
	{"ambient", "1.26", "v1.26.0", "v1.2.0"},
	{"trafficextension", "1.30", "v1.30.1", ""},
	{"gateway/trafficextension", "1.30", "v1.30.1", ""},
	{"ambient/trafficextension", "1.30", "v1.30.1", "v1.2.0"},
	{"reports", "1.22", "v1.22.0", ""},
	{"otel", "1.22", "v1.22.0", ""},
}

// TestVersionFloors checks every kustomization against the CRDs of the oldest Istio and
// Gateway API release README claims for it, not only those of go.mod's versions: what
// kubectl apply -k sends must pass the schemas of that release. Each kustomization is
// in the table, and the README's table names the same floors. The ambient variants are
// also checked against Gateway API v1.1.0 (the standard channel of Istio 1.22 and 1.23),
// which must refuse them: the floor is where the schema says, not a guess.
func TestVersionFloors(t *testing.T) {
	readme := compatibilitySection(t)
	listed := map[string]bool{}
	for _, f := range floors {
		listed[f.dir] = true
		t.Run(f.dir, func(t *testing.T) {
			gatewayDir := ""
			if f.gatewayAPI != "" {
				gatewayDir = downloadModule(t, "sigs.k8s.io/gateway-api", f.gatewayAPI)
			}
			v := newValidatorAt(t, downloadModule(t, "istio.io/api", f.istioAPI), gatewayDir)
			objects := build(t, f.dir)
			for _, o := range objects {
				for _, problem := range v.validate(o) {
					t.Errorf("Istio %s (istio.io/api %s), Gateway API %q: kubectl apply -k manifests/%s: %s: %s", f.istio, f.istioAPI, f.gatewayAPI, f.dir, o.id(), problem)
				}
			}
			if row := readmeRow(readme, f.dir); !strings.Contains(row, "Istio "+f.istio) ||
				f.gatewayAPI != "" && !strings.Contains(row, "Gateway API "+strings.TrimSuffix(f.gatewayAPI, ".0")) {
				t.Errorf("README, Compatibility: the row of `manifests/%s/` is %q, want Istio %s and Gateway API %s", f.dir, row, f.istio, f.gatewayAPI)
			}
			if f.gatewayAPI == "" {
				return
			}
			old := newValidatorAt(t, downloadModule(t, "istio.io/api", f.istioAPI), downloadModule(t, "sigs.k8s.io/gateway-api", "v1.1.0"))
			refused := false
			for _, o := range objects {
				refused = refused || len(old.validate(o)) > 0
			}
			if !refused {
				t.Errorf("manifests/%s passes Gateway API v1.1.0's standard CRDs: the floor %s is too high", f.dir, f.gatewayAPI)
			}
		})
	}
	for _, dir := range kustomizations(t) {
		if !listed[dir] {
			t.Errorf("kustomization manifests/%s has no floor in this test (README, Compatibility)", dir)
		}
	}
}

// compatibilitySection returns README's Compatibility section.
func compatibilitySection(t *testing.T) string {
	t.Helper()
	data := string(mustRead(t, "../README.md"))
	_, section, found := strings.Cut(data, "\n## Compatibility\n")
	if !found {
		t.Fatal("README.md has no section Compatibility")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// readmeRow returns the table row of the Compatibility section that names
// manifests/<dir>/ first, "" if there is none.
func readmeRow(section, dir string) string {
	name := "`manifests/" + dir + "/`"
	if dir == "." {
		name = "`manifests/`"
	}
	for _, line := range strings.Split(section, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 2 && strings.Contains(cells[1], name) {
			return line
		}
	}
	return ""
}

// downloadModule returns the directory of module@version in the module cache, fetched
// from the Go module proxy as go mod download does. A module the proxy does not serve
// fails the test: CI reaches the proxy, and a floor that cannot be checked is no floor.
func downloadModule(t *testing.T, module, version string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || info.Dir == "" {
		var exit *exec.ExitError
		stderr := ""
		if errors.As(err, &exit) {
			stderr = string(exit.Stderr)
		}
		t.Fatalf("go mod download %s@%s: %v %s %s", module, version, err, info.Error, stderr)
	}
	return info.Dir
}
