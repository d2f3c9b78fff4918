package wire

import (
	"encoding/binary"
	"time"
)

// Property flags of class basic (AMQP 0-9-1 §4.2.6.1 and the basic class's field
// list): the first property is bit 15, the fourteenth bit 2. Bit 0 would announce a
// further flags word, which basic's 14 properties never need.
const (
	FlagContentType     uint16 = 1 << 15
	FlagContentEncoding uint16 = 1 << 14
	FlagHeaders         uint16 = 1 << 13
	FlagDeliveryMode    uint16 = 1 << 12
	FlagPriority        uint16 = 1 << 11
	FlagCorrelationID   uint16 = 1 << 10
	FlagReplyTo         uint16 = 1 << 9
	FlagExpiration      uint16 = 1 << 8
	FlagMessageID       uint16 = 1 << 7
	FlagTimestamp       uint16 = 1 << 6
	FlagType            uint16 = 1 << 5
	FlagUserID          uint16 = 1 << 4
	FlagAppID           uint16 = 1 << 3
	FlagClusterID       uint16 = 1 << 2 // the spec's "reserved" property, cluster-id in 0-9

	flagContinuation uint16 = 1 << 0

	// propFlags are the 14 bits that name properties; bit 1 names none and, as in
	// RabbitMQ's generated decode_properties, is ignored.
	propFlags uint16 = 0xFFFC
)

// propKind is how a property is encoded.
type propKind uint8

const (
	propShortstr  propKind = iota
	propTable              // headers
	propOctet              // delivery-mode, priority
	propTimestamp          // 64-bit seconds
)

// propKinds lists basic's properties from bit 15 down to bit 2.
var propKinds = [14]propKind{
	propShortstr, propShortstr, propTable, propOctet, propOctet, propShortstr, propShortstr,
	propShortstr, propShortstr, propTimestamp, propShortstr, propShortstr, propShortstr, propShortstr,
}

// ContentHeader is a parsed content header frame payload (AMQP 0-9-1 §4.2.6.1).
// Props is the raw property list, a view into the frame: the broker reads the few
// properties it acts on through the accessors and passes Props through untouched.
type ContentHeader struct {
	ClassID  uint16
	BodySize uint64
	Flags    uint16
	Props    []byte // raw property list after the flags (view)
	Weight   uint16 // "MUST be zero"; RabbitMQ answers UNEXPECTED_FRAME (505) otherwise, so the caller checks it
}

// ParseContentHeader parses a content header frame's payload and validates its whole
// property list (lengths, table tags and nesting, no bytes left over) without
// allocating. Errors are *Exception with code SyntaxError (502).
func ParseContentHeader(payload []byte) (ContentHeader, error) {
	if len(payload) < 14 {
		return ContentHeader{}, Hard(SyntaxError, "content header of %d bytes is shorter than 14", len(payload))
	}
	h := ContentHeader{
		ClassID:  binary.BigEndian.Uint16(payload[0:2]),
		Weight:   binary.BigEndian.Uint16(payload[2:4]),
		BodySize: binary.BigEndian.Uint64(payload[4:12]),
		Flags:    binary.BigEndian.Uint16(payload[12:14]),
		Props:    payload[14:len(payload):len(payload)],
	}
	if err := validateProps(h.Flags, h.Props); err != nil {
		return ContentHeader{}, err
	}
	return h, nil
}

