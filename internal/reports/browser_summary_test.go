package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// sampleSummary is one summary of sampleSummaries, with what the chart must show of it.
type sampleSummary struct {
	doc string
	to  time.Time
	// rates is the difference rate, in %, of each endpoint ("target METHOD endpoint").
	rates map[string]float64
}

// sampleSummaries are the summaries of the shop of sampleReports over the 50 minutes
// before now, one every 2 minutes: reviews-v2 differs on 30% of POST /api/orders and
// 2% of GET /api/items/{id} (where an etag differs as noise), and its shadow is slower;
// reviews-v3 answers as the primary does. GET /api/users/{id}/cart has reports and no
// summary.
func sampleSummaries(now time.Time) []sampleSummary {
	var out []sampleSummary
	for m := 1; m <= 50; m += 2 {
		// 30 s inside a window's edge (15m holds m 1 to 15, 1h every one), so that a
		// loaded machine's seconds between now, the page and the API change nothing.
		to := now.Add(-time.Duration(m)*time.Minute + 30*time.Second)
		items := ends("GET", "/api/items/{id}", 93, 2, 5, 3, 4)
		items.counts[4+3], items.counts[4+4] = 90, 10 // primary: 90 in (5,10] ms, 10 in (10,20]
		orders := ends("POST", "/api/orders", 7, 3+int64(m%3), 0, 4, 5)
		doc := summaryJSON("reviews-v2", to, items, orders)
		doc = strings.Replace(doc, `"places":[{"place":"body price","differs":2,"noise":0}]`,
			`"places":[{"place":"header etag","differs":0,"noise":5},{"place":"body items.#.price","differs":2,"noise":0}]`, 1)
		d := float64(orders.counts.differs())
		out = append(out, sampleSummary{doc, to, map[string]float64{
			"reviews-v2 GET /api/items/{id}": 2, "reviews-v2 POST /api/orders": round(100*d/(7+d), 4)}})
		out = append(out, sampleSummary{summaryJSON("reviews-v3", to, ends("GET", "/api/items/{id}", 50, 0, 0, 3, 3)), to,
			map[string]float64{"reviews-v3 GET /api/items/{id}": 0}})
	}
	return out
}

// postSummaries posts sampleSummaries to the receiver at base.
func postSummaries(t *testing.T, base string, now time.Time) []sampleSummary {
	t.Helper()
	sums := sampleSummaries(now)
	for _, s := range sums {
		if code, msg := post(t, base, s.doc); code != 202 {
			t.Fatalf("POST a summary: %d %s", code, msg)
		}
	}
	return sums
}

// apiVerdict is the receiver's /api/verdict answer for target over window.
func apiVerdict(t *testing.T, base, target, window string) Verdict {
	t.Helper()
	code, body := get(t, base+VerdictPath+"?target="+url.QueryEscape(target)+"&window="+window)
	var v Verdict
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("%s for %s: %d %s %v", VerdictPath, target, code, body, err)
	}
	return v
}

// shownVerdict is what the page shows of a target's verdict, read in the browser.
type shownVerdict struct {
	Target, Verdict, Pairs, Differ, Noise string
	Reasons                               []string
}

// shownCard is what the page shows of an endpoint with summaries.
type shownCard struct {
	Target, Endpoint                            string
	Pairs, Differ, Noise, PrimaryP99, ShadowP99 string
	Places                                      []string // place: differ rate, noise rate
}

// shownChart is what a chart drew: its points, and how many of the difference rate's
// points have ink on the canvas where uPlot placed them.
type shownChart struct {
	Target, Endpoint string
	T                []int64
	Differ           []float64
	Inked            int
}

const readVerdicts = `[...document.querySelectorAll("section.verdict")].map(s => ({
	Target: s.dataset.target, Verdict: s.dataset.verdict,
	Pairs: s.querySelector(".pairs").dataset.value, Differ: s.querySelector(".differ-rate").dataset.value,
	Noise: s.querySelector(".noise-rate").dataset.value,
	Reasons: [...s.querySelectorAll(".reasons li")].map(li => li.innerText)}))`

