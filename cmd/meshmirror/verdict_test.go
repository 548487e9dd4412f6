package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// summary is a summary document of target ending now with one endpoint: same and
// differs pairs, the primary's in (5, 10] ms and the shadow's in shadowBucket.
func summary(target, method, endpoint string, same, differs int, shadowBucket int) string {
	buckets := func(b int) string {
		counts := make([]string, 14)
		for i := range counts {
			counts[i] = "0"
		}
		counts[b] = fmt.Sprint(same + differs)
		return "[" + strings.Join(counts, ",") + "]"
	}
	to := time.Now().UnixMilli()
	return fmt.Sprintf(`{"kind":"summary","target":%q,"from":%d,"to":%d,"endpoints":[{"method":%q,"endpoint":%q,`+
		`"same":%d,"differs":%d,"noise":0,"skipped":0,"places":[],"primaryMs":%s,"shadowMs":%s}]}`,
		target, to-10000, to, method, endpoint, same, differs, buckets(3), buckets(shadowBucket))
}

// startReceiver runs meshmirror reports on 127.0.0.1 and returns its URL.
func startReceiver(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- receive(ctx, []string{"-listen", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "r.db")}, w, &stderr)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("meshmirror reports exited %d: %s", code, stderr.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (%s)", err, stderr.String())
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSuffix(strings.Fields(line)[2], "/") // meshmirror reports: http://ADDR/ ...
}

// TestVerdict runs meshmirror verdict against a real receiver as a pipeline step would:
// exit 0 on pass, 1 on fail (with its reasons and worst endpoints), 3 on inconclusive,
// 2 on a usage error, a bad flag value, an unknown target or no receiver.
func TestVerdict(t *testing.T) {
	url := startReceiver(t)
	for _, doc := range []string{
		summary("echo-v2", "POST", "/api/orders", 150, 50, 3),
		summary("echo-v2", "GET", "/api/items/{id}", 800, 0, 3),
		summary("fast", "GET", "/", 1000, 0, 3),
		summary("slow", "GET", "/", 1000, 0, 6),
		summary("quiet", "GET", "/", 10, 0, 3),
	} {
		resp, err := http.Post(url+"/meshmirror/reports", "application/json", strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST a summary: %s", resp.Status)
		}
	}
	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // each must be in the output
		stderr string
	}{
		{"pass", []string{"-receiver", url, "-target", "fast"}, 0, []string{"fast: PASS over the last 1h0m0s: 1000 pairs compared, 0% differ"}, ""},
		{"fail", []string{"-receiver", url, "-target", "echo-v2"}, 1, []string{
			"echo-v2: FAIL over the last 1h0m0s: 1000 pairs compared, 5% differ, 0% noise",
			"  - 5% of the 1000 pairs compared differ, above maxDifferRate 1%.",
			"  - 25% of the 200 pairs of POST /api/orders differ, above maxDifferRate 1%.",
			"ENDPOINT", "POST /api/orders     200    25%", "GET /api/items/{id}"}, ""},
		{"fail on latency", []string{"-receiver", url + "/", "-target", "slow"}, 1, []string{"The shadow's p99 latency, 99.5 ms, is 10.00 times the primary's, 9.95 ms"}, ""},
		{"pass with looser thresholds", []string{"-receiver", url, "-target", "echo-v2", "-max-differ-rate", "0.3", "-window", "15m"}, 0, []string{"echo-v2: PASS over the last 15m0s"}, ""},
		{"inconclusive", []string{"-receiver", url, "-target", "quiet"}, 3, []string{"quiet: INCONCLUSIVE", "Only 10 pairs were compared"}, ""},
		{"inconclusive with more min-pairs", []string{"-receiver", url, "-target", "fast", "-min-pairs", "5000"}, 3, nil, ""},
		{"unknown target", []string{"-receiver", url, "-target", "nobody"}, 2, nil, `404 Not Found: target "nobody": no summary names it`},
		{"bad rate", []string{"-receiver", url, "-target", "fast", "-max-differ-rate", "5"}, 2, nil, `-max-differ-rate: must be a rate from 0 to 1, got "5"`},
		{"bad target name", []string{"-receiver", url, "-target", "Fast"}, 2, nil, "-target: must be a target name"},
		{"no receiver", []string{"-receiver", closed, "-target", "fast"}, 2, nil, "connection refused"},
		{"not a URL", []string{"-receiver", "127.0.0.1:8089", "-target", "fast"}, 2, nil, "must be the receiver's http:// or https:// URL"},
		{"missing flags", []string{"-target", "fast"}, 2, nil, "-receiver and -target are required"},
		{"unknown flag", []string{"-receiver", url, "-target", "fast", "-threshold", "1"}, 2, nil, "flag provided but not defined: -threshold"},
		{"an argument", []string{"-receiver", url, "-target", "fast", "now"}, 2, nil, `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"verdict"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if tc.code == 2 && tc.stdout == nil && stdout.Len() > 0 {
				t.Errorf("a usage error printed a verdict:\n%s", stdout.String())
			}
		})
	}
}
