// Package validate checks meshmirror configurations before they are applied: a JSON
// configuration, Kubernetes manifests holding WasmPlugins or TrafficExtensions (one or
// many YAML documents), or an Envoy bootstrap. Every configuration goes through
// config.ParseConfig, the code the module runs, so a file passes exactly when the
// plugin would take each of its configurations.
package validate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshmirror/meshmirror/runner"
)

// RootID is the plugin's name: a WasmPlugin's pluginName, a wasm filter's root_id.
const RootID = "meshmirror"

// Problem is one problem found in a file.
type Problem struct {
	// Document names the document it is in, counting from 1:
	// "document 2 (WasmPlugin meshmirror-demo/meshmirror)".
	Document string
	// Path is where in the document, e.g. spec.pluginConfig.targets[0].percentage;
	// empty when the problem is the document as a whole.
	Path string
	// Message says what is wrong.
	Message string
}

// String is "document: path: message", without the path when there is none.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Document + ": " + p.Message
	}
	return p.Document + ": " + p.Path + ": " + p.Message
}

// Result is what File found.
type Result struct {
	// Configurations is the number of meshmirror configurations checked.
	Configurations int
	// Problems holds every problem, in the order of the file; none when it is valid.
	Problems []Problem
}

// File checks every meshmirror configuration in data, whichever of the three kinds
// of file it is. A document is a Kubernetes object when it has apiVersion and kind
// (only WasmPlugins and TrafficExtensions of meshmirror are checked), an Envoy
// bootstrap when it has a key of Envoy's Bootstrap (static_resources, admin, ...),
// and a meshmirror configuration otherwise.
func File(data []byte) Result {
	var r Result
	// JSON goes to the parser as it is, byte for byte, as Envoy hands it to the
	// module: it reports text that is not JSON, too deep or empty better than YAML would.
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] == '{' || trimmed[0] == '[' {
		var doc map[string]any
		if json.Unmarshal(trimmed, &doc) != nil || kindOf(doc) == pluginConfig {
			r.plugin("document 1", "", data)
			return r
		}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; {
		text, err := reader.Read()
		if err == io.EOF {
			return r
		}
		document := "document " + strconv.Itoa(n)
		if err != nil {
			r.add(document, "", "not YAML: "+err.Error())
			return r
		}
		js, err := yaml.YAMLToJSON(text)
		if err != nil {
			r.add(document, "", "not YAML: "+err.Error())
			n++
			continue
		}
		if string(js) == "null" {
			continue // an empty document, e.g. before the first ---
		}
		n++
		var doc map[string]any
		if json.Unmarshal(js, &doc) != nil {
			r.plugin(document, "", js) // not an object: the parser says so
			continue
		}
		switch kindOf(doc) {
		case kubernetes:
			r.object(document, doc)
		case envoy:
			r.bootstrap(document+" (Envoy bootstrap)", text)
		default:
			r.plugin(document, "", js)
		}
	}
}

type kind int

const (
	pluginConfig kind = iota
	kubernetes
	envoy
)

// bootstrapFields are the top-level keys of Envoy's Bootstrap, in either spelling.
var bootstrapFields = func() map[string]bool {
	fields := (&bootstrapv3.Bootstrap{}).ProtoReflect().Descriptor().Fields()
	names := map[string]bool{}
	for i := range fields.Len() {
		names[string(fields.Get(i).Name())] = true
		names[fields.Get(i).JSONName()] = true
	}
	return names
}()

func kindOf(doc map[string]any) kind {
	if _, ok := doc["apiVersion"]; ok {
		if _, ok := doc["kind"]; ok {
			return kubernetes
		}
	}
	for k := range doc {
		if bootstrapFields[k] {
			return envoy
		}
	}
	return pluginConfig
}

func (r *Result) add(document, path, message string) {
	r.Problems = append(r.Problems, Problem{Document: document, Path: path, Message: message})
}

