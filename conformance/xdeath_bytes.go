package conformance

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The bytes of a dead-lettered message's content header (AMQP 0-9-1 §4.2.6: class-id, weight, body size,
// property flags, property list), parsed just enough to compare two brokers' x-death headers byte for
// byte: the headers table (§4.2.5.5, with RabbitMQ's type tags) keeps its entries in wire order, each value
// its tag and its encoded bytes, so encoding a parsed header gives back exactly the input. Like raw.go, this
// shares nothing with warren's codec on purpose.

// xval is one encoded field value: its type tag, and either its encoded bytes after the tag (scalars,
// including the length of 'S' and 'x'), its entries ('F') or its elements ('A'). off is where the bytes
// after the tag start in the parsed buffer.
type xval struct {
	tag   byte
	raw   []byte
	table []xfield
	arr   []xval
	off   int
}

// xfield is one table entry, in wire order.
type xfield struct {
	key string
	val xval
}

// xheader is a content header frame's payload with its headers table parsed.
type xheader struct {
	pre     []byte   // class-id, weight, body size, flags, content-type, content-encoding: raw
	headers []xfield // nil when the headers flag is clear
	post    []byte   // the properties after headers, raw
	hasHdrs bool
}

// Property flags before headers (§4.2.6.1, basic class): content-type, content-encoding, headers.
const (
	flagContentType     = 0x8000
	flagContentEncoding = 0x4000
	flagHeaders         = 0x2000
)

type xparser struct {
	b   []byte
	pos int
}

func (p *xparser) need(n int) error {
	if n < 0 || p.pos+n > len(p.b) {
		return fmt.Errorf("truncated at offset %d (need %d bytes, %d left)", p.pos, n, len(p.b)-p.pos)
	}
	return nil
}

// fixedSize is the size after the tag of RabbitMQ's fixed-size field types (rabbit_binary_parser).
var fixedSize = map[byte]int{'t': 1, 'b': 1, 'B': 1, 's': 2, 'u': 2, 'I': 4, 'i': 4, 'l': 8, 'L': 8, 'f': 4, 'd': 8, 'D': 5, 'T': 8, 'V': 0}

func (p *xparser) value(tag byte, depth int) (xval, error) {
	if depth > 20 {
		return xval{}, fmt.Errorf("nesting deeper than 20 at offset %d", p.pos)
	}
	v := xval{tag: tag, off: p.pos}
	switch tag {
	case 'S', 'x':
		if err := p.need(4); err != nil {
			return v, err
		}
		n := int(binary.BigEndian.Uint32(p.b[p.pos:]))
		if err := p.need(4 + n); err != nil {
			return v, err
		}
		v.raw = p.b[p.pos : p.pos+4+n]
		p.pos += 4 + n
	case 'F':
		fs, err := p.table(depth + 1)
		if err != nil {
			return v, err
		}
		v.table = fs
	case 'A':
		if err := p.need(4); err != nil {
			return v, err
		}
		end := p.pos + 4 + int(binary.BigEndian.Uint32(p.b[p.pos:]))
		p.pos += 4
		if end > len(p.b) {
			return v, fmt.Errorf("array at offset %d overruns the header", v.off)
		}
		v.arr = []xval{}
		for p.pos < end {
			t := p.b[p.pos]
			p.pos++
			e, err := p.value(t, depth+1)
			if err != nil {
				return v, err
			}
			v.arr = append(v.arr, e)
		}
		if p.pos != end {
			return v, fmt.Errorf("array at offset %d: last element overruns it", v.off)
		}
	default:
		n, ok := fixedSize[tag]
		if !ok {
			return v, fmt.Errorf("unknown field type %q at offset %d", tag, p.pos-1)
		}
		if err := p.need(n); err != nil {
			return v, err
		}
		v.raw = p.b[p.pos : p.pos+n]
		p.pos += n
	}
	return v, nil
}

