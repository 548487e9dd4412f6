// Package jsoncmp compares two JSON texts as RFC 8259 values, exactly: object keys in
// any order, strings by the code points they denote (each \u escape decoded on its own,
// as encoding/json does: a lone surrogate is U+FFFD), numbers as exact decimals
// whatever the size of their exponents. It locates where they differ as
// diff.Differences with JSON paths (items.3.price), leaving out the paths it is told
// to ignore, and reads small JSON documents (Parse, Value) for the configuration.
//
// It is a library: it knows nothing of mirroring, requests or Envoy. It never panics
// on any input, recurses at most MaxDepth levels (text nested deeper is compared byte
// for byte), and allocates nothing per byte: its buffers are pooled, and a compared
// pair allocates only for the differences it finds.
//
// The work is split in three: a scanner (scan.go) that validates a text and records
// its values as nodes; a one-pass check (same.go) that reads the shadow's text against
// the primary's nodes, for texts that are most often the same value written
// differently; and a walk (compare.go) over both sides' nodes that locates the
// differences.
package jsoncmp
