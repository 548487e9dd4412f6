package reports

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestParse_repeatedKeys: a document with a key twice, or with keys that differ only
// in case (which encoding/json takes for one, the last winning), is refused with the
// keys named, wherever the object is; keys alike in different objects are fine.
func TestParse_repeatedKeys(t *testing.T) {
	rest := strings.TrimPrefix(plugin, `{"target":"reviews-v2",`)
	tests := []struct{ name, doc, want string }{
		{"differ in case", `{"target":"first","TARGET":"second",` + rest, `key "TARGET" repeats "target"`},
		{"repeated", `{"target":"first","target":"second",` + rest, `key "target" appears twice`},
		{"repeated, the second last", `{"target":"first",` + strings.TrimSuffix(rest, "}") + `,"target":"second"}`, `key "target" appears twice`},
		{"in a difference", strings.Replace(plugin, `"kind":"missing"`, `"kind":"missing","Kind":"extra"`, 1), `differences[1]: key "Kind" repeats "kind"`},
		{"in an answer", strings.Replace(plugin, `"status":200,`, `"status":200,"Status":503,`, 1), `primary: key "Status" repeats "status"`},
		{"Kelvin sign", strings.Replace(plugin, `"kind":"missing"`, `"kind":"missing","\u212aind":"extra"`, 1), "differences[1]: key \"\u212aind\" repeats \"kind\""},
		{"long s", strings.Replace(plugin, `"shadow":{`, `"\u017fhadow":{},"shadow":{`, 1), "key \"shadow\" repeats \"\u017fhadow\""},
		{"in a key this receiver does not know", `{"later":{"x":[{"a":1,"b":2,"A":3}]},` + strings.TrimPrefix(plugin, "{"), `later.x[0]: key "A" repeats "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s) = %+v, %v; want an error with %s", tc.doc, r, err, tc.want)
			}
		})
	}
	// The same key in objects of their own, and values that look like keys.
	fine := `{"later":{"target":"x","list":[{"a":1},{"a":2}],"s":"target"},` + strings.TrimPrefix(plugin, "{")
	if _, err := Parse([]byte(fine)); err != nil {
		t.Errorf("Parse(%s): %v", fine, err)
	}
	if !json.Valid([]byte(fine)) {
		t.Fatal("the test's document is not JSON")
	}
	// Why the Kelvin sign and the long s count: encoding/json fills kind from them.
	var d struct{ Kind, Shadow string }
	if err := json.Unmarshal([]byte(`{"\u212aind":"k","\u017fhadow":"s"}`), &d); err != nil || d.Kind != "k" || d.Shadow != "s" {
		t.Errorf("encoding/json read %+v, %v: it no longer folds K and ſ, and foldKey should follow it", d, err)
	}
}

// TestServer_repeatedKeys: the receiver answers 400 naming the key, and stores nothing.
func TestServer_repeatedKeys(t *testing.T) {
	ts, _, store := receiver(t)
	rest := strings.TrimPrefix(plugin, `{"target":"reviews-v2",`)
	for doc, want := range map[string]string{
		`{"target":"first","TARGET":"second",` + rest: `key "TARGET" repeats "target"`,
		`{"target":"first","target":"second",` + rest: `key "target" appears twice`,
	} {
		if code, msg := post(t, ts.URL, doc); code != http.StatusBadRequest || !strings.Contains(msg, want) {
			t.Errorf("POST %s: %d %q, want 400 with %s", doc, code, msg, want)
		}
	}
	if n, _, err := store.Totals(t.Context()); err != nil || n != 0 {
		t.Errorf("%d reports stored, %v; want none", n, err)
	}
}
