// Package manifests holds the Kubernetes manifests an Istio operator applies
// (`kubectl apply -k manifests/`), and the tests that check them and ../envoy.yaml
// against the real schemas without a cluster or an Envoy:
//
//   - every object kustomize builds is validated as the API server would on
//     `kubectl apply`: Istio's CRD schemas from the Go module istio.io/api (OpenAPI,
//     CEL rules, unknown fields) and Istio's own Go types, Kubernetes' types for core
//     objects, each problem reported with the path of its field;
//   - envoy.yaml is decoded into Envoy's bootstrap message from go-control-plane and
//     passes ValidateAll, including every typed_config inside it;
//   - each pluginConfig is accepted by mirror.ParseConfig, the code the module runs, and
//     the manifests and envoy.yaml mirror to the same targets.
package manifests
