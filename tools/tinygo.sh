#!/usr/bin/env bash
# Runs TinyGo for meshmirror: "tools/tinygo.sh build [flags] ./plugin" runs
# "tinygo build -target=<wasip1 target> [flags] ./plugin"; "tools/tinygo.sh strip FILE"
# drops the name section TinyGo's wasm-opt keeps; with no arguments it only makes sure
# the toolchain is there.
#
# A tinygo on PATH is used when it ships its own lib/ (release packages do), so the stock
# wasip1 target works. Otherwise TinyGo is built from the Go module proxy into .tools/
# against Debian's LLVM 19 and wasi-libc (see ../shared/FACTS.md for why each step).
# Idempotent: once the toolchain is in place this only checks a stamp file.
set -euo pipefail

version=v0.41.0
repo=$(cd "$(dirname "$0")/.." && pwd)
tools="$repo/.tools/tinygo-$version"
# run TINYGO TARGET [COMMAND ARGS...] runs the command with the target, or nothing.
run() {
  local tinygo=$1 target=$2
  shift 2
  (($#)) || exit 0
  local cmd=$1
  shift
  if [ "$cmd" = strip ]; then
    local wasmopt
    wasmopt=$(command -v wasm-opt || echo "$("$tinygo" env TINYGOROOT)/bin/wasm-opt")
    exec "$wasmopt" --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext \
      --enable-nontrapping-float-to-int --enable-mutable-globals "$1" -o "$1"
  fi
  exec "$tinygo" "$cmd" "-target=$target" "$@"
}

packages=(llvm-19-dev libclang-19-dev clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 binaryen)

if [ -z "${MESHMIRROR_OWN_TINYGO:-}" ] && command -v tinygo >/dev/null 2>&1; then
  root=$(tinygo env TINYGOROOT 2>/dev/null || true)
  if [ -n "$root" ] && [ -d "$root/lib/wasi-libc" ]; then
    run tinygo wasip1 "$@"
  fi
fi

if [ -f "$tools/stamp" ]; then
  export TINYGOROOT="$tools/root"
  run "$tools/bin/tinygo" "$tools/wasip1-debian.json" "$@"
fi

log() { echo "tinygo.sh: $*" >&2; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

log "building TinyGo $version into $tools (about a minute)"
src=$(GOFLAGS=-mod=mod go mod download -json "github.com/tinygo-org/tinygo@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { log "go mod download did not give the TinyGo module"; exit 1; }

rm -rf "$tools"
mkdir -p "$tools/bin" "$tools/root"
(cd "$src" && go build -tags=llvm19 -o "$tools/bin/tinygo" .) >&2
cp -r "$src/src" "$src/targets" "$tools/root/"
chmod -R u+w "$tools/root"
mkdir -p "$tools/root/src/net" # a git submodule the module zip lacks; plugins cannot use net

# Debian's wasi-libc keeps its asserts (TinyGo builds its own with -DNDEBUG); the one in
# arc4random_buf drags in printf, 20 KB. This archive, linked first, makes them trap.
mkdir -p "$tools/debian"
echo 'void __assert_fail(const char *e, const char *f, int l, const char *fn) { __builtin_trap(); }' \
  >"$tools/debian/assert_trap.c"
clang-19 --target=wasm32-unknown-wasi -O2 -c "$tools/debian/assert_trap.c" -o "$tools/debian/assert_trap.o"
llvm-ar-19 rcs "$tools/debian/libassert_trap.a" "$tools/debian/assert_trap.o"

# The module zip has no lib/ (wasi-libc, compiler-rt), so link Debian's instead.
cat >"$tools/wasip1-debian.json" <<JSON
{
	"llvm-target":   "wasm32-unknown-wasi",
	"cpu":           "generic",
	"features":      "+bulk-memory,+mutable-globals,+nontrapping-fptoint,+sign-ext,-multivalue,-reference-types",
	"build-tags":    ["tinygo.wasm"],
	"goos":          "wasip1",
	"goarch":        "wasm",
	"linker":        "wasm-ld",
	"libc":          "",
	"rtlib":         "",
	"gc":            "precise",
	"scheduler":     "asyncify",
	"default-stack-size": 65536,
	"cflags": [
		"-mbulk-memory",
		"-mnontrapping-fptoint",
		"-mno-multivalue",
		"-mno-reference-types",
		"-msign-ext",
		"-nostdlibinc",
		"-isystem", "/usr/include/wasm32-wasi"
	],
	"ldflags": [
		"--stack-first",
		"--no-demangle",
		"$tools/debian/libassert_trap.a",
		"/usr/lib/wasm32-wasi/libc.a",
		"/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a"
	],
	"extra-files": [
		"src/runtime/asm_tinygowasm.S",
		"src/runtime/gc_boehm.c"
	]
}
JSON
touch "$tools/stamp"
export TINYGOROOT="$tools/root"
run "$tools/bin/tinygo" "$tools/wasip1-debian.json" "$@"
