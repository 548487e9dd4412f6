// Package report writes the documents the plugin sends to a report cluster: JSON
// strings escaped as RFC 8259 wants them, and the OTLP/HTTP JSON envelope of a log
// record, for an OpenTelemetry Collector.
//
// It appends to byte slices by hand, since encoding/json would cost the module more
// than the whole comparison; it knows nothing of pairs or targets, and never panics:
// bytes that are not UTF-8 are written as U+FFFD.
package report
