package wire

import (
	"errors"
	"io"
	"testing"
)

// splitReader returns data in two reads split at cut (STYLE.md §7), then io.EOF.
type splitReader struct {
	data []byte
	cut  int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if r.cut > 0 && r.cut < n {
		n = r.cut
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	r.cut -= n
	return n, nil
}

// loopReader serves data over and over, without allocating: a steady stream of frames.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// wantException fails t unless err is an *Exception with code and hardness.
func wantException(t *testing.T, err error, code uint16) *Exception {
	t.Helper()
	var e *Exception
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want an *Exception with code %d", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %d (%v), want %d", e.Code, e, code)
	}
	if !e.Hard {
		t.Fatalf("got a soft exception %v, want hard", e)
	}
	return e
}

// frame builds a raw frame.
func frame(typ uint8, channel uint16, payload []byte) []byte {
	b := []byte{typ, byte(channel >> 8), byte(channel), byte(len(payload) >> 24), byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload))}
	b = append(b, payload...)
	return append(b, FrameEnd)
}
