package manifests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	telemetryv1 "istio.io/api/telemetry/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is a Kubernetes object as the API server decodes it: JSON types, integers as
// int64 (CEL rules compare them with integers).
type object map[string]any

func (o object) gvk() schema.GroupVersionKind {
	apiVersion, _ := o["apiVersion"].(string)
	kind, _ := o["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// id names the object in messages: kind namespace/name.
func (o object) id() string {
	m, _ := o["metadata"].(map[string]any)
	name, _ := m["name"].(string)
	if ns, _ := m["namespace"].(string); ns != "" {
		name = ns + "/" + name
	}
	return o.gvk().Kind + " " + name
}

// decodeDocuments returns the objects of a multi-document YAML stream, skipping empty
// documents.
func decodeDocuments(data []byte) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []object
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(js) == "null" {
			continue
		}
		var o object
		if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &o); err != nil {
			return nil, err
		}
		objects = append(objects, o)
	}
}

// validator checks objects as the API server would on `kubectl apply`, which asks for
// strict field validation: an unknown field is an error, not silently dropped. Each
// problem starts with the path of its field, e.g. `spec.failStrategy: Unsupported value`.
type validator struct {
	crds map[schema.GroupVersionKind]*crdVersion
}

// crdVersion is the schema of one served version of an Istio CRD, with the API server's
// validators for it.
type crdVersion struct {
	namespaced bool
	openAPI    *apiextensions.JSONSchemaProps
	once       sync.Once
	structural *structuralschema.Structural
	schema     apiextensionsvalidation.SchemaValidator
	cel        *cel.Validator
	err        error
}

// istioTypes are Istio's Go types for the spec of each kind the manifests use: istiod
// reads specs into them, so a spec must decode strictly.
var istioTypes = map[schema.GroupKind]func() proto.Message{
	{Group: "extensions.istio.io", Kind: "WasmPlugin"}:        func() proto.Message { return &extensionsv1alpha1.WasmPlugin{} },
	{Group: "extensions.istio.io", Kind: "TrafficExtension"}:  func() proto.Message { return &extensionsv1alpha1.TrafficExtension{} },
	{Group: "networking.istio.io", Kind: "DestinationRule"}:   func() proto.Message { return &networkingv1.DestinationRule{} },
	{Group: "networking.istio.io", Kind: "ServiceEntry"}:      func() proto.Message { return &networkingv1.ServiceEntry{} },
	{Group: "networking.istio.io", Kind: "VirtualService"}:    func() proto.Message { return &networkingv1.VirtualService{} },
	{Group: "networking.istio.io", Kind: "Gateway"}:           func() proto.Message { return &networkingv1.Gateway{} },
	{Group: "telemetry.istio.io", Kind: "Telemetry"}:          func() proto.Message { return &telemetryv1.Telemetry{} },
	{Group: "security.istio.io", Kind: "PeerAuthentication"}:  func() proto.Message { return &securityv1.PeerAuthentication{} },
	{Group: "security.istio.io", Kind: "AuthorizationPolicy"}: func() proto.Message { return &securityv1.AuthorizationPolicy{} },
}

// gatewayAPITypes are the Gateway API's Go types for the spec of each of its kinds the
// manifests use: istiod reads them with these types (sigs.k8s.io/gateway-api).
var gatewayAPITypes = map[schema.GroupKind]func() any{
	{Group: "gateway.networking.k8s.io", Kind: "Gateway"}: func() any { return &gatewayv1.GatewaySpec{} },
}

// coreKind is a Kubernetes kind the manifests use, with its Go type and the name rule the
// API server applies to it.
type coreKind struct {
	new        func() runtime.Object
	namespaced bool
	name       apivalidation.ValidateNameFunc
}

