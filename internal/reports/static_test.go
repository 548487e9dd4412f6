package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatic: the page's script and uPlot are served from the binary, uPlot as npm
// ships it (the sums of static/uplot/README.md) with its licence, and the page itself
// has no inline script, only scripts of the receiver's own.
func TestStatic(t *testing.T) {
	ts, _, _ := receiver(t)
	readme, err := os.ReadFile("static/uplot/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, contentType string }{
		{"/static/page.js", "text/javascript"},
		{"/static/uplot/uPlot.iife.min.js", "text/javascript"},
		{"/static/uplot/uPlot.min.css", "text/css"},
		{"/static/verdict.css", "text/css"},
		{"/static/uplot/LICENSE", "text/plain"},
	} {
		resp, err := http.Get(ts.URL + f.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), f.contentType) {
			t.Errorf("GET %s: %s, %s; want 200 and %s", f.path, resp.Status, resp.Header.Get("Content-Type"), f.contentType)
		}
	}
	for _, name := range []string{"uPlot.iife.min.js", "uPlot.min.css"} {
		data, err := static.ReadFile("static/uplot/" + name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if !strings.Contains(strings.ReplaceAll(string(readme), "\n", " "), name+"` (sha256 `"+hex.EncodeToString(sum[:])) {
			t.Errorf("static/uplot/%s: sha256 %x is not the one static/uplot/README.md gives", name, sum)
		}
	}
	if license, _ := static.ReadFile("static/uplot/LICENSE"); !strings.Contains(string(license), "The MIT License") {
		t.Error("static/uplot/LICENSE is not uPlot's MIT licence")
	}
	if code, _ := get(t, ts.URL+"/static/nothing.js"); code != http.StatusNotFound {
		t.Errorf("/static/nothing.js: %d", code)
	}
	post(t, ts.URL, summaryJSON("v2", time.Now(), ends("GET", "/a", 10, 1, 0, 2, 2)))
	_, page := get(t, ts.URL+"/")
	if !strings.Contains(page, `data-chart="`) {
		t.Fatal("the page has no chart")
	}
	scripts := regexp.MustCompile(`<script[^>]*>[^<]*</script>`).FindAllString(page, -1)
	want := []string{`<script src="static/uplot/uPlot.iife.min.js" defer></script>`, `<script src="static/page.js" defer></script>`}
	if strings.Join(scripts, "\n") != strings.Join(want, "\n") || strings.Count(page, "<script") != 2 {
		t.Errorf("the page's scripts: %q, want only %q", scripts, want)
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("the page has an inline event handler")
	}
}
