package config

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// jsonNumber is RFC 8259's number grammar: what the scanner lets reach parseNumber.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

var numberCases = []string{
	"0", "-0", "0.0", "-0.0e-5", "0e999999999999", "1", "-1", "100", "100.5", "0.1", "0.3",
	"12.5", "1e2", "1E+2", "1e-2", "123456789", "9007199254740992", "9007199254740993",
	"9007199254740995", "18014398509481985", "2147483647", "2147483647.0000001",
	"60000", "65535.99999999999999999", "1e22", "1e23", "8.988465674311579e307",
	"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
	"-1.7976931348623159e308", "1e309", "1e99999999999999999999", "2.2250738585072011e-308",
	"2.2250738585072012e-308", "2.2250738585072014e-308", "4.9406564584124654e-324",
	"2.4703282292062327e-324", "2.4703282292062328e-324", "5e-324", "1e-400",
	"1e-99999999999999999", "0.000000000000000000000000000000000000000001",
	"3.14159265358979323846264338327950288419716939937510582097494459",
	"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
	"0." + strings.Repeat("0", 320) + "24703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125",
}

func TestParseNumber_matchesStrconv(t *testing.T) {
	for _, s := range numberCases {
		if !jsonNumber.MatchString(s) {
			t.Fatalf("case %.40q is not a JSON number", s)
		}
		checkNumber(t, s)
	}
}

func TestParseNumber_notANumber(t *testing.T) {
	for _, s := range []string{"", "-", ".", "1e", "1e+", "1x", "--1", "1.2.3"} {
		if got := parseNumber(s); !math.IsNaN(got) {
			t.Errorf("parseNumber(%q) = %v, want NaN", s, got)
		}
	}
}

// Go's strconv.ParseFloat (1.26) misreads a number whose integer part has more than
// 800 digits: its slow path puts the decimal point after the 800 digits it keeps, so
// "1" and 800 zeros, then "e-800", is 0.1 to it. parseNumber reads such numbers right,
// as math/big does; this is the one place it departs from strconv.
func TestParseNumber_longIntegerPart(t *testing.T) {
	for _, s := range []string{
		"1" + strings.Repeat("0", 800) + "e-800",
		"1" + strings.Repeat("0", 900) + "1e-898",
		"-" + strings.Repeat("9", 1000) + ".5e-990",
	} {
		want := ratFloat(t, s)
		if got := parseNumber(s); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("parseNumber(%.30q...) = %v, math/big gives %v", s, got, want)
		}
		if old, _ := strconv.ParseFloat(s, 64); old == want {
			t.Logf("strconv.ParseFloat reads %.30q... right now: the departure is no longer needed", s)
		}
	}
}

// ratFloat is s rounded to a float64 by math/big, exactly.
func ratFloat(t *testing.T, s string) float64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("math/big cannot read %.40q", s)
	}
	f, _ := r.Float64()
	return f
}

// integerDigits counts the digits of s's integer part, leading zeros aside.
func integerDigits(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
	if i := strings.IndexAny(s, ".eE"); i >= 0 {
		s = s[:i]
	}
	return len(s)
}

func checkNumber(t *testing.T, s string) {
	t.Helper()
	want, _ := strconv.ParseFloat(s, 64) // ±Inf with ErrRange beyond the range, as Num
	if integerDigits(s) > maxDigits {    // see TestParseNumber_longIntegerPart
		_, e, _ := strings.Cut(strings.ToLower(s), "e")
		if n, err := strconv.Atoi(e); err != nil || n < -2000 || n > 2000 || len(s) > 4000 {
			return // too far for math/big to reach in a test
		}
		want = ratFloat(t, s)
	}
	if got := parseNumber(s); math.Float64bits(got) != math.Float64bits(want) {
		t.Errorf("parseNumber(%.60q) = %v (%#x), strconv.ParseFloat gives %v (%#x)",
			s, got, math.Float64bits(got), want, math.Float64bits(want))
	}
}

// FuzzParseNumber: parseNumber must give strconv.ParseFloat's float64, bit for bit,
// for every JSON number. The fuzzer's strings are mostly not numbers, so each is also
// read as one: its digits, with a point and an exponent where its bytes say.
func FuzzParseNumber(f *testing.F) {
	for _, s := range numberCases {
		f.Add(s, uint64(0))
	}
	f.Add("4", uint64(1)<<63|uint64(1)<<62)
	f.Fuzz(func(t *testing.T, s string, n uint64) {
		if jsonNumber.MatchString(s) {
			checkNumber(t, s)
		}
		checkNumber(t, numberFrom(s, n))
	})
}

// numberFrom makes a JSON number out of any string and integer.
func numberFrom(s string, n uint64) string {
	var b strings.Builder
	if n&1 == 1 {
		b.WriteByte('-')
	}
	raw := []byte(strconv.FormatUint(n>>8, 10))
	for _, c := range []byte(s) {
		raw = append(raw, '0'+c%10)
	}
	digits := strings.TrimLeft(string(raw), "0")
	if digits == "" {
		digits = "0"
	}
	if point := int(n>>1&63) % (len(digits) + 1); point > 0 && point < len(digits) {
		digits = digits[:point] + "." + digits[point:]
	}
	b.WriteString(digits)
	if n&2 == 2 {
		b.WriteString("e")
		b.WriteString(strconv.Itoa(int(int16(n>>16)) % 400))
	}
	return b.String()
}
