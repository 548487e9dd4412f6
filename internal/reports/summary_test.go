package reports

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// summaryDoc is SPEC's example summary, as the plugin sends it.
const summaryDoc = `{"kind":"summary","target":"reviews-v2","from":1765150000000,"to":1765150010000,"endpoints":[
 {"method":"GET","endpoint":"/api/items/{id}","same":120,"differs":3,"noise":9,"skipped":1,
  "places":[{"place":"body items.#.price","differs":3,"noise":0}],
  "primaryMs":[0,4,90,30,5,1,0,0,0,0,0,0,0,0],"shadowMs":[0,1,60,50,14,5,2,0,0,0,0,0,0,0]},
 {"method":"","endpoint":"(other)","same":2,"differs":0,"noise":0,"skipped":0,"places":[],
  "primaryMs":[2,0,0,0,0,0,0,0,0,0,0,0,0,0],"shadowMs":[0,0,0,0,0,0,0,0,0,0,0,0,0,2]}]}`

func TestParseSummary(t *testing.T) {
	s, err := ParseSummary([]byte(summaryDoc))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Endpoints[0]
	if s.Target != "reviews-v2" || s.From != 1765150000000 || s.To != 1765150010000 || len(s.Endpoints) != 2 ||
		e.Method != "GET" || e.Endpoint != "/api/items/{id}" || e.Same != 120 || e.Differs != 3 || e.Noise != 9 || e.Skipped != 1 ||
		len(e.Places) != 1 || e.Places[0] != (SummaryPlace{"body items.#.price", 3, 0}) ||
		e.PrimaryMs != [Buckets]int64{0, 4, 90, 30, 5, 1} || e.ShadowMs[6] != 2 ||
		s.Endpoints[1].Endpoint != OtherEndpoint || s.Endpoints[1].ShadowMs[13] != 2 {
		t.Fatalf("parsed %+v", s)
	}
	// A place named twice is one place, its counts added up to at most the pairs'.
	s, err = ParseSummary([]byte(strings.Replace(summaryDoc, `"noise":0}]`, `"noise":0},{"place":"body items.#.price","differs":2,"noise":4}]`, 1)))
	if err != nil || len(s.Endpoints[0].Places) != 1 || s.Endpoints[0].Places[0] != (SummaryPlace{"body items.#.price", 3, 4}) {
		t.Errorf("a place twice: %+v, %v", s, err)
	}
	// Keys it does not know are left alone; places may be absent.
	if _, err := ParseSummary([]byte(strings.Replace(strings.Replace(summaryDoc, `"places":[],`, ``, 1), `"kind"`, `"later":{"x":1},"kind"`, 1))); err != nil {
		t.Errorf("with an unknown key and no places: %v", err)
	}

	first := func(old, new string) string {
		if !strings.Contains(summaryDoc, old) {
			t.Fatalf("the example lacks %q", old)
		}
		return strings.Replace(summaryDoc, old, new, 1)
	}
	tests := []struct{ name, doc, want string }{
		{"empty", ``, "not JSON: empty or cut short"},
		{"array", `[]`, "must be a JSON object, got a JSON array"},
		{"two values", summaryDoc + "{}", "more than one JSON value"},
		{"missing fields", `{"kind":"summary"}`, "target: required; from: required; to: required; endpoints: required"},
		{"bad target", first(`"reviews-v2"`, `"Reviews"`), "target: must be a target name"},
		{"target not a string", first(`"reviews-v2"`, `7`), "target: must be a string, got a JSON number"},
		{"from a string", first(`1765150000000`, `"1765150000000"`), "from: must be a whole number, got a JSON string"},
		{"to before from", first(`1765150010000`, `1765140000000`), "to: must not be before from (1765150000000), got 1765140000000"},
		{"fraction", first(`"same":120`, `"same":120.5`), "endpoints[0].same: must be a whole number, got 120.5"},
		{"exponent", first(`"same":120`, `"same":1.2e2`), "endpoints[0].same: must be a whole number, got 1.2e2"},
		{"negative", first(`"skipped":1`, `"skipped":-1`), "endpoints[0].skipped: must not be negative, got -1"},
		{"huge", first(`"skipped":1`, `"skipped":99999999999999999999`), "endpoints[0].skipped: must be at most"},
		{"no endpoints", `{"kind":"summary","target":"a","from":1,"to":2,"endpoints":[]}`, "endpoints: empty"},
		{"endpoint not an object", `{"kind":"summary","target":"a","from":1,"to":2,"endpoints":[1]}`, "endpoints[0]: must be an object, got a JSON number"},
		{"13 counts", first(`[0,4,90,30,5,1,0,0,0,0,0,0,0,0]`, `[0,4,90,30,5,1,0,0,0,0,0,0,0]`), "endpoints[0].primaryMs: must have 14 counts"},
		{"15 counts", strings.Replace(summaryDoc, `[0,0,0,0,0,0,0,0,0,0,0,0,0,2]`, `[0,0,0,0,0,0,0,0,0,0,0,0,0,0,2]`, 1), "endpoints[1].shadowMs: must have 14 counts (pairs up to 1, 2, 5"},
		{"bucket not a number", first(`[0,4,90,`, `[0,null,90,`), "endpoints[0].primaryMs[1]: must be a whole number, got a JSON null"},
		{"buckets over the pairs", first(`[0,4,90,`, `[0,7,90,`), "endpoints[0].primaryMs: counts 133 pairs, more than the 132 compared (same + differs + noise)"},
		{"time past 9999", first(`1765150010000`, `253402300800000`), "to: must be at most 253402300799999, got 253402300800000"},
		{"missing shadowMs", first(`,"shadowMs":[0,1,60,50,14,5,2,0,0,0,0,0,0,0]`, ``), "endpoints[0].shadowMs: required"},
		{"bad method", first(`"GET"`, `"G T"`), `endpoints[0].method: must be an HTTP method, got "G T"`},
		{"empty method", first(`"GET"`, `""`), `endpoints[0].method: required: "" is only for endpoint "(other)"`},
		{"method on other", strings.Replace(summaryDoc, `"method":""`, `"method":"GET"`, 1), `endpoints[1].method: must be "" for endpoint "(other)", got "GET"`},
		{"relative endpoint", first(`"/api/items/{id}"`, `"api"`), `endpoints[0].endpoint: must start with /, got "api" (or be "(other)")`},
		{"endpoint twice", strings.Replace(summaryDoc, `"method":"","endpoint":"(other)","same":2`, `"method":"GET","endpoint":"/api/items/{id}","same":2`, 1),
			"endpoints[1]: GET /api/items/{id} is also endpoints[0]"},
		{"place not named", first(`"place":"body items.#.price"`, `"place":""`), "endpoints[0].places[0].place: empty"},
		{"place over the pairs", first(`"place":"body items.#.price","differs":3`, `"place":"body items.#.price","differs":4`),
			"endpoints[0].places[0].differs: 4, more than the endpoint's differing pairs (3)"},
		{"place noise over the pairs", first(`"differs":3,"noise":0}`, `"differs":3,"noise":13}`),
			"endpoints[0].places[0].noise: 13, more than the endpoint's differing and noise pairs (12)"},
		{"places not an array", first(`"places":[{"place":"body items.#.price","differs":3,"noise":0}]`, `"places":{}`), "endpoints[0].places: must be an array, got a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSummary([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseSummary = %+v, %v; want an error with %q", s, err, tc.want)
			}
		})
	}
	// Every problem at once, at most 8 and a count of the rest.
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf(`{"method":"GET","endpoint":"/%d"}`, i))
	}
	_, err = ParseSummary([]byte(`{"kind":"summary","target":"a","from":1,"to":2,"endpoints":[` + strings.Join(many, ",") + `]}`))
	if err == nil || !strings.HasPrefix(err.Error(), "endpoints[0].same: required; endpoints[0].differs: required") || !strings.HasSuffix(err.Error(), "and 64 more") {
		t.Errorf("twelve endpoints without counts: %v", err)
	}
}

