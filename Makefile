# meshmirror: see README.md. `make test` runs every test, `make run` the main job.
WASM        := build/meshmirror.wasm
TINYGO      := tools/tinygo.sh
TINYGOFLAGS := -scheduler=none -buildmode=wasi-legacy -no-debug -panic=trap
SOURCES     := $(shell find plugin -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: build test run fuzz bench clean

build: $(WASM)

# wasi-legacy keeps the module alive after _start runs main(), where the SDK sets the
# VM context (FACTS.md); -no-debug keeps it small.
$(WASM): $(SOURCES) $(TINYGO)
	@mkdir -p build
	$(TINYGO) build $(TINYGOFLAGS) -o $@ ./plugin
	$(TINYGO) strip $@

# The tests load $(WASM); building it first makes a broken build fail the run.
test: $(WASM)
	go vet ./...
	go test -count=1 ./...
	go test -run='^$$' -fuzz=FuzzParseConfig -fuzztime=20s ./plugin/mirror

# Benchmarks compare in one run; repeat (-count) and read with benchstat on a noisy box.
bench: $(WASM)
	go test -run='^$$' -bench=. -benchmem -count=3 ./plugin/...

fuzz:
	go test -run='^$$' -fuzz=FuzzParseConfig -fuzztime=5m ./plugin/mirror

# The main job: envoy.yaml served by the local runner, demo backends, a burst of
# traffic and a summary. ARGS=-keep keeps it serving for curl.
run: $(WASM)
	go run ./runner/demo -config envoy.yaml $(ARGS)

clean:
	rm -rf build
