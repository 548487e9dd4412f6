package mirror

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
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
