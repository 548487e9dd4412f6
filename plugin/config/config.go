package config

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
)

// Limits and defaults of the configuration, as in SPEC.md.
const (
	// MaxTargets is the largest number of targets one plugin mirrors to.
	MaxTargets = 16
	// DefaultMarker is the header set on every copy when "marker" is not given.
	DefaultMarker = "x-meshmirror"
	// DefaultMaxBodyBytes is body.maxBytes when not given.
	DefaultMaxBodyBytes = 1 << 20
	// MaxBodyBytes is the largest body.maxBytes accepted.
	MaxBodyBytes = 16 << 20
	// DefaultTimeoutMs is timeoutMs when not given.
	DefaultTimeoutMs = 5000
	// DefaultMaxInFlight is maxInFlight when not given.
	DefaultMaxInFlight = 256

	// DefaultCompareMaxBytes is compare.maxBytes when not given.
	DefaultCompareMaxBytes = 64 << 10
	// MaxCompareMaxBytes is the largest compare.maxBytes accepted.
	MaxCompareMaxBytes = 4 << 20
	// DefaultReportPath is compare.report.path when not given.
	DefaultReportPath = "/meshmirror/reports"
	// DefaultOTLPReportPath is compare.report.path when not given with format "otlp":
	// the path of an OpenTelemetry Collector's OTLP/HTTP logs receiver.
	DefaultOTLPReportPath = "/v1/logs"
	// DefaultSummarySeconds is compare.report.summarySeconds when not given.
	DefaultSummarySeconds = 10
	// MaxSummarySeconds is the largest compare.report.summarySeconds accepted.
	MaxSummarySeconds = 3600
	// PercentScale is the number of sampling buckets: a percentage has a resolution of
	// 100/PercentScale = 0.0001.
	PercentScale = 1_000_000

	// maxDepth bounds JSON nesting before the document is parsed: the scanner recurses per
	// level, and about 10,000 levels overflow the module's 64 KiB stack. A valid
	// configuration nests 5 deep.
	maxDepth = 32
	// maxPatternBytes, maxRegexCost and maxGroupDepth bound regexes, whose compilation
	// recurses per level of nesting after counted repetitions are expanded (regexCost).
	// Measured in the module: the cheapest patterns to trap cost about 210; the limit
	// keeps 40% of the stack spare.
	maxPatternBytes = 1024
	maxRegexCost    = 120
	maxGroupDepth   = maxRegexCost / 3
)

// Config is a validated meshmirror configuration.
type Config struct {
	// Marker is the lower-case header that is set on every copy and that stops a
	// request carrying it from being mirrored again.
	Marker string
	// Targets are the shadow destinations, each decided independently.
	Targets []Target
}

// Target is one shadow destination and the rules that select copies for it.
type Target struct {
	Name    string
	Cluster string
	// Percent is the share of matching requests copied, in units of 1/PercentScale.
	Percent uint32
	// StickyHeader, when set, makes sampling a deterministic function of its value.
	StickyHeader string
	Match        Match

	Authority       string
	AuthoritySuffix string
	// SetHeaders are lower-case names with their values, replaced on the copy.
	SetHeaders [][2]string
	// RemoveHeaders are lower-case names removed from the copy.
	RemoveHeaders []string

	BodyEnabled  bool
	MaxBodyBytes int
	TimeoutMs    uint32
	MaxInFlight  int
	// RatePerSecond is zero when the target has no rate limit.
	RatePerSecond float64
	RateBurst     float64
	// KeepTracing copies the request's trace context; by default it is dropped.
	KeepTracing bool
	// Compare is nil when the target's answers are not compared with the primary's.
	Compare *Compare
}

// Compare says how a target's answers are compared with the primary's responses
// (SPEC.md, "Comparison").
type Compare struct {
	// Status compares the status codes. Defaults to true.
	Status bool
	// Headers are the lower-case response headers compared by value. Defaults to
	// content-type.
	Headers []string
	// Body is how bodies are compared. Defaults to BodyAuto.
	Body BodyMode
	// Ignore are JSON paths left out of the comparison of JSON bodies.
	Ignore []jsoncmp.IgnorePath
	// MaxBytes is the largest body, on either side, of a pair that is compared.
	// Defaults to 65536.
	MaxBytes int
	// IncludeValues lets logs and reports show header and body values.
	IncludeValues bool
	// ReportCluster, when set, receives a JSON report of each differing pair, at
	// ReportPath, at most ReportPerSecond per target and worker.
	ReportCluster   string
	ReportPath      string
	ReportPerSecond float64
	// SummarySeconds is how often each worker sends ReportCluster a summary of the
	// target's pairs per endpoint (SPEC.md, "Summaries"). Defaults to 10.
	SummarySeconds int
	// BaselineName names the target that copies to a second instance of the
	// primary's version: where its answer too differs from the primary's, a
	// difference is noise (SPEC.md, "Noise"). Baseline is its index in
	// Config.Targets, -1 for none.
	BaselineName string
	Baseline     int
	// AllowExtra says that a key the shadow's JSON object has and the primary's
	// lacks is no difference: a new version may add fields.
	AllowExtra bool
	// ReportFormat is how a report is sent. Defaults to ReportMeshmirror.
	ReportFormat ReportFormat
}

