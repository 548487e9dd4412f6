// Package manifests holds the Kubernetes manifests an Istio operator applies
// (`kubectl apply -k manifests/`), and the tests that check them and ../envoy.yaml
// against the real schemas without a cluster or an Envoy:
//
//   - every object kustomize builds is validated as the API server would on
//     `kubectl apply`: Istio's CRD schemas from the Go module istio.io/api and the
//     Gateway API's from sigs.k8s.io/gateway-api (OpenAPI, CEL rules, unknown fields)
//     and their Go types, Kubernetes' types for core objects, each problem reported
//     with the path of its field;
//   - envoy.yaml is decoded into Envoy's bootstrap message from go-control-plane and
//     passes ValidateAll, including every typed_config inside it;
//   - each pluginConfig (of a WasmPlugin or a TrafficExtension) is accepted by
//     config.ParseConfig, the code the module runs, and the manifests and envoy.yaml
//     mirror to the same targets;
//   - the stats_tags of envoy.yaml and of Istio's bootstrap override, applied as
//     Envoy's tag extractor does to every metric plugin/mirror names, give the
//     Prometheus names and labels README promises, and grafana/meshmirror.json asks
//     for nothing else;
//   - the alerts of prometheus/ and every query of the dashboard run on Prometheus's
//     engine over series named as Envoy exports them, with the stats_tags and without;
//   - every kustomization passes the CRDs of the oldest Istio and Gateway API release
//     README's Compatibility table claims for it.
package manifests
