package mirror

import (
	"github.com/meshmirror/meshmirror/plugin/config"
	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/report"
	"github.com/meshmirror/meshmirror/plugin/summary"
)

// summaryEvent is the event.name of a summary sent as an OpenTelemetry log record.
const summaryEvent = "meshmirror.summary"

// summarize counts a decided pair of target in its summary, when the target sends
// them; now is in nanoseconds. An interval begins with its first pair, or where the
// last one ended when that was less than summarySeconds ago, so that a steady stream
// of pairs is summarized in back-to-back intervals.
func (m *Mirror) summarize(target int, method, path string, o summary.Outcome, diffs []diff.Difference, primaryMs, shadowMs, now int64) {
	s := &m.targets[target]
	if s.summary == nil {
		return
	}
	if s.summary.Pairs() == 0 && now-s.summaryFrom >= m.summaryPeriod(target) {
		s.summaryFrom = now
	}
	s.summary.Add(method, path, o, diffs, primaryMs, shadowMs)
}

func (m *Mirror) summaryPeriod(target int) int64 {
	return int64(m.cfg.Targets[target].Compare.SummarySeconds) * 1e9
}

// Summaries appends to out the summary of each target whose pairs have waited
// summarySeconds at now (in nanoseconds since the epoch), or of every target with
// pairs when all is set (a configuration that ends), and starts their next interval.
func (m *Mirror) Summaries(out []Copy, now int64, all bool) []Copy {
	for i := range m.targets {
		s := &m.targets[i]
		if s.summary == nil || s.summary.Pairs() == 0 || !all && now-s.summaryFrom < m.summaryPeriod(i) {
			continue
		}
		t := &m.cfg.Targets[i]
		doc := s.summary.Append(nil, t.Name, s.summaryFrom/1e6, now/1e6)
		if t.Compare.ReportFormat == config.ReportOTLP {
			doc = report.OTLPEvent(doc, t.Name, summaryEvent, now)
		}
		c := m.toReportCluster(i, doc)
		c.Summary = true
		out = append(out, c)
		s.summary.Reset()
		s.summaryFrom = now
	}
	return out
}

// NextSummary is when the next summary is due, in nanoseconds since the epoch, or 0
// when no target has pairs waiting.
func (m *Mirror) NextSummary() int64 {
	next := int64(0)
	for i := range m.targets {
		s := &m.targets[i]
		if s.summary == nil || s.summary.Pairs() == 0 {
			continue
		}
		if due := s.summaryFrom + m.summaryPeriod(i); next == 0 || due < next {
			next = due
		}
	}
	return next
}