// ReportFormat is the format of compare.report.format.
type ReportFormat uint8

// The formats of compare.report.format.
const (
	// ReportMeshmirror POSTs the report document itself (meshmirror reports receives it).
	ReportMeshmirror ReportFormat = iota
	// ReportOTLP POSTs it as an OpenTelemetry log record (OTLP/HTTP JSON), for a Collector.
	ReportOTLP
)

// BodyMode is how a Compare compares bodies.
type BodyMode uint8

// The body modes of compare.body.
const (
	// BodyAuto compares as BodyJSON when both content types are JSON, else as BodyExact.
	BodyAuto BodyMode = iota
	// BodyJSON compares bodies as JSON values: key order and number formatting aside.
	BodyJSON
	// BodyExact compares the bodies' bytes.
	BodyExact
	// BodyNone does not compare bodies.
	BodyNone
)

var bodyModes = []string{"auto", "json", "exact", "none"}

// Match holds a target's request rules; an empty Match matches every request.
type Match struct {
	Methods []string
	Paths   []PathRule
	Headers []HeaderRule
}

// PathRule matches :path without its query string. Exactly one field is set.
type PathRule struct {
	Exact  string
	Prefix string
	Regex  *regexp.Regexp
}

// HeaderRule is one header condition; all of a target's conditions must hold.
type HeaderRule struct {
	// Name is lower case.
	Name string
	Kind HeaderMatchKind
	// Value is the string compared for Exact, Prefix, Suffix and Contains.
	Value string
	Regex *regexp.Regexp
	// Present is the wanted presence for Kind == Present.
	Present bool
	Invert  bool
}

// HeaderMatchKind says how a HeaderRule compares a header's value.
type HeaderMatchKind uint8

// The kinds of header conditions.
const (
	Exact HeaderMatchKind = iota
	Prefix
	Suffix
	Contains
	Regex
	Present
)

// Error lists every problem found in a configuration, each with its JSON path.
type Error struct {
	Problems []Problem
}

// Problem is one mistake in a configuration.
type Problem struct {
	// Path is where it is, in the parser's notation (targets[1].match.paths[0].regex);
	// empty for the document as a whole (empty, not JSON, nested too deep).
	Path string
	// Message says what is wrong, e.g. "must be between 0 and 100, got 150".
	Message string
}

// String is "path: message", or the message alone for the whole document.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error joins the problems, one per line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid meshmirror configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Problems returns the problems of an error from Parse: one per mistake for a
// *Error, the error itself otherwise, none for nil.
func Problems(err error) []Problem {
	if err == nil {
		return nil
	}
	if ce, ok := err.(*Error); ok {
		return ce.Problems
	}
	return []Problem{{Message: err.Error()}}
}

