# meshmirror: see README.md. `make test` runs every test, `make run` the main job.
WASM         := build/meshmirror.wasm
# The same build before its name section is stripped: the benchmarks count the
# module's allocations by the name of TinyGo's allocator.
WASM_NAMES   := build/meshmirror.names.wasm
FLOORS       := f0 f1 f2 f3
IMAGE_LAYOUT := build/image
TINYGO       := tools/tinygo.sh
# custommalloc drops TinyGo's exported malloc, which pins every block until a free the
# SDK never calls; Envoy then hands buffers in through the plugin's own malloc
# (plugin/buffers_tinygo.go), whose blocks the collector reclaims (RATIONALE.md).
TINYGOFLAGS  := -scheduler=none -buildmode=wasi-legacy -no-debug -panic=trap -tags=custommalloc
SOURCES      := $(shell find plugin -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: build test run fuzz bench soak testdata clean image push envoy validate chromium screenshot reports-image

build: $(WASM)

# wasi-legacy keeps the module alive after _start runs main(), where the SDK sets the
# VM context (FACTS.md); -no-debug keeps it small.
$(WASM_NAMES): $(SOURCES) $(TINYGO)
	@mkdir -p build
	$(TINYGO) build $(TINYGOFLAGS) -o $@ ./plugin

$(WASM): $(WASM_NAMES)
	cp $< $@
	$(TINYGO) strip $@

# The benchmarks' reference modules (BENCHMARKS.md), kept in the repo as test data:
# built with the same toolchain, SDK and flags as the plugin.
testdata: $(TINYGO)
	for f in $(FLOORS); do \
	  $(TINYGO) build $(TINYGOFLAGS) -o bench/testdata/$$f.names.wasm ./bench/testdata/$$f && \
	  cp bench/testdata/$$f.names.wasm bench/testdata/$$f.wasm && \
	  $(TINYGO) strip bench/testdata/$$f.wasm || exit 1; \
	done

# What an operator applies, each checked by `meshmirror validate` in `make test`.
SHIPPED_CONFIGS := envoy.yaml $(shell find manifests -name '*.yaml' -not -path '*/testdata/*' -not -path '*/prometheus/*' -not -name kustomization.yaml | sort)

# The tests load $(WASM); building it first makes a broken build fail the run.
test: chromium $(WASM) $(WASM_NAMES)
	go vet ./... $(addprefix ./bench/testdata/,$(FLOORS))
	go test -count=1 ./...
	@# Argo Rollouts' own code on manifests/rollouts: a module of its own, out of go.mod.
	cd manifests/rollouts/evaluate && go vet ./... && go test -count=1 ./...
	go run ./cmd/meshmirror validate $(SHIPPED_CONFIGS)
	@# Budgets in executions, not seconds: Go 1.26's fuzz coordinator can fail a
	@# duration-bounded run with "context deadline exceeded" when a worker is busy at
	@# the deadline (golang/go#75804, fixed in Go 1.27), as it did once in CI here.
	go test -run='^$$' -fuzz=FuzzParseConfig -fuzztime=200000x ./plugin/config
	go test -run='^$$' -fuzz=FuzzParseNumber -fuzztime=50000x ./plugin/config
	go test -run='^$$' -fuzz=FuzzSprintf -fuzztime=50000x ./plugin/internal/text
	go test -run='^$$' -fuzz=FuzzCompareJSON -fuzztime=300000x ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzCompareScanner -fuzztime=200000x ./plugin/jsoncmp
	@# Differential: strings against encoding/json, numbers against math/big, the
	@# decoder against compress/gzip and compress/zlib (issue 25).
	go test -run='^$$' -fuzz=FuzzCompareStrings -fuzztime=100000x ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzNumbersEqual -fuzztime=100000x ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzDecode -fuzztime=200000x ./plugin/inflate
	go test -run='^$$' -fuzz=FuzzRawHeaders -fuzztime=100000x ./plugin/header
	go test -run='^$$' -fuzz=FuzzScan -fuzztime=50000x ./plugin/mirror
	go test -run='^$$' -fuzz=FuzzOf -fuzztime=50000x ./plugin/endpoint
	go test -run='^$$' -fuzz=FuzzTable -fuzztime=20000x ./plugin/summary
	go test -run='^$$' -fuzz=FuzzServer -fuzztime=200x ./internal/reports
	go test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=20000x ./internal/reports
	go test -run='^$$' -fuzz=FuzzParseSummary -fuzztime=20000x ./internal/reports

# The receiver's page is tested in Debian's chromium, headless (internal/reports):
# installed here where it is missing, as root.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "make test: the browser test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	fi

# The README's picture of the receiver's page, taken by the browser test.
screenshot: chromium
	go test -count=1 -run='^TestPage_inBrowser$$' ./internal/reports -screenshot=$(CURDIR)/docs/reports.png

# Benchmarks (BENCHMARKS.md): meshmirror against the floors of bench/testdata, in
# interleaved rounds, in three engines: wazero's compiler on the project's own host, V8
# on a proxy-wasm host under Node run as Envoy runs V8 (bench/v8/host.mjs, node
# --no-liftoff), and wazero's interpreter, a stand-in for WAMR's fast-interp. Prints the
# engines' ratio tables and writes bench/results/: table.md, cost.svg, cost-v8.svg,
# cost-wazero-interpreter.svg, bench.txt, bench-v8.txt and bench-interp.txt, which
# benchstat (from the Go module proxy) summarizes. Progress goes to stderr, a line per
# scenario and round.
BENCHFLAGS ?= -count 6 -benchtime 1s
bench: $(WASM) $(WASM_NAMES)
	go run ./bench/report $(BENCHFLAGS) -out bench/results
	-go run golang.org/x/perf/cmd/benchstat@latest -col /module bench/results/bench.txt
	-go run golang.org/x/perf/cmd/benchstat@latest -col /module bench/results/bench-v8.txt
	-go run golang.org/x/perf/cmd/benchstat@latest -col /module bench/results/bench-interp.txt

# A million mixed requests through one VM; fails if the memory grows after warm-up.
# Writes bench/results/soak-after.csv and soak.svg (with soak-before.csv if present).
soak: $(WASM)
	go run ./bench/soak -out bench/results

# Checks a configuration before it is applied: a JSON configuration, WasmPlugin or
# TrafficExtension manifests, or an envoy.yaml (README, "Validation").
validate:
	@test -n "$(FILE)" || { echo "usage: make validate FILE=path/to/file.yaml" >&2; exit 2; }
	go run ./cmd/meshmirror validate $(FILE)

fuzz:
	go test -run='^$$' -fuzz=FuzzParseConfig -fuzztime=5m ./plugin/config
	go test -run='^$$' -fuzz=FuzzCompareJSON -fuzztime=5m ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzCompareScanner -fuzztime=5m ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzCompareStrings -fuzztime=5m ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzNumbersEqual -fuzztime=5m ./plugin/jsoncmp
	go test -run='^$$' -fuzz=FuzzDecode -fuzztime=5m ./plugin/inflate
	go test -run='^$$' -fuzz=FuzzServer -fuzztime=5m ./internal/reports
	go test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=5m ./internal/reports
	go test -run='^$$' -fuzz=FuzzParseSummary -fuzztime=5m ./internal/reports

# An OCI image of the module in the layout Istio's WasmPlugin pulls (RATIONALE.md); no
# Docker engine needed.
image: $(IMAGE_LAYOUT)/index.json

$(IMAGE_LAYOUT)/index.json: $(WASM) tools/image/main.go go.mod go.sum
	go run ./tools/image -wasm $(WASM) -layout $(IMAGE_LAYOUT)

# Credentials come from docker login or a credential helper, as for any registry client.
push: image
	@test -n "$(IMAGE)" || { echo "usage: make push IMAGE=registry/repo:tag" >&2; exit 1; }
	go run ./tools/image -layout $(IMAGE_LAYOUT) -push $(IMAGE)

# The container image of `meshmirror reports` (manifests/reports/): the static command
# on an empty base, no Docker engine needed. Push it with
# go run ./tools/image -layout build/reports-image -push registry/meshmirror-reports:tag
REPORTS_LAYOUT := build/reports-image
GOARCH_IMAGE   ?= amd64
reports-image:
	@mkdir -p build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH_IMAGE) go build -trimpath -ldflags='-s -w' -o build/meshmirror-linux-$(GOARCH_IMAGE) ./cmd/meshmirror
	go run ./tools/image -receiver build/meshmirror-linux-$(GOARCH_IMAGE) -arch $(GOARCH_IMAGE) -layout $(REPORTS_LAYOUT)

# Runs envoy.yaml with an envoy binary when there is one (the backends on 127.0.0.1:8081,
# 8082 and 8083 are then yours to start), else Envoy and the backends of compose.yaml.
envoy: $(WASM)
	@if command -v envoy >/dev/null 2>&1; then \
		echo "envoy -c envoy.yaml: listens on 127.0.0.1:10000, expects backends on 127.0.0.1:8081, 8082, 8083"; \
		exec envoy -c envoy.yaml; \
	elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		exec docker compose up; \
	elif command -v docker >/dev/null 2>&1; then \
		echo "make envoy: no envoy binary on PATH, and the docker command is there but its engine does not answer (docker info fails)" >&2; \
		exit 1; \
	else \
		echo "make envoy: needs an envoy binary on PATH or Docker with compose; this machine has neither" >&2; \
		exit 1; \
	fi

# The main job: envoy.yaml served by the local runner, demo backends, a burst of
# traffic and a summary. ARGS=-keep keeps it serving for curl.
run: $(WASM)
	go run ./runner/demo -config envoy.yaml $(ARGS)

clean:
	rm -rf build
