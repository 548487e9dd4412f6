package mirror

import (
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/report"
)

// What the SDK glue is told of a decided pair: the log line and the report.

// Verdict is what the SDK glue is to do about a differing pair: log it, report it,
// or both. Its Differences are the first MaxDifferences found.
type Verdict struct {
	Target       int
	Method, Path string
	Differences  []diff.Difference
	// Log says whether the log's rate limit lets a line through; LogsHeld is the
	// number of differing pairs not logged since the last line.
	Log      bool
	LogsHeld int
	// Report is the report to send from the plugin context, or nil.
	Report *Copy
}

// Verdicts returns the verdicts of the pairs decided since the last call, and
// forgets them.
func (m *Mirror) Verdicts() []Verdict {
	v := m.verdicts
	m.verdicts = nil
	return v
}

// LogLine is the warning logged for a verdict: the target, the request, the first
// difference and, only with includeValues, its values.
func (m *Mirror) LogLine(v *Verdict) string {
	var b strings.Builder
	b.WriteString("meshmirror: target ")
	b.WriteString(m.cfg.Targets[v.Target].Name)
	b.WriteString(": the shadow answered ")
	b.WriteString(v.Method)
	b.WriteByte(' ')
	b.WriteString(v.Path)
	b.WriteString(" differently")
	if len(v.Differences) > 0 {
		d := &v.Differences[0]
		for i := range v.Differences { // the first real one: a verdict has one
			if !v.Differences[i].Noise {
				d = &v.Differences[i]
				break
			}
		}
		b.WriteString(": ")
		b.WriteString(d.Kind.String())
		b.WriteString(" at ")
		b.WriteString(d.Place())
		if m.cfg.Targets[v.Target].Compare.IncludeValues {
			b.WriteString(" (primary ")
			b.WriteString(strconv.Quote(d.Primary))
			b.WriteString(", shadow ")
			b.WriteString(strconv.Quote(d.Shadow))
			b.WriteByte(')')
		}
		if n := len(v.Differences); n > 1 {
			b.WriteString(", ")
			b.WriteString(strconv.Itoa(n))
			b.WriteString(" differences in all")
		}
	}
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(v.LogsHeld))
	b.WriteString(" more differing answers not logged)")
	return b.String()
}

// report builds the report of a differing pair (README, "Comparing responses"): a
// POST of a JSON document to the report cluster, with the marker, so that a sidecar
// of the report's receiver running meshmirror does not mirror it.
//
// With format otlp the document is sent as an OpenTelemetry log record of time now.
func (m *Mirror) report(t *config.Target, v *Verdict, p *Pair, diffs []diff.Difference, primary, shadow *side, now int64) *Copy {
	c := t.Compare
	b := make([]byte, 0, 256+len(p.requestID)+len(diffs)*(96+2*diff.MaxValueBytes))
	b = append(b, `{"kind":"pair","target":`...)
	b = report.AppendString(b, t.Name)
	b = append(b, `,"method":`...)
	b = report.AppendString(b, v.Method)
	b = append(b, `,"path":`...)
	b = report.AppendString(b, v.Path)
	if p.requestID != "" {
		b = append(b, `,"requestId":`...)
		b = report.AppendString(b, p.requestID)
	}
	for _, s := range [...]struct {
		name string
		side *side
	}{{"primary", primary}, {"shadow", shadow}} {
		b = append(b, `,"`...)
		b = append(b, s.name...)
		b = append(b, `":{"status":`...)
		if s.side.status != 0 {
			b = strconv.AppendInt(b, int64(s.side.status), 10)
		} else {
			b = append(b, "null"...)
		}
		if p.grpc {
			b = append(b, `,"grpcStatus":`...)
			if s.side.grpcStatus >= 0 {
				b = strconv.AppendInt(b, int64(s.side.grpcStatus), 10)
			} else {
				b = append(b, "null"...)
			}
		}
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(s.side.size), 10)
		b = append(b, `,"latencyMs":`...)
		b = strconv.AppendInt(b, s.side.latencyMs, 10)
		b = append(b, '}')
	}
	b = append(b, `,"differences":[`...)
	for i := range diffs {
		d := &diffs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"part":"`...)
		b = append(b, d.Part.String()...)
		b = append(b, `","kind":"`...)
		b = append(b, d.Kind.String()...)
		b = append(b, `","where":`...)
		b = report.AppendString(b, d.Where)
		if d.Noise {
			b = append(b, `,"noise":true`...)
		} else {
			b = append(b, `,"noise":false`...)
		}
		if c.IncludeValues {
			b = appendValue(append(b, `,"primary":`...), d.Primary, d.Kind == diff.Extra)
			b = appendValue(append(b, `,"shadow":`...), d.Shadow, d.Kind == diff.Missing)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	if c.ReportFormat == config.ReportOTLP {
		b = report.OTLPLogs(b, t.Name, v.Method, v.Path, primary.status, shadow.status, len(diffs), p.requestID, now)
	}
	r := m.toReportCluster(v.Target, b)
	return &r
}

// toReportCluster is the POST of a document to target's report cluster, with the
// marker, so that a sidecar of the receiver running meshmirror does not mirror it.
func (m *Mirror) toReportCluster(target int, doc []byte) Copy {
	t := &m.cfg.Targets[target]
	c := t.Compare
	return Copy{
		Target:  target,
		Cluster: c.ReportCluster,
		Headers: [][2]string{
			{":method", "POST"}, {":path", c.ReportPath}, {":authority", reportAuthority(c.ReportCluster)},
			{"content-type", "application/json"}, {m.cfg.Marker, t.Name},
		},
		Body:      doc,
		TimeoutMs: t.TimeoutMs,
	}
}

// reportAuthority is the :authority of reports to cluster: the service of an Istio
// cluster name (outbound|80||reports.default.svc.cluster.local), else the name.
func reportAuthority(cluster string) string {
	if rest, ok := strings.CutPrefix(cluster, "outbound|"); ok {
		if i := strings.LastIndexByte(rest, '|'); i >= 0 && i < len(rest)-1 {
			return rest[i+1:]
		}
	}
	return cluster
}

// appendValue appends a difference's value, or null for the side that has none.
func appendValue(b []byte, value string, none bool) []byte {
	if none {
		return append(b, "null"...)
	}
	return report.AppendString(b, value)
}

// Reported records the answer to a report: status is its :status, "" for none.
func (m *Mirror) Reported(target int, status string) {
	if statusCounter(status) != Response2xx {
		m.rec.CountCompare(target, ReportFailed)
	}
}

// ReportSent records whether the host accepted r, a report or a summary.
func (m *Mirror) ReportSent(r *Copy, accepted bool) {
	target := r.Target
	switch {
	case accepted && r.Summary:
		m.rec.CountCompare(target, CompareSummaries)
	case accepted:
		m.rec.CountCompare(target, ReportsSent)
	default:
		m.rec.CountCompare(target, ReportFailed)
	}
}
