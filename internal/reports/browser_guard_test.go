package reports

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rebound is a name Chromium resolves to 127.0.0.1 in these tests, as an attacker's
// name does once rebound (DNS rebinding).
const rebound = "rebound.example"

// headless starts Debian's chromium as TestPage_inBrowser does, with rebound mapped
// to 127.0.0.1, and returns a tab's context, the browser's console and log as they
// come, and what chromium printed, for failure messages.
func headless(t *testing.T) (context.Context, func() []string, *strings.Builder) {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	var out strings.Builder
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP "+rebound+" 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900), chromedp.CombinedOutput(&out))
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			line = fmt.Sprintf("log %s %s: %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text)
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			line = fmt.Sprintf("console %s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				line += " " + ev.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		mu.Lock()
		console = append(console, line)
		mu.Unlock()
	}); err != nil {
		t.Fatalf("starting chromium: %v\nchromium said:\n%s", err, out.String())
	}
	// Before any of the page's own code: every CSP violation the page meets.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.violations = []; document.addEventListener("securitypolicyviolation",
			e => window.violations.push(e.violatedDirective + " " + e.blockedURI));`,
	}); err != nil {
		t.Fatalf("starting chromium: %v\nchromium said:\n%s", err, out.String())
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), console...)
	}, &out
}

// TestPage_CSPinBrowser: the page, under its Content-Security-Policy, loads its
// stylesheet and shows its bars with no violation; an inline script or style put in
// it is refused, which shows the policy in force; and no other page can frame it.
func TestPage_CSPinBrowser(t *testing.T) {
	ts, _, _ := receiver(t)
	for _, r := range sampleReports() {
		if code, msg := post(t, ts.URL, r); code != http.StatusAccepted {
			t.Fatalf("POST: %d %s", code, msg)
		}
	}
	ctx, console, out := headless(t)
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nconsole:\n%s\nchromium said:\n%s", what, err, strings.Join(console(), "\n"), out.String())
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("section.card"))); err != nil {
		fail("opening the page", err)
	}
	type look struct {
		Violations []string
		Header     string // the header's background: the stylesheet applied
		Bars       []string
		Width      float64 // of the first bar's fill, in CSS pixels
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[look](`({
		violations: window.violations,
		header: getComputedStyle(document.querySelector("header")).backgroundColor,
		bars: [...document.querySelectorAll("section.card:first-of-type svg.bar rect.fill")].map(r => r.getAttribute("width")),
		width: document.querySelector("svg.bar rect.fill").getBoundingClientRect().width,
	})`))
	if err != nil {
		fail("reading the page", err)
	}
	if len(got.Violations) > 0 {
		t.Errorf("the page violates its own Content-Security-Policy: %q", got.Violations)
	}
	if got.Header != "rgb(24, 32, 44)" {
		t.Errorf("the header's background is %q, want rgb(24, 32, 44): static/page.css did not apply", got.Header)
	}
	// The first card: 7 reports; body items.#.price in all 7, header etag in 7.
	if len(got.Bars) == 0 || got.Bars[0] != "100%" || got.Width < 170 || got.Width > 190 {
		t.Errorf("the first card's bars are %q, the first %.0f px wide; want 100%% of 180 px", got.Bars, got.Width)
	}
	for _, line := range console() {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "exception") {
			t.Errorf("browser console: %s", line)
		}
	}

	// Something injected into the page runs nothing and styles nothing.
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const s = document.createElement("script");
		s.textContent = "window.ran = true";
		document.head.appendChild(s);
		const st = document.createElement("style");
		st.textContent = "body { background: rgb(255, 0, 0) }";
		document.head.appendChild(st);
		document.querySelector("h1").setAttribute("style", "color: rgb(255, 0, 0)");
		await new Promise(r => setTimeout(r, 200));
		return [String(window.ran), getComputedStyle(document.body).backgroundColor,
			getComputedStyle(document.querySelector("h1")).color, ...window.violations];
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		fail("injecting a script", err)
	}
	if len(injected) < 3 || injected[0] != "undefined" || injected[1] == "rgb(255, 0, 0)" || injected[2] == "rgb(255, 0, 0)" {
		t.Errorf("an injected inline script and style: ran %v, body %v, h1 %v; want neither to apply", injected[0], injected[1], injected[2])
	}
	joined := strings.Join(injected, "\n")
	for _, directive := range []string{"script-src-elem inline", "style-src-elem inline", "style-src-attr inline"} {
		if !strings.Contains(joined, directive) {
			t.Errorf("no violation of %s reported for what was injected: %q", directive, injected)
		}
	}

	// Another origin's page cannot frame it (frame-ancestors 'none').
	framer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><iframe id="f" src="%s/"></iframe>`, ts.URL)
	}))
	defer framer.Close()
	before := len(console())
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.Replace(framer.URL, "127.0.0.1", "localhost", 1)+"/"),
		chromedp.Sleep(500*time.Millisecond)); err != nil {
		fail("opening a page that frames it", err)
	}
	framed := false
	for _, line := range console()[before:] {
		framed = framed || strings.Contains(line, "frame-ancestors")
	}
	if !framed {
		t.Errorf("a page of another origin framed the receiver's page with no frame-ancestors refusal; console:\n%s", strings.Join(console()[before:], "\n"))
	}
}

