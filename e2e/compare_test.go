package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/runner"
)

// jsonAnswer answers with a JSON body, a status and one extra header.
func jsonAnswer(status int, header, body string, delay time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		if header != "" {
			w.Header().Set("Cache-Control", header)
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

const catalog = `{"items": [{"id": 1, "price": 9.99}, {"id": 2, "price": 5}], "meta": {"at": "12:00:01"}}`

// compared waits for a pair's verdict and returns the compare counters of target.
func compared(t *testing.T, m *mesh, target string) map[mirror.CompareCounter]uint64 {
	t.Helper()
	total := func() uint64 {
		return m.metric(t, mirror.CompareCounterName(target, mirror.CompareSame)) +
			m.metric(t, mirror.CompareCounterName(target, mirror.CompareDiffers)) +
			m.metric(t, mirror.CompareCounterName(target, mirror.CompareNoise)) +
			m.metric(t, mirror.CompareCounterName(target, mirror.CompareSkipped))
	}
	waitFor(t, "the pair's verdict", func() bool { return total() == 1 })
	got := map[mirror.CompareCounter]uint64{}
	for c := range mirror.CompareSkipped + 1 { // the pair counters, not the reports'
		if v := m.metric(t, mirror.CompareCounterName(target, c)); v != 0 {
			got[c] = v
		}
	}
	return got
}

// TestCompare: over real sockets, each case sends one request and checks the
// comparison's counters and, for a differing pair, the report's place.
func TestCompare(t *testing.T) {
	shadowSlow, primarySlow := 80*time.Millisecond, 80*time.Millisecond
	tests := []struct {
		name            string
		compare         string
		primary, shadow http.HandlerFunc
		want            map[mirror.CompareCounter]uint64
		where           string // the first difference's part and place, in the report
	}{
		{"identical answers", `{}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", catalog, 0),
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"the same JSON written differently", `{}`,
			jsonAnswer(200, "", catalog, 0),
			jsonAnswer(200, "", `{"meta":{"at":"12:00:01"},"items":[{"price":9.990,"id":1},{"id":2,"price":5.0}]}`, 0),
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"a changed field", `{}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", bytes2(catalog, "9.99", "10.99"), 0),
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1}, "body items.0.price"},
		{"a changed status", `{}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(500, "", catalog, 0),
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareStatusDiffers: 1}, "status "},
		{"a changed header", `{"headers": ["content-type", "cache-control"]}`,
			jsonAnswer(200, "max-age=60", catalog, 0), jsonAnswer(200, "no-store", catalog, 0),
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareHeadersDiffer: 1}, "header cache-control"},
		{"ignore hides a noisy field", `{"ignore": ["meta.at"]}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", bytes2(catalog, "12:00:01", "12:00:02"), 0),
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		{"a body over maxBytes", `{"maxBytes": 16}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", catalog, 0),
			map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
		{"the shadow answers after the primary", `{}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", bytes2(catalog, "9.99", "1"), shadowSlow),
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1}, "body items.0.price"},
		{"the shadow answers before the primary", `{}`,
			jsonAnswer(200, "", catalog, primarySlow), jsonAnswer(200, "", bytes2(catalog, "9.99", "1"), 0),
			map[mirror.CompareCounter]uint64{mirror.CompareDiffers: 1, mirror.CompareBodyDiffers: 1}, "body items.0.price"},
		{"the shadow hangs past its timeout", `{}`,
			jsonAnswer(200, "", catalog, 0), jsonAnswer(200, "", catalog, time.Second),
			map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
		{"the shadow answers gzip", `{}`,
			jsonAnswer(200, "", catalog, 0), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				z := gzip.NewWriter(w)
				z.Write([]byte(`{"items":[{"price":9.990,"id":1},{"id":2,"price":5.0}],"meta":{"at":"12:00:01"}}`))
				z.Close()
			},
			map[mirror.CompareCounter]uint64{mirror.CompareSame: 1}, ""},
		// A reset before the answer began reaches the plugin as Envoy's own 503 (the
		// router's local reply, delivered to AsyncClient's onSuccess), a failure whose
		// pair is skipped; so is a reset while answering (onFailure: no headers).
		{"the shadow resets before answering", `{}`,
			jsonAnswer(200, "", catalog, 0), func(w http.ResponseWriter, r *http.Request) {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			},
			map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
		{"the shadow resets while answering", `{}`,
			jsonAnswer(200, "", catalog, 0), func(w http.ResponseWriter, r *http.Request) {
				conn, buf, _ := w.(http.Hijacker).Hijack()
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"items\"")
				buf.Flush()
				conn.Close()
			},
			map[mirror.CompareCounter]uint64{mirror.CompareSkipped: 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports := backend(t, "reports", nil)
			shadow := backend(t, "shadow", tc.shadow)
			compare := tc.compare[:len(tc.compare)-1]
			if compare != "{" {
				compare += ","
			}
			compare += `"report": {"cluster": "reports", "perSecond": 100}}`
			m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow", "timeoutMs": 300, "compare": `+compare+`}]}`,
				backend(t, "primary", tc.primary), map[string]string{"shadow": shadow.Addr, "reports": reports.Addr})
			resp, body, _ := send(t, m.addr, "GET", "/api/items?page=1", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(body, []byte(catalog)) {
				t.Fatalf("the primary answered %d %s", resp.StatusCode, body)
			}
			if got := compared(t, m, "shadow"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("compare counters %v, want %v", got, tc.want)
			}
			if tc.where == "" {
				time.Sleep(20 * time.Millisecond)
				if n := len(reports.Requests()); n != 0 {
					t.Errorf("%d reports for a pair that does not differ", n)
				}
				return
			}
			waitFor(t, "the report", func() bool { return len(reports.Requests()) == 1 })
			checkReport(t, reports.Requests()[0], tc.where)
		})
	}
}

func bytes2(s, old, new string) string {
	return string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
}

// report is the schema of a report (README "Comparing responses").
type report struct {
	Kind      string `json:"kind"`
	Target    string `json:"target"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	RequestID string `json:"requestId"`
	Primary   struct {
		Status     *int `json:"status"`
		GRPCStatus *int `json:"grpcStatus"`
		Bytes      *int `json:"bytes"`
		LatencyMs  *int `json:"latencyMs"`
	} `json:"primary"`
	Shadow struct {
		Status     *int `json:"status"`
		GRPCStatus *int `json:"grpcStatus"`
		Bytes      *int `json:"bytes"`
		LatencyMs  *int `json:"latencyMs"`
	} `json:"shadow"`
	Differences []struct {
		Part    string `json:"part"`
		Kind    string `json:"kind"`
		Where   string `json:"where"`
		Noise   *bool  `json:"noise"`
		Primary any    `json:"primary"`
		Shadow  any    `json:"shadow"`
	} `json:"differences"`
}

func checkReport(t *testing.T, got runner.Received, where string) {
	t.Helper()
	if got.Method != "POST" || got.Path != "/meshmirror/reports" || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("X-Meshmirror") != "shadow" {
		t.Errorf("report request %s %s, content-type %q, marker %q", got.Method, got.Path,
			got.Header.Get("Content-Type"), got.Header.Get("X-Meshmirror"))
	}
	dec := json.NewDecoder(bytes.NewReader(got.Body))
	dec.DisallowUnknownFields()
	var r report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("the report does not match the schema: %v\n%s", err, got.Body)
	}
	if r.Kind != "pair" || r.Target != "shadow" || r.Method != "GET" || r.Path != "/api/items" || r.RequestID == "" || r.Primary.Status == nil ||
		r.Shadow.Status == nil || r.Primary.Bytes == nil || r.Shadow.LatencyMs == nil || len(r.Differences) == 0 {
		t.Errorf("report %s", got.Body)
	}
	d := r.Differences[0]
	if d.Part+" "+d.Where != where || d.Kind != "changed" {
		t.Errorf("first difference %s %s %q, want %q changed", d.Part, d.Kind, d.Where, where)
	}
	if d.Noise == nil || *d.Noise {
		t.Errorf("first difference's noise = %v, want false: there is no baseline", d.Noise)
	}
	if d.Primary != nil || d.Shadow != nil {
		t.Errorf("the report has values without includeValues: %v, %v", d.Primary, d.Shadow)
	}
}

// TestComparePrimaryUnchanged: the primary's response is byte for byte the same with
// comparison on and off, headers and body, for a body larger than maxBytes too.
func TestComparePrimaryUnchanged(t *testing.T) {
	big := `{"items": [` + string(bytes.Repeat([]byte(`{"id": 1, "name": "something"},`), 4000)) + `{"id": 2}]}`
	for _, body := range []string{catalog, big} {
		var answers []string
		for _, compare := range []string{``, `, "compare": {"headers": ["content-type", "etag"], "maxBytes": 65536}`} {
			shadow := backend(t, "shadow", jsonAnswer(200, "", body, 0))
			m := start(t, `{"targets": [{"name": "shadow", "cluster": "shadow"`+compare+`}]}`,
				backend(t, "primary", jsonAnswer(201, "private", body, 0)), map[string]string{"shadow": shadow.Addr})
			resp, got, _ := send(t, m.addr, "GET", "/api/items", nil, nil)
			resp.Header.Del("Date")
			answers = append(answers, fmt.Sprint(resp.StatusCode, resp.Header, len(got), string(got)))
			waitFor(t, "the copy", func() bool { return m.metric(t, mirror.CounterName("shadow", mirror.Response2xx)) == 1 })
		}
		if answers[0] != answers[1] {
			t.Errorf("the primary's answer differs with comparison on:\n%.300s\n%.300s", answers[0], answers[1])
		}
	}
}
