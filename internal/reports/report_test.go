package reports

import (
	"strings"
	"testing"

	"github.com/meshmirror/meshmirror/plugin/endpoint"
)

// plugin is a report as the plugin writes it (plugin/mirror/pair.go), with values.
const plugin = `{"target":"reviews-v2","method":"GET","path":"/api/items/42","primary":{"status":200,"bytes":120,"latencyMs":4},` +
	`"shadow":{"status":null,"bytes":0,"latencyMs":6},"differences":[{"part":"status","kind":"changed","where":"","primary":"200","shadow":"503"},` +
	`{"part":"body","kind":"missing","where":"items.3.price","primary":"9.99","shadow":null}]}`

func TestParse(t *testing.T) {
	r, err := Parse([]byte(plugin))
	if err != nil {
		t.Fatal(err)
	}
	if r.Target != "reviews-v2" || r.Method != "GET" || r.Path != "/api/items/42" || r.RequestID != "" ||
		r.Primary != (Answer{200, 120, 4}) || r.Shadow != (Answer{0, 0, 6}) || len(r.Differences) != 2 {
		t.Fatalf("parsed %+v", r)
	}
	d := r.Differences[1]
	if d.Place() != "body items.#.price" || d.Kind != "missing" || *d.Primary != "9.99" || d.Shadow != nil || d.Noise {
		t.Errorf("difference %+v, place %q", d, d.Place())
	}
	// The fields of issues 16 and 17: requestId, noise; and keys this receiver does not know.
	r, err = Parse([]byte(`{"requestId":"7f1c-22","later":{"x":[1]},"target":"a","method":"POST","path":"/","primary":{"status":200},` +
		`"shadow":{"status":200},"differences":[{"part":"header","kind":"extra","where":"x-version","noise":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.RequestID != "7f1c-22" || !r.Differences[0].Noise || r.Differences[0].Place() != "header x-version" {
		t.Errorf("parsed %+v", r)
	}

	tests := []struct{ name, doc, want string }{
		{"empty", ``, "not JSON: empty or cut short"},
		{"not JSON", `{"target":`, "not JSON"},
		{"array", `[1]`, "must be a JSON object, got a JSON array"},
		{"two values", plugin + plugin, "more than one JSON value"},
		{"wrong type", `{"target":7}`, "target: must be a string, got a JSON number"},
		{"nested wrong type", strings.Replace(plugin, `"bytes":120`, `"bytes":"120"`, 1), "primary.bytes: must be an integer, got a JSON string"},
		{"missing fields", `{"target":"a"}`, "method: required; path: required; primary: required; shadow: required; differences: required"},
		{"bad target", strings.Replace(plugin, `"reviews-v2"`, `"Reviews v2"`, 1), `target: must be a target name`},
		{"bad method", strings.Replace(plugin, `"GET"`, `"G T"`, 1), `method: must be an HTTP method, got "G T"`},
		{"relative path", strings.Replace(plugin, `"/api/items/42"`, `"api"`, 1), `path: must start with /, got "api"`},
		{"status out of range", strings.Replace(plugin, `"status":200`, `"status":42`, 1), "primary.status: must be an HTTP status (100 to 999) or null, got 42"},
		{"negative latency", strings.Replace(plugin, `"latencyMs":6`, `"latencyMs":-1`, 1), "shadow.latencyMs: must not be negative, got -1"},
		{"no differences", strings.Replace(plugin, plugin[strings.Index(plugin, `[`):len(plugin)-1], `[]`, 1), "differences: empty"},
		{"bad kind", strings.Replace(plugin, `"missing"`, `"moved"`, 1), `differences[1].kind: must be one of changed, missing, extra, got "moved"`},
		{"bad part", strings.Replace(plugin, `"part":"status"`, `"part":"trailer"`, 1), `differences[0].part: must be one of status, header, body, got "trailer"`},
		{"noise not a bool", strings.Replace(plugin, `"where":""`, `"where":"","noise":"yes"`, 1), "differences.noise: must be true or false, got a JSON string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %+v, %v; want an error with %q", r, err, tc.want)
			}
		})
	}
}

func TestDifference_Place(t *testing.T) {
	tests := []struct {
		d    Difference
		want string
	}{
		{Difference{Part: "status"}, "status"},
		{Difference{Part: "header", Where: "content-type"}, "header content-type"},
		{Difference{Part: "body"}, "body"},
		{Difference{Part: "body", Where: "items.12.tags.0"}, "body items.#.tags.#"},
		{Difference{Part: "header", Where: "x-1"}, "header x-1"},
	}
	for _, tc := range tests {
		if got := tc.d.Place(); got != tc.want {
			t.Errorf("%+v: place %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzParse: no document makes Parse panic, and a report it takes names a target,
// method and path the page can show, with one to 256 differences.
func FuzzParse(f *testing.F) {
	f.Add([]byte(plugin))
	f.Add([]byte(`{"target":"a","method":"GET","path":"/","primary":{"status":null},"shadow":{},"differences":[{"part":"body","kind":"extra","where":"a.0","noise":true}]}`))
	f.Add([]byte(`{"target":"a","differences":[{"noise":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if r != nil || err.Error() == "" {
				t.Fatalf("Parse = %+v, %q", r, err)
			}
			return
		}
		if checkName(r.Target) != "" || checkMethod(r.Method) != "" || checkPath(r.Path) != "" ||
			len(r.Differences) == 0 || len(r.Differences) > maxDifferences {
			t.Fatalf("Parse took %+v", r)
		}
		for _, d := range r.Differences {
			if p := d.Place(); !strings.HasPrefix(p, d.Part) {
				t.Fatalf("place %q of part %q", p, d.Part)
			}
		}
		endpoint.Of(r.Path)
	})
}
