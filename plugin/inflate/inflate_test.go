package inflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	goadler32 "hash/adler32"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

// deflate is data compressed as raw deflate (RFC 1951).
func deflate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// header is what a hand-made gzip member's header carries (RFC 1952, 2.3).
type header struct {
	extra, name, comment []byte
	hcrc                 bool   // FHCRC, with the right CRC-16
	hcrcValue            uint16 // when not 0, FHCRC with this value instead
}

// member is one gzip member of data, its header made by hand so that every flag can
// be set (compress/gzip's writer never sets FHCRC).
func member(tb testing.TB, data string, h header) []byte {
	tb.Helper()
	var flags byte
	if h.hcrc || h.hcrcValue != 0 {
		flags |= 1 << 1
	}
	if h.extra != nil {
		flags |= 1 << 2
	}
	if h.name != nil {
		flags |= 1 << 3
	}
	if h.comment != nil {
		flags |= 1 << 4
	}
	b := []byte{0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 255}
	if h.extra != nil {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h.extra)))
		b = append(b, h.extra...)
	}
	if h.name != nil {
		b = append(append(b, h.name...), 0)
	}
	if h.comment != nil {
		b = append(append(b, h.comment...), 0)
	}
	switch {
	case h.hcrcValue != 0:
		b = binary.LittleEndian.AppendUint16(b, h.hcrcValue)
	case h.hcrc:
		b = binary.LittleEndian.AppendUint16(b, uint16(crc32.ChecksumIEEE(b)))
	}
	b = append(b, deflate(tb, []byte(data))...)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(data)))
	return binary.LittleEndian.AppendUint32(b, uint32(len(data)))
}

func gz(tb testing.TB, data string) []byte { return member(tb, data, header{}) }

// zlibBody is data as zlib (RFC 1950); with dict, its header names that preset
// dictionary (FDICT).
func zlibBody(tb testing.TB, data string, dict []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	w, err := zlib.NewWriterLevelDict(&b, zlib.BestCompression, dict)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write([]byte(data))
	w.Close()
	return b.Bytes()
}

