package mirror

import (
	"os"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/config"
)

// specExample is the example configuration of SPEC.md, as the configuration's tests
// read it.
var specExample = func() string {
	b, err := os.ReadFile("../config/testdata/spec-example.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// oneTarget is a configuration of one target, t to cluster c, with extra keys.
func oneTarget(extra string) string {
	return `{"targets":[{"name":"t","cluster":"c"` + extra + `}]}`
}

// mustParse parses a configuration the test means to be valid.
func mustParse(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(doc))
	if err != nil || cfg == nil {
		t.Fatalf("Parse(%s) = %v, %v; want a configuration", doc, cfg, err)
	}
	return cfg
}
