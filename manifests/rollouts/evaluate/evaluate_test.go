// Package evaluate runs the AnalysisTemplates of manifests/rollouts through Argo
// Rollouts' own code: its Go types (decoded strictly), its argument resolution
// (utils/analysis), its web metric provider against a real meshmirror receiver, and its
// condition evaluator (utils/evaluate) on Prometheus-shaped results.
//
// It is a module of its own so that Argo Rollouts and its Kubernetes dependencies stay
// out of meshmirror's go.mod and binary: make test runs it with
// (cd manifests/rollouts/evaluate && go test ./...). It builds meshmirror from the
// repository (go build ../../../cmd/meshmirror) and runs `meshmirror reports` on
// 127.0.0.1.
package evaluate

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/metricproviders/webmetric"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/argoproj/argo-rollouts/utils/evaluate"
	log "github.com/sirupsen/logrus"
	"sigs.k8s.io/yaml"
)

// template reads an AnalysisTemplate of manifests/rollouts into Argo Rollouts' type,
// refusing unknown fields, and checks its metrics as the controller does.
func template(t *testing.T, file string) *v1alpha1.AnalysisTemplate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", file))
	if err != nil {
		t.Fatal(err)
	}
	var at v1alpha1.AnalysisTemplate
	if err := yaml.UnmarshalStrict(data, &at); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := analysis.ValidateMetrics(at.Spec.Metrics); err != nil {
		t.Fatalf("%s: Argo Rollouts refuses its metrics: %v", file, err)
	}
	return &at
}

// resolve gives the template's args the values given, the others their defaults, and
// resolves metric as the controller does.
func resolve(t *testing.T, at *v1alpha1.AnalysisTemplate, metric string, values map[string]string) v1alpha1.Metric {
	t.Helper()
	var args []v1alpha1.Argument
	for _, a := range at.Spec.Args {
		if v, ok := values[a.Name]; ok {
			a.Value = &v
		}
		args = append(args, a)
	}
	for _, m := range at.Spec.Metrics {
		if m.Name == metric {
			resolved, err := analysis.ResolveMetricArgs(m, args)
			if err != nil {
				t.Fatalf("resolving %s: %v", metric, err)
			}
			return *resolved
		}
	}
	t.Fatalf("%s has no metric %s", at.Name, metric)
	return v1alpha1.Metric{}
}

// startReceiver builds meshmirror from this repository and runs meshmirror reports on
// 127.0.0.1; it returns the receiver's URL.
func startReceiver(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshmirror")
	build := exec.Command("go", "build", "-o", bin, "./cmd/meshmirror")
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/meshmirror: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "reports", "-listen", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "r.db"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(line)
	if err != nil || len(fields) < 3 {
		t.Fatalf("meshmirror reports said %q, %v", line, err)
	}
	return strings.TrimSuffix(fields[2], "/") // meshmirror reports: http://ADDR/ ...
}

// postSummary sends a summary of target ending now: same and differs pairs on one
// endpoint, both sides' latencies in one bucket.
func postSummary(t *testing.T, url, target string, same, differs int) {
	t.Helper()
	buckets := "[0,0,0," + fmt.Sprint(same+differs) + ",0,0,0,0,0,0,0,0,0,0]"
	to := time.Now().UnixMilli()
	doc := fmt.Sprintf(`{"kind":"summary","target":%q,"from":%d,"to":%d,"endpoints":[{"method":"GET","endpoint":"/api/items/{id}",`+
		`"same":%d,"differs":%d,"noise":0,"skipped":0,"places":[],"primaryMs":%s,"shadowMs":%s}]}`, target, to-10000, to, same, differs, buckets, buckets)
	resp, err := http.Post(url+"/meshmirror/reports", "application/json", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST a summary: %s", resp.Status)
	}
}

// TestVerdictTemplate runs meshmirror-verdict's metric with Argo Rollouts' web provider
// against a real receiver: Successful on pass, Failed on fail, Inconclusive on
// inconclusive, Error for a target the receiver does not know (404).
func TestVerdictTemplate(t *testing.T) {
	at := template(t, "analysistemplate-verdict.yaml")
	url := startReceiver(t)
	postSummary(t, url, "good", 1000, 0)
	postSummary(t, url, "bad", 900, 100)
	postSummary(t, url, "young", 20, 0)
	for _, tc := range []struct {
		target string
		want   v1alpha1.AnalysisPhase
	}{
		{"good", v1alpha1.AnalysisPhaseSuccessful},
		{"bad", v1alpha1.AnalysisPhaseFailed},
		{"young", v1alpha1.AnalysisPhaseInconclusive},
		{"nobody", v1alpha1.AnalysisPhaseError},
	} {
		t.Run(tc.target, func(t *testing.T) {
			metric := resolve(t, at, "meshmirror-verdict", map[string]string{"target": tc.target, "receiver": url})
			client, err := webmetric.NewWebMetricHttpClient(metric)
			if err != nil {
				t.Fatal(err)
			}
			parser, err := webmetric.NewWebMetricJsonParser(metric)
			if err != nil {
				t.Fatal(err)
			}
			provider := webmetric.NewWebMetricProvider(*log.NewEntry(log.New()), client, parser)
			m := provider.Run(&v1alpha1.AnalysisRun{}, metric)
			if m.Phase != tc.want {
				t.Errorf("GET %s: phase %s (%s), want %s", metric.Provider.Web.URL, m.Phase, m.Message, tc.want)
			}
			if tc.want != v1alpha1.AnalysisPhaseError && !strings.Contains(m.Value, `"verdict":`) {
				t.Errorf("measured value %q", m.Value)
			}
		})
	}
}

// TestPrometheusTemplate evaluates meshmirror-prometheus's conditions with Argo
// Rollouts' evaluator on results shaped as its Prometheus provider gives them (a
// vector's values as []float64): under the bounds succeeds, over fails, no pair yet
// (NaN) is inconclusive.
func TestPrometheusTemplate(t *testing.T) {
	at := template(t, "analysistemplate-prometheus.yaml")
	values := map[string]string{"target": "echo-v2", "target-series": "echo_v2"}
	logger := *log.NewEntry(log.New())
	nan := func() float64 { var zero float64; return zero / zero }()
	for _, tc := range []struct {
		metric string
		result []float64
		want   v1alpha1.AnalysisPhase
	}{
		{"meshmirror-differ-rate", []float64{0.004}, v1alpha1.AnalysisPhaseSuccessful},
		{"meshmirror-differ-rate", []float64{0.01}, v1alpha1.AnalysisPhaseSuccessful},
		{"meshmirror-differ-rate", []float64{0.2}, v1alpha1.AnalysisPhaseFailed},
		{"meshmirror-differ-rate", []float64{nan}, v1alpha1.AnalysisPhaseInconclusive},
		{"meshmirror-latency-ratio", []float64{1.2}, v1alpha1.AnalysisPhaseSuccessful},
		{"meshmirror-latency-ratio", []float64{4.99}, v1alpha1.AnalysisPhaseFailed},
		{"meshmirror-latency-ratio", []float64{nan}, v1alpha1.AnalysisPhaseInconclusive},
	} {
		metric := resolve(t, at, tc.metric, values)
		if strings.Contains(metric.Provider.Prometheus.Query, "{{") {
			t.Errorf("%s: unresolved args in %s", tc.metric, metric.Provider.Prometheus.Query)
		}
		phase, err := evaluate.EvaluateResult(tc.result, metric, logger)
		if err != nil || phase != tc.want {
			t.Errorf("%s on %v: %s, %v; want %s", tc.metric, tc.result, phase, err, tc.want)
		}
	}
}
