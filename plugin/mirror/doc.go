// Package mirror is the request path and what comes back of it: for every request it
// decides, per target, whether to send a copy (match, sampling, body size, rate limit,
// in-flight cap), builds the copy, and counts its answer; with compare, it pairs the
// answer with the primary's response, compares them and tells noise from regressions
// against a baseline target, and writes the report of a differing pair.
//
// It is plain Go: it never calls the proxy-wasm SDK. plugin/main.go hands it what
// the host delivers and sends what it queues, so everything here is table-tested and
// fuzzed natively and compiled unchanged into the module. It never delays, changes or
// fails the primary request, and holds only the memory SPEC.md bounds.
//
// A request passes through its files in this order: mirror.go (Start decides, Finish
// queues the copies), match.go and sample.go (the rules), limits.go and body.go (rate,
// in-flight and body budgets), copyheaders.go (the copy's headers); its answer through
// answer.go (counters), response.go and pair.go (the primary's response and the
// comparison of a pair), noise.go (the baseline's noise) and verdict.go (the outcome of
// a pair, and its report).
package mirror
