package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// Table is an AMQP field table (AMQP 0-9-1 §4.2.5.5, with RabbitMQ's type tags).
//
// Decoding gives each value the Go type of its tag, and encoding maps the type back:
//
//	't' bool        'b' int8     'B' uint8    's' int16   'u' uint16
//	'I' int32       'i' uint32   'l' int64    'f' float32 'd' float64
//	'D' Decimal     'S' string   'x' []byte   'A' []any   'T' time.Time (seconds, UTC)
//	'F' Table       'V' nil
//
// 'L' is read as int64, as RabbitMQ reads it, and written back as 'l'. Encoding also
// takes int, uint and uint64 (as 'l'; a value above math.MaxInt64 is an error),
// map[string]any (as 'F') and []string (as 'A' of 'S'). A table's keys are written in
// sorted order, so encoding is deterministic and encode(decode(b)) == b for a table
// whose keys are sorted and unique and that has no 'L'. A key that appears twice keeps
// its last value.
type Table map[string]any

// Decimal is the 'D' field type: Value × 10^-Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// MaxTableDepth bounds how deeply tables and arrays may nest (the outermost table is
// level 1). Deeper input is a SyntaxError, so a hostile frame cannot exhaust the stack
// of the recursive decoder; deeper Go values are an encoding error (which also stops
// a table that contains itself).
const MaxTableDepth = 64

func errDepth() *Exception {
	return Hard(SyntaxError, "field tables and arrays nested deeper than %d levels", MaxTableDepth)
}

func errTag(tag byte) *Exception {
	return Hard(SyntaxError, "unknown field value type %q", tag)
}

// fixedFieldSize is the encoded size, after the tag, of each fixed-size field type;
// variable types ('S', 'x', 'A', 'F': a long length and that many bytes) are -1 and
// unknown tags 0.
var fixedFieldSize = [256]int8{
	't': 1, 'b': 1, 'B': 1, 's': 2, 'u': 2, 'I': 4, 'i': 4, 'l': 8, 'L': 8,
	'f': 4, 'd': 8, 'D': 5, 'T': 8, 'V': -2,
	'S': -1, 'x': -1, 'A': -1, 'F': -1,
}

// fieldSize returns the encoded size of a value with tag at the start of b, or an error
// if the tag is unknown or b is too short. It does not look inside tables and arrays.
func fieldSize(tag byte, b []byte) (int, *Exception) {
	switch n := fixedFieldSize[tag]; n {
	case 0:
		return 0, errTag(tag)
	case -2: // 'V' has no value bytes
		return 0, nil
	case -1:
		if len(b) < 4 {
			return 0, Hard(SyntaxError, "truncated field value")
		}
		l := uint64(binary.BigEndian.Uint32(b))
		if uint64(len(b)-4) < l {
			return 0, Hard(SyntaxError, "truncated field value")
		}
		return 4 + int(l), nil
	default:
		if len(b) < int(n) {
			return 0, Hard(SyntaxError, "truncated field value")
		}
		return int(n), nil
	}
}

// SkipTable validates the field table at the start of b (its 4-byte length, then its
// entries) without allocating, and returns its encoded size. It checks what decoding
// checks: lengths, type tags, nesting depth.
func SkipTable(b []byte) (n int, err error) {
	if len(b) < 4 {
		return 0, Hard(SyntaxError, "truncated field table")
	}
	l := uint64(binary.BigEndian.Uint32(b))
	if uint64(len(b)-4) < l {
		return 0, Hard(SyntaxError, "truncated field table")
	}
	if e := skipTableBody(b[4:4+l], 1); e != nil {
		return 0, e
	}
	return 4 + int(l), nil
}

func skipTableBody(b []byte, depth int) *Exception {
	if depth > MaxTableDepth {
		return errDepth()
	}
	for len(b) > 0 {
		kl := int(b[0])
		if len(b) < 1+kl+1 {
			return Hard(SyntaxError, "truncated field table entry")
		}
		tag := b[1+kl]
		b = b[1+kl+1:]
		n, e := skipValue(tag, b, depth)
		if e != nil {
			return e
		}
		b = b[n:]
	}
	return nil
}

func skipArrayBody(b []byte, depth int) *Exception {
	if depth > MaxTableDepth {
		return errDepth()
	}
	for len(b) > 0 {
		tag := b[0]
		n, e := skipValue(tag, b[1:], depth)
		if e != nil {
			return e
		}
		b = b[1+n:]
	}
	return nil
}