const readCards = `[...document.querySelectorAll("section.card.summary")].map(c => ({
	Target: c.dataset.target, Endpoint: c.dataset.endpoint,
	Pairs: c.querySelector(".stats .pairs").dataset.value, Differ: c.querySelector(".stats .differ-rate").dataset.value,
	Noise: c.querySelector(".stats .noise-rate").dataset.value,
	PrimaryP99: c.querySelector(".stats .primary-p99").dataset.value, ShadowP99: c.querySelector(".stats .shadow-p99").dataset.value,
	Places: [...c.querySelectorAll("tr.place")].map(r => r.querySelector("code").innerText + ": " +
		r.querySelector(".differ-rate").dataset.value + ", " + r.querySelector(".noise-rate").dataset.value)}))`

// readCharts reads each chart uPlot drew, and looks on its canvas for ink around each
// point of the difference rate (any pixel not transparent within 3 px).
const readCharts = `(window.meshmirrorCharts || []).map(c => {
	const u = c.plot, ctx = u.ctx, inked = u.data[0].filter((x, i) => {
		const cx = Math.round(u.valToPos(x, "x", true)), cy = Math.round(u.valToPos(u.data[1][i], "rate", true));
		const px = ctx.getImageData(cx - 3, cy - 3, 7, 7).data;
		for (let k = 3; k < px.length; k += 4) { if (px[k] > 0) return true; }
		return false;
	}).length;
	return {Target: c.target, Endpoint: c.endpoint, T: u.data[0], Differ: u.data[1], Inked: inked};
})`

