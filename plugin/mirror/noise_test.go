package mirror

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/diff"
	"github.com/meshmirror/meshmirror/plugin/internal/text"

	"github.com/tidwall/gjson"
)

// A target v2 with its baseline v1, a second instance of the primary's version.
const baselineConfig = `{"targets":[
	{"name":"v2","cluster":"c","compare":{"baseline":"v1","report":{"cluster":"r","perSecond":1000}}},
	{"name":"v1","cluster":"c","compare":{}}]}`

// triple drives one request copied to a target and its baseline.
type triple struct {
	t      *testing.T
	m      *Mirror
	r      Request
	copies []Copy
	now    int64
}

func startTriple(t *testing.T, m *Mirror, now int64) *triple {
	t.Helper()
	x := &triple{t: t, m: m, now: now}
	if !m.Start(&x.r, getItems) {
		t.Fatal("not selected")
	}
	x.copies = m.Finish(&x.r, nil, now, nil)
	for _, c := range x.copies {
		m.Sent(c.Target)
	}
	return x
}

func (x *triple) primary(body string) {
	x.m.ResponseHeaders(&x.r, jsonHeaders)
	x.m.ResponseBody(&x.r, len(body), []byte(body))
	x.m.ResponseEnd(&x.r, x.now+1e6)
}

// answer answers the copy of target i with body; "" is a failed copy.
func (x *triple) answer(i int, body string) {
	for _, c := range x.copies {
		if c.Target != i {
			continue
		}
		a := Answer{Status: "200", Headers: jsonHeaders, Size: len(body), Body: []byte(body)}
		if body == "" {
			a = Answer{}
		}
		failed := x.m.Answered(i, false, &a, 2) == ResponseFailed
		x.m.ShadowAnswered(c.Pair, failed, &a, 2, x.now+2e6)
		return
	}
	x.t.Fatalf("no copy for target %d", i)
}

func page(at, price string) string {
	return `{"at":"` + at + `","items":[{"id":1,"price":` + price + `},{"id":2,"price":5}]}`
}

// TestNoiseEveryOrder: on a request copied to both, a difference of the target where
// the baseline differs too is noise, whatever order the three answers come in.
func TestNoiseEveryOrder(t *testing.T) {
	orders := [][3]string{{"p", "t", "b"}, {"p", "b", "t"}, {"t", "p", "b"}, {"t", "b", "p"}, {"b", "p", "t"}, {"b", "t", "p"}}
	for _, order := range orders {
		for _, tc := range []struct {
			name           string
			target, base   string
			want           CompareCounter
			real, reported int
		}{
			{"only noise", page("12:01", "9.99"), page("12:02", "9.99"), CompareNoise, 0, 0},
			{"noise and a regression", page("12:01", "10.99"), page("12:02", "9.99"), CompareDiffers, 1, 1},
			{"the baseline agrees: a regression", page("12:01", "9.99"), page("12:00", "9.99"), CompareDiffers, 1, 1},
			{"the baseline fails: nothing learned yet", page("12:01", "9.99"), "", CompareDiffers, 1, 1},
		} {
			t.Run(strings.Join(order[:], "")+"/"+tc.name, func(t *testing.T) {
				m, rec := newMirror(t, baselineConfig)
				x := startTriple(t, m, 1e9)
				for _, who := range order {
					switch who {
					case "p":
						x.primary(page("12:00", "9.99"))
					case "t":
						x.answer(0, tc.target)
					case "b":
						x.answer(1, tc.base)
					}
				}
				if rec.compare(0, tc.want) != 1 {
					t.Fatalf("v2: %s = %d; same %d differs %d noise %d", compareCounterNames[tc.want], rec.compare(0, tc.want),
						rec.compare(0, CompareSame), rec.compare(0, CompareDiffers), rec.compare(0, CompareNoise))
				}
				if n := rec.compare(0, CompareBodyDiffers); n != tc.real {
					t.Errorf("compare_body_differs = %d, want %d: only real differences count in the parts", n, tc.real)
				}
				v := m.Verdicts()
				reports := 0
				for _, vd := range v {
					if vd.Target == 0 && vd.Report != nil {
						reports++
						checkNoiseReport(t, vd.Report.Body)
						atIsNoise := gjson.GetBytes(vd.Report.Body, `differences.#(where=="at").noise`).Bool()
						if line := m.LogLine(&vd); atIsNoise && strings.Contains(line, "at body at ") {
							t.Errorf("the log names a noise difference first: %s", line)
						}
					}
				}
				if reports != tc.reported {
					t.Errorf("%d reports of v2, want %d", reports, tc.reported)
				}
				if m.Pairs() != 0 || len(m.waiting) != 0 {
					t.Errorf("%d pairs live, %d waiting at the end", m.Pairs(), len(m.waiting))
				}
			})
		}
	}
}

