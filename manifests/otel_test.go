package manifests

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// collectorConfig is the part of an OpenTelemetry Collector configuration the
// example must get right for meshmirror's reports.
type collectorConfig struct {
	Receivers map[string]struct {
		Protocols map[string]struct {
			Endpoint    string `json:"endpoint"`
			LogsURLPath string `json:"logs_url_path"`
		} `json:"protocols"`
	} `json:"receivers"`
	Processors map[string]any `json:"processors"`
	Exporters  map[string]any `json:"exporters"`
	Service    struct {
		Pipelines map[string]struct {
			Receivers, Processors, Exporters []string
		} `json:"pipelines"`
	} `json:"service"`
}

// TestCollectorExample checks otel/collector.yaml: an OTLP/HTTP receiver on the port
// its Service exposes, at the path the plugin posts to by default with format otlp, in
// a logs pipeline whose every component is defined, with the configuration mounted
// where the Collector is told to read it.
func TestCollectorExample(t *testing.T) {
	var (
		cm  corev1.ConfigMap
		svc corev1.Service
		dep appsv1.Deployment
	)
	for _, o := range readObjects(t, "otel/collector.yaml") {
		data, _ := json.Marshal(o)
		var into any
		switch o.gvk().Kind {
		case "ConfigMap":
			into = &cm
		case "Service":
			into = &svc
		case "Deployment":
			into = &dep
		default:
			t.Fatalf("unexpected %s", o.id())
		}
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatal(err)
		}
	}
	var c collectorConfig
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &c); err != nil {
		t.Fatalf("ConfigMap %s: config.yaml: %v", cm.Name, err)
	}
	http, ok := c.Receivers["otlp"].Protocols["http"]
	if !ok {
		t.Fatal("no otlp receiver with the http protocol: the plugin sends OTLP/HTTP")
	}
	if path := http.LogsURLPath; path != "" && path != config.DefaultOTLPReportPath {
		t.Errorf("logs_url_path %q, but the plugin posts to %s by default", path, config.DefaultOTLPReportPath)
	}
	if config.DefaultOTLPReportPath != "/v1/logs" {
		t.Errorf("the plugin's default OTLP path is %s, not OTLP/HTTP's /v1/logs", config.DefaultOTLPReportPath)
	}
	logs, ok := c.Service.Pipelines["logs"]
	if !ok || !slices.Contains(logs.Receivers, "otlp") || len(logs.Exporters) == 0 {
		t.Fatalf("want a logs pipeline from the otlp receiver to an exporter, got %+v", c.Service.Pipelines)
	}
	for _, p := range logs.Processors {
		if _, ok := c.Processors[p]; !ok {
			t.Errorf("the logs pipeline uses processor %s, which is not defined", p)
		}
	}
	for _, e := range logs.Exporters {
		if _, ok := c.Exporters[e]; !ok {
			t.Errorf("the logs pipeline uses exporter %s, which is not defined", e)
		}
	}
	if len(logs.Processors) > 0 && logs.Processors[0] != "memory_limiter" && c.Processors["memory_limiter"] != nil {
		t.Errorf("memory_limiter must come first in the pipeline, got %v", logs.Processors)
	}

	port := http.Endpoint[strings.LastIndexByte(http.Endpoint, ':')+1:]
	containers := dep.Spec.Template.Spec.Containers
	if len(containers) != 1 {
		t.Fatalf("%d containers, want the collector", len(containers))
	}
	col := containers[0]
	var portName string
	for _, p := range col.Ports {
		if strconv.Itoa(int(p.ContainerPort)) == port {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Errorf("the collector container exposes no port %s, where the receiver listens", port)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != portName || strconv.Itoa(int(svc.Spec.Ports[0].Port)) != port ||
		!strings.HasPrefix(svc.Spec.Ports[0].Name, "http") {
		t.Errorf("Service %s ports %+v: want an http port %s to the container's %q", svc.Name, svc.Spec.Ports, port, portName)
	}
	mounted := false
	for _, m := range col.VolumeMounts {
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name &&
				slices.Contains(col.Args, "--config="+m.MountPath+"/config.yaml") {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("the collector is not run with --config on the ConfigMap %s as mounted (args %q)", cm.Name, col.Args)
	}
}
