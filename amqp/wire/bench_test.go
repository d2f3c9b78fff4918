package wire

import (
	"fmt"
	"testing"
)

// publishTriple returns basic.publish + content header + body frames as a client sends
// them, with the properties a typical client sets.
func publishTriple(bodySize int) []byte {
	p := Properties{ContentType: "application/json", DeliveryMode: 2, Headers: Table{"x-trace": "abc"}, MessageID: "m-1"}
	flags, raw, _ := p.Append(nil)
	var b []byte
	b = AppendMethodFrame(b, 1, &BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu.created"})
	b = AppendHeaderFrame(b, 1, ClassBasic, uint64(bodySize), flags, raw)
	return AppendBodyFrames(b, 1, make([]byte, bodySize), 131072)
}

// readPublish reads one publish triple the way a connection's read loop does.
func readPublish(r *FrameReader, ms *Methods) error {
	f, err := r.Next()
	if err != nil {
		return err
	}
	m, err := ms.Decode(f.Payload)
	if err != nil {
		return err
	}
	if _, ok := m.(*BasicPublish); !ok {
		return fmt.Errorf("got %s", m.Name())
	}
	if f, err = r.Next(); err != nil {
		return err
	}
	h, err := ParseContentHeader(f.Payload)
	if err != nil {
		return err
	}
	v := h.Scan()
	_ = v
	for got := uint64(0); got < h.BodySize; {
		if f, err = r.Next(); err != nil {
			return err
		}
		got += uint64(len(f.Payload))
	}
	return nil
}

// BenchmarkReadPublish: FrameReader.Next, Methods.Decode and ParseContentHeader (+ Scan)
// for a publish + header + body triple. Must be 0 allocs/op.
func BenchmarkReadPublish(b *testing.B) {
	for _, size := range []int{16, 1024, 100_000} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			data := publishTriple(size)
			r := NewFrameReader(&loopReader{data: data}, 131072)
			var ms Methods
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := readPublish(r, &ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestReadPublishAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, size := range []int{16, 100_000} {
		r := NewFrameReader(&loopReader{data: publishTriple(size)}, 131072)
		var ms Methods
		if err := readPublish(r, &ms); err != nil { // warm up
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(500, func() {
			if err := readPublish(r, &ms); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("body %d: reading a publish triple allocates %v times, want 0", size, n)
		}
	}
}

func BenchmarkMethodsDecodePublish(b *testing.B) {
	payload := (&BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu.created"}).Append(nil)
	var ms Methods
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ms.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMethodPublish is the allocating variant, for comparison.
func BenchmarkDecodeMethodPublish(b *testing.B) {
	payload := (&BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu.created"}).Append(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMethod(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseContentHeader(b *testing.B) {
	p := Properties{ContentType: "application/json", DeliveryMode: 2, Headers: Table{"x-trace": "abc"}, MessageID: "m-1"}
	flags, raw, _ := p.Append(nil)
	payload := headerPayload(ClassBasic, 1024, flags, raw)
	b.ReportAllocs()
	for b.Loop() {
		h, err := ParseContentHeader(payload)
		if err != nil {
			b.Fatal(err)
		}
		_ = h.Scan()
	}
}

// BenchmarkAppendDeliver: basic.deliver + header (raw properties) + body, as a
// consumer's writer encodes them. Must be 0 allocs/op.
func BenchmarkAppendDeliver(b *testing.B) {
	p := Properties{ContentType: "application/json", DeliveryMode: 2, Headers: Table{"x-trace": "abc"}, MessageID: "m-1"}
	flags, raw, _ := p.Append(nil)
	for _, size := range []int{16, 1024, 100_000} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			body := make([]byte, size)
			deliver := &BasicDeliver{ConsumerTag: "amq.ctag-1", DeliveryTag: 1, Exchange: "amq.topic", RoutingKey: "orders.eu.created"}
			buf := make([]byte, 0, size+4096)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				deliver.DeliveryTag++
				buf = AppendMethodFrame(buf[:0], 1, deliver)
				buf = AppendHeaderFrame(buf, 1, ClassBasic, uint64(len(body)), flags, raw)
				buf = AppendBodyFrames(buf, 1, body, 131072)
			}
		})
	}
}

func BenchmarkTableFind(b *testing.B) {
	raw, _ := AppendTable(nil, Table{"x-match": "all", "format": "pdf", "type": "report", "x-priority": int32(5)})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := TableFind(raw, "type"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkDecodeTable(b *testing.B) {
	raw, _ := AppendTable(nil, Table{"x-match": "all", "format": "pdf", "type": "report", "x-priority": int32(5)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTable(raw); err != nil {
			b.Fatal(err)
		}
	}
}
