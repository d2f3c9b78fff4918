package wire

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func fullProperties() Properties {
	return Properties{
		ContentType: "application/json", ContentEncoding: "gzip",
		Headers:      Table{"x-death": []any{Table{"count": int64(1)}}, "h": "v"},
		DeliveryMode: 2, Priority: 9, CorrelationID: "corr", ReplyTo: "amq.rabbitmq.reply-to",
		Expiration: "60000", MessageID: "m-1", Timestamp: time.Unix(1700000000, 0).UTC(),
		Type: "order.created", UserID: "guest", AppID: "app", ClusterID: "c1",
	}
}

func headerPayload(classID uint16, bodySize uint64, flags uint16, props []byte) []byte {
	f := AppendHeaderFrame(nil, 1, classID, bodySize, flags, props)
	return f[7 : len(f)-1]
}

func TestPropertiesRoundTrip(t *testing.T) {
	p := fullProperties()
	flags, raw, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if flags != 0xFFFC {
		t.Fatalf("flags = %#04x, want all 14 bits (0xfffc)", flags)
	}
	h, err := ParseContentHeader(headerPayload(ClassBasic, 12345, flags, raw))
	if err != nil {
		t.Fatal(err)
	}
	if h.ClassID != ClassBasic || h.BodySize != 12345 || h.Flags != flags || !bytes.Equal(h.Props, raw) || h.Weight != 0 {
		t.Fatalf("header = %+v", h)
	}
	var back Properties
	if err := back.Decode(h.Flags, h.Props); err != nil {
		t.Fatal(err)
	}
	p.Flags = flags
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", back, p)
	}

	// Accessors and Scan read the same values without decoding.
	v := h.Scan()
	hdrs, _ := AppendTable(nil, p.Headers)
	if h.DeliveryMode() != 2 || h.Priority() != 9 || string(h.Expiration()) != "60000" || string(h.UserID()) != "guest" ||
		string(h.ReplyTo()) != "amq.rabbitmq.reply-to" || !bytes.Equal(h.HeadersRaw(), hdrs) {
		t.Fatalf("accessors: %d %d %q %q %q", h.DeliveryMode(), h.Priority(), h.Expiration(), h.UserID(), h.ReplyTo())
	}
	want := PropView{DeliveryMode: 2, Priority: 9, Expiration: []byte("60000"), UserID: []byte("guest"), ReplyTo: []byte("amq.rabbitmq.reply-to"), Headers: hdrs}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("Scan() = %+v", v)
	}
}

// Each property on its own: its flag bit is the spec's and the accessors find it.
func TestPropertiesOneByOne(t *testing.T) {
	full := fullProperties()
	fv := reflect.ValueOf(full)
	bits := []uint16{FlagContentType, FlagContentEncoding, FlagHeaders, FlagDeliveryMode, FlagPriority, FlagCorrelationID,
		FlagReplyTo, FlagExpiration, FlagMessageID, FlagTimestamp, FlagType, FlagUserID, FlagAppID, FlagClusterID}
	for i, bit := range bits {
		var p Properties
		pv := reflect.ValueOf(&p).Elem()
		pv.Field(i + 1).Set(fv.Field(i + 1)) // field 0 is Flags
		flags, raw, err := p.Append(nil)
		if err != nil || flags != bit {
			t.Fatalf("%s: flags %#04x (%v), want %#04x", pv.Type().Field(i+1).Name, flags, err, bit)
		}
		h, err := ParseContentHeader(headerPayload(ClassBasic, 0, flags, raw))
		if err != nil {
			t.Fatal(err)
		}
		var back Properties
		if err := back.Decode(flags, raw); err != nil || !reflect.DeepEqual(back.Flags, bit) || !reflect.DeepEqual(pv.Field(i+1).Interface(), reflect.ValueOf(back).Field(i+1).Interface()) {
			t.Fatalf("%s: decoded %#v, %v", pv.Type().Field(i+1).Name, back, err)
		}
		if v := h.Scan(); (v.DeliveryMode != 0) != (bit == FlagDeliveryMode) || (v.Expiration != nil) != (bit == FlagExpiration) ||
			(v.Headers != nil) != (bit == FlagHeaders) || (v.UserID != nil) != (bit == FlagUserID) || (v.ReplyTo != nil) != (bit == FlagReplyTo) {
			t.Fatalf("%s: Scan() = %+v", pv.Type().Field(i+1).Name, v)
		}
	}
}