// skipValue returns the size of the value with tag at the start of b, validating nested
// tables and arrays (which sit at depth+1).
func skipValue(tag byte, b []byte, depth int) (int, *Exception) {
	n, e := fieldSize(tag, b)
	if e != nil {
		return 0, e
	}
	switch tag {
	case 'F':
		e = skipTableBody(b[4:n], depth+1)
	case 'A':
		e = skipArrayBody(b[4:n], depth+1)
	}
	return n, e
}

// TableFind returns the first entry named key in the encoded field table raw (with
// its 4-byte length, as ContentHeader.HeadersRaw returns it) without allocating: its
// type tag and its encoded value after the tag (for 'S', 'x', 'A' and 'F' that is the
// 4-byte length and the bytes). ok is false if key is absent or raw is malformed
// before key is reached. DecodeField decodes val.
func TableFind(raw []byte, key string) (tag byte, val []byte, ok bool) {
	if len(raw) < 4 {
		return 0, nil, false
	}
	l := uint64(binary.BigEndian.Uint32(raw))
	if uint64(len(raw)-4) < l {
		return 0, nil, false
	}
	b := raw[4 : 4+l]
	for len(b) > 0 {
		kl := int(b[0])
		if len(b) < 1+kl+1 {
			return 0, nil, false
		}
		name, tag := b[1:1+kl], b[1+kl]
		b = b[1+kl+1:]
		n, e := fieldSize(tag, b)
		if e != nil {
			return 0, nil, false
		}
		if string(name) == key {
			return tag, b[:n:n], true
		}
		b = b[n:]
	}
	return 0, nil, false
}

