package reports

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// send makes a request to the receiver ts with the Host and headers given (pairs of
// name, value) and returns the status and the body.
func send(t *testing.T, ts *httptest.Server, method, path, host, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// TestServer_host: the receiver answers a Host that is an IP address, localhost, or a
// name of AllowHosts (with or without a port, in any case, with a trailing dot), and
// 421 to any other, so that a name rebound to its address cannot read it.
func TestServer_host(t *testing.T) {
	ts, s, store := receiver(t)
	svc := []string{"meshmirror-reports", "meshmirror-reports.meshmirror-demo", "meshmirror-reports.meshmirror-demo.svc",
		"meshmirror-reports.meshmirror-demo.svc.cluster.local"}
	if err := s.AllowHosts(svc...); err != nil {
		t.Fatal(err)
	}
	port := ts.URL[strings.LastIndexByte(ts.URL, ':'):]
	answered := []string{"127.0.0.1" + port, "127.0.0.1", "10.96.3.7:8089", "[::1]" + port, "[::1]", "[fe80::1%25eth0]:8089",
		"localhost" + port, "localhost", "LocalHost:8089", "meshmirror-reports:8089", "meshmirror-reports.meshmirror-demo.svc.cluster.local",
		"meshmirror-reports.meshmirror-demo.svc.cluster.local:8089", "Meshmirror-Reports.Meshmirror-Demo.svc:8089",
		"meshmirror-reports.meshmirror-demo.svc.cluster.local.:8089"}
	refused := []string{"evil.example", "evil.example" + port, "meshmirror-reports.evil.example", "localhost.evil.example:8089",
		"127.0.0.1.nip.io" + port, "meshmirror-reports.other-ns", "0x7f000001"}
	for _, host := range answered {
		if code, body := send(t, ts, "GET", "/api/endpoints", host, ""); code != http.StatusOK {
			t.Errorf("GET /api/endpoints, Host %s: %d %s; want 200", host, code, body)
		}
		if code, body := send(t, ts, "POST", Path, host, doc("v2", "GET", "/a", "", "status:changed:"), "Content-Type", "application/json"); code != http.StatusAccepted {
			t.Errorf("POST, Host %s: %d %s; want 202", host, code, body)
		}
	}
	for _, host := range refused {
		for _, path := range []string{"/", "/api/endpoints", "/metrics", "/healthz"} {
			if code, body := send(t, ts, "GET", path, host, ""); code != http.StatusMisdirectedRequest || !strings.Contains(body, "not an IP address, localhost, or a name given with -host") {
				t.Errorf("GET %s, Host %s: %d %q; want 421", path, host, code, body)
			}
		}
		if code, _ := send(t, ts, "POST", Path, host, doc("v2", "GET", "/a", "", "status:changed:"), "Content-Type", "application/json"); code != http.StatusMisdirectedRequest {
			t.Errorf("POST, Host %s: %d; want 421", host, code)
		}
	}
	if n, _, err := store.Totals(t.Context()); err != nil || n != len(answered) {
		t.Errorf("%d reports stored, %v; want the %d sent to a Host it answers", n, err, len(answered))
	}
	// An HTTP/1.0 request may have no Host at all.
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Host = ""
	s.ServeHTTP(w, req)
	if w.Code != http.StatusMisdirectedRequest || !strings.Contains(w.Body.String(), "no Host") {
		t.Errorf("no Host: %d %q; want 421", w.Code, w.Body)
	}
}

// TestCheckHostName: -host takes DNS names, and says what is wrong with anything else.
func TestCheckHostName(t *testing.T) {
	for _, name := range []string{"meshmirror-reports", "meshmirror-reports.meshmirror-demo.svc.cluster.local", "reports.", "A1.example", "x"} {
		if err := CheckHostName(name); err != nil {
			t.Errorf("CheckHostName(%q): %v", name, err)
		}
	}
	for name, want := range map[string]string{
		"":                              "must not be empty",
		".":                             "must not be empty",
		"reports:8089":                  "without a port",
		"http://reports":                "without a port or scheme",
		"10.0.0.1":                      "an IP address, which is always answered",
		"::1":                           "without a port",
		"re ports":                      `label "re ports" is not a DNS label`,
		"-reports":                      `label "-reports" is not a DNS label`,
		"reports..svc":                  `label "" is not a DNS label`,
		"*.svc":                         `label "*" is not a DNS label`,
		"r\u00e9ports":                  "is not a DNS label",
		strings.Repeat("a", 64):         "is not a DNS label",
		strings.Repeat("a.", 127) + "a": "longer than 253 bytes",
		"reports_v2.meshmirror-ns":      `label "reports_v2" is not a DNS label`,
	} {
		if err := CheckHostName(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHostName(%q) = %v; want an error with %q", name, err, want)
		}
	}
	var s Server
	if err := s.AllowHosts("good", "bad name"); err == nil || !strings.Contains(err.Error(), `"bad name"`) {
		t.Errorf("AllowHosts with a bad name: %v", err)
	}
}

// TestServer_crossSite: a browser's request from another site or origin is refused
// with 403 whatever it carries; the plugin's (no Origin, no Sec-Fetch-Site) and the
// receiver's own origin's are taken. GETs from elsewhere are answered: they change
// nothing, and a browser keeps their answers from the other origin.
func TestServer_crossSite(t *testing.T) {
	ts, _, store := receiver(t)
	host := strings.TrimPrefix(ts.URL, "http://")
	report := doc("v2", "GET", "/a", "", "status:changed:")
	refused := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "cross-site", "Origin", ts.URL}, // a rebound name's origin would be its own
		{"Origin", "http://evil.example"},
		{"Origin", "http://localhost" + host[strings.LastIndexByte(host, ':'):]},
		{"Origin", "http://" + host[:strings.LastIndexByte(host, ':')] + ":1"},
		{"Origin", "https://" + host},
		{"Origin", "null"},
		{"Origin", ""},
		{"Origin", ts.URL + "/page"},
		{"Origin", "http://user@" + host},
	}
	for _, h := range refused {
		code, msg := send(t, ts, "POST", Path, "", report, append([]string{"Content-Type", "application/json"}, h...)...)
		if code != http.StatusForbidden || !strings.Contains(msg, "not from web pages") {
			t.Errorf("POST with %q: %d %q; want 403", h, code, msg)
		}
	}
	taken := [][]string{
		nil, // the plugin: no browser headers
		{"Origin", ts.URL, "Sec-Fetch-Site", "same-origin"},
		{"Origin", strings.ToUpper(ts.URL[:4]) + ts.URL[4:]},
		{"Sec-Fetch-Site", "none"}, // typed by the user: not another site's doing
	}
	for _, h := range taken {
		if code, msg := send(t, ts, "POST", Path, "", report, append([]string{"Content-Type", "application/json"}, h...)...); code != http.StatusAccepted {
			t.Errorf("POST with %q: %d %q; want 202", h, code, msg)
		}
	}
	if n, _, err := store.Totals(t.Context()); err != nil || n != len(taken) {
		t.Errorf("%d reports stored, %v; want %d", n, err, len(taken))
	}
	if code, _ := send(t, ts, "GET", "/", "", "", "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"); code != http.StatusOK {
		t.Errorf("GET / from another site (a link followed): %d, want 200", code)
	}
}

