package bench

import (
	"maps"
	"strings"
	"testing"
)

// TestInterpreterMatchesCompiler: the module behaves the same in wazero's interpreter
// as in its compiler, so that the interpreter's table in make bench measures the same
// work: every scenario leaves the same metrics, answers and memory in both.
func TestInterpreterMatchesCompiler(t *testing.T) {
	mods := loadModules(t)
	const n = 5
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			compiled := runScenario(t, mods[0], sc, n)
			vm := runScenarioIn(t, Interpreter, mods[0], sc, n)
			// Histograms record times, which the interpreter takes longer over: left out.
			want, got := compiled.Host.Metrics(), vm.Host.Metrics()
			for _, m := range []map[string]uint64{want, got} {
				maps.DeleteFunc(m, func(name string, _ uint64) bool { return strings.HasSuffix(name, "_ms") })
			}
			if !maps.Equal(want, got) || len(got) == 0 {
				t.Errorf("metrics in the interpreter %v, in the compiler %v", got, want)
			}
			if vm.Answered != compiled.Answered || vm.Host.MemoryBytes() != compiled.Host.MemoryBytes() {
				t.Errorf("interpreter: %d answered, %d bytes; compiler: %d, %d", vm.Answered, vm.Host.MemoryBytes(),
					compiled.Answered, compiled.Host.MemoryBytes())
			}
		})
	}
}