// TestParseDocument: the receiver tells reports from summaries by kind.
func TestParseDocument(t *testing.T) {
	d, err := parseDocument([]byte(summaryDoc))
	if err != nil || d.summary == nil || d.report != nil {
		t.Errorf("a summary: %+v, %v", d, err)
	}
	for _, report := range []string{plugin, strings.Replace(plugin, `{"target"`, `{"kind":"pair","target"`, 1)} {
		if d, err := parseDocument([]byte(report)); err != nil || d.report == nil || d.summary != nil {
			t.Errorf("a report: %+v, %v", d, err)
		}
	}
	tests := []struct{ name, doc, want string }{
		{"unknown kind", strings.Replace(summaryDoc, `"summary"`, `"total"`, 1), `kind: must be "pair" or "summary" (or absent, for a report), got "total"`},
		{"kind not a string", strings.Replace(summaryDoc, `"summary"`, `1`, 1), "kind: must be a string, got 1"},
		{"not JSON", `{"kind":`, "not JSON"},
		{"a report missing fields", `{"kind":"pair","target":"a"}`, "method: required"},
		{"a summary with keys that differ in case", strings.Replace(summaryDoc, `"target":"reviews-v2"`, `"target":"reviews-v2","TARGET":"other"`, 1), `key "TARGET" repeats "target"`},
		{"a summary with a repeated key", strings.Replace(summaryDoc, `"same":120`, `"same":120,"same":0`, 1), `"same"`},
		{"a summary of the far future", strings.Replace(summaryDoc, `"to":1765150010000`, `"to":99999999999999`, 1), "ahead of the receiver's clock, more than 1h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := parseDocument([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseDocument = %+v, %v; want an error with %q", d, err, tc.want)
			}
		})
	}
}

// FuzzParseSummary: no document makes ParseSummary panic, and a summary it takes has
// endpoints whose buckets count no more pairs than were compared.
func FuzzParseSummary(f *testing.F) {
	f.Add([]byte(summaryDoc))
	f.Add([]byte(`{"kind":"summary","target":"a","from":1,"to":2,"endpoints":[{"method":"GET","endpoint":"/"}]}`))
	f.Add([]byte(`{"kind":"summary","endpoints":[{"places":[{"place":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSummary(data)
		if err != nil {
			if s != nil || err.Error() == "" {
				t.Fatalf("ParseSummary = %+v, %q", s, err)
			}
			return
		}
		if checkName(s.Target) != "" || s.From > s.To || len(s.Endpoints) == 0 {
			t.Fatalf("ParseSummary took %+v", s)
		}
		for _, e := range s.Endpoints {
			var p, sh int64
			for b := range Buckets {
				p, sh = p+e.PrimaryMs[b], sh+e.ShadowMs[b]
			}
			if c := e.Same + e.Differs + e.Noise; p > c || sh > c {
				t.Fatalf("buckets %d and %d for %d compared pairs", p, sh, c)
			}
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatal(err)
		}
	})
}
