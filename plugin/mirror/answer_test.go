package mirror

import (
	"reflect"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/header"
)

func TestMirrorAnswered(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		latency int64
		want    Counter
	}{
		{"200", "200", 12, Response2xx},
		{"204", "204", 12, Response2xx},
		{"302", "302", 12, Response3xx},
		{"404", "404", 12, Response4xx},
		{"503", "503", 12, Response5xx},
		{"fast 504", "504", 999, Response5xx},
		{"504 at the timeout", "504", 1000, ResponseFailed},
		{"504 after the timeout", "504", 1500, ResponseFailed},
		{"503 after the timeout", "503", 1500, Response5xx},
		{"no response", "", 3, ResponseFailed},
		{"1xx", "100", 3, ResponseFailed},
		{"malformed", "2x0", 3, ResponseFailed},
		{"too long", "2000", 3, ResponseFailed},
		{"600", "600", 3, ResponseFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec := newMirror(t, oneTarget(`,"timeoutMs":1000`))
			out := run(m, req("GET", "/"), 0)
			if len(out) != 1 || rec.inFlight[0] != 1 {
				t.Fatalf("copies %d, in_flight %d; want 1, 1", len(out), rec.inFlight[0])
			}
			m.Sent(0)
			m.Answered(0, false, &Answer{Status: tt.status}, tt.latency)
			rec.only(t, 0, map[Counter]int{Matched: 1, Dispatched: 1, tt.want: 1})
			if !reflect.DeepEqual(rec.latency[0], []int64{tt.latency}) {
				t.Errorf("latencies = %v, want [%d]", rec.latency[0], tt.latency)
			}
			if !reflect.DeepEqual(rec.deltas, []int{1, -1}) {
				t.Errorf("in-flight deltas = %v, want [1 -1]", rec.deltas)
			}
		})
	}
}

func TestMirrorInFlightNeverNegative(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"ca"},{"name":"b","cluster":"cb"}]}`)
	// Answers and refusals without a copy in flight do not move the gauge.
	m.Answered(0, false, &Answer{Status: "200"}, 1)
	m.Refused(1)
	if len(rec.deltas) != 0 {
		t.Errorf("in-flight deltas %v without any copy", rec.deltas)
	}
	rec.only(t, 0, map[Counter]int{Response2xx: 1})
	rec.only(t, 1, map[Counter]int{DispatchFailed: 1})

	out := run(m, req("GET", "/"), 0)
	if len(out) != 2 {
		t.Fatalf("got %d copies", len(out))
	}
	m.Refused(0)
	m.Refused(0)
	m.Answered(1, false, &Answer{Status: ""}, 5000)
	m.Answered(1, false, &Answer{Status: ""}, 5000)
	if rec.inFlight[0] != 0 || rec.inFlight[1] != 0 || rec.minGauge < 0 {
		t.Errorf("gauges %v (min %d), want 0 and never negative", rec.inFlight, rec.minGauge)
	}
	rec.only(t, 0, map[Counter]int{Matched: 1, Response2xx: 1, DispatchFailed: 2})
	rec.only(t, 1, map[Counter]int{Matched: 1, DispatchFailed: 1, ResponseFailed: 2})
}

// TestMirrorCancel: copies whose calls the host cancels count once each in cancelled
// and leave in_flight; copies answered before do not.
func TestMirrorCancel(t *testing.T) {
	m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c"},{"name":"b","cluster":"d"}]}`)
	for range 3 {
		var r Request
		m.Start(&r, header.List{{":method", "GET"}, {":path", "/"}, {":authority", "x"}})
		m.Finish(&r, nil, 0, nil)
	}
	m.Sent(0)
	m.Sent(0)
	m.Sent(0)
	m.Answered(0, false, &Answer{Status: "200"}, 1)
	m.Cancel()
	m.Cancel() // nothing left the second time
	rec.only(t, 0, map[Counter]int{Matched: 3, Dispatched: 3, Response2xx: 1, Cancelled: 2})
	rec.only(t, 1, map[Counter]int{Matched: 3, Cancelled: 3})
	if rec.inFlight[0] != 0 || rec.inFlight[1] != 0 || rec.minGauge < 0 {
		t.Errorf("in_flight = %v (lowest %d), want 0 and never negative", rec.inFlight, rec.minGauge)
	}
}

// TestMirrorAnsweredGRPC: a gRPC copy answered with HTTP 200 is a success only with
// grpc-status 0; a non-gRPC copy ignores grpc-status.
func TestMirrorAnsweredGRPC(t *testing.T) {
	tests := []struct {
		grpc   bool
		answer Answer
		want   Counter
	}{
		{true, Answer{Status: "200", GRPCStatus: "0"}, Response2xx},
		{true, Answer{Status: "200", GRPCStatus: "14"}, ResponseGRPCError},
		{true, Answer{Status: "200"}, ResponseGRPCError}, // no grpc-status: INTERNAL for a client
		{true, Answer{Status: "204", GRPCStatus: "0"}, ResponseGRPCError},
		{true, Answer{Status: "503"}, Response5xx},
		{true, Answer{}, ResponseFailed},
		{false, Answer{Status: "200", GRPCStatus: "14"}, Response2xx},
	}
	for _, tt := range tests {
		m, rec := newMirror(t, `{"targets":[{"name":"a","cluster":"c"}]}`)
		m.Answered(0, tt.grpc, &tt.answer, 1)
		rec.only(t, 0, map[Counter]int{tt.want: 1})
	}
}
