package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshmirror/meshmirror/bench"
	"github.com/meshmirror/meshmirror/plugin/mirror"
	"github.com/meshmirror/meshmirror/wasmhost"
)

// Inputs nobody here wrote (issue 25): the comparer's reading of strings, numbers and
// gzip bodies, checked on the module as on the native build, since a fix that holds
// in Go but not under TinyGo would not hold in Envoy.

// gzipMember is one gzip member of data with its header made by hand: FNAME when
// name is set, and FHCRC when hcrc is, with the header's CRC-16, or bad.
func gzipMember(t *testing.T, data, name string, hcrc, badHCRC bool) []byte {
	t.Helper()
	var flags byte
	if hcrc {
		flags |= 1 << 1
	}
	if name != "" {
		flags |= 1 << 3
	}
	b := []byte{0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255}
	if name != "" {
		b = append(append(b, name...), 0)
	}
	if hcrc {
		sum := uint16(crc32.ChecksumIEEE(b))
		if badHCRC {
			sum ^= 1
		}
		b = binary.LittleEndian.AppendUint16(b, sum)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write([]byte(data))
	w.Close()
	b = append(b, z.Bytes()...)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(data)))
	return binary.LittleEndian.AppendUint32(b, uint32(len(data)))
}

// TestHttpContext_compareInputs: each pair is judged the same or different as SPEC's
// "What is compared, precisely" says, through the whole plugin.
func TestHttpContext_compareInputs(t *testing.T) {
	gz := func(data string) []byte { return gzipMember(t, data, "", false, false) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	gzipped := append(jsonResponse[:2:2], [2]string{"content-encoding", "gzip"})
	tests := []struct {
		name           string
		primaryHeaders [][2]string
		primary        []byte
		shadowHeaders  [][2]string
		shadow         []byte
		same           bool
	}{
		// Item 1: each \u escape decoded on its own, a lone surrogate U+FFFD; the
		// space before a shadow makes the texts part at once, for the one-pass check.
		{"lone surrogate, then A or B", jsonResponse, []byte(`["\uD800\u0041"]`), jsonResponse, []byte(`["\uD800\u0042"]`), false},
		{"lone surrogate, then A or B, one pass", jsonResponse, []byte(`["\uD800\u0041"]`), jsonResponse, []byte(` ["\uD800\u0042"]`), false},
		{"lone low surrogate in a key, then Z", jsonResponse, []byte(`{"\uDFAA":0}`), jsonResponse, []byte(`{"\uDFAA\u005a":0}`), false},
		{"lone surrogate, then a newline", jsonResponse, []byte(`["\uD800\n"]`), jsonResponse, []byte(`["\uD800\u000A"]`), true},
		{"lone surrogate, then letters", jsonResponse, []byte(`["\ud800abc"]`), jsonResponse, []byte(`["\ud800\u0061\u0062\u0063"]`), true},
		{"lone surrogate, then letters, one pass", jsonResponse, []byte(`["\ud800abc"]`), jsonResponse, []byte(` ["\ud800\u0061\u0062\u0063"]`), true},
		// Item 5: exact decimals at any exponent.
		{"exponents past 2^40 differ", jsonResponse, []byte(`[1e1099511627776]`), jsonResponse, []byte(`[1e1099511627777]`), false},
		{"exponents past 2^40 equal", jsonResponse, []byte(`[10e1099511627776]`), jsonResponse, []byte(`[1e1099511627777]`), true},
		{"a 30-digit exponent, one pass", jsonResponse, []byte(`[123e99999999999999999999999999]`), jsonResponse,
			[]byte(` [1.23e100000000000000000000000001]`), true},
		// Item 2: every gzip member.
		{"two gzip members against identity", gzipped, cat(gz("[1,"), gz("2]")), jsonResponse, []byte(`[1,2]`), true},
		{"two gzip members against two others", gzipped, cat(gz("[1,"), gz("2]")), gzipped, cat(gz("[1,"), gz("3]")), false},
		// Item 3: bytes after the last member: not gzip, compared as it came.
		{"a byte after the trailer", gzipped, cat(gz("[1,2]"), []byte{0}), jsonResponse, []byte(`[1,2]`), false},
		{"the same bytes after the trailer", gzipped, cat(gz("[1,2]"), []byte{0}), gzipped, cat(gz("[1,2]"), []byte{0}), true},
		// Item 4: the header CRC.
		{"a right FHCRC", gzipped, gzipMember(t, "[1,2]", "a.json", true, false), jsonResponse, []byte(`[1,2]`), true},
		{"a bad FHCRC", gzipped, gzipMember(t, "[1,2]", "a.json", true, true), jsonResponse, []byte(`[1,2]`), false},
	}
	vmTest(t, func(t *testing.T, vm types.VMContext) {
		host := start(t, vm, compareConfig(`{}`))
		name := func(c mirror.CompareCounter) string { return mirror.CompareCounterName("shadow", c) }
		sameBefore, differsBefore := counter(t, host, name(mirror.CompareSame)), counter(t, host, name(mirror.CompareDiffers))
		for _, tc := range tests {
			id, c := copyOf(t, host)
			respond(t, host, id, tc.primaryHeaders, tc.primary, 7)
			host.CompleteHttpContext(id)
			host.CallOnHttpCallResponse(c.CalloutID, tc.shadowHeaders, nil, tc.shadow)
			same, differs := counter(t, host, name(mirror.CompareSame)), counter(t, host, name(mirror.CompareDiffers))
			switch {
			case same+differs != sameBefore+differsBefore+1:
				t.Errorf("%s: the pair was not compared (%d same, %d differ)", tc.name, same-sameBefore, differs-differsBefore)
			case tc.same && same == sameBefore:
				t.Errorf("%s: judged different, want the same", tc.name)
			case !tc.same && differs == differsBefore:
				t.Errorf("%s: judged the same, want different", tc.name)
			}
			sameBefore, differsBefore = same, differs
		}
		if logs := strings.Join(host.GetCriticalLogs(), "\n"); logs != "" {
			t.Errorf("critical logs: %s", logs)
		}
	})
}

// TestModule_compareAllocations: in the module, a pair written otherwise (huge
// exponents, lone surrogates, escapes) or sent as a multi-member gzip body costs no
// allocation more than the same bytes: TinyGo puts on the heap what Go keeps on the
// stack (a local whose address is taken, for one), and the comparer must allocate
// only for the differences it finds.
func TestModule_compareAllocations(t *testing.T) {
	mods, err := bench.LoadModules("..")
	if err != nil {
		t.Fatal(err)
	}
	m := mods[slices.IndexFunc(mods, func(m bench.Module) bool { return m.Name == "meshmirror" })]
	pad := strings.Repeat("x", 200)
	primary := `{"n":[21.50,1e1099511627777,-0.005,10],"s":["\uD800\u0041","caf\u00e9"],"pad":"` + pad + `"}`
	written := `{"s": ["\ud800A", "café"], "n": [21.5, 10e1099511627776, -5e-3, 1e1], "pad": "` + pad + `"}`
	gzipped := [][2]string{{":status", "200"}, {"content-type", "application/json"}, {"content-encoding", "gzip"}}
	scenario := func(shadowHeaders [][2]string, shadow []byte) bench.Scenario {
		return bench.Scenario{
			Name:   "inputs",
			Config: `{"targets": [{"name": "shadow", "cluster": "shadow", "compare": {}}]}`,
			Request: bench.Request{
				Headers:         [][2]string{{":method", "GET"}, {":path", "/api/items"}, {":authority", "shop"}},
				ResponseHeaders: jsonResponse,
				ResponseBody:    [][]byte{[]byte(primary[:40]), []byte(primary[40:])},
			},
			Shadow: &wasmhost.Response{Headers: shadowHeaders, Body: shadow},
		}
	}
	allocs := func(sc bench.Scenario) float64 {
		t.Helper()
		// The pair is compared and judged the same, or the count says nothing.
		vm, err := bench.Start(context.Background(), m.Wasm, sc.Config, bench.Clusters(sc))
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		if err := vm.Do(&sc.Request); err != nil {
			t.Fatal(err)
		}
		if n, _ := vm.Host.Metric(mirror.CompareCounterName("shadow", mirror.CompareSame)); n != 1 {
			t.Fatalf("%s = %d, want 1: %q", mirror.CompareCounterName("shadow", mirror.CompareSame), n, sc.Shadow.Body)
		}
		a, err := bench.CountAllocs(m, sc, 20)
		if err != nil {
			t.Fatal(err)
		}
		return a.Count
	}
	same := allocs(scenario(jsonResponse, []byte(primary)))
	for _, tc := range []struct {
		name    string
		headers [][2]string
		body    []byte
	}{
		{"written otherwise", jsonResponse, []byte(written)},
		{"gzip, three members", gzipped, bytes.Join([][]byte{gzipMember(t, written[:10], "", false, false),
			gzipMember(t, written[10:30], "a.json", true, false), gzipMember(t, written[30:], "", false, false)}, nil)},
	} {
		if got := allocs(scenario(tc.headers, tc.body)); got > same {
			t.Errorf("%s: %.2f allocations a request, %.2f for the same bytes", tc.name, got, same)
		}
	}
}