// checkVerdictsInBrowser checks the page open in ctx (window windowName) against the
// receiver's API at base: each target's verdict, and each endpoint's figures, are the
// API's; each chart draws a point per minute (or step) of the summaries, at the rate
// those summaries give.
func checkVerdictsInBrowser(t *testing.T, ctx context.Context, base, windowName string, sums []sampleSummary, now time.Time, fail func(string, error)) {
	t.Helper()
	verdicts, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownVerdict](readVerdicts))
	if err != nil {
		fail("reading the verdicts", err)
	}
	var targets []string
	for _, shown := range verdicts {
		targets = append(targets, shown.Target)
		v := apiVerdict(t, base, shown.Target, windowName)
		want := shownVerdict{Target: v.Target, Verdict: v.Verdict, Pairs: fmt.Sprint(v.Pairs), Differ: formatFloat(v.DifferRate),
			Noise: formatFloat(v.NoiseRate), Reasons: v.Reasons}
		if fmt.Sprint(shown) != fmt.Sprint(want) {
			t.Errorf("window %s: the page shows the verdict\n%+v\nthe API says\n%+v", windowName, shown, want)
		}
	}
	if strings.Join(targets, ",") != "reviews-v2,reviews-v3" {
		t.Errorf("window %s: verdicts of %q, want reviews-v2's and reviews-v3's", windowName, targets)
	}

	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownCard](readCards))
	if err != nil {
		fail("reading the endpoints", err)
	}
	var order []string
	for _, c := range cards {
		order = append(order, c.Target+" "+c.Endpoint)
		v := apiVerdict(t, base, c.Target, windowName)
		i := slices.IndexFunc(v.Endpoints, func(e EndpointVerdict) bool { return e.Method+" "+e.Endpoint == c.Endpoint })
		if i < 0 {
			t.Errorf("window %s: the page shows %s %s, which the API does not", windowName, c.Target, c.Endpoint)
			continue
		}
		e := v.Endpoints[i]
		want := shownCard{Target: c.Target, Endpoint: c.Endpoint, Pairs: fmt.Sprint(e.Pairs), Differ: formatFloat(e.DifferRate),
			Noise: formatFloat(e.NoiseRate), PrimaryP99: formatFloat(e.PrimaryP99), ShadowP99: formatFloat(e.ShadowP99), Places: c.Places}
		if fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("window %s: the page shows\n%+v\nthe API says\n%+v", windowName, c, want)
		}
	}
	if want := "reviews-v2 POST /api/orders,reviews-v2 GET /api/items/{id},reviews-v3 GET /api/items/{id}"; strings.Join(order, ",") != want {
		t.Errorf("window %s: endpoints %q, want the worst first in each target: %s", windowName, order, want)
	}
	// The places of GET /api/items/{id}: by their rate of real differences among its
	// compared pairs, then of noise.
	for _, c := range cards {
		if c.Target == "reviews-v2" && c.Endpoint == "GET /api/items/{id}" {
			if len(c.Places) != 2 || !strings.HasPrefix(c.Places[0], "body items.#.price: 0.02, 0") || !strings.HasPrefix(c.Places[1], "header etag: 0, 0.05") {
				t.Errorf("window %s: places %q, want body items.#.price at 2%% then header etag's noise at 5%%", windowName, c.Places)
			}
		}
	}

	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownChart](readCharts))
	if err != nil {
		fail("reading the charts", err)
	}
	if len(charts) != len(cards) {
		t.Fatalf("window %s: %d charts for %d endpoints", windowName, len(charts), len(cards))
	}
	window, _ := time.ParseDuration(windowName)
	for _, c := range charts {
		// One point per minute that holds a summary of the endpoint, from the minute the
		// window starts in (the summaries are 2 minutes apart: one each).
		var wantT []int64
		var wantRates []float64
		for _, s := range sums {
			if r, ok := s.rates[c.Target+" "+c.Endpoint]; ok && s.to.UnixMilli()/slotMs >= now.Add(-window).UnixMilli()/slotMs {
				wantT = append(wantT, s.to.UnixMilli()/slotMs*60)
				wantRates = append(wantRates, r)
			}
		}
		slices.Reverse(wantT) // sampleSummaries goes back in time
		slices.Reverse(wantRates)
		if !slices.Equal(c.T, wantT) {
			t.Errorf("window %s: %s %s: the chart draws points at %v, want one per summary at %v", windowName, c.Target, c.Endpoint, c.T, wantT)
		}
		if !slices.Equal(c.Differ, wantRates) {
			t.Errorf("window %s: %s %s: the chart's difference rates %v%%, want the summaries' %v%%", windowName, c.Target, c.Endpoint, c.Differ, wantRates)
		}
		if c.Inked != len(c.T) || len(c.T) == 0 {
			t.Errorf("window %s: %s %s: ink at %d of the chart's %d points", windowName, c.Target, c.Endpoint, c.Inked, len(c.T))
		}
	}
}

// TestPage_chartsUnderCSP opens the page in Chromium behind the strictest policy it
// is meant for (scripts, styles' files and everything else from the receiver only, no
// inline script): the charts still draw.
func TestPage_chartsUnderCSP(t *testing.T) {
	exe := chromium(t)
	_, s, _ := receiver(t)
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	postSummaries(t, ts.URL, time.Now())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900), chromedp.CombinedOutput(&out))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	var mu sync.Mutex
	var violations []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && strings.Contains(e.Entry.Text, "Content Security Policy") {
			where := e.Entry.URL
			if e.Entry.StackTrace != nil {
				for _, f := range e.Entry.StackTrace.CallFrames {
					where += " " + f.URL
				}
			}
			mu.Lock()
			violations = append(violations, e.Entry.Text+" at "+where)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v\nchromium said:\n%s", err, out.String())
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("div.chart canvas"))); err != nil {
		t.Fatalf("opening the page under %q: %v\nchromium said:\n%s", csp, err, out.String())
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(window.meshmirrorCharts || []).length`))
	if err != nil || n != 3 {
		t.Errorf("under %q: %d charts drawn, %v; want 3", csp, n, err)
	}
	// The charts' scripts do nothing the policy refuses (the page's own <style> is
	// issue 25's, which moves it to a file).
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		if strings.Contains(v, "/static/") || strings.Contains(v, "script-src") {
			t.Errorf("under %q: %s", csp, v)
		}
	}
	t.Logf("policy violations: %q", violations)
}