// TestServer_contentType: a POST is taken only as application/json, with or without
// parameters; anything a form or a no-cors fetch can send is refused with 415.
func TestServer_contentType(t *testing.T) {
	ts, _, store := receiver(t)
	report := doc("v2", "GET", "/a", "", "status:changed:")
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"", "application/json-seq", "application/jsonx", "json", "application/*"} {
		code, msg := send(t, ts, "POST", Path, "", report, "Content-Type", ct)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(msg, "application/json") {
			t.Errorf("POST as %q: %d %q; want 415", ct, code, msg)
		}
	}
	taken := []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/json;charset=\"UTF-8\""}
	for _, ct := range taken {
		if code, msg := send(t, ts, "POST", Path, "", report, "Content-Type", ct); code != http.StatusAccepted {
			t.Errorf("POST as %q: %d %q; want 202", ct, code, msg)
		}
	}
	if n, _, err := store.Totals(t.Context()); err != nil || n != len(taken) {
		t.Errorf("%d reports stored, %v; want %d", n, err, len(taken))
	}
	_, metrics := get(t, ts.URL+"/metrics")
	if !strings.Contains(metrics, `meshmirror_reports_requests_total{code="415"} 9`) {
		t.Errorf("/metrics lacks the 9 answers 415:\n%s", metrics)
	}
}

