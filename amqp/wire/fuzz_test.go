package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// Seeds beyond these live in testdata/fuzz/<Target>/: frames amqp091-go sent to this
// codec (regenerate with go test -run Amqp091 -update-seeds) and crashers found.

// sameValue compares two decoded values structurally, treating NaN as equal to NaN
// (reflect.DeepEqual does not); %#v prints map keys in sorted order.
func sameValue(a, b any) bool { return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) }

// checkCodecError fails unless err is a hard exception with a code the decoders use.
func checkCodecError(t *testing.T, err error) {
	t.Helper()
	var e *Exception
	if !errors.As(err, &e) || !e.Hard || (e.Code != SyntaxError && e.Code != FrameError && e.Code != NotImplemented) {
		t.Fatalf("error %v (%T) is not a 501, 502 or 540 exception", err, err)
	}
}

// checkMethodRoundTrip decodes payload both ways and, if it decodes, checks that the
// re-encoding decodes to the same method and is a fixpoint.
func checkMethodRoundTrip(t *testing.T, ms *Methods, payload []byte) {
	t.Helper()
	m, err := DecodeMethod(payload)
	m2, err2 := ms.Decode(payload)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("DecodeMethod and Methods.Decode disagree: %v, %v", err, err2)
	}
	if err != nil {
		checkCodecError(t, err)
		return
	}
	if !sameValue(m, m2) {
		t.Fatalf("DecodeMethod %#v, Methods.Decode %#v", m, m2)
	}
	enc := m.Append(nil)
	back, err := DecodeMethod(enc)
	if err != nil {
		t.Fatalf("re-encoded %s does not decode: %v\n% x", m.Name(), err, enc)
	}
	if !sameValue(m, back) {
		t.Fatalf("round trip:\n%#v\n%#v", m, back)
	}
	if again := back.Append(nil); !bytes.Equal(again, enc) {
		t.Fatalf("encoding is not a fixpoint:\n% x\n% x", enc, again)
	}
}

// checkProperties checks a valid property list against the accessors and Properties.
func checkProperties(t *testing.T, h ContentHeader) {
	t.Helper()
	var p Properties
	if err := p.Decode(h.Flags, h.Props); err != nil {
		t.Fatalf("ParseContentHeader accepted what Properties.Decode refuses: %v", err)
	}
	v := h.Scan()
	if v.DeliveryMode != p.DeliveryMode || h.DeliveryMode() != p.DeliveryMode || v.Priority != p.Priority || h.Priority() != p.Priority ||
		string(v.Expiration) != p.Expiration || string(h.Expiration()) != p.Expiration ||
		string(v.UserID) != p.UserID || string(h.UserID()) != p.UserID || string(v.ReplyTo) != p.ReplyTo || string(h.ReplyTo()) != p.ReplyTo ||
		!bytes.Equal(v.Headers, h.HeadersRaw()) || (v.Expiration != nil) != (h.Flags&FlagExpiration != 0) {
		t.Fatalf("accessors %+v disagree with Properties %+v", v, p)
	}
	if v.Headers != nil {
		tb, err := DecodeTable(v.Headers)
		if err != nil || !sameValue(tb, p.Headers) {
			t.Fatalf("HeadersRaw decodes to %#v (%v), Properties has %#v", tb, err, p.Headers)
		}
	}
	flags, raw, err := p.Append(nil)
	if err != nil || flags != h.Flags&propFlags {
		t.Fatalf("Properties.Append: flags %#04x (%v), want %#04x", flags, err, h.Flags&propFlags)
	}
	if h.Flags&FlagHeaders == 0 && !bytes.Equal(raw, h.Props) {
		t.Fatalf("properties without headers re-encode differently:\n% x\n% x", h.Props, raw)
	}
	var p2 Properties
	if err := p2.Decode(flags, raw); err != nil || !sameValue(p, p2) {
		t.Fatalf("properties round trip: %v\n%#v\n%#v", err, p, p2)
	}
}