// Parse parses and validates a JSON configuration. Every problem found is reported
// at once in a *Error; no input makes it panic.
func Parse(data []byte) (*Config, error) {
	p := &parser{}
	if len(strings.TrimSpace(string(data))) == 0 {
		p.addf("", "the configuration is empty; the plugin needs at least one target")
		return nil, p.err()
	}
	if at, ok := jsoncmp.DepthWithin(data, maxDepth); !ok {
		p.addf("", "nested deeper than %d levels at byte %d", maxDepth, at)
		return nil, p.err()
	}
	doc, ok := jsoncmp.Parse(data, maxDepth)
	if !ok {
		p.addf("", "not valid JSON")
		return nil, p.err()
	}
	cfg := p.config(doc)
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parser collects problems while it walks the document.
type parser struct {
	problems []Problem
}

func (p *parser) addf(path, format string, args ...any) {
	p.problems = append(p.problems, Problem{Path: path, Message: text.Sprintf(format, args...)})
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &Error{Problems: p.problems}
}

// connectionHeaders are managed by Envoy itself: they cannot serve as the marker, nor
// be set on a copy.
var connectionHeaders = []string{"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "proxy-connection"}

var (
	topKeys    = []string{"marker", "targets"}
	targetKeys = []string{"name", "cluster", "service", "port", "subset", "percentage", "stickyHeader",
		"match", "authority", "authoritySuffix", "headers", "body", "timeoutMs", "maxInFlight", "rateLimit",
		"tracing", "compare"}
	matchKeys      = []string{"methods", "paths", "headers"}
	pathKeys       = []string{"exact", "prefix", "regex"}
	headerKeys     = []string{"name", "exact", "prefix", "suffix", "contains", "regex", "present", "invert"}
	mutationKeys   = []string{"set", "remove"}
	bodyKeys       = []string{"enabled", "maxBytes"}
	rateLimitKeys  = []string{"perSecond", "burst"}
	compareKeys    = []string{"status", "headers", "body", "ignore", "maxBytes", "includeValues", "report", "baseline", "allowExtra"}
	reportKeys     = []string{"cluster", "path", "perSecond", "format", "summarySeconds"}
	headerMatchers = []string{"exact", "prefix", "suffix", "contains", "regex", "present"}
)

func (p *parser) config(doc jsoncmp.Value) *Config {
	fields, ok := p.object("", doc, topKeys)
	if !ok {
		return nil
	}
	cfg := &Config{Marker: DefaultMarker}
	if v, ok := fields["marker"]; ok {
		if name, ok := p.headerName("marker", v); ok {
			if name[0] == ':' || contains(connectionHeaders, name) {
				p.addf("marker", "must be a header of its own, not %q", name)
			}
			cfg.Marker = name
		}
	}
	targets, ok := fields["targets"]
	if !ok {
		p.addf("targets", "required, with 1 to %d targets", MaxTargets)
		return cfg
	}
	if !targets.IsArray() {
		p.addf("targets", "must be an array, got %s", describe(targets))
		return cfg
	}
	list := targets.Array()
	if len(list) == 0 || len(list) > MaxTargets {
		p.addf("targets", "must hold 1 to %d targets, got %d", MaxTargets, len(list))
	}
	seen := map[string]int{}
	var paths []string
	for i, v := range list {
		path := "targets[" + strconv.Itoa(i) + "]"
		t, ok := p.target(path, v, cfg.Marker)
		if !ok {
			continue
		}
		if first, dup := seen[t.Name]; dup && t.Name != "" {
			p.addf(path+".name", "%q is already the name of targets[%d]", t.Name, first)
		}
		seen[t.Name] = i
		cfg.Targets = append(cfg.Targets, t)
		paths = append(paths, path)
	}
	p.baselines(cfg, paths)
	return cfg
}

func (p *parser) target(path string, v jsoncmp.Value, marker string) (Target, bool) {
	f, ok := p.object(path, v, targetKeys)
	if !ok {
		return Target{}, false
	}
	t := Target{
		Percent:      PercentScale,
		BodyEnabled:  true,
		MaxBodyBytes: DefaultMaxBodyBytes,
		TimeoutMs:    DefaultTimeoutMs,
		MaxInFlight:  DefaultMaxInFlight,
	}
	if v, ok := f["name"]; ok {
		if s, ok := p.str(path+".name", v); ok {
			if !validName(s) {
				p.addf(path+".name", "must match ^[a-z0-9][a-z0-9_-]{0,62}$, got %q", s)
			}
			t.Name = s
		}
	} else {
		p.addf(path, "name: required")
	}
	p.destination(path, f, &t)

	if v, ok := f["percentage"]; ok {
		if pct, ok := p.number(path+".percentage", v, 0, 100); ok {
			t.Percent = uint32(math.Round(pct * (PercentScale / 100)))
		}
	}
	if v, ok := f["stickyHeader"]; ok {
		if name, ok := p.headerName(path+".stickyHeader", v); ok {
			t.StickyHeader = name
		}
	}
	if v, ok := f["match"]; ok {
		t.Match = p.match(path+".match", v)
	}

	authority, hasAuthority := f["authority"]
	suffix, hasSuffix := f["authoritySuffix"]
	if hasAuthority && hasSuffix {
		p.addf(path, "authority and authoritySuffix cannot both be set")
	}
	if hasAuthority {
		t.Authority, _ = p.headerValue(path+".authority", authority, false)
	}
	if hasSuffix {
		t.AuthoritySuffix, _ = p.headerValue(path+".authoritySuffix", suffix, false)
	}
	if v, ok := f["headers"]; ok {
		p.mutations(path+".headers", v, marker, &t)
	}
	if v, ok := f["body"]; ok {
		if b, ok := p.object(path+".body", v, bodyKeys); ok {
			if v, ok := b["enabled"]; ok {
				t.BodyEnabled, _ = p.boolean(path+".body.enabled", v)
			}
			if v, ok := b["maxBytes"]; ok {
				if n, ok := p.integer(path+".body.maxBytes", v, 0, MaxBodyBytes); ok {
					t.MaxBodyBytes = int(n)
				}
			}
		}
	}
	if v, ok := f["timeoutMs"]; ok {
		if n, ok := p.integer(path+".timeoutMs", v, 1, 60000); ok {
			t.TimeoutMs = uint32(n)
		}
	}
	if v, ok := f["maxInFlight"]; ok {
		if n, ok := p.integer(path+".maxInFlight", v, 1, math.MaxInt32); ok {
			t.MaxInFlight = int(n)
		}
	}
	if v, ok := f["rateLimit"]; ok {
		p.rateLimit(path+".rateLimit", v, &t)
	}
	if v, ok := f["tracing"]; ok {
		if s, ok := p.str(path+".tracing", v); ok {
			switch s {
			case "drop":
			case "keep":
				t.KeepTracing = true
			default:
				p.addf(path+".tracing", `must be "drop" or "keep", got %q`, s)
			}
		}
	}
	if v, ok := f["compare"]; ok {
		t.Compare = p.compare(path+".compare", v)
	}
	return t, true
}

// destination reads exactly one of cluster or service/port/subset.
func (p *parser) destination(path string, f map[string]jsoncmp.Value, t *Target) {
	cluster, hasCluster := f["cluster"]
	service, hasService := f["service"]
	port, hasPort := f["port"]
	subset, hasSubset := f["subset"]
	switch {
	case hasCluster && (hasService || hasPort || hasSubset):
		p.addf(path, "set either cluster or service with port, not both")
	case hasCluster:
		if s, ok := p.str(path+".cluster", cluster); ok {
			if s == "" {
				p.addf(path+".cluster", "must not be empty")
			}
			t.Cluster = s
		}
	case hasService || hasPort || hasSubset:
		if !hasService {
			p.addf(path, "service: required with port and subset")
		}
		if !hasPort {
			p.addf(path, "port: required with service")
		}
		host, okHost := "", false
		if hasService {
			if host, okHost = p.str(path+".service", service); okHost && !validFQDN(host) {
				p.addf(path+".service", "must be a fully qualified host name such as reviews.default.svc.cluster.local, got %q", host)
				okHost = false
			}
		}
		var n int64
		okPort := false
		if hasPort {
			n, okPort = p.integer(path+".port", port, 1, 65535)
		}
		sub := ""
		okSubset := true
		if hasSubset {
			if sub, okSubset = p.str(path+".subset", subset); okSubset && strings.ContainsAny(sub, "| \t") {
				p.addf(path+".subset", "must not contain '|' or white space, got %q", sub)
			}
		}
		if okHost && okPort && okSubset {
			t.Cluster = IstioCluster(host, int(n), sub)
		}
	default:
		p.addf(path, "cluster or service with port: required")
	}
}

// IstioCluster is the name Istio gives the outbound cluster of a service port and subset.
func IstioCluster(service string, port int, subset string) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + service
}

func (p *parser) match(path string, v jsoncmp.Value) Match {
	var m Match
	f, ok := p.object(path, v, matchKeys)
	if !ok {
		return m
	}
	if v, ok := f["methods"]; ok {
		p.array(path+".methods", v, func(path string, v jsoncmp.Value) {
			if s, ok := p.str(path, v); ok {
				if !validToken(s) {
					p.addf(path, "must be an HTTP method such as GET, got %q", s)
				}
				m.Methods = append(m.Methods, s)
			}
		})
	}
	if v, ok := f["paths"]; ok {
		p.array(path+".paths", v, func(path string, v jsoncmp.Value) {
			if rule, ok := p.pathRule(path, v); ok {
				m.Paths = append(m.Paths, rule)
			}
		})
	}
	if v, ok := f["headers"]; ok {
		p.array(path+".headers", v, func(path string, v jsoncmp.Value) {
			if rule, ok := p.headerRule(path, v); ok {
				m.Headers = append(m.Headers, rule)
			}
		})
	}
	return m
}

func (p *parser) pathRule(path string, v jsoncmp.Value) (PathRule, bool) {
	var r PathRule
	f, ok := p.object(path, v, pathKeys)
	if !ok || !p.exactlyOne(path, f, pathKeys) {
		return r, false
	}
	for key, v := range f {
		s, ok := p.str(path+"."+key, v)
		if !ok {
			return r, false
		}
		switch key {
		case "exact":
			r.Exact = s
		case "prefix":
			if s == "" {
				p.addf(path+".prefix", "must not be empty (leave match.paths out to match every path)")
			}
			r.Prefix = s
		case "regex":
			if r.Regex, ok = p.regex(path+".regex", s); !ok {
				return r, false
			}
		}
	}
	return r, true
}

func (p *parser) headerRule(path string, v jsoncmp.Value) (HeaderRule, bool) {
	var r HeaderRule
	f, ok := p.object(path, v, headerKeys)
	if !ok {
		return r, false
	}
	ok = true
	if v, has := f["name"]; has {
		r.Name, ok = p.headerName(path+".name", v)
	} else {
		p.addf(path, "name: required")
		ok = false
	}
	if v, has := f["invert"]; has {
		r.Invert, _ = p.boolean(path+".invert", v)
	}
	if !p.exactlyOne(path, f, headerMatchers) {
		return r, false
	}
	for key, v := range f {
		var okValue bool
		switch key {
		case "exact", "prefix", "suffix", "contains":
			r.Value, okValue = p.str(path+"."+key, v)
			r.Kind = map[string]HeaderMatchKind{"exact": Exact, "prefix": Prefix, "suffix": Suffix, "contains": Contains}[key]
		case "regex":
			var s string
			if s, okValue = p.str(path+".regex", v); okValue {
				r.Regex, okValue = p.regex(path+".regex", s)
			}
			r.Kind = Regex
		case "present":
			r.Present, okValue = p.boolean(path+".present", v)
			r.Kind = Present
		default:
			continue
		}
		ok = ok && okValue
	}
	return r, ok
}

func (p *parser) mutations(path string, v jsoncmp.Value, marker string, t *Target) {
	f, ok := p.object(path, v, mutationKeys)
	if !ok {
		return
	}
	if v, ok := f["set"]; ok {
		if !v.IsObject() {
			p.addf(path+".set", "must be an object of header names to values, got %s", describe(v))
		} else {
			seen := map[string]bool{}
			v.ForEach(func(key string, value jsoncmp.Value) bool {
				at := path + ".set[" + strconv.Quote(key) + "]"
				name, okName := p.headerNameOf(at, key)
				val, okVal := p.headerValue(at, value, true)
				switch {
				case !okName || !okVal:
				case seen[name]:
					p.addf(at, "set twice")
				case name == marker:
					p.addf(at, "is the marker, which meshmirror sets to the target's name")
				case name == ":authority" || name == "host":
					p.addf(at, "use authority or authoritySuffix to change the copy's authority")
				case name[0] == ':' && name != ":path" && name != ":method" && name != ":scheme":
					p.addf(at, "only :path, :method and :scheme may be set among pseudo-headers")
				case name[0] == ':' && val == "":
					p.addf(at, "a pseudo-header must not be empty: Envoy refuses every copy without one")
				case name == ":path" && val[0] != '/':
					p.addf(at, "must start with /, got %q: Envoy refuses every copy with such a path", val)
				case contains(connectionHeaders, name):
					p.addf(at, "is a connection-specific header that Envoy manages itself: setting it would break every copy")
				default:
					seen[name] = true
					t.SetHeaders = append(t.SetHeaders, [2]string{name, val})
				}
				return true
			})
		}
	}
	if v, ok := f["remove"]; ok {
		p.array(path+".remove", v, func(at string, v jsoncmp.Value) {
			name, ok := p.headerName(at, v)
			switch {
			case !ok:
			case name[0] == ':':
				p.addf(at, "pseudo-headers may not be removed, got %q", name)
			case name == marker:
				p.addf(at, "is the marker, which every copy carries")
			default:
				t.RemoveHeaders = append(t.RemoveHeaders, name)
			}
		})
	}
}

func (p *parser) rateLimit(path string, v jsoncmp.Value, t *Target) {
	f, ok := p.object(path, v, rateLimitKeys)
	if !ok {
		return
	}
	rate, ok := f["perSecond"]
	if !ok {
		p.addf(path, "perSecond: required")
		return
	}
	perSecond, okRate := p.number(path+".perSecond", rate, 0, unbounded)
	if okRate && perSecond == 0 {
		p.addf(path+".perSecond", "must be greater than 0, got 0 (leave rateLimit out for no limit)")
		okRate = false
	}
	burst := math.Max(1, math.Ceil(perSecond))
	if v, ok := f["burst"]; ok {
		var okBurst bool
		if burst, okBurst = p.number(path+".burst", v, 1, unbounded); !okBurst {
			return
		}
	}
	if okRate {
		t.RatePerSecond, t.RateBurst = perSecond, burst
	}
}
