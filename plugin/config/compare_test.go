package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/jsoncmp"
)

func TestParseConfigCompareDefaults(t *testing.T) {
	if c := mustParse(t, oneTarget("")).Targets[0].Compare; c != nil {
		t.Errorf("a target without compare compares: %+v", c)
	}
	got := mustParse(t, oneTarget(`,"compare":{}`)).Targets[0].Compare
	want := &Compare{Status: true, Headers: []string{"content-type"}, Body: BodyAuto, MaxBytes: 65536, Baseline: -1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compare {} = %+v, want %+v", got, want)
	}
	got = mustParse(t, oneTarget(`,"compare":{"report":{"cluster":"reports"}}`)).Targets[0].Compare
	if got.ReportCluster != "reports" || got.ReportPath != "/meshmirror/reports" || got.ReportPerSecond != 1 || got.SummarySeconds != 10 {
		t.Errorf("report defaults: cluster %q, path %q, perSecond %v, summarySeconds %d", got.ReportCluster, got.ReportPath, got.ReportPerSecond, got.SummarySeconds)
	}
	if got.ReportFormat != ReportMeshmirror {
		t.Errorf("report format defaults to %v, want meshmirror", got.ReportFormat)
	}
	for _, tc := range []struct {
		report, path string
		format       ReportFormat
	}{
		{`{"cluster":"c","format":"otlp"}`, "/v1/logs", ReportOTLP},
		{`{"cluster":"c","format":"otlp","path":"/otlp/v1/logs"}`, "/otlp/v1/logs", ReportOTLP},
		{`{"path":"/otlp/v1/logs","format":"otlp","cluster":"c"}`, "/otlp/v1/logs", ReportOTLP},
		{`{"cluster":"c","format":"meshmirror"}`, "/meshmirror/reports", ReportMeshmirror},
	} {
		got := mustParse(t, oneTarget(`,"compare":{"report":`+tc.report+`}`)).Targets[0].Compare
		if got.ReportFormat != tc.format || got.ReportPath != tc.path {
			t.Errorf("report %s: format %v, path %q; want %v, %q", tc.report, got.ReportFormat, got.ReportPath, tc.format, tc.path)
		}
	}
}

func TestParseConfigCompareValues(t *testing.T) {
	got := mustParse(t, oneTarget(`,"compare":{"status":false,"headers":["Content-Type","X-Version"],
		"body":"json","ignore":["meta.requestId","items.#.updatedAt","*.etag","a\\.b","\\#"],
		"maxBytes":4194304,"includeValues":true,
		"report":{"cluster":"outbound|80||reports.default.svc.cluster.local","path":"/diffs","perSecond":0.5,"summarySeconds":3600}}`)).Targets[0].Compare
	want := &Compare{
		Status: false, Headers: []string{"content-type", "x-version"}, Body: BodyJSON,
		Ignore: []jsoncmp.IgnorePath{
			{Segments: []string{"meta", "requestId"}, Wild: []bool{false, false}},
			{Segments: []string{"items", "#", "updatedAt"}, Wild: []bool{false, true, false}},
			{Segments: []string{"*", "etag"}, Wild: []bool{true, false}},
			{Segments: []string{"a.b"}, Wild: []bool{false}},
			{Segments: []string{"#"}, Wild: []bool{false}},
		},
		MaxBytes: 4 << 20, IncludeValues: true,
		ReportCluster: "outbound|80||reports.default.svc.cluster.local", ReportPath: "/diffs", ReportPerSecond: 0.5, SummarySeconds: 3600,
		Baseline: -1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compare =\n %+v\nwant\n %+v", got, want)
	}
	for mode, want := range map[string]BodyMode{"auto": BodyAuto, "json": BodyJSON, "exact": BodyExact, "none": BodyNone} {
		if got := mustParse(t, oneTarget(`,"compare":{"body":"`+mode+`"}`)).Targets[0].Compare.Body; got != want {
			t.Errorf("body %q = %v, want %v", mode, got, want)
		}
	}
	if got := mustParse(t, oneTarget(`,"compare":{"headers":[]}`)).Targets[0].Compare.Headers; len(got) != 0 {
		t.Errorf("headers [] = %q, want none compared", got)
	}
	if got := mustParse(t, oneTarget(`,"compare":{"maxBytes":0}`)).Targets[0].Compare.MaxBytes; got != 0 {
		t.Errorf("maxBytes 0 = %d", got)
	}
}