// DecodeField decodes one encoded value (as TableFind returns it) to its Go type.
func DecodeField(tag byte, val []byte) (any, error) {
	d := decoder{b: val}
	v := d.value(tag, 1)
	if d.err == nil && len(d.b) != 0 {
		d.fail(Hard(SyntaxError, "%d trailing bytes after field value", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	return v, nil
}

// DecodeTable decodes the encoded field table raw (with its 4-byte length; nothing may
// follow it) into a fresh Table. Errors are *Exception with code SyntaxError.
func DecodeTable(raw []byte) (Table, error) {
	d := decoder{b: raw}
	t := d.table()
	if d.err == nil && len(d.b) != 0 {
		d.fail(Hard(SyntaxError, "%d trailing bytes after field table", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

// decodeTableBody decodes a table's entries (the bytes after its length) at depth.
func decodeTableBody(b []byte, depth int) (Table, *Exception) {
	if depth > MaxTableDepth {
		return nil, errDepth()
	}
	t := Table{}
	d := decoder{b: b}
	for len(d.b) > 0 && d.err == nil {
		key := d.shortbytes()
		tag := d.octet()
		if d.err != nil {
			break
		}
		v := d.value(tag, depth)
		if d.err == nil {
			t[string(key)] = v
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

func decodeArrayBody(b []byte, depth int) ([]any, *Exception) {
	if depth > MaxTableDepth {
		return nil, errDepth()
	}
	a := make([]any, 0)
	d := decoder{b: b}
	for len(d.b) > 0 && d.err == nil {
		tag := d.octet()
		v := d.value(tag, depth)
		if d.err == nil {
			a = append(a, v)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return a, nil
}

// value decodes one value with tag; nested tables and arrays sit at depth+1.
func (d *decoder) value(tag byte, depth int) any {
	switch tag {
	case 't':
		return d.octet() != 0
	case 'b':
		return int8(d.octet())
	case 'B':
		return d.octet()
	case 's':
		return int16(d.short())
	case 'u':
		return d.short()
	case 'I':
		return int32(d.long())
	case 'i':
		return d.long()
	case 'l', 'L': // RabbitMQ reads both as signed 64-bit (rabbit_binary_parser)
		return int64(d.longlong())
	case 'f':
		return math.Float32frombits(d.long())
	case 'd':
		return math.Float64frombits(d.longlong())
	case 'D':
		scale := d.octet()
		return Decimal{Scale: scale, Value: int32(d.long())}
	case 'S':
		return string(d.longbytes())
	case 'x':
		return append([]byte{}, d.longbytes()...)
	case 'T':
		return time.Unix(int64(d.longlong()), 0).UTC()
	case 'V':
		return nil
	case 'F':
		body := d.longbytes()
		if d.err != nil {
			return nil
		}
		t, e := decodeTableBody(body, depth+1)
		if e != nil {
			d.fail(e)
			return nil
		}
		return t
	case 'A':
		body := d.longbytes()
		if d.err != nil {
			return nil
		}
		a, e := decodeArrayBody(body, depth+1)
		if e != nil {
			d.fail(e)
			return nil
		}
		return a
	}
	d.fail(errTag(tag))
	return nil
}

// AppendTable appends t as an encoded field table (4-byte length, then the entries in
// key order) to dst. It fails on a Go type the Table doc does not list, a key longer
// than 255 bytes, or nesting deeper than MaxTableDepth; dst is then returned unchanged.
func AppendTable(dst []byte, t Table) ([]byte, error) {
	out, err := appendTable(dst, t, 1)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func appendTable(dst []byte, t map[string]any, depth int) ([]byte, error) {
	if depth > MaxTableDepth {
		return dst, fmt.Errorf("wire: field tables nested deeper than %d levels", MaxTableDepth)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(k) > MaxShortstr {
			return dst, fmt.Errorf("wire: field table key of %d bytes is longer than 255", len(k))
		}
		dst = appendShortstr(dst, k)
		var err error
		if dst, err = appendValue(dst, t[k], depth); err != nil {
			return dst, fmt.Errorf("%w (key %q)", err, k)
		}
	}
	return patchLength(dst, start)
}

func appendArray(dst []byte, a []any, depth int) ([]byte, error) {
	if depth > MaxTableDepth {
		return dst, fmt.Errorf("wire: field tables nested deeper than %d levels", MaxTableDepth)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, v := range a {
		var err error
		if dst, err = appendValue(dst, v, depth); err != nil {
			return dst, err
		}
	}
	return patchLength(dst, start)
}

// patchLength writes the length of what follows the 4 bytes at start.
func patchLength(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - 4
	if uint64(n) > math.MaxUint32 {
		return dst, fmt.Errorf("wire: field table of %d bytes is too long", n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// appendValue appends the tag and encoding of v; nested tables and arrays sit at depth+1.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, 'V'), nil
	case bool:
		b := byte(0)
		if v {
			b = 1
		}
		return append(dst, 't', b), nil
	case int8:
		return append(dst, 'b', byte(v)), nil
	case uint8:
		return append(dst, 'B', v), nil
	case int16:
		return appendShort(append(dst, 's'), uint16(v)), nil
	case uint16:
		return appendShort(append(dst, 'u'), v), nil
	case int32:
		return appendLong(append(dst, 'I'), uint32(v)), nil
	case uint32:
		return appendLong(append(dst, 'i'), v), nil
	case int64:
		return appendLonglong(append(dst, 'l'), uint64(v)), nil
	case int:
		return appendLonglong(append(dst, 'l'), uint64(int64(v))), nil
	case uint:
		if uint64(v) > math.MaxInt64 {
			return dst, fmt.Errorf("wire: uint %d does not fit a signed 64-bit field", v)
		}
		return appendLonglong(append(dst, 'l'), uint64(v)), nil
	case uint64:
		if v > math.MaxInt64 {
			return dst, fmt.Errorf("wire: uint64 %d does not fit a signed 64-bit field", v)
		}
		return appendLonglong(append(dst, 'l'), v), nil
	case float32:
		return appendLong(append(dst, 'f'), math.Float32bits(v)), nil
	case float64:
		return appendLonglong(append(dst, 'd'), math.Float64bits(v)), nil
	case Decimal:
		return appendLong(append(dst, 'D', v.Scale), uint32(v.Value)), nil
	case string:
		if uint64(len(v)) > math.MaxUint32 {
			return dst, fmt.Errorf("wire: string of %d bytes is too long", len(v))
		}
		return appendLongstr(append(dst, 'S'), v), nil
	case []byte:
		if uint64(len(v)) > math.MaxUint32 {
			return dst, fmt.Errorf("wire: byte array of %d bytes is too long", len(v))
		}
		dst = appendLong(append(dst, 'x'), uint32(len(v)))
		return append(dst, v...), nil
	case time.Time:
		return appendLonglong(append(dst, 'T'), uint64(v.Unix())), nil
	case Table:
		return appendTable(append(dst, 'F'), v, depth+1)
	case map[string]any:
		return appendTable(append(dst, 'F'), v, depth+1)
	case []any:
		return appendArray(append(dst, 'A'), v, depth+1)
	case []string:
		dst = append(dst, 'A')
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		for _, s := range v {
			dst = appendLongstr(append(dst, 'S'), s)
		}
		return patchLength(dst, start)
	}
	return dst, fmt.Errorf("wire: unsupported field value type %T", v)
}