// TestServer_crossSiteInBrowser: a page of another origin, which the operator has open
// while the receiver is port-forwarded to 127.0.0.1, posts a report with a no-cors
// fetch as text/plain (which needs no preflight) and as JSON with CORS, from another
// site (localhost) and from the same site on another port; and a rebound name reads
// the receiver's JSON. Nothing is stored, and nothing is read.
func TestServer_crossSiteInBrowser(t *testing.T) {
	store, err := Open(filepath.Join(t.TempDir(), "reports.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := NewServer(store, t.Logf)
	var mu sync.Mutex
	var seen []string // what reached the receiver: method, Origin, Sec-Fetch-Site
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s Origin=%q Sec-Fetch-Site=%q Content-Type=%q", r.Method, r.URL.Path,
			r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Content-Type")))
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	report := doc("v2", "GET", "/a", "from-a-web-page", "status:changed:")
	if _, err := Parse([]byte(report)); err != nil {
		t.Fatalf("the page's report is no report: %v", err) // else nothing stored would prove nothing
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>a page</title><p>nothing to see</p>`)
	}))
	defer attacker.Close()
	port := attacker.URL[strings.LastIndexByte(attacker.URL, ':'):]

	ctx, console, out := headless(t)
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nconsole:\n%s\nchromium said:\n%s", what, err, strings.Join(console(), "\n"), out.String())
	}
	for _, from := range []string{"http://localhost" + port, "http://127.0.0.1" + port} {
		if err := chromedp.Do(ctx, chromedp.Navigate(from+"/")); err != nil {
			fail("opening "+from, err)
		}
		mu.Lock()
		seen = nil
		mu.Unlock()
		results, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`(async () => {
			const url = %q, body = %q, out = [];
			try {
				const r = await fetch(url, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
				out.push("no-cors: sent, answer " + r.type);
			} catch (e) { out.push("no-cors: " + e); }
			try {
				const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body});
				out.push("cors: " + r.status);
			} catch (e) { out.push("cors: " + e); }
			return out;
		})()`, ts.URL+Path, report), chromedp.EvalAwaitPromise))
		if err != nil {
			fail("posting from "+from, err)
		}
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		t.Logf("from %s: the page saw %q; the receiver saw\n%s", from, results, strings.Join(got, "\n"))
		// The no-cors POST did reach the receiver (so the refusal is the receiver's),
		// with the page's origin, and the CORS one never got past its preflight.
		wantOrigin := fmt.Sprintf("POST %s Origin=%q", Path, from)
		reached, posts := false, 0
		for _, line := range got {
			reached = reached || strings.HasPrefix(line, wantOrigin)
			if strings.HasPrefix(line, "POST") {
				posts++
			}
		}
		if !reached || posts != 1 {
			t.Errorf("from %s: the receiver saw %d POSTs, want the no-cors one with Origin %s:\n%s", from, posts, from, strings.Join(got, "\n"))
		}
		if len(results) != 2 || !strings.HasPrefix(results[1], "cors: TypeError") {
			t.Errorf("from %s: the CORS fetch gave %q; want a TypeError (no CORS for another origin)", from, results)
		}
	}
	if n, _, err := store.Totals(context.Background()); err != nil || n != 0 {
		t.Errorf("%d reports stored from web pages, %v; want none", n, err)
	}
	if n := testutil.ToFloat64(s.answered.WithLabelValues("403")); n != 2 {
		t.Errorf("meshmirror_reports_requests_total{code=\"403\"} %v, want the 2 no-cors POSTs", n)
	}

	// DNS rebinding: once the attacker's name resolves to the receiver, its page is
	// of the same origin as the receiver's answers; the receiver does not answer
	// that Host, so the report stored here stays unread.
	if code, msg := post(t, ts.URL, doc("secret-target", "GET", "/a", "", "status:changed:")); code != http.StatusAccepted {
		t.Fatalf("POST as the plugin: %d %s", code, msg)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+rebound+ts.URL[strings.LastIndexByte(ts.URL, ':'):]+"/api/endpoints")); err != nil {
		fail("opening the rebound name", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		fail("reading the rebound page", err)
	}
	if !strings.Contains(text, "is not an IP address, localhost, or a name given with -host") || strings.Contains(text, "secret-target") {
		t.Errorf("%s, resolved to the receiver, shows %q; want the 421 refusal only", rebound, text)
	}
}