func TestParseConfigCompareErrors(t *testing.T) {
	tests := []struct {
		name, compare, want string
	}{
		{"not an object", `true`, "targets[0].compare: must be an object, got true"},
		{"unknown key", `{"maxbytes":1}`, `targets[0].compare: unknown key "maxbytes" (did you mean "maxBytes"?)`},
		{"status not bool", `{"status":"yes"}`, `targets[0].compare.status: must be true or false, got string "yes"`},
		{"headers not array", `{"headers":"content-type"}`, `targets[0].compare.headers: must be an array`},
		{"header not a name", `{"headers":["a b"]}`, `targets[0].compare.headers[0]: must be a header name`},
		{"header twice", `{"headers":["etag","ETag"]}`, `targets[0].compare.headers[1]: "etag" is listed twice`},
		{"body mode", `{"body":"xml"}`, `targets[0].compare.body: must be one of auto, json, exact, none, got "xml"`},
		{"ignore not array", `{"ignore":"a"}`, `targets[0].compare.ignore: must be an array`},
		{"ignore empty", `{"ignore":[""]}`, `targets[0].compare.ignore[0]: must not be empty`},
		{"ignore empty segment", `{"ignore":["a..b"]}`, `targets[0].compare.ignore[0]: has an empty segment, got "a..b"`},
		{"ignore trailing dot", `{"ignore":["a."]}`, `targets[0].compare.ignore[0]: has an empty segment`},
		{"ignore partial wildcard", `{"ignore":["items.#x"]}`, `targets[0].compare.ignore[0]: uses # or * for a whole segment only`},
		{"ignore wildcard in key", `{"ignore":["a*"]}`, `uses # or * for a whole segment only`},
		{"ignore lone backslash", `{"ignore":["a\\"]}`, `ends with a lone backslash`},
		{"ignore too deep", `{"ignore":["` + strings.Repeat("a.", 64) + `a"]}`, `has more than 64 segments`},
		{"ignore not a string", `{"ignore":[1]}`, `targets[0].compare.ignore[0]: must be a string, got number 1`},
		{"too many ignores", `{"ignore":[` + strings.Repeat(`"a",`, 64) + `"a"]}`, `targets[0].compare.ignore: must hold at most 64 paths, got 65`},
		{"maxBytes over", `{"maxBytes":4194305}`, `targets[0].compare.maxBytes: must be between 0 and 4194304, got 4194305`},
		{"maxBytes negative", `{"maxBytes":-1}`, `targets[0].compare.maxBytes: must be between 0 and 4194304`},
		{"maxBytes fraction", `{"maxBytes":1.5}`, `targets[0].compare.maxBytes: must be a whole number, got 1.5`},
		{"includeValues", `{"includeValues":1}`, `targets[0].compare.includeValues: must be true or false`},
		{"report not object", `{"report":"reports"}`, `targets[0].compare.report: must be an object`},
		{"report without cluster", `{"report":{"path":"/r"}}`, `targets[0].compare.report: cluster: required`},
		{"report cluster empty", `{"report":{"cluster":""}}`, `targets[0].compare.report.cluster: must not be empty`},
		{"report path relative", `{"report":{"cluster":"r","path":"r"}}`, `targets[0].compare.report.path: must start with /, got "r"`},
		{"report format unknown", `{"report":{"cluster":"r","format":"loki"}}`, `targets[0].compare.report.format: must be one of meshmirror, otlp, got "loki"`},
		{"report format not a string", `{"report":{"cluster":"r","format":1}}`, `targets[0].compare.report.format: must be a string`},
		{"report path CRLF", `{"report":{"cluster":"r","path":"/r\r\nx: y"}}`, `targets[0].compare.report.path: must not contain CR, LF or NUL`},
		{"summarySeconds 0", `{"report":{"cluster":"r","summarySeconds":0}}`, `targets[0].compare.report.summarySeconds: must be between 1 and 3600, got 0`},
		{"summarySeconds too large", `{"report":{"cluster":"r","summarySeconds":3601}}`, `targets[0].compare.report.summarySeconds: must be between 1 and 3600, got 3601`},
		{"summarySeconds fraction", `{"report":{"cluster":"r","summarySeconds":1.5}}`, `targets[0].compare.report.summarySeconds: must be a whole number, got 1.5`},
		{"summarySeconds string", `{"report":{"cluster":"r","summarySeconds":"10"}}`, `targets[0].compare.report.summarySeconds: must be a number`},
		{"report perSecond 0", `{"report":{"cluster":"r","perSecond":0}}`, `targets[0].compare.report.perSecond: must be greater than 0`},
		{"report perSecond negative", `{"report":{"cluster":"r","perSecond":-1}}`, `targets[0].compare.report.perSecond: must be at least 0, got -1`},
		{"report unknown key", `{"report":{"cluster":"r","rate":1}}`, `targets[0].compare.report: unknown key "rate"`},
		{"allowExtra", `{"allowExtra":"yes"}`, `targets[0].compare.allowExtra: must be true or false`},
		{"baseline not a string", `{"baseline":1}`, `targets[0].compare.baseline: must be a string, got number 1`},
		{"baseline empty", `{"baseline":""}`, `targets[0].compare.baseline: must name a target`},
		{"baseline unknown", `{"baseline":"v1-again"}`, `targets[0].compare.baseline: names no target: "v1-again"`},
		{"baseline itself", `{"baseline":"t"}`, `targets[0].compare.baseline: names the target itself`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ce := mustFail(t, oneTarget(`,"compare":`+tc.compare))
			if !hasProblem(ce, tc.want) {
				t.Errorf("problems %v, want one containing %q", ce.Problems, tc.want)
			}
		})
	}
}

