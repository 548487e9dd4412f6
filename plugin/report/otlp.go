package report

import "strconv"

// OTLP attribute keys of a report sent as a log record (SPEC "Reports as OpenTelemetry
// logs"): OpenTelemetry's semantic conventions where they have a name for the fact.
const (
	otlpTarget       = "meshmirror.target"
	otlpMethod       = "http.request.method"
	otlpPath         = "url.path"
	otlpStatus       = "http.response.status_code"
	otlpShadowStatus = "meshmirror.shadow.status_code"
	otlpDifferences  = "meshmirror.differences"
	otlpRequestID    = "http.request.header.x-request-id"
)

// OTLPLogs wraps a finished report document into the body of an OTLP/HTTP JSON
// ExportLogsServiceRequest holding one log record: resource service.name meshmirror,
// severity WARN, the document as the record's string body, and the attributes SPEC
// fixes. now is the time of the record, in nanoseconds since the epoch. A status that
// is not a 3-digit code leaves its attribute out, as requestID "" does.
//
// The JSON is appended by hand, as the report's is: encoding/json would cost the
// module more than the whole comparison. The OTLP JSON mapping writes 64-bit integers
// (intValue, timeUnixNano) as decimal strings, enums as numbers.
func OTLPLogs(report []byte, target, method, path string, primaryStatus, shadowStatus, differences int, requestID string, now int64) []byte {
	b := make([]byte, 0, 2*len(report)+512) // the document is escaped as a string: quotes double
	b = append(b, `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"meshmirror"}}]},`...)
	b = append(b, `"scopeLogs":[{"scope":{"name":"meshmirror"},"logRecords":[{"timeUnixNano":"`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `","observedTimeUnixNano":"`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `","severityNumber":13,"severityText":"WARN","body":{"stringValue":`...)
	b = AppendString(b, string(report))
	b = append(b, `},"attributes":[`...)
	b = otlpString(b, otlpTarget, target)
	b = otlpString(append(b, ','), otlpMethod, method)
	b = otlpString(append(b, ','), otlpPath, path)
	b = otlpStatusCode(b, otlpStatus, primaryStatus)
	b = otlpStatusCode(b, otlpShadowStatus, shadowStatus)
	b = otlpInt(append(b, ','), otlpDifferences, int64(differences))
	if requestID != "" {
		b = otlpString(append(b, ','), otlpRequestID, requestID)
	}
	return append(b, "]}]}]}]}"...)
}

// otlpString appends a string attribute.
func otlpString(b []byte, key, value string) []byte {
	b = append(b, `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","value":{"stringValue":`...)
	b = AppendString(b, value)
	return append(b, "}}"...)
}

// otlpInt appends an int attribute.
func otlpInt(b []byte, key string, value int64) []byte {
	b = append(b, `{"key":"`...)
	b = append(b, key...)
	b = append(b, `","value":{"intValue":"`...)
	b = strconv.AppendInt(b, value, 10)
	return append(b, `"}}`...)
}

// otlpStatusCode appends ",attribute" for an HTTP status, nothing for none (0).
func otlpStatusCode(b []byte, key string, status int) []byte {
	if status == 0 {
		return b
	}
	return otlpInt(append(b, ','), key, int64(status))
}