// TestServer_hardeningHeaders: every answer, refusals included, carries nosniff and
// the Content-Security-Policy with frame-ancestors 'none' and no inline script or
// style; the page has none to need it, and its stylesheet is served as CSS.
func TestServer_hardeningHeaders(t *testing.T) {
	ts, _, _ := receiver(t)
	for _, r := range sampleReports() {
		if code, msg := post(t, ts.URL, r); code != http.StatusAccepted {
			t.Fatalf("POST: %d %s", code, msg)
		}
	}
	report := doc("v2", "GET", "/a", "", "status:changed:")
	requests := []struct {
		method, path, host, body string
		headers                  []string
		code                     int
	}{
		{"GET", "/", "", "", nil, 200},
		{"GET", "/api/endpoints", "", "", nil, 200},
		{"GET", "/healthz", "", "", nil, 200},
		{"GET", "/metrics", "", "", nil, 200},
		{"GET", "/static/page.css", "", "", nil, 200},
		{"HEAD", "/", "", "", nil, 200},
		{"GET", "/nothing", "", "", nil, 404},
		{"GET", Path, "", "", nil, 405},
		{"POST", Path, "", report, []string{"Content-Type", "application/json"}, 202},
		{"POST", Path, "", "{}", []string{"Content-Type", "application/json"}, 400},
		{"POST", Path, "", strings.Repeat(" ", MaxBytes+1), []string{"Content-Type", "application/json"}, 413},
		{"POST", Path, "", report, []string{"Content-Type", "text/plain"}, 415},
		{"POST", Path, "", report, []string{"Content-Type", "application/json", "Origin", "http://evil.example"}, 403},
		{"GET", "/", "evil.example", "", nil, 421},
	}
	for _, r := range requests {
		req, err := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if r.host != "" {
			req.Host = r.host
		}
		for i := 0; i+1 < len(r.headers); i += 2 {
			req.Header.Set(r.headers[i], r.headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := fmt.Sprintf("%s %s (%d)", r.method, r.path, r.code)
		if resp.StatusCode != r.code {
			t.Errorf("%s: %d %s", what, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", what, csp)
		}
		if r.path == "/" && r.code == 200 && r.method == "GET" {
			page := string(body)
			// Scripts only from the receiver's files (uPlot and static/page.js), none inline.
			page = strings.NewReplacer(`<script src="static/uplot/uPlot.iife.min.js" defer></script>`, "",
				`<script src="static/page.js" defer></script>`, "").Replace(page)
			for _, inline := range []string{"<style", " style=", "<script", "javascript:", " onload=", " onclick=", " onerror="} {
				if strings.Contains(strings.ToLower(page), inline) {
					t.Errorf("the page has %q, which its policy refuses", inline)
				}
			}
			if !strings.Contains(page, `<link rel="stylesheet" href="static/page.css">`) {
				t.Error("the page does not load static/page.css")
			}
		}
		if r.path == "/static/page.css" {
			if ct := resp.Header.Get("Content-Type"); ct != "text/css; charset=utf-8" || !strings.Contains(string(body), ".card {") {
				t.Errorf("/static/page.css: Content-Type %q, %d bytes", ct, len(body))
			}
			req, _ := http.NewRequest("GET", ts.URL+r.path, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			again, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("/static/page.css with its ETag %q: %d, want 304 (the page reloads every %d s)", resp.Header.Get("ETag"), again.StatusCode, RefreshSeconds)
			}
		}
	}
}
