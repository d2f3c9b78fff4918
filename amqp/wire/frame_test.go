package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestFrameReaderReadsFrames(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, 100_000) // larger than the 64 KiB bufio buffer
	var stream []byte
	stream = AppendMethodFrame(stream, 1, &BasicPublish{Exchange: "x", RoutingKey: "k"})
	stream = AppendHeaderFrame(stream, 1, ClassBasic, 3, 0, nil)
	stream = AppendBodyFrames(stream, 1, []byte("abc"), 0)
	stream = AppendHeartbeat(stream)
	stream = append(stream, frame(FrameBody, 7, big)...)
	stream = append(stream, frame(FrameBody, 65535, nil)...)

	want := []struct {
		typ     uint8
		channel uint16
		size    int
	}{
		{FrameMethod, 1, len((&BasicPublish{Exchange: "x", RoutingKey: "k"}).Append(nil))},
		{FrameHeader, 1, 14},
		{FrameBody, 1, 3},
		{FrameHeartbeat, 0, 0},
		{FrameBody, 7, len(big)},
		{FrameBody, 65535, 0},
	}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := NewFrameReader(mk(), 200_000)
			for i, w := range want {
				f, err := r.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Type != w.typ || f.Channel != w.channel || len(f.Payload) != w.size {
					t.Fatalf("frame %d: got type %d channel %d size %d, want %+v", i, f.Type, f.Channel, len(f.Payload), w)
				}
				if w.size == len(big) && !bytes.Equal(f.Payload, big) {
					t.Fatalf("frame %d: large payload differs", i)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after the last frame: got %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	good := frame(FrameMethod, 0, []byte{0, 10, 0, 51})
	badEnd := append([]byte(nil), good...)
	badEnd[len(badEnd)-1] = 0xCD
	bigBadEnd := frame(FrameBody, 1, make([]byte, 70_000))
	bigBadEnd[len(bigBadEnd)-1] = 0
	cases := []struct {
		name     string
		data     []byte
		frameMax uint32
		code     uint16 // 0: want ioErr
		ioErr    error
	}{
		{"empty stream", nil, 4096, 0, io.EOF},
		{"header cut", good[:3], 4096, 0, io.ErrUnexpectedEOF},
		{"payload cut", good[:9], 4096, 0, io.ErrUnexpectedEOF},
		{"end octet missing", good[:len(good)-1], 4096, 0, io.ErrUnexpectedEOF},
		{"large payload cut", frame(FrameBody, 1, make([]byte, 70_000))[:50_000], 1 << 20, 0, io.ErrUnexpectedEOF},
		{"bad end octet", badEnd, 4096, FrameError, nil},
		{"bad end octet, large frame", bigBadEnd, 1 << 20, FrameError, nil},
		{"frame type 0", frame(0, 0, nil), 4096, FrameError, nil},
		{"frame type 4", frame(4, 0, nil), 4096, FrameError, nil},
		{"frame type 206", frame(206, 0, nil), 4096, FrameError, nil},
		{"heartbeat with payload", frame(FrameHeartbeat, 0, []byte{1}), 4096, FrameError, nil},
		{"one byte over frame-max", frame(FrameBody, 1, make([]byte, 4096-7)), 4096, FrameError, nil},
		{"announces 4 GiB", []byte{FrameBody, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3}, 131072, FrameError, nil},
		{"announces 4 GiB, frame-max 0", []byte{FrameBody, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF}, 0, FrameError, nil},
		{"over the ceiling with frame-max 0", frame(FrameBody, 1, make([]byte, FrameMaxCeiling-7)), 0, FrameError, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewFrameReader(bytes.NewReader(tc.data), tc.frameMax)
			_, err := r.Next()
			if tc.code == 0 {
				if !errors.Is(err, tc.ioErr) {
					t.Fatalf("got %v, want %v", err, tc.ioErr)
				}
				var e *Exception
				if errors.As(err, &e) {
					t.Fatalf("an I/O error came back as an exception: %v", e)
				}
				return
			}
			wantException(t, err, tc.code)
		})
	}
}

func TestFrameReaderExactlyFrameMax(t *testing.T) {
	data := frame(FrameBody, 1, make([]byte, 4096-8))
	r := NewFrameReader(bytes.NewReader(data), 4096)
	if f, err := r.Next(); err != nil || len(f.Payload) != 4096-8 {
		t.Fatalf("a frame of exactly frame-max: got %d bytes, %v", len(f.Payload), err)
	}
}

// A frame announcing 4 GiB is refused after its 7-byte header: nothing more is read
// and nothing is allocated for it (garagemq's make([]byte, size+1) wraps and crashes).
func TestFrameReaderHugeFrameReadsAndAllocatesNothing(t *testing.T) {
	hdr := []byte{FrameBody, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF}
	c := &countingReader{r: bytes.NewReader(append(hdr, make([]byte, 1000)...))}
	r := NewFrameReader(iotest.OneByteReader(c), 131072)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.Next()
	runtime.ReadMemStats(&after)
	wantException(t, err, FrameError)
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
		t.Fatalf("refusing the frame allocated %d bytes", n)
	}
	if c.n != 7 {
		t.Fatalf("read %d bytes of the stream, want only the 7-byte header", c.n)
	}
	if r.buf != nil {
		t.Fatalf("allocated a payload buffer of %d bytes", cap(r.buf))
	}
}

