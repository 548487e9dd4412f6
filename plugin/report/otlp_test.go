package report

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// decodeOTLP decodes an OTLP/HTTP JSON logs body with the Collector's own decoder and
// returns its only log record and the record's resource.
func decodeOTLP(t *testing.T, body []byte) (plog.LogRecord, pcommon.Resource) {
	t.Helper()
	logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		t.Fatalf("the Collector's decoder refuses the body: %v\n%s", err, body)
	}
	if n := logs.LogRecordCount(); n != 1 {
		t.Fatalf("%d log records, want 1", n)
	}
	rl := logs.ResourceLogs().At(0)
	return rl.ScopeLogs().At(0).LogRecords().At(0), rl.Resource()
}

func TestOTLPLogs(t *testing.T) {
	report := []byte(`{"target":"v2","path":"/a\"b","differences":[{"where":"x\ny"}]}`)
	tests := []struct {
		name                  string
		method, path          string
		primary, shadow       int // 0: none (a reset, a status that is not 3 digits)
		requestID             string
		wantStatus, wantShade int64 // -1: attribute absent
	}{
		{"every attribute", "GET", "/api/items/7", 200, 503, "3f2a-11", 200, 503},
		{"odd strings", "PO\"ST", "/caf\xe9/\x01", 200, 200, "id \"quoted\"", 200, 200},
		{"no request id, no shadow status", "GET", "/", 404, 0, "", 404, -1},
		{"no statuses", "GET", "/", 0, 0, "", -1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const now = 1764648000123456789
			rec, res := decodeOTLP(t, OTLPLogs(report, "v2", tc.method, tc.path, tc.primary, tc.shadow, 3, tc.requestID, now))
			if v, ok := res.Attributes().Get("service.name"); !ok || v.Str() != "meshmirror" {
				t.Errorf("resource service.name = %v, %v", v.AsString(), ok)
			}
			if rec.SeverityText() != "WARN" || rec.SeverityNumber() != plog.SeverityNumberWarn {
				t.Errorf("severity %q %d, want WARN 13", rec.SeverityText(), rec.SeverityNumber())
			}
			if rec.Body().Type() != pcommon.ValueTypeStr || rec.Body().Str() != string(report) {
				t.Errorf("body %v %q, want the report as a string", rec.Body().Type(), rec.Body().Str())
			}
			if got := int64(rec.Timestamp()); got != now {
				t.Errorf("timeUnixNano %d, want %d", got, now)
			}
			attrs := rec.Attributes()
			str := func(key, want string) {
				t.Helper()
				v, ok := attrs.Get(key)
				if !ok || v.Type() != pcommon.ValueTypeStr || v.Str() != want {
					t.Errorf("%s = %q (present %v), want %q", key, v.AsString(), ok, want)
				}
			}
			num := func(key string, want int64) {
				t.Helper()
				v, ok := attrs.Get(key)
				switch {
				case want < 0 && ok:
					t.Errorf("%s = %s, want it absent", key, v.AsString())
				case want >= 0 && (!ok || v.Type() != pcommon.ValueTypeInt || v.Int() != want):
					t.Errorf("%s = %s (present %v), want int %d", key, v.AsString(), ok, want)
				}
			}
			str(otlpTarget, "v2")
			str(otlpMethod, tc.method)
			str(otlpPath, string(appendJSONStringDecoded(tc.path)))
			num(otlpStatus, tc.wantStatus)
			num(otlpShadowStatus, tc.wantShade)
			num(otlpDifferences, 3)
			if tc.requestID == "" {
				if v, ok := attrs.Get(otlpRequestID); ok {
					t.Errorf("%s = %q for a request without one", otlpRequestID, v.Str())
				}
			} else {
				str(otlpRequestID, tc.requestID)
			}
		})
	}
}

// appendJSONStringDecoded is s as appendJSONString writes it, read back: bytes that
// are not UTF-8 become U+FFFD.
func appendJSONStringDecoded(s string) []byte {
	var out []byte
	for _, r := range s {
		out = append(out, string(r)...)
	}
	return out
}

// TestOTLPEvent: a summary's record parses with the Collector's decoder, with
// severity INFO, event.name and the target, and the document as its body.
func TestOTLPEvent(t *testing.T) {
	doc := []byte(`{"kind":"summary","target":"v2","endpoints":[{"endpoint":"/a\"b"}]}`)
	const now = 1764648000123456789
	rec, res := decodeOTLP(t, OTLPEvent(doc, "v2", "meshmirror.summary", now))
	if v, ok := res.Attributes().Get("service.name"); !ok || v.Str() != "meshmirror" {
		t.Errorf("resource service.name = %v, %v", v.AsString(), ok)
	}
	if rec.SeverityText() != "INFO" || rec.SeverityNumber() != plog.SeverityNumberInfo {
		t.Errorf("severity %q %d, want INFO 9", rec.SeverityText(), rec.SeverityNumber())
	}
	if rec.Body().Str() != string(doc) || int64(rec.Timestamp()) != now {
		t.Errorf("body %q at %d, want the document at %d", rec.Body().Str(), rec.Timestamp(), now)
	}
	attrs := rec.Attributes()
	if attrs.Len() != 2 {
		t.Errorf("%d attributes, want 2: %v", attrs.Len(), attrs.AsRaw())
	}
	for key, want := range map[string]string{"event.name": "meshmirror.summary", "meshmirror.target": "v2"} {
		if v, ok := attrs.Get(key); !ok || v.Str() != want {
			t.Errorf("%s = %q (present %v), want %q", key, v.AsString(), ok, want)
		}
	}
}
