package reports

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "write a PNG of the page, as the browser test shows it, to this file (make screenshot)")

// chromium returns Debian's chromium, which make test and .ci/run install.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("MESHMIRROR_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if testing.Short() {
		t.Skip("no chromium; -short skips the browser test")
	}
	t.Fatal("no chromium on PATH: make test installs Debian's (apt-get install chromium), or set MESHMIRROR_CHROMIUM")
	return ""
}

// TestPage_inBrowser posts reports and summaries and opens the page in a real headless
// Chromium: it shows each target's verdict and each endpoint's figures as the API gives
// them, charts that draw the summaries' points, a window selector; the endpoints with
// reports only, the places that differ with their counts and noise; and it reloads
// itself.
func TestPage_inBrowser(t *testing.T) {
	exe := chromium(t)
	ts, _, _ := receiver(t)
	for _, r := range sampleReports() {
		if code, msg := post(t, ts.URL, r); code != 202 {
			t.Fatalf("POST: %d %s", code, msg)
		}
	}
	now := time.Now()
	sums := postSummaries(t, ts.URL, now)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out strings.Builder
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900), chromedp.CombinedOutput(&out))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nchromium said:\n%s", what, err, out.String())
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 900), chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("section.card"))); err != nil {
		fail("opening the page", err)
	}
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("section.card")].map(c => c.dataset.endpoint + " | " + c.querySelector(".target").innerText)`))
	if err != nil {
		fail("reading the endpoints", err)
	}
	// Those with summaries by target, worst first; then those with reports only.
	want := []string{"POST /api/orders | reviews-v2", "GET /api/items/{id} | reviews-v2", "GET /api/items/{id} | reviews-v3", "GET /api/users/{id}/cart | reviews-v2"}
	if strings.Join(cards, "\n") != strings.Join(want, "\n") {
		t.Errorf("the page shows the endpoints\n%s\nwant\n%s", strings.Join(cards, "\n"), strings.Join(want, "\n"))
	}
	checkVerdictsInBrowser(t, ctx, ts.URL, "1h", sums, now, fail)
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section.card[data-endpoint="GET /api/items/{id}"]`)))
	if err != nil {
		fail("reading the first endpoint", err)
	}
	for _, s := range []string{"body items.#.price", "header etag", "noise", "differs", "7 reported pairs", "request 7f1c-2", "9.99", "10.99", "200 → 503",
		"2% differ", "5% noise", "pairs compared in 1h"} {
		if !strings.Contains(first, s) {
			t.Errorf("the first endpoint's card lacks %q:\n%s", s, first)
		}
	}
	refresh, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('meta[http-equiv="refresh"]').content`))
	if err != nil || refresh != "10" {
		t.Errorf("meta refresh %q, %v; want the page to reload every 10 s", refresh, err)
	}
	// The report-only endpoint keeps its counts by reports.
	last, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section.card[data-endpoint="GET /api/users/{id}/cart"]`)))
	if err != nil || !strings.Contains(last, "2 reported pairs") || !strings.Contains(last, "body total") {
		t.Errorf("the endpoint with reports only shows %q, %v", last, err)
	}
	var screenshotPNG []byte
	if *screenshot != "" {
		screenshotPNG, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the first 900 px: a small PNG
		if err != nil {
			fail("taking the screenshot", err)
		}
	}
	// The window selector: 15m shows the last 15 minutes, still as the API says.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`header nav a[href="?window=15m"]`)), chromedp.WaitVisible(chromedp.CSS(`header nav a.selected[href="?window=15m"]`)),
		chromedp.WaitVisible(chromedp.CSS("div.chart canvas"))); err != nil {
		fail("choosing the window 15m", err)
	}
	checkVerdictsInBrowser(t, ctx, ts.URL, "15m", sums, now, fail)
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, screenshotPNG, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", *screenshot, len(screenshotPNG))
	}
}

// sampleReports are reports as the plugin sends them for a shop whose reviews-v2
// rounds prices differently, drops an etag (noise: the baseline drops it too) and
// fails now and then.
func sampleReports() []string {
	var out []string
	for i, id := range []string{"1", "17", "204", "3", "88", "9"} {
		diffs := []string{"body:changed:items." + id[:1] + ".price", "header:missing:etag:noise"}
		if i%3 == 2 {
			diffs = append(diffs, "body:missing:items.0.discount")
		}
		out = append(out, doc("reviews-v2", "GET", "/api/items/"+id, "7f1c-2"+id, diffs...))
	}
	// The latest: the shadow failed; this target's reports carry values.
	failed := doc("reviews-v2", "GET", "/api/items/5", "7f1c-25", "status:changed:", "body:changed:items.0.price")
	failed = strings.Replace(failed, `"shadow":{"status":200`, `"shadow":{"status":503`, 1)
	out = append(out, strings.Replace(failed, `"where":""`, `"where":"","primary":"200","shadow":"503"`, 1))
	for range 3 {
		out = append(out, doc("reviews-v2", "POST", "/api/orders", "", "header:changed:content-type", "body:extra:order.coupon"))
	}
	for _, u := range []string{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", "7c9e6679-7425-40de-944b-e07fc1f90ae7"} {
		out = append(out, doc("reviews-v2", "GET", "/api/users/"+u+"/cart", "", "body:changed:total"))
	}
	out = append(out, doc("reviews-v3", "GET", "/api/items/7", "", "body:changed:"))
	return out
}