func TestFrameReaderSetFrameMax(t *testing.T) {
	data := frame(FrameBody, 1, make([]byte, 5000))
	r := NewFrameReader(bytes.NewReader(append(append([]byte(nil), data...), data...)), 4096)
	if _, err := r.Next(); err == nil {
		t.Fatal("a 5008-byte frame passed frame-max 4096")
	}
	r = NewFrameReader(bytes.NewReader(data), 4096)
	r.SetFrameMax(131072)
	if _, err := r.Next(); err != nil {
		t.Fatalf("after SetFrameMax(131072): %v", err)
	}
}

func TestFrameReaderBuffered(t *testing.T) {
	one := AppendHeartbeat(nil)
	r := NewFrameReader(bytes.NewReader(append(append([]byte(nil), one...), one...)), 4096)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got := r.Buffered(); got != len(one) {
		t.Fatalf("Buffered() = %d after one of two frames, want %d", got, len(one))
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if got := r.Buffered(); got != 0 {
		t.Fatalf("Buffered() = %d after the last frame, want 0", got)
	}
}

func TestFrameReaderNextAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var stream []byte
	stream = AppendMethodFrame(stream, 1, &BasicPublish{Exchange: "amq.direct", RoutingKey: "orders"})
	stream = AppendHeaderFrame(stream, 1, ClassBasic, 100_000, 0, nil)
	stream = AppendBodyFrames(stream, 1, make([]byte, 100_000), 131072) // one frame larger than the bufio buffer
	r := NewFrameReader(&loopReader{data: stream}, 131072)
	for range 10 { // warm up: grow the large-frame buffer
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("FrameReader.Next allocates %v times per frame, want 0", n)
	}
}

func TestAppendBodyFrames(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	cases := []struct {
		frameMax uint32
		sizes    []int
	}{
		{4096, []int{4088, 4088, 1824}},
		{10008, []int{10000}},
		{10007, []int{9999, 1}},
		{0, []int{10000}},
	}
	for _, tc := range cases {
		out := AppendBodyFrames([]byte("prefix"), 3, body, tc.frameMax)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("frameMax %d: dst prefix lost", tc.frameMax)
		}
		r := NewFrameReader(bytes.NewReader(out[len("prefix"):]), tc.frameMax)
		var got []byte
		for i, size := range tc.sizes {
			f, err := r.Next()
			if err != nil {
				t.Fatalf("frameMax %d, frame %d: %v", tc.frameMax, i, err)
			}
			if f.Type != FrameBody || f.Channel != 3 || len(f.Payload) != size {
				t.Fatalf("frameMax %d, frame %d: type %d channel %d size %d, want body on 3 of %d", tc.frameMax, i, f.Type, f.Channel, len(f.Payload), size)
			}
			got = append(got, f.Payload...)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("frameMax %d: extra frames (%v)", tc.frameMax, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("frameMax %d: body differs", tc.frameMax)
		}
	}
	if out := AppendBodyFrames(nil, 1, nil, 4096); len(out) != 0 {
		t.Fatalf("an empty body gave %d bytes of frames, want none", len(out))
	}
}

func TestAppendFramesExactBytes(t *testing.T) {
	if got, want := AppendHeartbeat(nil), []byte{8, 0, 0, 0, 0, 0, 0, 0xCE}; !bytes.Equal(got, want) {
		t.Fatalf("heartbeat: % x, want % x", got, want)
	}
	got := AppendMethodFrame(nil, 0x0102, &ConnectionTuneOk{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60})
	want := []byte{1, 1, 2, 0, 0, 0, 12, 0, 10, 0, 31, 0x07, 0xFF, 0, 2, 0, 0, 0, 60, 0xCE}
	if !bytes.Equal(got, want) {
		t.Fatalf("tune-ok frame:\n got % x\nwant % x", got, want)
	}
	got = AppendHeaderFrame(nil, 5, ClassBasic, 0x0102030405060708, FlagDeliveryMode, []byte{2})
	want = []byte{2, 0, 5, 0, 0, 0, 15, 0, 60, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0, 2, 0xCE}
	if !bytes.Equal(got, want) {
		t.Fatalf("header frame:\n got % x\nwant % x", got, want)
	}
}

func TestAppendFramesAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	deliver := &BasicDeliver{ConsumerTag: "ctag-1", DeliveryTag: 42, Exchange: "amq.direct", RoutingKey: "orders"}
	props := []byte{2}
	body := make([]byte, 300)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(1000, func() {
		buf = AppendMethodFrame(buf[:0], 1, deliver)
		buf = AppendHeaderFrame(buf, 1, ClassBasic, uint64(len(body)), FlagDeliveryMode, props)
		buf = AppendBodyFrames(buf, 1, body, 131072)
	}); n != 0 {
		t.Fatalf("appending deliver+header+body allocates %v times, want 0", n)
	}
}
