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
	otlpEventName    = "event.name"
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
	b := appendRecord(make([]byte, 0, 2*len(report)+512), report, 13, "WARN", now) // the document is escaped as a string: quotes double
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

// OTLPEvent wraps a document that is not a report, such as a summary, into an OTLP
// log record as OTLPLogs does, with severity INFO and the attributes
// meshmirror.target and event.name (OpenTelemetry's name for what kind of event a
// record is): a Collector's pipeline tells summaries from reports by it.
func OTLPEvent(doc []byte, target, event string, now int64) []byte {
	b := appendRecord(make([]byte, 0, 2*len(doc)+384), doc, 9, "INFO", now)
	b = otlpString(b, otlpTarget, target)
	b = otlpString(append(b, ','), otlpEventName, event)
	return append(b, "]}]}]}]}"...)
}

// appendRecord appends the envelope of one log record up to its attributes: the
// resource, the scope, the times, the severity and doc as the string body.
func appendRecord(b, doc []byte, severityNumber int, severityText string, now int64) []byte {
	b = append(b, `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"meshmirror"}}]},`...)
	b = append(b, `"scopeLogs":[{"scope":{"name":"meshmirror"},"logRecords":[{"timeUnixNano":"`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `","observedTimeUnixNano":"`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `","severityNumber":`...)
	b = strconv.AppendInt(b, int64(severityNumber), 10)
	b = append(b, `,"severityText":"`...)
	b = append(b, severityText...)
	b = append(b, `","body":{"stringValue":`...)
	b = AppendString(b, string(doc))
	return append(b, `},"attributes":[`...)
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
