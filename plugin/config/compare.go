package config

import (
	"strings"

	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
)

// Parsing compare: the comparison's keys, its ignore paths, its report, and the
// baselines, resolved once every target is read.

// baselines resolves each compare.baseline to its target: another target with compare
// and no baseline of its own (SPEC.md, "Noise").
func (p *parser) baselines(cfg *Config, paths []string) {
	index := map[string]int{}
	for i := range cfg.Targets {
		index[cfg.Targets[i].Name] = i
	}
	for i := range cfg.Targets {
		c := cfg.Targets[i].Compare
		if c == nil || c.BaselineName == "" {
			continue
		}
		at := paths[i] + ".compare.baseline"
		b, ok := index[c.BaselineName]
		switch {
		case !ok:
			p.addf(at, "names no target: %q", c.BaselineName)
		case b == i:
			p.addf(at, "names the target itself: a baseline is a second instance of the primary's version")
		case cfg.Targets[b].Compare == nil:
			p.addf(at, "names %s (%q), which has no compare: a baseline's answers must be compared too", paths[b], c.BaselineName)
		case cfg.Targets[b].Compare.BaselineName != "":
			p.addf(at, "names %s (%q), which has a baseline of its own: a baseline is the primary's version, its differences the noise", paths[b], c.BaselineName)
		default:
			c.Baseline = b
		}
	}
}

// compare reads a target's compare object; it returns nil when it is not an object.
func (p *parser) compare(path string, v jsoncmp.Value) *Compare {
	f, ok := p.object(path, v, compareKeys)
	if !ok {
		return nil
	}
	c := &Compare{Status: true, Headers: []string{"content-type"}, MaxBytes: DefaultCompareMaxBytes, Baseline: -1}
	if v, ok := f["status"]; ok {
		c.Status, _ = p.boolean(path+".status", v)
	}
	if v, ok := f["headers"]; ok {
		c.Headers = []string{} // an empty list compares no header
		p.array(path+".headers", v, func(at string, v jsoncmp.Value) {
			if name, ok := p.headerName(at, v); ok {
				if contains(c.Headers, name) {
					p.addf(at, "%q is listed twice", name)
				}
				c.Headers = append(c.Headers, name)
			}
		})
	}
	if v, ok := f["body"]; ok {
		if s, ok := p.str(path+".body", v); ok {
			mode := -1
			for i, m := range bodyModes {
				if s == m {
					mode = i
				}
			}
			if mode < 0 {
				p.addf(path+".body", "must be one of %s, got %q", strings.Join(bodyModes, ", "), s)
			} else {
				c.Body = BodyMode(mode)
			}
		}
	}
	if v, ok := f["ignore"]; ok {
		p.array(path+".ignore", v, func(at string, v jsoncmp.Value) {
			if s, ok := p.str(at, v); ok {
				if ip, err := jsoncmp.ParseIgnorePath(s); err != "" {
					p.addf(at, "%s, got %q", err, s)
				} else {
					c.Ignore = append(c.Ignore, ip)
				}
			}
		})
		if len(c.Ignore) > jsoncmp.MaxIgnorePaths {
			p.addf(path+".ignore", "must hold at most %d paths, got %d", jsoncmp.MaxIgnorePaths, len(c.Ignore))
		}
	}
	if v, ok := f["maxBytes"]; ok {
		if n, ok := p.integer(path+".maxBytes", v, 0, MaxCompareMaxBytes); ok {
			c.MaxBytes = int(n)
		}
	}
	if v, ok := f["includeValues"]; ok {
		c.IncludeValues, _ = p.boolean(path+".includeValues", v)
	}
	if v, ok := f["report"]; ok {
		p.report(path+".report", v, c)
	}
	if v, ok := f["baseline"]; ok {
		if s, ok := p.str(path+".baseline", v); ok {
			if s == "" {
				p.addf(path+".baseline", "must name a target, got an empty string")
			}
			c.BaselineName = s
		}
	}
	if v, ok := f["allowExtra"]; ok {
		c.AllowExtra, _ = p.boolean(path+".allowExtra", v)
	}
	return c
}

func (p *parser) report(path string, v jsoncmp.Value, c *Compare) {
	f, ok := p.object(path, v, reportKeys)
	if !ok {
		return
	}
	c.ReportPath, c.ReportPerSecond, c.SummarySeconds = DefaultReportPath, 1, DefaultSummarySeconds
	if v, ok := f["format"]; ok {
		if s, ok := p.str(path+".format", v); ok {
			switch s {
			case "meshmirror":
			case "otlp":
				c.ReportFormat, c.ReportPath = ReportOTLP, DefaultOTLPReportPath
			default:
				p.addf(path+".format", "must be one of meshmirror, otlp, got %q", s)
			}
		}
	}
	if v, ok := f["cluster"]; ok {
		if s, ok := p.str(path+".cluster", v); ok {
			if s == "" {
				p.addf(path+".cluster", "must not be empty")
			}
			c.ReportCluster = s
		}
	} else {
		p.addf(path, "cluster: required")
	}
	if v, ok := f["path"]; ok {
		if s, ok := p.headerValue(path+".path", v, false); ok {
			if s[0] != '/' {
				p.addf(path+".path", "must start with /, got %q", s)
			}
			c.ReportPath = s
		}
	}
	if v, ok := f["summarySeconds"]; ok {
		if n, ok := p.integer(path+".summarySeconds", v, 1, MaxSummarySeconds); ok {
			c.SummarySeconds = int(n)
		}
	}
	if v, ok := f["perSecond"]; ok {
		if n, ok := p.number(path+".perSecond", v, 0, unbounded); ok {
			if n == 0 {
				p.addf(path+".perSecond", "must be greater than 0, got 0 (leave report out for no reports)")
			}
			c.ReportPerSecond = n
		}
	}
}
