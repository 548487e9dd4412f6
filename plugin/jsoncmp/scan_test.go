package jsoncmp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestSpecialInStringMarksFirst checks what scanString relies on: the lowest byte
// specialInString marks is the first quote, backslash or control character of the
// word, and it marks none when there is none, whatever the other bytes are.
func TestSpecialInStringMarksFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'"', '\\', 0, 0x1f, ' ', '!', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xdc, 0xff}
	for range 200000 {
		var w [8]byte
		for i := range w {
			if r.IntN(2) == 0 {
				w[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				w[i] = byte(r.Uint32())
			}
		}
		want := 8
		for i, c := range w {
			if c == '"' || c == '\\' || c < ' ' {
				want = i
				break
			}
		}
		m := specialInString(binary.LittleEndian.Uint64(w[:]))
		if got := bits.TrailingZeros64(m) >> 3; got != want {
			t.Fatalf("specialInString(%q) marks byte %d first, want %d", w[:], got, want)
		}
	}
}

// TestNonZeroBytesExact checks what sameStrings relies on: nonZeroBytes marks every
// byte that is not zero and no other, each byte value in each place, beside any other.
func TestNonZeroBytesExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for place := range 8 {
		for v := range 256 {
			for range 64 {
				var w [8]byte
				for i := range w {
					if r.IntN(3) > 0 {
						w[i] = byte(r.Uint32())
					}
				}
				w[place] = byte(v)
				var want uint64
				for i, c := range w {
					if c != 0 {
						want |= 0x80 << (8 * i)
					}
				}
				if got := nonZeroBytes(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("nonZeroBytes(% x) = %#x, want %#x", w[:], got, want)
				}
			}
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
