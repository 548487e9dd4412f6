// Package inflate decodes HTTP bodies sent with content-encoding gzip (RFC 1952) or
// deflate (zlib, RFC 1950, or raw deflate as some servers send it), so that a
// comparison sees what they encode, into buffers it reuses.
//
// It reads a body exactly as Go's compress/gzip and compress/zlib do, without them:
// every member of a gzip body, each checked by its CRC-32 and size, the header CRC
// when FHCRC is set; and it refuses what they refuse (bytes after the last member, a
// zlib preset dictionary) as ErrCorrupt.
//
// It is a library: it knows nothing of mirroring. It never panics on any input, and
// never inflates past the limit it is given: a body that decodes larger is
// ErrTooLarge, however small it came.
package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"

	"github.com/meshmirror/meshmirror/plugin/internal/text"
)

// Encoding is a body's content-encoding, as a comparison treats it.
type Encoding uint8

const (
	// Identity: no content-encoding, or identity.
	Identity Encoding = iota
	Gzip
	Deflate
	// Other is any other coding, or several: compared only byte for byte,
	// and only against the same coding (SPEC.md, "What is compared").
	Other
)

// ParseEncoding reads a content-encoding value; other is the hash of an unknown one,
// lower-cased, so that two sides can be told to carry the same coding.
func ParseEncoding(value string) (e Encoding, other uint64) {
	v := strings.ToLower(strings.TrimSpace(value))
	switch v {
	case "", "identity":
		return Identity, 0
	case "gzip", "x-gzip":
		return Gzip, 0
	case "deflate":
		return Deflate, 0
	}
	return Other, text.FNV1a(text.FNVOffset, []byte(v))
}

// Why a body could not be decoded.
var (
	ErrTooLarge = errors.New("decoded body over compare.maxBytes")
	ErrCorrupt  = errors.New("body does not decode as its content-encoding says")
)

// Inflater decodes gzip and deflate bodies into a buffer it reuses. compress/gzip is
// not used: it brings package time into the module (about 16 KB); its header is read
// here instead (RFC 1952), and so is zlib's (RFC 1950), which HTTP's deflate means.
type Inflater struct {
	r   io.ReadCloser // a flate reader, reset for each body
	src bytes.Reader
	out [2][]byte // one per side of a pair
}

// Decode returns the body of a side decoded from e into the side's buffer (0 for the
// primary, 1 for the shadow), valid until the next Decode of that side. A body that
// decodes to more than limit bytes is not inflated further: ErrTooLarge. A body that
// Go's compress/gzip or compress/zlib would not read whole is ErrCorrupt: bytes after
// the last gzip member, a bad checksum or header CRC, a body cut short, a zlib preset
// dictionary (HTTP has none to give).
func (f *Inflater) Decode(e Encoding, body []byte, limit, side int) ([]byte, error) {
	out := f.out[side][:0]
	var err error
	switch e {
	case Gzip:
		out, err = f.gunzip(out, body, limit)
	case Deflate:
		out, err = f.inflateDeflate(out, body, limit)
	default:
		return body, nil
	}
	f.keep(side, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gunzip appends to out every member of the gzip body (RFC 1952, 2.2: a body is a
// series of members), each checked by its trailer, as compress/gzip reads them in its
// default multistream mode: once a member ends, what follows must be another member,
// whole, or nothing. An empty body is no gzip: compress/gzip wants one member.
func (f *Inflater) gunzip(out, body []byte, limit int) ([]byte, error) {
	for first := true; first || len(body) > 0; first = false {
		n, ok := gzipHeader(body)
		if !ok {
			return out, ErrCorrupt
		}
		start := len(out)
		var err error
		if out, body, err = f.inflate(out, body[n:], limit); err != nil {
			return out, err
		}
		member := out[start:]
		if len(body) < 8 || binary.LittleEndian.Uint32(body) != crc32.ChecksumIEEE(member) ||
			binary.LittleEndian.Uint32(body[4:]) != uint32(len(member)) {
			return out, ErrCorrupt
		}
		body = body[8:]
	}
	return out, nil
}

// inflateDeflate appends to out what an HTTP deflate body holds: a zlib stream (RFC
// 1950) as compress/zlib reads it, checksum checked and what follows it ignored; or,
// without a zlib header, raw deflate, as some servers send it.
func (f *Inflater) inflateDeflate(out, body []byte, limit int) ([]byte, error) {
	stream, zlib := body, zlibHeader(body)
	if zlib {
		stream = body[2:]
		if body[1]&0x20 != 0 { // FDICT: a preset dictionary, named by its Adler-32
			// The empty one is no dictionary, and compress/zlib reads it so.
			if len(stream) < 4 || binary.BigEndian.Uint32(stream) != 1 {
				return out, ErrCorrupt
			}
			stream = stream[4:]
		}
	}
	out, rest, err := f.inflate(out, stream, limit)
	if err == nil && zlib && (len(rest) < 4 || binary.BigEndian.Uint32(rest) != adler32(out)) {
		err = ErrCorrupt
	}
	return out, err
}

// inflate appends to out the deflate stream (RFC 1951) at the start of src, and
// returns what follows it in src.
func (f *Inflater) inflate(out, src []byte, limit int) ([]byte, []byte, error) {
	f.src.Reset(src)
	// The flate reader reads a byte at a time from an io.ByteReader: it stops at the
	// stream's last byte, and what it leaves is the trailer.
	if f.r == nil {
		f.r = flate.NewReader(&f.src)
	} else if err := f.r.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return out, nil, ErrCorrupt
	}
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return out, nil, ErrTooLarge
			}
			out = append(out, 0)[:len(out)] // grow
		}
		n, err := f.r.Read(out[len(out):min(cap(out), limit+1)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return out, nil, ErrTooLarge
		}
		if err == io.EOF {
			return out, src[len(src)-f.src.Len():], nil
		}
		if err != nil {
			return out, nil, ErrCorrupt
		}
	}
}

