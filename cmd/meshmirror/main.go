// Command meshmirror is the operator's tool for the meshmirror Wasm plugin.
//
//	meshmirror validate FILE...
//
// checks every meshmirror configuration in each file before it is applied: a JSON
// configuration, Kubernetes manifests with WasmPlugins or TrafficExtensions (each
// pluginConfig), or an Envoy bootstrap (each meshmirror wasm filter's configuration).
// It prints every problem as `file: document: path: message` and exits 1 when it finds
// any, 0 otherwise. It parses with the same code as the module, so a configuration it
// passes is one the plugin takes; one it refuses, the plugin would start with and
// mirror nothing.
//
// Install it with
//
//	go install github.com/meshmirror/meshmirror/cmd/meshmirror@latest
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/meshmirror/meshmirror/internal/validate"
)

const usage = `usage: meshmirror validate FILE...

Checks each meshmirror configuration in FILE (a JSON configuration, Kubernetes
manifests with WasmPlugins or TrafficExtensions, or an Envoy bootstrap; - reads
standard input) and prints every problem as file: document: path: message.
Exits 1 when there is a problem, 0 otherwise, 2 on a usage error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command with its arguments and streams, for the tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "validate" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	status := 0
	for _, name := range args[1:] {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", name, err)
			status = 1
			continue
		}
		result := validate.File(data)
		for _, p := range result.Problems {
			fmt.Fprintf(stdout, "%s: %s\n", name, p)
		}
		switch {
		case len(result.Problems) > 0:
			status = 1
		case result.Configurations == 0:
			fmt.Fprintf(stderr, "%s: no meshmirror configuration in it (no WasmPlugin or TrafficExtension with pluginName %s, no wasm filter with root_id %s)\n", name, validate.RootID, validate.RootID)
		default:
			fmt.Fprintf(stderr, "%s: %d meshmirror configuration(s), valid\n", name, result.Configurations)
		}
	}
	return status
}
