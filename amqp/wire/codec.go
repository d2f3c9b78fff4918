package wire

import (
	"encoding/binary"
	"unicode/utf8"
)

// decoder reads AMQP primitives (AMQP 0-9-1 §4.2.5, all big-endian) from a byte slice.
// The first error sticks: later reads return zero values and empty slices, so generated
// code stays flat and checks once, in finish.
type decoder struct {
	b   []byte     // unread bytes
	err *Exception // first error; its ClassID/MethodID are filled by finish
}

func (d *decoder) fail(e *Exception) {
	if d.err == nil {
		d.err = e
	}
	d.b = nil
}

// need consumes n bytes, or fails with a truncation error.
func (d *decoder) need(n uint64) []byte {
	if uint64(len(d.b)) < n {
		if d.err == nil {
			d.fail(Hard(SyntaxError, "truncated"))
		}
		d.b = nil
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) skip(n uint64) { d.need(n) }

func (d *decoder) octet() uint8 {
	if len(d.b) < 1 {
		d.need(1)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) short() uint16 {
	p := d.need(2)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (d *decoder) long() uint32 {
	p := d.need(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *decoder) longlong() uint64 {
	p := d.need(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// shortbytes reads a shortstr (octet length, bytes) as a view.
func (d *decoder) shortbytes() []byte { return d.need(uint64(d.octet())) }

// longbytes reads a longstr (long length, bytes) as a view.
func (d *decoder) longbytes() []byte { return d.need(uint64(d.long())) }

// shortstr reads a shortstr, returning old when the bytes are equal to it, so that a
// reused method value decodes repeating names without allocating.
func (d *decoder) shortstr(old string) string {
	b := d.shortbytes()
	if string(b) == old { // compiled without a conversion
		return old
	}
	return string(b)
}

// shortstrUTF8 is shortstr for methods without content, where RabbitMQ rejects a
// shortstr that is not UTF-8 with FRAME_ERROR ("Malformed UTF-8 in shortstr":
// rabbit_binary_parser:assert_utf8, called from the generated decode_method_fields).
func (d *decoder) shortstrUTF8(old string) string {
	b := d.shortbytes()
	if string(b) == old {
		return old
	}
	if !utf8.Valid(b) {
		d.fail(Hard(FrameError, "Malformed UTF-8 in shortstr"))
		return ""
	}
	return string(b)
}

// longstr reads a longstr, reusing old when the bytes are equal.
func (d *decoder) longstr(old string) string {
	b := d.longbytes()
	if string(b) == old {
		return old
	}
	return string(b)
}

// table reads a field table (long length, entries) into a fresh Table.
func (d *decoder) table() Table {
	body := d.longbytes()
	if d.err != nil {
		return nil
	}
	t, err := decodeTableBody(body, 1)
	if err != nil {
		d.fail(err)
		return nil
	}
	return t
}

// finish returns nil if every argument was read and nothing is left over, else the
// exception to raise, naming the method. Trailing bytes are refused as RabbitMQ does:
// its generated decode_method_fields matches the whole argument binary, so extra
// bytes fail the match like missing ones.
func (d *decoder) finish(classID, methodID uint16) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = Hard(FrameError, "%d trailing bytes", len(d.b))
	}
	if d.err == nil {
		return nil
	}
	e := *d.err
	if e.Code == SyntaxError && e.Text == "truncated" {
		// RabbitMQ answers arguments it cannot decode with frame_error
		// ("cannot decode ..."); only a bad field table is a syntax error.
		e.Code = FrameError
	}
	e.ClassID, e.MethodID = classID, methodID
	e.Text = "cannot decode " + MethodName(classID, methodID) + " arguments: " + e.Text
	return &e
}

func appendShort(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

func appendLong(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

func appendLonglong(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

// MaxShortstr is the longest shortstr the wire can carry (its length is one octet).
const MaxShortstr = 255

// appendShortstr appends s as a shortstr. A string longer than 255 bytes is cut at
// 255 bytes: the length octet cannot say more, and a server must not die of a long
// name. Callers that build reply texts should use Exception.ReplyText, which cuts as
// RabbitMQ does.
func appendShortstr(dst []byte, s string) []byte {
	if len(s) > MaxShortstr {
		s = s[:MaxShortstr]
	}
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

// appendLongstr appends s as a longstr (long length, bytes).
func appendLongstr(dst []byte, s string) []byte {
	dst = appendLong(dst, uint32(len(s)))
	return append(dst, s...)
}

// mustAppendTable appends t for a generated method's Append, which has no error
// result: a Go value AppendTable cannot encode is a programming error.
func mustAppendTable(dst []byte, t Table, field string) []byte {
	out, err := AppendTable(dst, t)
	if err != nil {
		panic("wire: encoding " + field + ": " + err.Error())
	}
	return out
}