var coreKinds = map[schema.GroupVersionKind]coreKind{
	{Version: "v1", Kind: "Namespace"}:                 {func() runtime.Object { return &corev1.Namespace{} }, false, apivalidation.ValidateNamespaceName},
	{Version: "v1", Kind: "ServiceAccount"}:            {func() runtime.Object { return &corev1.ServiceAccount{} }, true, apivalidation.ValidateServiceAccountName},
	{Version: "v1", Kind: "Service"}:                   {func() runtime.Object { return &corev1.Service{} }, true, apivalidation.NameIsDNS1035Label},
	{Version: "v1", Kind: "ConfigMap"}:                 {func() runtime.Object { return &corev1.ConfigMap{} }, true, apivalidation.NameIsDNSSubdomain},
	{Version: "v1", Kind: "PersistentVolumeClaim"}:     {func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, true, apivalidation.NameIsDNSSubdomain},
	{Group: "apps", Version: "v1", Kind: "Deployment"}: {func() runtime.Object { return &appsv1.Deployment{} }, true, apivalidation.NameIsDNSSubdomain},
}

// newValidator reads Istio's CRDs from the module istio.io/api and the Gateway API's
// standard channel from sigs.k8s.io/gateway-api, at the versions go.mod requires.
func newValidator(t testing.TB) *validator {
	t.Helper()
	return newValidatorAt(t, moduleDir(t, "istio.io/api"), moduleDir(t, "sigs.k8s.io/gateway-api"))
}