// table parses a field table: its 4-byte length, then entries (short string name, tag, value).
func (p *xparser) table(depth int) ([]xfield, error) {
	if err := p.need(4); err != nil {
		return nil, err
	}
	start := p.pos
	end := p.pos + 4 + int(binary.BigEndian.Uint32(p.b[p.pos:]))
	p.pos += 4
	if end > len(p.b) {
		return nil, fmt.Errorf("table at offset %d overruns the header", start)
	}
	fs := []xfield{}
	for p.pos < end {
		n := int(p.b[p.pos])
		p.pos++
		if err := p.need(n + 1); err != nil {
			return nil, err
		}
		key := string(p.b[p.pos : p.pos+n])
		p.pos += n
		tag := p.b[p.pos]
		p.pos++
		v, err := p.value(tag, depth)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		fs = append(fs, xfield{key: key, val: v})
	}
	if p.pos != end {
		return nil, fmt.Errorf("table at offset %d: last entry overruns it", start)
	}
	return fs, nil
}

// parseXHeader parses a content header frame's payload.
func parseXHeader(b []byte) (xheader, error) {
	p := &xparser{b: b}
	if err := p.need(14); err != nil {
		return xheader{}, err
	}
	flags := binary.BigEndian.Uint16(b[12:14])
	p.pos = 14
	for _, f := range []uint16{flagContentType, flagContentEncoding} {
		if flags&f != 0 {
			if err := p.need(1); err != nil {
				return xheader{}, err
			}
			n := int(b[p.pos])
			if err := p.need(1 + n); err != nil {
				return xheader{}, err
			}
			p.pos += 1 + n
		}
	}
	h := xheader{pre: b[:p.pos]}
	if flags&flagHeaders != 0 {
		fs, err := p.table(1)
		if err != nil {
			return xheader{}, fmt.Errorf("headers: %w", err)
		}
		h.headers, h.hasHdrs = fs, true
	}
	h.post = b[p.pos:]
	return h, nil
}

func appendXValue(dst []byte, v xval) []byte {
	switch {
	case v.tag == 'F':
		return appendXTable(dst, v.table)
	case v.tag == 'A':
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		for _, e := range v.arr {
			dst = appendXValue(append(dst, e.tag), e)
		}
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
		return dst
	}
	return append(dst, v.raw...)
}

