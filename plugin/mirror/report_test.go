package mirror

import (
	"testing"

	"github.com/meshmirror/meshmirror/plugin/header"

	"go.opentelemetry.io/collector/pdata/plog"
)

// TestPairReportOTLP_requestID: a pair's OTLP record carries its primary request's
// x-request-id, so that it can be joined with access logs and traces.
func TestPairReportOTLP_requestID(t *testing.T) {
	m, _ := newMirror(t, compareConfig(`{"report":{"cluster":"otel","format":"otlp"}}`))
	p := startPairWith(t, m, 1e9, header.List{{":method", "GET"}, {":path", "/api/items"}, {":authority", "a"},
		{"x-request-id", "7d1c0e5a"}})
	p.primary(jsonHeaders, `{"a":1}`)
	p.shadow(jsonHeaders, `{"a":2}`)
	v := m.Verdicts()
	if len(v) != 1 || v[0].Report == nil {
		t.Fatal("no report")
	}
	logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(v[0].Report.Body)
	if err != nil || logs.LogRecordCount() != 1 {
		t.Fatalf("the Collector's decoder reads %d records, %v", logs.LogRecordCount(), err)
	}
	rec := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	if id, ok := rec.Attributes().Get("http.request.header.x-request-id"); !ok || id.Str() != "7d1c0e5a" {
		t.Errorf("x-request-id attribute = %v, %v; want 7d1c0e5a", id.AsString(), ok)
	}
}
