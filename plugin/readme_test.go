package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// TestREADMEConfigurations starts the plugin with every JSON example of README.md but
// the receiver's answers: a documented configuration that the plugin refuses is a bug
// in one or the other.
func TestREADMEConfigurations(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```json\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("found %d JSON examples in README.md, want at least 3", len(blocks))
	}
	for i, block := range blocks {
		config := block[:strings.Index(block, "```")]
		var answer struct{ Verdict *string }
		if json.Unmarshal([]byte(config), &answer) == nil && answer.Verdict != nil {
			continue // an answer of the receiver's /api/verdict, not a configuration
		}
		t.Run(fmt.Sprintf("example %d", i+1), func(t *testing.T) {
			// start fails unless the plugin took the configuration (config_errors 0).
			vmTest(t, func(t *testing.T, vm types.VMContext) { start(t, vm, config) })
		})
	}
}