// withFDICT is a zlib body of data whose header sets FDICT and names the dictionary by
// id, the stream itself compressed without one.
func withFDICT(tb testing.TB, data string, id uint32) []byte {
	plain := zlibBody(tb, data, nil)
	h := uint16(plain[0])<<8 | uint16(plain[1]&^0x1f|0x20)
	h += 31 - h%31 // the check bits (FCHECK) right again
	b := binary.BigEndian.AppendUint16(nil, h)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, plain[2:]...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// decodeCases are bodies as servers send them and as nobody should: each with what
// Decode must give, which is what compress/gzip or compress/zlib read (checked by
// TestDecodeAgreesWithGo, and by FuzzDecode around them, its seeds).
func decodeCases(tb testing.TB) []decodeCase {
	json := `{"items":[1,2,3],"name":"` + strings.Repeat("x", 300) + `"}`
	one := gz(tb, json)
	badCRC := bytes.Clone(one)
	badCRC[len(badCRC)-8] ^= 1
	badSize := bytes.Clone(one)
	badSize[len(badSize)-1] ^= 1
	return []decodeCase{
		{"gzip", Gzip, one, json, nil},
		{"two members", Gzip, concat(gz(tb, "[1,"), gz(tb, "2]")), "[1,2]", nil},
		{"an empty member between", Gzip, concat(gz(tb, "[1,"), gz(tb, ""), gz(tb, "2]")), "[1,2]", nil},
		{"FEXTRA, FNAME, FCOMMENT and FHCRC", Gzip, member(tb, json, header{extra: []byte("ab\x00cd"), name: []byte("page.json"),
			comment: []byte("caf\xe9"), hcrc: true}), json, nil},
		{"FHCRC alone", Gzip, member(tb, json, header{hcrc: true}), json, nil},
		{"a second member with FHCRC", Gzip, concat(gz(tb, "[1,"), member(tb, "2]", header{name: []byte("b"), hcrc: true})), "[1,2]", nil},
		{"a name of 511 bytes", Gzip, member(tb, json, header{name: bytes.Repeat([]byte("n"), 511)}), json, nil},
		{"an empty FEXTRA", Gzip, member(tb, json, header{extra: []byte{}}), json, nil},
		{"a bad FHCRC", Gzip, member(tb, json, header{hcrcValue: 0xbad}), "", ErrCorrupt},
		{"a bad FHCRC in the second member", Gzip, concat(gz(tb, "[1,"), member(tb, "2]", header{hcrcValue: 0xbad})), "", ErrCorrupt},
		{"a name of 512 bytes", Gzip, member(tb, json, header{name: bytes.Repeat([]byte("n"), 512)}), "", ErrCorrupt},
		{"a comment of 512 bytes", Gzip, member(tb, json, header{comment: bytes.Repeat([]byte("c"), 512)}), "", ErrCorrupt},
		{"a bad CRC", Gzip, badCRC, "", ErrCorrupt},
		{"a bad size", Gzip, badSize, "", ErrCorrupt},
		{"a bad CRC in the second member", Gzip, concat(gz(tb, "[1,"), badCRC), "", ErrCorrupt},
		{"cut short in the trailer", Gzip, one[:len(one)-1], "", ErrCorrupt},
		{"cut short in the data", Gzip, one[:len(one)/2], "", ErrCorrupt},
		{"cut short in the header", Gzip, one[:5], "", ErrCorrupt},
		{"cut short in FHCRC", Gzip, member(tb, json, header{hcrc: true})[:11], "", ErrCorrupt},
		{"empty", Gzip, nil, "", ErrCorrupt},
		{"a trailing zero byte", Gzip, concat(one, []byte{0}), "", ErrCorrupt},
		{"trailing zero bytes", Gzip, concat(one, make([]byte, 16)), "", ErrCorrupt},
		{"trailing text", Gzip, concat(one, []byte("\r\n")), "", ErrCorrupt},
		{"a second member cut short", Gzip, concat(one, gz(tb, "2]")[:12]), "", ErrCorrupt},
		{"a second header alone", Gzip, concat(one, gz(tb, "")[:10]), "", ErrCorrupt},
		{"zlib", Deflate, zlibBody(tb, json, nil), json, nil},
		{"zlib with bytes after it", Deflate, concat(zlibBody(tb, json, nil), []byte("junk")), json, nil}, // compress/zlib reads no further
		{"zlib with a bad checksum", Deflate, func() []byte { b := zlibBody(tb, json, nil); b[len(b)-1] ^= 1; return b }(), "", ErrCorrupt},
		{"zlib cut short", Deflate, func() []byte { b := zlibBody(tb, json, nil); return b[:len(b)-2] }(), "", ErrCorrupt},
		{"zlib with a preset dictionary", Deflate, zlibBody(tb, json, []byte(`{"items":[`)), "", ErrCorrupt},
		{"zlib naming a dictionary it does not use", Deflate, withFDICT(tb, json, goadler32.Checksum([]byte("dict"))), "", ErrCorrupt},
		{"zlib naming the empty dictionary", Deflate, withFDICT(tb, json, 1), json, nil},
		{"zlib FDICT cut short", Deflate, withFDICT(tb, json, 1)[:4], "", ErrCorrupt},
		{"raw deflate", Deflate, deflate(tb, []byte(json)), json, nil},
		{"raw deflate cut short", Deflate, deflate(tb, []byte(json))[:20], "", ErrCorrupt},
		{"deflate empty", Deflate, nil, "", ErrCorrupt},
	}
}

type decodeCase struct {
	name string
	e    Encoding
	body []byte
	want string
	err  error
}

// TestDecode: every member of a gzip body is decoded and checked, and a body Go's
// readers would refuse is ErrCorrupt (issue 25, items 2 to 4).
func TestDecode(t *testing.T) {
	var f Inflater
	for _, tc := range decodeCases(t) {
		for side := range 2 {
			got, err := f.Decode(tc.e, tc.body, 1<<20, side)
			if err != tc.err || tc.err == nil && string(got) != tc.want {
				t.Errorf("%s: Decode = %.40q, %v; want %.40q, %v", tc.name, got, err, tc.want, tc.err)
			}
		}
	}
}

// TestDecodeAgreesWithGo: each case says what Go's own readers say.
func TestDecodeAgreesWithGo(t *testing.T) {
	for _, tc := range decodeCases(t) {
		got, tooLarge, err := goDecode(tc.e, tc.body, 1<<20)
		if tooLarge || (err == nil) != (tc.err == nil) || err == nil && string(got) != tc.want {
			t.Errorf("%s: Go reads %.40q, %v; the case says %.40q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// TestDecodeLimit: nothing is inflated past the limit, a member at a time or across
// members, and the limit is the decoded size, not the encoded one.
func TestDecodeLimit(t *testing.T) {
	var f Inflater
	big := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name  string
		e     Encoding
		body  []byte
		limit int
		err   error
	}{
		{"at the limit", Gzip, gz(t, "12345"), 5, nil},
		{"one byte over", Gzip, gz(t, "123456"), 5, ErrTooLarge},
		{"over across members", Gzip, concat(gz(t, "123"), gz(t, "456")), 5, ErrTooLarge},
		{"at the limit across members", Gzip, concat(gz(t, "12"), gz(t, "345")), 5, nil},
		{"a bomb", Gzip, gz(t, big), 64 << 10, ErrTooLarge},
		{"a bomb in the second member", Gzip, concat(gz(t, "1"), gz(t, big)), 64 << 10, ErrTooLarge},
		{"a zlib bomb", Deflate, zlibBody(t, big, nil), 64 << 10, ErrTooLarge},
	} {
		got, err := f.Decode(tc.e, tc.body, tc.limit, 0)
		if err != tc.err || err == nil && len(got) > tc.limit {
			t.Errorf("%s: Decode = %d bytes, %v; want %v", tc.name, len(got), err, tc.err)
		}
		if f.Held() > 2*maxKeptInflated {
			t.Errorf("%s: the inflater keeps %d bytes", tc.name, f.Held())
		}
	}
}

// goDecode reads body as Go's own readers do: compress/gzip (multistream, its
// default), or for deflate compress/zlib when the body has a header it takes, raw
// compress/flate otherwise (HTTP's deflate is zlib, but some servers send it raw). It
// reads at most limit+1 bytes: tooLarge says it got more than limit.
func goDecode(e Encoding, body []byte, limit int) (data []byte, tooLarge bool, err error) {
	var r io.Reader
	switch e {
	case Gzip:
		if r, err = gzip.NewReader(bytes.NewReader(body)); err != nil {
			return nil, false, err
		}
	case Deflate:
		r, err = zlib.NewReader(bytes.NewReader(body))
		switch {
		case len(body) < 2 || errors.Is(err, zlib.ErrHeader):
			r = flate.NewReader(bytes.NewReader(body))
		case err != nil:
			return nil, false, err
		}
	default:
		return body, false, nil
	}
	data, err = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	return data, len(data) > limit, err
}

// FuzzDecode: Decode says what Go's readers say, for any body and limit: the same
// bytes when they read it whole within the limit, ErrTooLarge when they read past it,
// ErrCorrupt when they fail before. Its seeds are decodeCases' bodies: multi-member,
// every header flag, bad CRCs, cut short, trailing bytes, preset dictionaries, raw
// deflate.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases(f) {
		f.Add(tc.body, tc.e == Deflate, uint32(1<<20))
		f.Add(tc.body, tc.e == Deflate, uint32(len(tc.want)/2))
	}
	var in Inflater
	f.Fuzz(func(t *testing.T, body []byte, deflate bool, limit uint32) {
		if len(body) > 64<<10 {
			return
		}
		e, lim := Gzip, int(limit%(4<<20+1)) // compare.maxBytes is at most 4 MiB
		if deflate {
			e = Deflate
		}
		want, tooLarge, wantErr := goDecode(e, body, lim)
		got, err := in.Decode(e, body, lim, int(limit&1))
		switch {
		case tooLarge:
			if err != ErrTooLarge {
				t.Fatalf("Decode(%d, %q, %d) = %v; Go reads past the limit", e, body, lim, err)
			}
		case wantErr != nil:
			if err != ErrCorrupt {
				t.Fatalf("Decode(%d, %q, %d) = %q, %v; Go fails: %v", e, body, lim, got, err, wantErr)
			}
		case err != nil || !bytes.Equal(got, want):
			t.Fatalf("Decode(%d, %q, %d) = %q, %v; Go reads %q", e, body, lim, got, err, want)
		}
	})
}