// checkNoiseReport: each difference says whether it is noise; the timestamp is, when
// the baseline differs there too.
func checkNoiseReport(t *testing.T, body []byte) {
	t.Helper()
	for _, d := range gjson.GetBytes(body, "differences").Array() {
		if !d.Get("noise").Exists() {
			t.Errorf("a difference without noise: %s", body)
		}
		if d.Get("where").String() == "items.0.price" && d.Get("noise").Bool() {
			t.Errorf("the regression is marked noise: %s", body)
		}
	}
}

// TestNoiseLearned: on requests the baseline did not answer, a place is noise when the
// baseline has differed there in at least 2 and 1% of its pairs, and the target no
// more than twice as often.
func TestNoiseLearned(t *testing.T) {
	m, rec := newMirror(t, baselineConfig)
	// 100 requests copied to both: the timestamp differs on every answer of both,
	// the id on 4 of the baseline's and on every one of the target's. Per request, the
	// target's pair is noise only where the baseline's id differs too.
	changeID := func(s string) string { return strings.Replace(s, `"id":2`, `"id":3`, 1) }
	for i := range 100 {
		x := startTriple(t, m, int64(i+1)*1e9)
		x.primary(page("12:00", "9.99"))
		x.answer(0, changeID(page(fmt.Sprint(i), "9.99")))
		base := page(fmt.Sprint(i), "9.99")
		if i%33 == 0 {
			base = changeID(base)
		}
		x.answer(1, base)
	}
	if noise, differs := rec.compare(0, CompareNoise), rec.compare(0, CompareDiffers); noise != 4 || differs != 96 {
		t.Fatalf("compare_noise %d, compare_differs %d; want 4 and 96", noise, differs)
	}
	notices := m.Notices()
	// Now the baseline fails: the target's differences are judged by what was learned.
	for _, tc := range []struct {
		name, target string
		want         CompareCounter
	}{
		{"the timestamp: learned as noise", page("x", "9.99"), CompareNoise},
		{"a price: never seen differ at the baseline", page("12:00", "10.99"), CompareDiffers},
		{"the id: 4% at the baseline, 100% at the target", changeID(page("12:00", "9.99")), CompareDiffers},
	} {
		before := rec.compare(0, tc.want)
		for range 3 {
			x := startTriple(t, m, 1e12)
			x.primary(page("12:00", "9.99"))
			x.answer(0, tc.target)
			x.answer(1, "")
		}
		if got := rec.compare(0, tc.want) - before; got != 3 {
			t.Errorf("%s: %s moved by %d, want 3", tc.name, compareCounterNames[tc.want], got)
		}
	}
	notices = append(notices, m.Notices()...)
	if len(notices) != 1 || !strings.Contains(notices[0], "target v2: body at now counts as noise") {
		t.Errorf("notices %q, want one that body at is noise", notices)
	}
	// Every pair counts once.
	pairs := rec.compare(0, CompareSame) + rec.compare(0, CompareDiffers) + rec.compare(0, CompareNoise) + rec.compare(0, CompareSkipped)
	if pairs != 109 {
		t.Errorf("v2 counted %d pairs, want 109", pairs)
	}
}

