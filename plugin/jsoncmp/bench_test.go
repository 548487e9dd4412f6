package jsoncmp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchPage is a page of 16 items, about 2 KiB, as the bench/ scenarios compare; with
// shadow set, the same value written otherwise (1.5 for 1.50, other spacing, an
// escaped letter, an exponent), so that numbers are parsed and strings unescaped.
func benchPage(shadow bool) []byte {
	var b strings.Builder
	b.WriteString(`{"page":1,"items":[`)
	for i := range 16 {
		if i > 0 {
			b.WriteString(",")
		}
		price, sep, name, count := fmt.Sprintf("%d.50", 10+i), ":", "Item", fmt.Sprint(i*70)
		if shadow {
			price, sep, name, count = fmt.Sprintf("%d.5", 10+i), ": ", `\u0049tem`, fmt.Sprintf("%de1", i*7)
		}
		fmt.Fprintf(&b, `{"id"%s%d,"name":"%s number %d","price"%s%s,"tags":["a","b","c"],"stock":{"warehouse":"eu-west-1","count":%s}}`,
			sep, 1000+i, name, i, sep, price, count)
	}
	b.WriteString(`],"meta":{"requestId":"0c5f3b9e-7a41-4d2e-9f3a-1b6c8d2e4f70","total":16}}`)
	return []byte(b.String())
}

// BenchmarkCompare is a 2 KiB pair: the same value written otherwise (the one-pass
// check), and one field apart (the walk over nodes shared with the primary).
func BenchmarkCompare(b *testing.B) {
	primary := benchPage(false)
	for _, bc := range []struct {
		name   string
		shadow []byte
		want   int
	}{
		{"written-otherwise", benchPage(true), 0},
		{"one-field-differs", bytes.Replace(primary, []byte(`"price":21.50`), []byte(`"price":21.75`), 1), 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if got := len(Compare(primary, bc.shadow, nil, false, false, nil)); got != bc.want {
				b.Fatalf("%d differences, want %d", got, bc.want)
			}
			b.SetBytes(int64(len(primary)))
			b.ReportAllocs()
			for b.Loop() {
				Compare(primary, bc.shadow, nil, false, false, nil)
			}
		})
	}
}

// BenchmarkNumbersEqual is numbersEqual on literals as services write them.
func BenchmarkNumbersEqual(b *testing.B) {
	pairs := [][2]string{{"21.50", "21.5"}, {"1000", "1e3"}, {"12345678901234567890", "1.2345678901234567890e19"}, {"-0.005", "-5e-3"}}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pairs {
			if !numbersEqual(p[0], p[1]) {
				b.Fatalf("numbersEqual(%s, %s) = false", p[0], p[1])
			}
		}
	}
}