// plugin parses one configuration; its problems are placed under path.
func (r *Result) plugin(document, path string, config []byte) {
	r.Configurations++
	for _, p := range PluginConfig(config) {
		r.add(document, join(path, p.Path), p.Message)
	}
}

// PluginConfig returns the problems config.ParseConfig finds in a JSON configuration.
func PluginConfig(data []byte) []config.Problem {
	_, err := config.Parse(data)
	return config.Problems(err)
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	}
	return prefix + "." + path
}

// Object checks one Kubernetes object, decoded from JSON or YAML, as File does; its
// problems name no document.
func Object(obj map[string]any) Result {
	var r Result
	r.object("", obj)
	return r
}

// object checks a WasmPlugin or a TrafficExtension (spec.wasm) that runs meshmirror;
// other objects are left to the API server.
func (r *Result) object(document string, doc map[string]any) {
	kind, _ := doc["kind"].(string)
	if document != "" {
		metadata, _ := doc["metadata"].(map[string]any)
		name, _ := metadata["name"].(string)
		if ns, _ := metadata["namespace"].(string); ns != "" {
			name = ns + "/" + name
		}
		document += " (" + kind + " " + name + ")"
	}
	group, _, _ := strings.Cut(fmt.Sprint(doc["apiVersion"]), "/")
	spec, _ := doc["spec"].(map[string]any)
	path := "spec"
	switch {
	case group != "extensions.istio.io":
		return
	case kind == "WasmPlugin":
	case kind == "TrafficExtension":
		if spec, _ = spec["wasm"].(map[string]any); spec == nil {
			return // a Lua extension
		}
		path = "spec.wasm"
	default:
		return
	}
	pluginName, _ := spec["pluginName"].(string)
	url, _ := spec["url"].(string)
	if pluginName != RootID {
		if strings.Contains(url, RootID) {
			r.add(document, path+".pluginName", fmt.Sprintf("must be %q, the plugin's root id, for the module %s, got %q", RootID, url, pluginName))
		}
		return // another plugin
	}
	config, err := IstioPluginConfig(spec["pluginConfig"])
	if err != nil {
		r.Configurations++
		r.add(document, path+".pluginConfig", err.Error())
		return
	}
	r.plugin(document, path+".pluginConfig", config)
}

// IstioPluginConfig is the configuration Istio hands the plugin for a pluginConfig
// (nil when there is none): the protobuf Struct as protojson writes it
// (pilot/pkg/model/extensions.go), and nothing for an empty one.
func IstioPluginConfig(pluginConfig any) ([]byte, error) {
	if pluginConfig == nil {
		return nil, nil
	}
	js, err := json.Marshal(pluginConfig)
	if err != nil {
		return nil, err
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(js, &s); err != nil {
		return nil, fmt.Errorf("must be an object: %v", err)
	}
	if len(s.GetFields()) == 0 {
		return nil, nil
	}
	return protojson.Marshal(&s)
}

// bootstrap checks an Envoy bootstrap as the runner reads it: Envoy's own rules, and
// the configuration of each meshmirror wasm filter, wherever the filter is.
func (r *Result) bootstrap(document string, text []byte) {
	boot, err := runner.DecodeBootstrap(text)
	if err != nil {
		r.add(document, "", err.Error())
		return
	}
	for _, err := range runner.ValidateBootstrap(boot) {
		r.add(document, "", err.Error())
	}
	for _, f := range runner.WasmFilters(boot) {
		config := f.Wasm.GetConfig()
		if config.GetRootId() != RootID {
			continue
		}
		path := f.Path + ".config.configuration"
		value, err := filterConfiguration(config.GetConfiguration())
		if err != nil {
			r.Configurations++
			r.add(document, path, err.Error())
			continue
		}
		r.plugin(document, path, value)
	}
}

// filterConfiguration is what Envoy hands the plugin for a wasm filter's
// configuration: the value of a StringValue or a BytesValue.
func filterConfiguration(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	switch v := inner.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	}
	return nil, errors.New("must be a google.protobuf.StringValue holding the JSON configuration, got " + a.GetTypeUrl())
}