func appendXTable(dst []byte, fs []xfield) []byte {
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, f := range fs {
		dst = append(dst, byte(len(f.key)))
		dst = append(dst, f.key...)
		dst = appendXValue(append(dst, f.val.tag), f.val)
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// bytes encodes h back; for a parsed header it is the input.
func (h xheader) bytes() []byte {
	out := append([]byte(nil), h.pre...)
	if h.hasHdrs {
		out = appendXTable(out, h.headers)
	}
	return append(out, h.post...)
}

func (h xheader) find(key string) (xval, bool) {
	for _, f := range h.headers {
		if f.key == key {
			return f.val, true
		}
	}
	return xval{}, false
}

func findField(fs []xfield, key string) (xval, bool) {
	for _, f := range fs {
		if f.key == key {
			return f.val, true
		}
	}
	return xval{}, false
}

// timeOffsets returns where the 8 bytes of each x-death entry's "time" timestamp start: the fields that
// differ from run to run, masked in golden files.
func (h xheader) timeOffsets() []int {
	var offs []int
	xd, ok := h.find("x-death")
	if !ok || xd.tag != 'A' {
		return nil
	}
	for _, e := range xd.arr {
		if e.tag != 'F' {
			continue
		}
		if t, ok := findField(e.table, "time"); ok && t.tag == 'T' {
			offs = append(offs, t.off)
		}
	}
	return offs
}

// xdeathTimes decodes the x-death entries' times (Unix seconds), in order.
func (h xheader) xdeathTimes() []int64 {
	var ts []int64
	xd, _ := h.find("x-death")
	for _, e := range xd.arr {
		if t, ok := findField(e.table, "time"); ok && t.tag == 'T' && len(t.raw) == 8 {
			ts = append(ts, int64(binary.BigEndian.Uint64(t.raw)))
		}
	}
	return ts
}

// masked returns b with the 8 bytes at each offset zeroed, and the set of masked positions.
func masked(b []byte, offs []int) ([]byte, map[int]bool) {
	out := append([]byte(nil), b...)
	m := map[int]bool{}
	for _, o := range offs {
		for i := o; i < o+8 && i < len(out); i++ {
			out[i] = 0
			m[i] = true
		}
	}
	return out, m
}

// golden is a recorded content header: its bytes with the masked ones zeroed, and which are masked.
type golden struct {
	b    []byte
	mask map[int]bool
}

// formatGolden writes a golden file: comment lines, then 16 bytes a line in hex, ".." for a masked byte.
func formatGolden(comment string, b []byte, mask map[int]bool) string {
	var sb strings.Builder
	for _, l := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
		sb.WriteString("# " + l + "\n")
	}
	var offs []int
	for o := range mask {
		offs = append(offs, o)
	}
	sort.Ints(offs)
	if len(offs) > 0 {
		sb.WriteString("# masked (..):")
		for i, o := range offs {
			if i == 0 || offs[i-1] != o-1 {
				sb.WriteString(" " + strconv.Itoa(o))
			}
		}
		sb.WriteString(" (8 bytes each: x-death[i].time)\n")
	}
	for i := 0; i < len(b); i += 16 {
		fmt.Fprintf(&sb, "%04x:", i)
		for j := i; j < i+16 && j < len(b); j++ {
			if mask[j] {
				sb.WriteString(" ..")
			} else {
				fmt.Fprintf(&sb, " %02x", b[j])
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// parseGolden reads what formatGolden wrote.
func parseGolden(text string) (golden, error) {
	g := golden{mask: map[int]bool{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		off, err := strconv.ParseUint(strings.TrimSuffix(fields[0], ":"), 16, 32)
		if err != nil || int(off) != len(g.b) {
			return g, fmt.Errorf("line %q: offset, want %04x", line, len(g.b))
		}
		for _, f := range fields[1:] {
			if f == ".." {
				g.mask[len(g.b)] = true
				g.b = append(g.b, 0)
				continue
			}
			v, err := hex.DecodeString(f)
			if err != nil || len(v) != 1 {
				return g, fmt.Errorf("line %q: byte %q", line, f)
			}
			g.b = append(g.b, v[0])
		}
	}
	return g, sc.Err()
}

// diffBytes describes the first difference between want and got, with some context, or "" if equal.
func diffBytes(want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-24)
	hiW, hiG := min(len(want), i+24), min(len(got), i+24)
	return fmt.Sprintf("first difference at byte %d (of %d wanted, %d got):\n  want …%q…\n  got  …%q…",
		i, len(want), len(got), want[lo:hiW], got[lo:hiG])
}

// to313 turns a RabbitMQ 3.10 dead-lettered header into what RabbitMQ 3.13 writes for the same events,
// by the two differences known from rabbitmq-server's source (NOTES.md, "x-death bytes"):
//   - mc_amqpl:death_table/7 (3.13) writes every x-death entry as [original-expiration,] count, reason,
//     queue, time, exchange, routing-keys; 3.10 writes count first and original-expiration last, and
//     sorts an entry by key when it increments its count (rabbit_dead_letter:update_x_death_header/2);
//   - mc:record_death/4 (3.13) adds x-last-death-{reason,queue,exchange} (long strings) from the newest
//     event, and mc_amqpl:protocol_state/2 writes the headers sorted by key, as 3.10 does.
func to313(h xheader) xheader {
	order := []string{"original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys"}
	out := h
	out.headers = nil
	for _, f := range h.headers {
		if f.key == "x-death" && f.val.tag == 'A' {
			nv := f.val
			nv.arr = nil
			for _, e := range f.val.arr {
				if e.tag == 'F' {
					var t []xfield
					for _, k := range order {
						if v, ok := findField(e.table, k); ok {
							t = append(t, xfield{key: k, val: v})
						}
					}
					for _, g := range e.table {
						if !contains(order, g.key) {
							t = append(t, g)
						}
					}
					e.table = t
				}
				nv.arr = append(nv.arr, e)
			}
			f.val = nv
		}
		out.headers = append(out.headers, f)
	}
	if xd, ok := h.find("x-death"); ok && len(xd.arr) > 0 && xd.arr[0].tag == 'F' {
		newest := xd.arr[0].table
		for _, k := range []string{"exchange", "queue", "reason"} {
			if v, ok := findField(newest, k); ok {
				key := "x-last-death-" + k
				kept := out.headers[:0:0]
				for _, f := range out.headers {
					if f.key != key {
						kept = append(kept, f)
					}
				}
				out.headers = append(kept, xfield{key: key, val: v})
			}
		}
		sort.SliceStable(out.headers, func(i, j int) bool { return out.headers[i].key < out.headers[j].key })
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