func TestPropertiesPresentButEmpty(t *testing.T) {
	// An empty content-type that the publisher sent stays present.
	raw := []byte{0}
	var p Properties
	if err := p.Decode(FlagContentType, raw); err != nil {
		t.Fatal(err)
	}
	flags, out, _ := p.Append(nil)
	if flags != FlagContentType || !bytes.Equal(out, raw) {
		t.Fatalf("got %#04x % x", flags, out)
	}
	h, _ := ParseContentHeader(headerPayload(ClassBasic, 0, FlagExpiration, []byte{0}))
	if e := h.Expiration(); e == nil || len(e) != 0 {
		t.Fatalf("present empty expiration = %#v, want empty non-nil", e)
	}
	h, _ = ParseContentHeader(headerPayload(ClassBasic, 0, 0, nil))
	if h.Expiration() != nil || h.HeadersRaw() != nil || h.DeliveryMode() != 0 {
		t.Fatal("absent properties read as present")
	}
}

func TestParseContentHeaderErrors(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"13 bytes", make([]byte, 13)},
		{"continuation bit", headerPayload(ClassBasic, 0, 1, nil)},
		{"bytes after the properties", headerPayload(ClassBasic, 0, 0, []byte{0})},
		{"shortstr past the end", headerPayload(ClassBasic, 0, FlagContentType, []byte{5, 'a'})},
		{"octet missing", headerPayload(ClassBasic, 0, FlagDeliveryMode|FlagPriority, []byte{2})},
		{"timestamp cut", headerPayload(ClassBasic, 0, FlagTimestamp, []byte{0, 0, 0})},
		{"headers with a bad tag", headerPayload(ClassBasic, 0, FlagHeaders, tableOf([]byte{1, 'k', 'Z'}))},
		{"headers cut", headerPayload(ClassBasic, 0, FlagHeaders, []byte{0, 0, 0, 5, 1})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseContentHeader(tc.payload)
			wantException(t, err, SyntaxError)
			if len(tc.payload) >= 14 {
				var p Properties
				wantException(t, p.Decode(uint16(tc.payload[12])<<8|uint16(tc.payload[13]), tc.payload[14:]), SyntaxError)
			}
		})
	}
}

func TestContentHeaderAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := fullProperties()
	flags, raw, _ := p.Append(nil)
	payload := headerPayload(ClassBasic, 100, flags, raw)
	if n := testing.AllocsPerRun(1000, func() {
		h, err := ParseContentHeader(payload)
		if err != nil {
			t.Fatal(err)
		}
		_ = h.DeliveryMode() + h.Priority()
		_, _, _, _ = h.Expiration(), h.UserID(), h.ReplyTo(), h.HeadersRaw()
		_ = h.Scan()
	}); n != 0 {
		t.Fatalf("ParseContentHeader and the accessors allocate %v times, want 0", n)
	}
}

// Flag bit 1 names no property of class basic; RabbitMQ's generated decode_properties
// ignores it, and so do the accessors, Decode and Append.
func TestPropertiesUnusedFlagBit(t *testing.T) {
	h, err := ParseContentHeader(headerPayload(ClassBasic, 0, FlagPriority|2, []byte{5}))
	if err != nil || h.Priority() != 5 {
		t.Fatalf("priority %d, %v", h.Priority(), err)
	}
	var p Properties
	if err := p.Decode(h.Flags, h.Props); err != nil || p.Flags != FlagPriority || p.Priority != 5 {
		t.Fatalf("Decode: %+v, %v", p, err)
	}
	flags, raw, _ := p.Append(nil)
	if flags != FlagPriority || string(raw) != "\x05" {
		t.Fatalf("Append: %#04x % x", flags, raw)
	}
}
