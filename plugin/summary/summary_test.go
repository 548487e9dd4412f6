package summary

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/diff"
)

// doc is SPEC.md's summary document, as encoding/json reads it.
type doc struct {
	Kind      string `json:"kind"`
	Target    string `json:"target"`
	From, To  int64
	Endpoints []struct {
		Method, Endpoint              string
		Same, Differs, Noise, Skipped uint32
		Places                        []struct {
			Place          string
			Differs, Noise uint32
		}
		PrimaryMs, ShadowMs []uint32
	}
}

func decode(t *testing.T, b []byte) doc {
	t.Helper()
	var d doc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("the summary is not SPEC's JSON: %v\n%s", err, b)
	}
	return d
}

func body(where string, noise bool) diff.Difference {
	return diff.Difference{Part: diff.PartBody, Where: where, Noise: noise, Hash: diff.PlaceOf(diff.PartBody, PlaceName(&diff.Difference{Part: diff.PartBody, Where: where}))}
}

func TestTable(t *testing.T) {
	var tab Table
	status := diff.Difference{Part: diff.PartStatus, Hash: diff.StatusPlace}
	tab.Add("GET", "/api/items/42?page=2", Same, nil, 0, 3)
	tab.Add("GET", "/api/items/43", Differs, []diff.Difference{body("items.0.price", false), body("items.1.price", false), status}, 7, 5000)
	tab.Add("GET", "/api/items/44", Noise, []diff.Difference{body("items.3.at", true)}, 2, 10001)
	tab.Add("GET", "/api/items/45", Skipped, nil, 0, 0)
	tab.Add("POST", "/api/items/45", Differs, []diff.Difference{body("id", false)}, 1, 1)
	if tab.Pairs() != 5 {
		t.Errorf("Pairs = %d, want 5", tab.Pairs())
	}
	d := decode(t, tab.Append(nil, "reviews-v2", 1765150000000, 1765150010000))
	if d.Kind != "summary" || d.Target != "reviews-v2" || d.From != 1765150000000 || d.To != 1765150010000 || len(d.Endpoints) != 2 {
		t.Fatalf("summary %+v", d)
	}
	get := d.Endpoints[0]
	if get.Method != "GET" || get.Endpoint != "/api/items/{id}" || get.Same != 1 || get.Differs != 1 || get.Noise != 1 || get.Skipped != 1 {
		t.Errorf("GET endpoint %+v", get)
	}
	// items.0.price and items.1.price are one place, counted once for the pair; most first.
	wantPlaces := `[{body items.#.price 1 0} {status 1 0} {body items.#.at 0 1}]`
	if got := fmtPlaces(get.Places); got != wantPlaces {
		t.Errorf("places %s, want %s", got, wantPlaces)
	}
	// Buckets, inclusive upper bounds: 0 and 1 in the first, 7 in ≤10, 5000 in ≤5000,
	// 10001 in +Inf; skipped pairs in none.
	wantPrimary := []uint32{1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	wantShadow := []uint32{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}
	if !reflect.DeepEqual(get.PrimaryMs, wantPrimary) || !reflect.DeepEqual(get.ShadowMs, wantShadow) {
		t.Errorf("primaryMs %v, shadowMs %v; want %v, %v", get.PrimaryMs, get.ShadowMs, wantPrimary, wantShadow)
	}
	if post := d.Endpoints[1]; post.Method != "POST" || post.Endpoint != "/api/items/{id}" || post.Differs != 1 {
		t.Errorf("POST endpoint %+v", post)
	}
	tab.Reset()
	if tab.Pairs() != 0 || len(decode(t, tab.Append(nil, "t", 0, 0)).Endpoints) != 0 {
		t.Error("Reset left counts")
	}
}

func fmtPlaces(ps []struct {
	Place          string
	Differs, Noise uint32
}) string {
	s := "["
	for i, p := range ps {
		if i > 0 {
			s += " "
		}
		s += "{" + p.Place + " " + strconv.Itoa(int(p.Differs)) + " " + strconv.Itoa(int(p.Noise)) + "}"
	}
	return s + "]"
}

// TestTable_bounded: endpoints beyond MaxEndpoints count under Other, places beyond
// MaxPlaces are not counted, and the table's size does not grow with the traffic.
func TestTable_bounded(t *testing.T) {
	var tab Table
	for i := range 1000 {
		var diffs []diff.Difference
		for j := range 20 {
			diffs = append(diffs, body("k"+strconv.Itoa(i%3)+"x"+strconv.Itoa(j), false))
		}
		tab.Add("GET", "/e"+strconv.Itoa(i%100)+"/x", Differs, diffs, 1, 1)
	}
	d := decode(t, tab.Append(nil, "t", 0, 1))
	if len(d.Endpoints) != MaxEndpoints+1 {
		t.Fatalf("%d endpoints, want %d and Other", len(d.Endpoints), MaxEndpoints)
	}
	other := d.Endpoints[MaxEndpoints]
	total := uint32(0)
	for _, e := range d.Endpoints {
		total += e.Differs
		if len(e.Places) > MaxPlaces {
			t.Errorf("%s has %d places", e.Endpoint, len(e.Places))
		}
	}
	if other.Method != "" || other.Endpoint != Other || other.Differs != 36*10 || total != 1000 {
		t.Errorf("Other %+v; %d pairs in all, want 1000", other, total)
	}
	if n := testing.AllocsPerRun(100, func() { tab.Add("GET", "/e1/x", Differs, nil, 1, 1) }); n != 0 {
		t.Errorf("a pair of a known endpoint allocates %v times", n)
	}
}

func TestPlaceName(t *testing.T) {
	tests := []struct {
		d    diff.Difference
		want string
	}{
		{diff.Difference{Part: diff.PartStatus}, "status"},
		{diff.Difference{Part: diff.PartHeader, Where: "content-type"}, "header content-type"},
		{diff.Difference{Part: diff.PartBody}, "body"},
		{diff.Difference{Part: diff.PartBody, Where: "items.3.price"}, "body items.#.price"},
		{diff.Difference{Part: diff.PartBody, Where: "0"}, "body #"},
		{diff.Difference{Part: diff.PartBody, Where: `a\.1.2`}, `body a\.1.#`},
		{diff.Difference{Part: diff.PartBody, Where: `v2.x1`}, `body v2.x1`},
	}
	for _, tc := range tests {
		if got := PlaceName(&tc.d); got != tc.want {
			t.Errorf("PlaceName(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzTable: whatever the paths, methods and places, Append writes JSON of SPEC's
// shape whose counts add up to the pairs added.
func FuzzTable(f *testing.F) {
	f.Add("GET", "/api/items/42", "items.0.price", uint8(1), int64(3))
	f.Add("", "", "", uint8(3), int64(-1))
	f.Add("P\"OST", "/\xff/\u2028", `a\`, uint8(2), int64(1<<62))
	f.Fuzz(func(t *testing.T, method, path, where string, outcome uint8, ms int64) {
		var tab Table
		o := Outcome(outcome % 4)
		for range 3 {
			tab.Add(method, path, o, []diff.Difference{{Part: diff.PartBody, Where: where, Hash: 1}}, ms, ms)
		}
		d := decode(t, tab.Append(nil, "t", 0, 1))
		e := d.Endpoints[0]
		if e.Same+e.Differs+e.Noise+e.Skipped != 3 {
			t.Fatalf("counts %+v, want 3 pairs", e)
		}
	})
}

// BenchmarkTableAdd is the cost a summary adds to a compared pair: one Add of an
// endpoint among 64 known ones, with one difference.
func BenchmarkTableAdd(b *testing.B) {
	var tab Table
	for i := range MaxEndpoints {
		tab.Add("GET", "/api/v1/e"+strconv.Itoa(i)+"/items", Same, nil, 1, 1)
	}
	diffs := []diff.Difference{body("items.3.price", false)}
	b.ReportAllocs()
	for b.Loop() {
		tab.Add("GET", "/api/v1/e63/items/7d1c0e5a-0000-4000-8000-000000000000?page=2", Differs, diffs, 12, 15)
	}
}
