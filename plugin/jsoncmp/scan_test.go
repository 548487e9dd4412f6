package jsoncmp

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// alphabet is the bytes string scanning tells apart, and bytes around them.
var alphabet = []byte{'"', '\\', 0, 0x1f, ' ', '!', 'a', 'u', '0', 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xff}

// randomText is n bytes, half of them from alphabet, half anything.
func randomText(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if r.IntN(2) == 0 {
			b[i] = alphabet[r.IntN(len(alphabet))]
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// special reports whether c may end a string's plain text.
func special(c byte) bool { return c == '"' || c == '\\' || c < ' ' }

// TestPlainTextStopsAtFirst checks the word test scanString and the scanner rely on:
// plainText stops at the first quote, backslash or control character from where it
// starts, and at the end when there is none, whatever the other bytes are.
func TestPlainTextStopsAtFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		data := randomText(r, r.IntN(40))
		for i := range data {
			if special(data[i]) && r.IntN(3) > 0 { // most texts run plain for a while
				data[i] = 'x'
			}
		}
		from := r.IntN(len(data) + 1)
		want := len(data)
		for i := from; i < len(data); i++ {
			if special(data[i]) {
				want = i
				break
			}
		}
		if got := plainText(data, from); got != want {
			t.Fatalf("plainText(%q, %d) = %d, want %d", data, from, got, want)
		}
	}
}

// TestSameStrings checks sameStrings, whose word test marks where two strings part,
// against scanning and unescaping each on its own: pairs of strings alike up to a
// random byte, which is changed, or alike throughout, with and without escapes.
func TestSameStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pieces := []string{`\"`, `\\`, `\n`, `\u0041`, `\ud83d\ude00`, `\/`, "A", "é"}
	var c jsonComparer
	for range 100000 {
		var text strings.Builder
		for range r.IntN(6) {
			text.WriteString(strings.Repeat("x", r.IntN(12)))
			if r.IntN(2) == 0 {
				text.WriteString(pieces[r.IntN(len(pieces))])
			}
		}
		a := []byte(`"` + text.String() + `"`)
		b := slices.Clone(a)
		if r.IntN(4) > 0 {
			b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
		}
		ea, _, okA := scanString(a, 1)
		eb, _, okB := scanString(b, 1)
		want := okA && okB && string(unescapeJSON(nil, a[1:ea-1])) == string(unescapeJSON(nil, b[1:eb-1]))
		gotA, gotB, got := c.sameStrings(a, 0, b, 0, false)
		if got != want || want && (gotA != ea || gotB != eb) {
			t.Fatalf("sameStrings(%q, %q) = %d, %d, %v; scanning each says %d, %d, %v", a, b, gotA, gotB, got, ea, eb, want)
		}
	}
}

// TestSortByKeyStable checks sortByKey against the standard library's stable sort,
// on objects of every size around the insertion runs and merges, with repeated keys.
func TestSortByKeyStable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var scratch []int32
	for n := range 70 {
		for range 20 {
			var b strings.Builder
			b.WriteString("{")
			for i := range n {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `"k%d":%d`, r.IntN(max(n/3, 1)), i)
			}
			b.WriteString("}")
			var d jsonDoc
			if !d.scan([]byte(b.String())) {
				t.Fatalf("scan %s", b.String())
			}
			var ms []int32
			for m := int32(1); m < d.nodes[0].next; m = d.nodes[m].next {
				ms = append(ms, m)
			}
			want := slices.Clone(ms)
			sort.SliceStable(want, func(i, j int) bool { return string(d.key(want[i])) < string(d.key(want[j])) })
			scratch = d.sortByKey(ms, scratch)
			if !slices.Equal(ms, want) {
				t.Fatalf("%s: sortByKey gives %v, want %v", b.String(), ms, want)
			}
		}
	}
}
