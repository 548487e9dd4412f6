package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshmirror/meshmirror/wasmhost"
)

// The V8 host (v8/host.mjs) runs the same modules and scenarios in Node's V8, the
// engine of Envoy's official builds. Node runs it with NodeFlags; the Go side sends it
// a spec (the modules, the scenarios, the clusters' answers) and reads one JSON line
// per measurement.

//go:embed v8/host.mjs
var v8Host []byte

// NodeFlags are the flags node runs the V8 host with: Liftoff off, as Envoy's V8
// runs modules (proxy-wasm-cpp-host src/v8/v8.cc sets v8_flags.liftoff = false), so
// every function is compiled by TurboFan, the optimizing compiler, before it runs.
var NodeFlags = []string{"--no-liftoff"}

// ErrNoNode is returned when there is no node command on PATH to run the V8 host.
var ErrNoNode = errors.New("bench: no node on PATH: the V8 benchmarks need Node.js 20 or later")

// NodeVersion returns the version of the node command that runs the V8 host.
func NodeVersion() (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", ErrNoNode
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// V8Options shape a run of the V8 host.
type V8Options struct {
	// Rounds is how many times every scenario runs through every module.
	Rounds int
	// Benchtime is how long each module runs each scenario in a round, after Warmup
	// requests.
	Benchtime time.Duration
	// Progress receives the host's progress lines (a line per scenario and round) and
	// its errors. Defaults to os.Stderr.
	Progress io.Writer
}

// V8Sample is one measurement of the V8 host: a module running a scenario for a
// round's benchtime.
type V8Sample struct {
	Round            int
	Scenario, Module string
	// NsPerRequest is the wall-clock time per request, CPUNsPerRequest the CPU time
	// node used per request (as Measurement).
	NsPerRequest, CPUNsPerRequest float64
	Requests                      int
}

// V8Check is what a module did in the V8 host after a few requests of a scenario.
type V8Check struct {
	Scenario, Module string
	// Answered counts the callouts answered.
	Answered int
	// Metrics are the module's, by name.
	Metrics map[string]V8Metric
	// MemoryBytes is the size of the module's linear memory.
	MemoryBytes uint32
}

// V8Metric is a metric the module defined: its proxy-wasm type (0 counter, 1 gauge,
// 2 histogram) and its value (a histogram's last sample).
type V8Metric struct {
	Kind  uint32
	Value uint64 `json:",string"`
}

// v8Spec is what the V8 host reads: see v8/host.mjs.
type v8Spec struct {
	Mode        string // "bench" or "check"
	Modules     []v8Module
	Scenarios   []v8Scenario
	Rounds      int
	BenchtimeNs int64
	Warmup      int
	Requests    int // per scenario and module, in check mode
}

type v8Module struct {
	Name string
	Wasm []byte
}

type v8Scenario struct {
	Name, Config string
	Request      Request
	// Clusters are what the shadows answer (Answers).
	Clusters map[string]*wasmhost.Response
}

// RunV8 runs scenarios through mods in the V8 host, in rounds: in each round every
// scenario runs through every module, one after the other, each in a new VM after
// Warmup requests. It calls each with every measurement as it comes.
func RunV8(mods []Module, scenarios []Scenario, opts V8Options, each func(V8Sample)) error {
	spec := newV8Spec("bench", mods, scenarios)
	spec.Rounds, spec.BenchtimeNs = opts.Rounds, opts.Benchtime.Nanoseconds()
	return runV8(spec, opts.Progress, func(line []byte) error {
		var s V8Sample
		if err := json.Unmarshal(line, &s); err != nil {
			return err
		}
		each(s)
		return nil
	})
}

// CheckV8 runs requests requests of each scenario through each module in the V8
// host, each in a new VM, and returns what every module did: the answer to whether
// the V8 host runs them as wasmhost does.
func CheckV8(mods []Module, scenarios []Scenario, requests int) ([]V8Check, error) {
	spec := newV8Spec("check", mods, scenarios)
	spec.Requests = requests
	var out []V8Check
	err := runV8(spec, io.Discard, func(line []byte) error {
		var c V8Check
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

func newV8Spec(mode string, mods []Module, scenarios []Scenario) *v8Spec {
	spec := &v8Spec{Mode: mode, Warmup: Warmup}
	for _, m := range mods {
		spec.Modules = append(spec.Modules, v8Module{Name: m.Name, Wasm: m.Wasm})
	}
	for _, sc := range scenarios {
		spec.Scenarios = append(spec.Scenarios, v8Scenario{Name: sc.Name, Config: sc.Config, Request: sc.Request,
			Clusters: Answers(sc)})
	}
	return spec
}

// runV8 writes the host and its spec to a temporary directory, runs node on them,
// and hands each line of its output to line.
func runV8(spec *v8Spec, progress io.Writer, line func([]byte) error) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return ErrNoNode
	}
	dir, err := os.MkdirTemp("", "meshmirror-v8-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	script, specPath := filepath.Join(dir, "host.mjs"), filepath.Join(dir, "spec.json")
	if err := os.WriteFile(script, v8Host, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(specPath, data, 0o644); err != nil {
		return err
	}
	if progress == nil {
		progress = os.Stderr
	}
	var stderr bytes.Buffer
	cmd := exec.Command(node, append(append([]string(nil), NodeFlags...), script, specPath)...)
	cmd.Stderr = io.MultiWriter(progress, &stderr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting node: %w", err)
	}
	s := bufio.NewScanner(stdout)
	s.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var bad error
	for s.Scan() {
		if bad == nil {
			if err := line(s.Bytes()); err != nil {
				bad = fmt.Errorf("the V8 host's output %q: %w", s.Text(), err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("the V8 host (node %s): %w: %s", strings.Join(NodeFlags, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	if bad == nil {
		bad = s.Err()
	}
	return bad
}
