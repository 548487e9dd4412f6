package config

import "math"

// parseNumber is the float64 nearest to the JSON number s (rounding half to even, ±Inf
// beyond the range), as strconv.ParseFloat(s, 64) gives it: the configuration's numbers
// are its only floats, and strconv's float parsing and its 11 KB table of powers of
// ten cost the module about 18 KB (RATIONALE.md, "Why does the configuration parse
// its own numbers?"). FuzzParseNumber checks it against strconv.ParseFloat.
//
// s has been checked as a JSON number by the scanner; anything else gives NaN.
//
// The number is D·10^e with D the integer of its first maxDigits significant digits
// (and a sticky bit for any non-zero digit after them, which cannot move a float64
// halfway point: those have at most 767 significant digits). D·10^e is then divided
// out in big integers to 55 bits and rounded once.
func parseNumber(s string) float64 {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var digits []byte // significant digits, without leading zeros
	exp, sticky, sawDigit, i := 0, false, false, 0
	for dot := false; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot:
			dot = true
		case '0' <= c && c <= '9':
			sawDigit = true
			switch {
			case c == '0' && len(digits) == 0: // a leading zero only scales a fraction
				if dot {
					exp--
				}
			case len(digits) < maxDigits:
				digits = append(digits, c-'0')
				if dot {
					exp--
				}
			default: // dropped: only its being non-zero, and its place, count
				sticky = sticky || c != '0'
				if !dot {
					exp++
				}
			}
		default:
			goto exponent
		}
	}
exponent:
	if !sawDigit {
		return math.NaN()
	}
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return math.NaN()
		}
		i++
		expNeg := i < len(s) && s[i] == '-'
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if i == len(s) {
			return math.NaN()
		}
		e := 0
		for ; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return math.NaN()
			}
			if e < 1e8 { // far beyond any float64; saturates rather than overflows
				e = e*10 + int(s[i]-'0')
			}
		}
		if expNeg {
			e = -e
		}
		exp += e
	}
	return signed(toFloat(digits, exp, sticky), neg)
}

// maxDigits significant digits decide the rounding of every float64 (see parseNumber).
const maxDigits = 800

func signed(f float64, neg bool) float64 {
	if neg {
		return math.Copysign(f, -1)
	}
	return f
}

// toFloat rounds D·10^exp to a float64, D being the decimal digits given.
func toFloat(digits []byte, exp int, sticky bool) float64 {
	if len(digits) == 0 {
		return 0
	}
	// The value lies in [10^(mag-1), 10^mag).
	switch mag := len(digits) + exp; {
	case mag > 310: // at least 10^309, past math.MaxFloat64
		return math.Inf(1)
	case mag < -324: // below 10^-325, under half the smallest subnormal
		return 0
	}
	num := nat{}
	for _, d := range digits {
		num = num.mulAdd(10, uint32(d))
	}
	den := nat{1}
	for ; exp > 0; exp-- {
		num = num.mulAdd(10, 0)
	}
	for ; exp < 0; exp++ {
		den = den.mulAdd(10, 0)
	}
	// Scale so that q = num·2^shift / den lies in [2^54, 2^55): 53 bits, a guard bit and
	// a round bit. The value is then q·2^-shift plus a remainder.
	shift := 54 + den.bitLen() - num.bitLen()
	if scaledLess(num, den, shift, 54) {
		shift++
	}
	n, d := num, den
	if shift > 0 {
		n = n.shl(uint(shift))
	} else {
		d = d.shl(uint(-shift))
	}
	var q uint64
	for bit := 54; bit >= 0; bit-- {
		if dd := d.shl(uint(bit)); n.cmp(dd) >= 0 {
			n = n.sub(dd)
			q |= 1 << bit
		}
	}
	sticky = sticky || len(n.trim()) > 0
	// The value is in [2^e2, 2^(e2+1)). A normal float64 keeps 53 bits of q, a subnormal
	// fewer: its last bit is worth 2^-1074.
	e2 := 54 - shift
	drop := 2
	if e2 < -1022 {
		drop = 2 + (-1022 - e2)
	}
	m := roundShift(q, drop, sticky)
	if e2 < -1022 {
		return math.Float64frombits(m) // m = 2^52 is the smallest normal, encoded alike
	}
	// m is in [2^52, 2^53]: adding it to the biased exponent's bits carries a rounded-up
	// 2^53 into the exponent.
	bits := uint64(e2+1022)<<52 + m
	if bits >= 0x7ff<<52 {
		return math.Inf(1)
	}
	return math.Float64frombits(bits)
}

// roundShift is q / 2^drop rounded half to even, sticky saying that something non-zero
// below q was already dropped.
func roundShift(q uint64, drop int, sticky bool) uint64 {
	if drop >= 64 {
		return 0 // q < 2^55, under half of 2^64
	}
	m, rest := q>>drop, q&(1<<drop-1)
	half := uint64(1) << (drop - 1)
	if rest > half || (rest == half && (sticky || m&1 == 1)) {
		m++
	}
	return m
}

// scaledLess reports whether num·2^shift < den·2^bits.
func scaledLess(num, den nat, shift, bits int) bool {
	if shift >= bits {
		return num.shl(uint(shift-bits)).cmp(den) < 0
	}
	return num.cmp(den.shl(uint(bits-shift))) < 0
}

// nat is an unsigned big integer, little-endian in 32-bit words.
type nat []uint32

func (x nat) trim() nat {
	for len(x) > 0 && x[len(x)-1] == 0 {
		x = x[:len(x)-1]
	}
	return x
}

// mulAdd is x·m + a.
func (x nat) mulAdd(m, a uint32) nat {
	carry := uint64(a)
	out := make(nat, len(x), len(x)+1)
	for i, w := range x {
		p := uint64(w)*uint64(m) + carry
		out[i], carry = uint32(p), p>>32
	}
	if carry != 0 {
		out = append(out, uint32(carry))
	}
	return out
}

func (x nat) bitLen() int {
	x = x.trim()
	if len(x) == 0 {
		return 0
	}
	n, top := 32*(len(x)-1), x[len(x)-1]
	for ; top != 0; top >>= 1 {
		n++
	}
	return n
}

// shl is x·2^s.
func (x nat) shl(s uint) nat {
	words, bits := int(s/32), s%32
	out := make(nat, len(x)+words+1)
	for i, w := range x {
		v := uint64(w) << bits
		out[i+words] |= uint32(v)
		out[i+words+1] |= uint32(v >> 32)
	}
	return out.trim()
}

func (x nat) cmp(y nat) int {
	x, y = x.trim(), y.trim()
	if len(x) != len(y) {
		if len(x) < len(y) {
			return -1
		}
		return 1
	}
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// sub is x - y, for x ≥ y.
func (x nat) sub(y nat) nat {
	out := make(nat, len(x))
	var borrow uint64
	for i := range x {
		var w uint64
		if i < len(y) {
			w = uint64(y[i])
		}
		d := uint64(x[i]) - w - borrow
		out[i], borrow = uint32(d), d>>63
	}
	return out.trim()
}