// newValidatorAt reads Istio's CRDs from istioAPI, a directory of the module istio.io/api,
// and the Gateway API's standard channel from gatewayAPI, one of sigs.k8s.io/gateway-api
// ("" for none: every Gateway API object is then refused, as by a cluster without them).
func newValidatorAt(t testing.TB, istioAPI, gatewayAPI string) *validator {
	t.Helper()
	v := &validator{crds: map[schema.GroupVersionKind]*crdVersion{}}
	v.load(t, filepath.Join(istioAPI, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if gatewayAPI != "" {
		gatewayCRDs, err := filepath.Glob(filepath.Join(gatewayAPI, "config", "crd", "standard", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(gatewayCRDs) == 0 {
			t.Fatalf("%s: no CRD in config/crd/standard", gatewayAPI)
		}
		for _, path := range gatewayCRDs {
			v.load(t, path)
		}
	}
	if len(v.crds) == 0 {
		t.Fatalf("no CRD found in %s and %s", istioAPI, gatewayAPI)
	}
	return v
}

// load adds the served versions of every CRD in a file; other documents (the Gateway
// API ships admission policies beside its CRDs) are skipped.
func (v *validator) load(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decodeDocuments(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, doc := range docs {
		if doc.gvk().Kind != "CustomResourceDefinition" {
			continue
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(doc, &crd); err != nil {
			t.Fatalf("%s: %s: %v", path, doc.id(), err)
		}
		for _, version := range crd.Spec.Versions {
			if !version.Served || version.Schema == nil {
				continue
			}
			var internal apiextensions.JSONSchemaProps
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(version.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
				t.Fatalf("%s: %s: %v", path, crd.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: version.Name, Kind: crd.Spec.Names.Kind}
			v.crds[gvk] = &crdVersion{namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped, openAPI: &internal}
		}
	}
}

// moduleDir returns the directory of a module of the build list. The tests import
// istio.io/api, so `go test` has downloaded it (as `go mod download` does); a missing
// module is a failure, never a skip.
func moduleDir(t testing.TB, module string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("go list -m %s: %v\n%s", module, err, exit.Stderr)
	}
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatalf("module %s is not in the module cache: run go mod download", module)
	}
	return dir
}

// validate returns every problem the API server would report for o.
func (v *validator) validate(o object) []string {
	gvk := o.gvk()
	if kind, ok := coreKinds[gvk]; ok {
		return validateCore(o, kind)
	}
	if crd := v.crds[gvk]; crd != nil {
		return crd.validate(o, gvk.GroupKind())
	}
	return []string{fmt.Sprintf("apiVersion, kind: %s is neither a core kind these tests know nor a CRD of istio.io/api or sigs.k8s.io/gateway-api", gvk)}
}

// validateCore decodes o strictly into its Kubernetes Go type, as the API server does
// with fieldValidation=Strict, and applies the API server's checks of names, labels and
// Deployment selectors.
func validateCore(o object, kind coreKind) []string {
	typed := kind.new()
	problems, decoded := decodeStrict(o, typed)
	if !decoded {
		return problems
	}
	accessor, err := meta.Accessor(typed)
	if err != nil {
		return append(problems, err.Error())
	}
	errs := apivalidation.ValidateObjectMetaAccessor(accessor, kind.namespaced, kind.name, field.NewPath("metadata"))
	if d, ok := typed.(*appsv1.Deployment); ok {
		errs = append(errs, validateSelector(d)...)
	}
	return append(problems, errorStrings(errs)...)
}

// decodeStrict decodes v into a Go type as the API server does with
// fieldValidation=Strict: an unknown or duplicate field is a problem. decoded is false
// when v does not fit the type at all.
func decodeStrict(v any, typed any) (problems []string, decoded bool) {
	data, err := json.Marshal(v)
	if err != nil {
		return []string{err.Error()}, false
	}
	strict, err := kjson.UnmarshalStrict(data, typed)
	for _, e := range append(strict, err) {
		if e != nil {
			problems = append(problems, e.Error())
		}
	}
	return problems, err == nil
}

// validateSelector applies the API server's rule that a Deployment's selector is not
// empty and selects its own pod template.
func validateSelector(d *appsv1.Deployment) field.ErrorList {
	path := field.NewPath("spec", "selector")
	if d.Spec.Selector == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(path, d.Spec.Selector, err.Error())}
	case selector.Empty():
		return field.ErrorList{field.Invalid(path, d.Spec.Selector, "empty selector is invalid for deployment")}
	case !selector.Matches(labels.Set(d.Spec.Template.Labels)):
		return field.ErrorList{field.Invalid(field.NewPath("spec", "template", "metadata", "labels"),
			d.Spec.Template.Labels, "`selector` does not match template `labels`")}
	}
	return nil
}

// validate runs the API server's steps for a custom resource: unknown fields (which it
// prunes, and strict field validation refuses), the OpenAPI schema, list types, the CEL
// rules (x-kubernetes-validations) and metadata; then decodes the spec into Istio's type.
func (c *crdVersion) validate(o object, kind schema.GroupKind) []string {
	c.once.Do(c.compile)
	if c.err != nil {
		return []string{"schema: " + c.err.Error()}
	}
	obj := runtime.DeepCopyJSON(o)
	var problems []string
	objMeta, _, unknown, err := objectmeta.GetObjectMetaWithOptions(obj, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return []string{"metadata: " + err.Error()}
	}
	unknown = append(unknown, pruning.PruneWithOptions(obj, c.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, path := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", path))
	}

	errs := apiextensionsvalidation.ValidateCustomResource(nil, obj, c.schema)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, c.structural, obj)...)
	celErrs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	if objMeta != nil {
		errs = append(errs, apivalidation.ValidateObjectMeta(objMeta, c.namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	}
	problems = append(problems, errorStrings(errs)...)

	// The Go types are the second line: the schema's report names the field's path.
	if len(problems) > 0 {
		return problems
	}
	if newSpec := istioTypes[kind]; newSpec != nil {
		if err := decodeSpec(o, newSpec()); err != nil {
			return []string{"spec: " + err.Error()}
		}
		return nil
	}
	if newSpec := gatewayAPITypes[kind]; newSpec != nil {
		problems, _ := decodeStrict(o["spec"], newSpec())
		return problems
	}
	if schemaOnlyKinds[kind] {
		return nil
	}
	return []string{fmt.Sprintf("kind: no Go type listed for %s", kind)}
}

// compile builds the validators of the schema, once, on first use: the CRD file has
// many kinds the manifests never use.
func (c *crdVersion) compile() {
	c.structural, c.err = structuralschema.NewStructural(c.openAPI)
	if c.err != nil {
		return
	}
	c.schema, _, c.err = apiextensionsvalidation.NewSchemaValidator(c.openAPI)
	c.cel = cel.NewValidator(c.structural, true, celconfig.PerCallLimit)
}

// decodeSpec decodes o's spec into Istio's Go type, refusing unknown fields.
func decodeSpec(o object, spec proto.Message) error {
	data, err := json.Marshal(o["spec"])
	if err != nil {
		return err
	}
	return protojson.Unmarshal(data, spec)
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}