// TestParseConfigCompareEveryProblem: the problems of compare are reported with the
// others, all at once.
func TestParseConfigCompareEveryProblem(t *testing.T) {
	ce := mustFail(t, oneTarget(`,"percentage":150,"compare":{"body":"xml","maxBytes":-1,"report":{"path":"x"}}`))
	for _, want := range []string{"targets[0].percentage", "targets[0].compare.body", "targets[0].compare.maxBytes",
		"targets[0].compare.report: cluster: required", "targets[0].compare.report.path"} {
		if !hasProblem(ce, want) {
			t.Errorf("problems %v lack %q", ce.Problems, want)
		}
	}
}

// TestParseConfigBaseline: a baseline is another target with compare and no baseline
// of its own; each other case is a problem with its path, all reported at once.
func TestParseConfigBaseline(t *testing.T) {
	cfg := mustParse(t, `{"targets":[
		{"name":"v2","cluster":"c","compare":{"baseline":"v1","allowExtra":true}},
		{"name":"v1","cluster":"c","compare":{}}]}`)
	if c := cfg.Targets[0].Compare; c.Baseline != 1 || !c.AllowExtra || cfg.Targets[1].Compare.Baseline != -1 {
		t.Errorf("baseline %d, allowExtra %v; want 1 and true", c.Baseline, c.AllowExtra)
	}
	ce := mustFail(t, `{"targets":[
		{"name":"a","cluster":"c","compare":{"baseline":"plain"}},
		{"name":"b","cluster":"c","compare":{"baseline":"a"}},
		{"name":"plain","cluster":"c"}]}`)
	for _, want := range []string{
		`targets[0].compare.baseline: names targets[2] ("plain"), which has no compare`,
		`targets[1].compare.baseline: names targets[0] ("a"), which has a baseline of its own`,
	} {
		if !hasProblem(ce, want) {
			t.Errorf("problems %v lack %q", ce.Problems, want)
		}
	}
}