func FuzzFrameReader(f *testing.F) {
	var triple []byte
	triple = AppendMethodFrame(triple, 1, &BasicPublish{Exchange: "amq.direct", RoutingKey: "k", Mandatory: true})
	props := Properties{ContentType: "text/plain", Headers: Table{"a": int32(1)}, DeliveryMode: 2, Expiration: "100"}
	flags, raw, _ := props.Append(nil)
	triple = AppendHeaderFrame(triple, 1, ClassBasic, 5, flags, raw)
	triple = AppendBodyFrames(triple, 1, []byte("hello"), 4096)
	triple = AppendHeartbeat(triple)
	f.Add(triple, uint16(10))
	f.Add([]byte{FrameBody, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3}, uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		const frameMax = 131072
		r := NewFrameReader(&splitReader{data: data, cut: int(cut)}, frameMax)
		var ms Methods
		consumed := 0
		for i := 0; i < 1000; i++ { // bounded: each frame consumes at least 8 bytes
			fr, err := r.Next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					var e *Exception
					if !errors.As(err, &e) || !e.Hard || e.Code != FrameError {
						t.Fatalf("Next: %v (%T), want EOF or a 501", err, err)
					}
				}
				return
			}
			size := len(fr.Payload) + 8
			if size > frameMax {
				t.Fatalf("a frame of %d bytes passed frame-max %d", size, frameMax)
			}
			if !bytes.Equal(data[consumed+7:consumed+size-1], fr.Payload) || data[consumed] != fr.Type {
				t.Fatalf("frame %d payload is not the stream's bytes", i)
			}
			consumed += size
			switch fr.Type {
			case FrameMethod:
				checkMethodRoundTrip(t, &ms, fr.Payload)
			case FrameHeader:
				if h, err := ParseContentHeader(fr.Payload); err == nil {
					checkProperties(t, h)
				} else {
					checkCodecError(t, err)
				}
			case FrameBody, FrameHeartbeat:
			default:
				t.Fatalf("frame type %d passed", fr.Type)
			}
		}
	})
}

func FuzzDecodeMethod(f *testing.F) {
	for _, m := range allMethods() {
		f.Add(m.Append(nil))
	}
	f.Add((&QueueDeclare{Queue: "q", Arguments: Table{"x-max-length": int64(10), "x-dead-letter-exchange": "dlx", "a": []any{Table{"b": nil}}}}).Append(nil))
	var ms Methods
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkMethodRoundTrip(t, &ms, payload)
	})
}

func FuzzTable(f *testing.F) {
	for _, tb := range []Table{
		{}, {"a": "b"}, {"x-death": []any{Table{"count": int64(1), "reason": "expired", "queue": "q"}}},
		{"t": true, "b": int8(1), "B": uint8(2), "s": int16(3), "u": uint16(4), "I": int32(5), "i": uint32(6), "l": int64(7),
			"f": float32(8), "d": 9.0, "D": Decimal{1, 10}, "S": "s", "x": []byte{1}, "V": nil, "F": Table{}, "A": []any{}},
	} {
		raw, _ := AppendTable(nil, tb)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tb, err := DecodeTable(raw)
		n, serr := SkipTable(raw)
		if (err == nil) != (serr == nil && n == len(raw)) {
			t.Fatalf("DecodeTable (%v) and SkipTable (%d of %d, %v) disagree", err, n, len(raw), serr)
		}
		if err != nil {
			checkCodecError(t, err)
			return
		}
		for k := range tb {
			if _, _, ok := TableFind(raw, k); !ok {
				t.Fatalf("TableFind misses key %q", k)
			}
		}
		enc, err := AppendTable(nil, tb)
		if err != nil {
			t.Fatalf("a decoded table does not encode: %v", err)
		}
		back, err := DecodeTable(enc)
		if err != nil || !sameValue(tb, back) {
			t.Fatalf("round trip: %v\n%#v\n%#v", err, tb, back)
		}
		if again, _ := AppendTable(nil, back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not a fixpoint")
		}
	})
}

func FuzzContentHeader(f *testing.F) {
	p := Properties{ContentType: "application/json", Headers: Table{"k": "v"}, DeliveryMode: 2, Priority: 1,
		CorrelationID: "c", ReplyTo: "r", Expiration: "1", MessageID: "m", Type: "t", UserID: "u", AppID: "a", ClusterID: "x"}
	flags, raw, _ := p.Append(nil)
	f.Add(AppendHeaderFrame(nil, 1, ClassBasic, 10, flags, raw)[7:])
	f.Add(AppendHeaderFrame(nil, 1, ClassBasic, 0, 0, nil)[7:])
	f.Fuzz(func(t *testing.T, payload []byte) {
		h, err := ParseContentHeader(payload)
		if err != nil {
			checkCodecError(t, err)
			return
		}
		checkProperties(t, h)
	})
}
