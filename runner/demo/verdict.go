package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshmirror/meshmirror/internal/reports"
)

// demoMinPairs is the -min-pairs the demo asks its verdicts with: its burst compares a
// few pairs per target, far fewer than the 100 a verdict needs by default.
const demoMinPairs = 5

// summaryWait is how long the demo waits for a target's first summary: the plugin sends
// one per worker every compare.report.summarySeconds (10 s by default).
const summaryWait = 12 * time.Second

// verdicts prints the verdict of each of targets (those that report to the demo's
// receiver, at addr), as `meshmirror verdict` prints it (the same code:
// reports.VerdictCommand), and the command's exit code, as a pipeline step would see
// them.
func verdicts(targets []string, addr string) {
	if len(targets) == 0 {
		return
	}
	base := "http://" + addr
	fmt.Printf("\nVERDICT, from the summaries: meshmirror verdict -receiver %s -target T -min-pairs %d\n", base, demoMinPairs)
	fmt.Printf("  (the exit code: 0 pass, 1 fail, 3 inconclusive, 2 a usage or connection error; -min-pairs %d for the\n"+
		"  demo's short burst, where a rollout would keep the default 100)\n", demoMinPairs)
	deadline := time.Now().Add(summaryWait)
	for _, target := range targets {
		if !waitForSummary(base, target, deadline) {
			fmt.Printf("%s: no summary received within %v (the plugin sends one every compare.report.summarySeconds)\n", target, summaryWait)
		}
		var out strings.Builder
		code := reports.VerdictCommand(context.Background(), []string{"-receiver", base, "-target", target,
			"-min-pairs", fmt.Sprint(demoMinPairs)}, &out, &out)
		fmt.Print(out.String())
		fmt.Printf("  meshmirror verdict exits %d (%s)\n", code, exitMeaning(code))
	}
}

// waitForSummary polls the receiver until a summary names target, or deadline.
func waitForSummary(base, target string, deadline time.Time) bool {
	for {
		resp, err := http.Get(base + reports.VerdictPath + "?target=" + url.QueryEscape(target))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func exitMeaning(code int) string {
	switch code {
	case reports.ExitPass:
		return "pass"
	case reports.ExitFail:
		return "fail"
	case reports.ExitInconclusive:
		return "inconclusive"
	}
	return "usage or connection error"
}
