// Package config is the one reader of meshmirror's configuration: Parse checks a JSON
// document against SPEC.md and returns the Config the request path runs on, or an
// *Error that lists every problem at once, each with its path
// (targets[1].percentage: must be between 0 and 100, got 150).
//
// It is plain Go, with no SDK call, so that the module and `meshmirror validate` run
// the same code. It never panics on any input: a document nested too deeply, a regex
// that could exhaust the module's stack, a number of any size are problems, not traps.
package config