// validateProps checks that raw is exactly the property list flags announce.
func validateProps(flags uint16, raw []byte) error {
	if flags&flagContinuation != 0 {
		// basic has 14 properties: one flags word holds them all.
		return Hard(SyntaxError, "property flags 0x%04x: continuation bit set", flags)
	}
	b := raw
	for i, kind := range propKinds {
		if flags&(1<<(15-i)) == 0 {
			continue
		}
		n, err := propSize(kind, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	if len(b) != 0 {
		return Hard(SyntaxError, "%d bytes after the last property", len(b))
	}
	return nil
}

// propSize returns the encoded size of a property of kind at the start of b, validating
// a headers table in full.
func propSize(kind propKind, b []byte) (int, error) {
	switch kind {
	case propShortstr:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return 0, Hard(SyntaxError, "truncated property list")
		}
		return 1 + int(b[0]), nil
	case propTable:
		return SkipTable(b)
	case propOctet:
		if len(b) < 1 {
			return 0, Hard(SyntaxError, "truncated property list")
		}
		return 1, nil
	default: // propTimestamp
		if len(b) < 8 {
			return 0, Hard(SyntaxError, "truncated property list")
		}
		return 8, nil
	}
}

// prop returns the encoded property with flag bit, or nil if it is absent (or Props
// is malformed, which ParseContentHeader has ruled out). It skips tables by their
// length only: ParseContentHeader has validated them.
func (h *ContentHeader) prop(bit uint16) []byte {
	if h.Flags&bit == 0 {
		return nil
	}
	var found []byte
	h.each(func(f uint16, p []byte) bool {
		if f == bit {
			found = p
			return false
		}
		return true
	})
	return found
}

// each calls fn with the flag and the encoded bytes of every property present, in order,
// until fn returns false or the list ends. A cut-short list ends the walk (only the
// length prefixes are trusted: ParseContentHeader has validated the list).
func (h *ContentHeader) each(fn func(flag uint16, p []byte) bool) {
	b := h.Props
	for i, kind := range propKinds {
		f := uint16(1) << (15 - i)
		if h.Flags&f == 0 {
			continue
		}
		var n int
		switch kind {
		case propShortstr:
			if len(b) < 1 {
				return
			}
			n = 1 + int(b[0])
		case propTable:
			if len(b) < 4 {
				return
			}
			n = 4 + int(binary.BigEndian.Uint32(b))
			if n < 4 { // overflow on 32-bit platforms
				return
			}
		case propOctet:
			n = 1
		case propTimestamp:
			n = 8
		}
		if len(b) < n || !fn(f, b[:n:n]) {
			return
		}
		b = b[n:]
	}
}

func (h *ContentHeader) octetProp(bit uint16) uint8 {
	if p := h.prop(bit); len(p) == 1 {
		return p[0]
	}
	return 0
}

func (h *ContentHeader) shortstrProp(bit uint16) []byte {
	if p := h.prop(bit); len(p) >= 1 {
		return p[1:]
	}
	return nil
}

// DeliveryMode returns the delivery-mode property (2 is persistent), 0 if absent.
func (h *ContentHeader) DeliveryMode() uint8 { return h.octetProp(FlagDeliveryMode) }

// Priority returns the priority property, 0 if absent.
func (h *ContentHeader) Priority() uint8 { return h.octetProp(FlagPriority) }

// Expiration returns the expiration property's bytes (a view), nil if absent.
func (h *ContentHeader) Expiration() []byte { return h.shortstrProp(FlagExpiration) }

// UserID returns the user-id property's bytes (a view), nil if absent.
func (h *ContentHeader) UserID() []byte { return h.shortstrProp(FlagUserID) }

// ReplyTo returns the reply-to property's bytes (a view), nil if absent.
func (h *ContentHeader) ReplyTo() []byte { return h.shortstrProp(FlagReplyTo) }

// HeadersRaw returns the encoded headers table (a view, with its 4-byte length, as
// TableFind and DecodeTable take it), nil if absent.
func (h *ContentHeader) HeadersRaw() []byte { return h.prop(FlagHeaders) }

// PropView holds the properties the broker acts on, found in one pass over Props.
// Slices are views into the frame; absent properties are 0 or nil.
type PropView struct {
	DeliveryMode uint8
	Priority     uint8
	Expiration   []byte
	UserID       []byte
	ReplyTo      []byte
	Headers      []byte // encoded table with its 4-byte length
}

// Scan returns the properties the broker acts on in one pass, without allocating.
func (h *ContentHeader) Scan() PropView {
	var v PropView
	h.each(func(f uint16, p []byte) bool {
		switch f {
		case FlagDeliveryMode:
			v.DeliveryMode = p[0]
		case FlagPriority:
			v.Priority = p[0]
		case FlagExpiration:
			v.Expiration = p[1:]
		case FlagUserID:
			v.UserID = p[1:]
		case FlagReplyTo:
			v.ReplyTo = p[1:]
		case FlagHeaders:
			v.Headers = p
		}
		return true
	})
	return v
}

// Properties are the 14 properties of class basic, decoded. The broker decodes them only
// where it must (basic.get of a stored message for a management API, say); the
// publish→deliver path keeps the raw bytes.
//
// Flags records which properties are present: Decode sets it from the flags word, and
// Append writes a property if its flag is set here or its value is not the zero value.
// So decode→append reproduces a present-but-empty property, and a value built in Go
// needs no flags.
type Properties struct {
	Flags           uint16
	ContentType     string
	ContentEncoding string
	Headers         Table
	DeliveryMode    uint8
	Priority        uint8
	CorrelationID   string
	ReplyTo         string
	Expiration      string
	MessageID       string
	Timestamp       time.Time // seconds, UTC
	Type            string
	UserID          string
	AppID           string
	ClusterID       string
}

// Decode decodes the property list raw announced by flags (as ContentHeader holds
// them) into p, replacing every field. Errors are *Exception with code SyntaxError.
func (p *Properties) Decode(flags uint16, raw []byte) error {
	if err := validateProps(flags, raw); err != nil {
		return err
	}
	*p = Properties{Flags: flags & propFlags}
	d := decoder{b: raw}
	str := func(bit uint16) string {
		if flags&bit == 0 {
			return ""
		}
		return string(d.shortbytes())
	}
	p.ContentType = str(FlagContentType)
	p.ContentEncoding = str(FlagContentEncoding)
	if flags&FlagHeaders != 0 {
		p.Headers = d.table()
	}
	if flags&FlagDeliveryMode != 0 {
		p.DeliveryMode = d.octet()
	}
	if flags&FlagPriority != 0 {
		p.Priority = d.octet()
	}
	p.CorrelationID = str(FlagCorrelationID)
	p.ReplyTo = str(FlagReplyTo)
	p.Expiration = str(FlagExpiration)
	p.MessageID = str(FlagMessageID)
	if flags&FlagTimestamp != 0 {
		p.Timestamp = time.Unix(int64(d.longlong()), 0).UTC()
	}
	p.Type = str(FlagType)
	p.UserID = str(FlagUserID)
	p.AppID = str(FlagAppID)
	p.ClusterID = str(FlagClusterID)
	if d.err != nil { // ruled out by validateProps; kept so a bug cannot pass silently
		return d.err
	}
	return nil
}

// Append appends p's property list to dst and returns the flags word that announces
// it, for AppendHeaderFrame. It fails only if Headers holds a Go type AppendTable
// rejects; out is then dst unchanged.
func (p *Properties) Append(dst []byte) (flags uint16, out []byte, err error) {
	out = dst
	str := func(bit uint16, s string) {
		if p.Flags&bit != 0 || s != "" {
			flags |= bit
			out = appendShortstr(out, s)
		}
	}
	str(FlagContentType, p.ContentType)
	str(FlagContentEncoding, p.ContentEncoding)
	if p.Flags&FlagHeaders != 0 || p.Headers != nil {
		flags |= FlagHeaders
		if out, err = AppendTable(out, p.Headers); err != nil {
			return 0, dst, err
		}
	}
	if p.Flags&FlagDeliveryMode != 0 || p.DeliveryMode != 0 {
		flags |= FlagDeliveryMode
		out = append(out, p.DeliveryMode)
	}
	if p.Flags&FlagPriority != 0 || p.Priority != 0 {
		flags |= FlagPriority
		out = append(out, p.Priority)
	}
	str(FlagCorrelationID, p.CorrelationID)
	str(FlagReplyTo, p.ReplyTo)
	str(FlagExpiration, p.Expiration)
	str(FlagMessageID, p.MessageID)
	if p.Flags&FlagTimestamp != 0 || !p.Timestamp.IsZero() {
		flags |= FlagTimestamp
		out = appendLonglong(out, uint64(p.Timestamp.Unix()))
	}
	str(FlagType, p.Type)
	str(FlagUserID, p.UserID)
	str(FlagAppID, p.AppID)
	str(FlagClusterID, p.ClusterID)
	return flags, out, nil
}
