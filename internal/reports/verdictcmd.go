package reports

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Exit codes of meshmirror verdict: a pipeline step.
const (
	ExitPass         = 0
	ExitFail         = 1
	ExitUsage        = 2 // a usage or connection error, or an answer that is not a verdict
	ExitInconclusive = 3
)

// VerdictUsage is meshmirror verdict's usage line.
const VerdictUsage = `meshmirror verdict -receiver URL -target T [-window 1h] [-max-differ-rate 0.01] [-max-latency-ratio 1.5] [-min-pairs 100]`

// maxWorst is how many endpoints meshmirror verdict prints, worst first.
const maxWorst = 10

// VerdictCommand is meshmirror verdict: it asks the receiver at -receiver for
// -target's verdict, prints it with its reasons and worst endpoints, and returns the
// exit code: ExitPass, ExitFail, ExitInconclusive, or ExitUsage for a usage or
// connection error.
func VerdictCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verdict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nAsks a meshmirror receiver whether a target's version may go on. Exits 0 on pass,\n1 on fail, 3 on inconclusive, 2 on a usage or connection error.\n\n", VerdictUsage)
		fs.PrintDefaults()
	}
	receiver := fs.String("receiver", "", "the receiver's URL, e.g. http://127.0.0.1:8089 (required)")
	target := fs.String("target", "", "the target whose verdict it is (required)")
	th := DefaultThresholds
	fs.DurationVar(&th.Window, "window", th.Window, "read the summaries that ended within this")
	fs.Float64Var(&th.MaxDifferRate, "max-differ-rate", th.MaxDifferRate, "fail above this share of compared pairs with a real difference (0 to 1)")
	fs.Float64Var(&th.MaxLatencyRatio, "max-latency-ratio", th.MaxLatencyRatio, "fail above this shadow p99 / primary p99")
	fs.Int64Var(&th.MinPairs, "min-pairs", th.MinPairs, "inconclusive below this many compared pairs")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on the receiver after this")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "meshmirror verdict: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return ExitUsage
	case *receiver == "" || *target == "":
		fmt.Fprintln(stderr, "meshmirror verdict: -receiver and -target are required")
		fs.Usage()
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	v, err := FetchVerdict(ctx, http.DefaultClient, *receiver, *target, th)
	if err != nil {
		fmt.Fprintf(stderr, "meshmirror verdict: %v\n", err)
		return ExitUsage
	}
	PrintVerdict(stdout, v)
	return ExitCode(v.Verdict)
}

// ExitCode is meshmirror verdict's exit code for a verdict.
func ExitCode(verdict string) int {
	switch verdict {
	case Pass:
		return ExitPass
	case Fail:
		return ExitFail
	case Inconclusive:
		return ExitInconclusive
	}
	return ExitUsage
}

// FetchVerdict asks the receiver at base (its URL) for target's verdict under th. Its
// error says what went wrong: the receiver's own message for a 400 or a 404.
func FetchVerdict(ctx context.Context, client *http.Client, base, target string, th Thresholds) (*Verdict, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-receiver %q: must be the receiver's http:// or https:// URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + VerdictPath
	query := url.Values{
		"target":          {target},
		"window":          {th.Window.String()},
		"maxDifferRate":   {strconv.FormatFloat(th.MaxDifferRate, 'g', -1, 64)},
		"maxLatencyRatio": {strconv.FormatFloat(th.MaxLatencyRatio, 'g', -1, 64)},
		"minPairs":        {strconv.FormatInt(th.MinPairs, 10)},
	}
	// The receiver's own check, here first, to name the flag rather than the parameter.
	if _, _, err := ParseThresholds(query); err != nil {
		return nil, errors.New(flagNames.Replace(err.Error()))
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u.Redacted(), resp.Status, cut(strings.TrimSpace(string(body))))
	}
	var v Verdict
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("GET %s: not a verdict: %v", u.Redacted(), err)
	}
	if ExitCode(v.Verdict) == ExitUsage {
		return nil, fmt.Errorf("GET %s: not a verdict: verdict %q", u.Redacted(), cut(v.Verdict))
	}
	return &v, nil
}

// flagNames turns the parameters of /api/verdict into meshmirror verdict's flags.
var flagNames = strings.NewReplacer("target:", "-target:", "window:", "-window:", "maxDifferRate:", "-max-differ-rate:",
	"maxLatencyRatio:", "-max-latency-ratio:", "minPairs:", "-min-pairs:")

// PrintVerdict writes v for a person: the verdict, its reasons, the worst endpoints.
func PrintVerdict(w io.Writer, v *Verdict) {
	fmt.Fprintf(w, "%s: %s over the last %s: %d pairs compared, %s differ, %s noise; p99 %s ms primary, %s ms shadow (ratio %.2f)\n",
		v.Target, strings.ToUpper(v.Verdict), v.Window, v.Pairs, percent(v.DifferRate), percent(v.NoiseRate),
		ms(v.Latency.PrimaryP99), ms(v.Latency.ShadowP99), v.Latency.Ratio)
	for _, r := range v.Reasons {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	if len(v.Endpoints) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tPAIRS\tDIFFER\tNOISE\tP99 PRIMARY\tP99 SHADOW")
	for i, e := range v.Endpoints {
		if i == maxWorst {
			fmt.Fprintf(tw, "  (%d more)\t\t\t\t\t\n", len(v.Endpoints)-maxWorst)
			break
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s ms\t%s ms\n", strings.TrimSpace(e.Method+" "+e.Endpoint), e.Pairs,
			percent(e.DifferRate), percent(e.NoiseRate), ms(e.PrimaryP99), ms(e.ShadowP99))
	}
	tw.Flush()
}