// Held is the capacity of the buffers f keeps between bodies: the memory it holds.
func (f *Inflater) Held() int { return cap(f.out[0]) + cap(f.out[1]) }

// maxKeptInflated bounds the decoding buffer kept between pairs.
const maxKeptInflated = 256 << 10

func (f *Inflater) keep(side int, out []byte) {
	if cap(out) > maxKeptInflated {
		out = nil
	}
	f.out[side] = out[:0]
}

// gzipHeader returns the length of the gzip member header at the start of b, false
// when compress/gzip would refuse it: its name and comment, each at most
// maxHeaderString bytes, and its CRC-16 when FHCRC is set. The reserved flags are
// ignored, as there.
func gzipHeader(b []byte) (int, bool) {
	const (
		fhcrc    = 1 << 1
		fextra   = 1 << 2
		fname    = 1 << 3
		fcomment = 1 << 4
		// compress/gzip reads a name or comment, with its NUL, into 512 bytes.
		maxHeaderString = 511
	)
	if len(b) < 10 || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
		return 0, false
	}
	flags, n := b[3], 10
	if flags&fextra != 0 {
		if len(b) < n+2 {
			return 0, false
		}
		n += 2 + int(binary.LittleEndian.Uint16(b[n:]))
	}
	for _, f := range [...]byte{fname, fcomment} {
		if flags&f == 0 {
			continue
		}
		s := b[min(n, len(b)):]
		i := bytes.IndexByte(s[:min(len(s), maxHeaderString+1)], 0)
		if i < 0 {
			return 0, false
		}
		n += i + 1
	}
	if flags&fhcrc != 0 {
		// The low 16 bits of the CRC-32 of the header's bytes before it (RFC 1952, 2.3.1).
		if len(b) < n+2 || binary.LittleEndian.Uint16(b[n:]) != uint16(crc32.ChecksumIEEE(b[:n])) {
			return 0, false
		}
		n += 2
	}
	return n, n <= len(b)
}

// zlibHeader reports whether b starts with a zlib header as compress/zlib takes one:
// deflate, a window of at most 32 KiB, and the check bits right. A preset dictionary
// (FDICT) is the caller's to refuse.
func zlibHeader(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// adler32 is zlib's checksum of b (RFC 1950); hash/adler32 would be one more package
// for eight lines.
func adler32(b []byte) uint32 {
	const mod = 65521
	s1, s2 := uint32(1), uint32(0)
	for len(b) > 0 {
		n := min(len(b), 5552) // the most bytes before s2 can overflow
		for _, c := range b[:n] {
			s1 += uint32(c)
			s2 += s1
		}
		s1, s2 = s1%mod, s2%mod
		b = b[n:]
	}
	return s2<<16 | s1
}