// TestNoiseDecays: a place the baseline stops differing at stops being noise, about a
// window of baseline pairs later; and the table keeps at most 64 places.
func TestNoiseDecays(t *testing.T) {
	m, _ := newMirror(t, baselineConfig)
	table := m.targets[0].noise
	at := diff.Difference{Part: diff.PartBody, Where: "at", Hash: text.FNV1aString(diff.BodyPlacePrefix, "at")}
	for range 40 {
		table.count([]diff.Difference{at}, true)
	}
	if !table.noise(at.Hash) {
		t.Fatal("a place the baseline differed at in 40 of 40 pairs is not noise")
	}
	for range 5000 {
		table.count(nil, true)
	}
	if table.noise(at.Hash) {
		t.Errorf("still noise after 5,000 baseline pairs that agree: counts %+v of %d", *table.find(at.Hash), table.baselinePairs)
	}
	for i := range 200 {
		d := diff.Difference{Part: diff.PartBody, Where: fmt.Sprint("k", i)}
		d.Hash = text.FNV1aString(diff.BodyPlacePrefix, d.Where)
		table.count([]diff.Difference{d}, true)
	}
	if table.n != maxNoisePlaces || table.find(at.Hash) != nil {
		t.Errorf("%d places kept, want %d, the least recently seen gone", table.n, maxNoisePlaces)
	}
}

// TestAllowExtra: a key the shadow adds is no difference; one it drops still is.
func TestAllowExtra(t *testing.T) {
	for _, tc := range []struct {
		shadow string
		want   CompareCounter
	}{{`{"a":1,"b":2,"new":{"x":1}}`, CompareSame}, {`{"a":1}`, CompareDiffers}, {`{"a":1,"b":[3]}`, CompareDiffers}} {
		m, rec := newMirror(t, compareConfig(`{"allowExtra":true}`))
		p := startPair(t, m, 1e9)
		p.primary(jsonHeaders, `{"a":1,"b":2}`)
		p.shadow(jsonHeaders, tc.shadow)
		if rec.compare(0, tc.want) != 1 {
			t.Errorf("shadow %s: want %s", tc.shadow, compareCounterNames[tc.want])
		}
	}
}

// TestNoiseWaitingValuesKept: a pair that waits for its baseline's pair keeps the
// values of its differences (diff.Cut copies them), though they were read out of gzip
// bodies decoded into the inflater's buffers, which the baseline's pair then decodes
// into.
func TestNoiseWaitingValuesKept(t *testing.T) {
	m, _ := newMirror(t, `{"targets":[
		{"name":"v2","cluster":"c","compare":{"baseline":"v1","includeValues":true,"report":{"cluster":"r","perSecond":1000}}},
		{"name":"v1","cluster":"c","compare":{"includeValues":true}}]}`)
	gzipped := append(slices.Clone(jsonHeaders), [2]string{"content-encoding", "gzip"})
	x := startTriple(t, m, 1e9)
	primary := gzipBytes(t, page("12:00", "9.99"))
	x.m.ResponseHeaders(&x.r, gzipped)
	x.m.ResponseBody(&x.r, len(primary), primary)
	x.m.ResponseEnd(&x.r, x.now+1e6)
	answer := func(i int, body string) {
		zipped := gzipBytes(t, body)
		for _, c := range x.copies {
			if c.Target == i {
				a := Answer{Status: "200", Headers: gzipped, Size: len(zipped), Body: zipped}
				x.m.Answered(i, false, &a, 2)
				x.m.ShadowAnswered(c.Pair, false, &a, 2, x.now+2e6)
			}
		}
	}
	answer(0, page("12:01", "10.99")) // decided, waits for v1's pair
	if len(m.waiting) != 1 {
		t.Fatalf("%d pairs waiting, want v2's", len(m.waiting))
	}
	answer(1, page("12:02", "9.99")) // decodes into the same buffers
	for _, v := range m.Verdicts() {
		if v.Target != 0 || v.Report == nil {
			continue
		}
		price := gjson.GetBytes(v.Report.Body, `differences.#(where=="items.0.price")`)
		if got := price.Get("primary").String() + " " + price.Get("shadow").String(); got != "9.99 10.99" {
			t.Errorf("items.0.price reported as %q, want \"9.99 10.99\": %s", got, v.Report.Body)
		}
		return
	}
	t.Fatal("no report of v2")
}

func gzipBytes(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
