package wire

import (
	"bufio"
	"encoding/binary"
	"io"
)

// FrameMaxCeiling is the largest frame, in bytes including the 7-byte header and the
// end octet, that a FrameReader accepts when it is given frame-max 0. The spec reads
// frame-max 0 as "no limit"; warren never does. 1 MiB is eight times RabbitMQ's default
// frame_max (131072), which is what warren negotiates.
const FrameMaxCeiling = 1 << 20

// frameOverhead is the header (type, channel, size: 7 bytes) plus the end octet
// (AMQP 0-9-1 §4.2.3). frame-max counts the whole frame.
const frameOverhead = 8

// readBufferSize is the FrameReader's bufio.Reader size: frames that fit are returned
// as views into it without a copy.
const readBufferSize = 64 << 10

// Frame is one AMQP frame (AMQP 0-9-1 §4.2.3). Payload is a view into the FrameReader's
// buffers, valid until its next Next.
type Frame struct {
	Type    uint8
	Channel uint16
	Payload []byte
}

// FrameReader reads frames from a stream. It is owned by one goroutine (a
// connection's read loop); all its fields are.
type FrameReader struct {
	br       *bufio.Reader // wraps the stream; frames that fit are views into it
	frameMax uint32        // largest frame accepted, overhead included; 0 means FrameMaxCeiling
	buf      []byte        // payload + end octet of frames larger than br's buffer; reused, at most frameMax
}

// NewFrameReader returns a reader of frames from r, buffered with its own 64 KiB
// bufio.Reader, that refuses frames larger than frameMax bytes (header and end octet
// included; 0 means FrameMaxCeiling).
func NewFrameReader(r io.Reader, frameMax uint32) *FrameReader {
	return &FrameReader{br: bufio.NewReaderSize(r, readBufferSize), frameMax: frameMax}
}

// SetFrameMax changes the frame-max limit (after connection.tune-ok); 0 means
// FrameMaxCeiling. A limit above FrameMaxCeiling is lowered to it.
func (r *FrameReader) SetFrameMax(frameMax uint32) {
	r.frameMax = frameMax
	if r.buf != nil && uint64(cap(r.buf)) > uint64(r.limit()) {
		r.buf = nil // never hold more than the limit allows
	}
}

// limit is the effective frame-max.
func (r *FrameReader) limit() uint32 {
	if r.frameMax == 0 || r.frameMax > FrameMaxCeiling {
		return FrameMaxCeiling
	}
	return r.frameMax
}

// Buffered returns the number of bytes already read from the stream and not yet
// returned as frames: a read loop can keep handling frames without a system call
// while it is non-zero, and flush its writes once it reaches 0.
func (r *FrameReader) Buffered() int { return r.br.Buffered() }

// Next reads the next frame. It checks the announced size against frame-max before
// it reads or allocates anything for the payload, checks the frame type, and checks
// the end octet; each failure is a hard FrameError (501) exception. Errors of the
// stream are returned unchanged, except that a stream ending inside a frame is
// io.ErrUnexpectedEOF; io.EOF means it ended between frames.
func (r *FrameReader) Next() (Frame, error) {
	hdr, err := r.br.Peek(7)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	typ := hdr[0]
	channel := binary.BigEndian.Uint16(hdr[1:3])
	size := binary.BigEndian.Uint32(hdr[3:7])
	// AMQP 0-9-1 §4.2.3: a peer MUST NOT send frames larger than the negotiated
	// frame-max; RabbitMQ answers FRAME_ERROR. Checked before anything else is read.
	if limit := r.limit(); uint64(size)+frameOverhead > uint64(limit) {
		return Frame{}, Hard(FrameError, "frame size %d exceeds frame-max %d", uint64(size)+frameOverhead, limit)
	}
	switch typ {
	case FrameMethod, FrameHeader, FrameBody:
	case FrameHeartbeat:
		// RabbitMQ's rabbit_command_assembler:analyze_frame takes heartbeats with an
		// empty payload only; anything else is a frame error.
		if size != 0 {
			return Frame{}, Hard(FrameError, "heartbeat frame with a payload of %d bytes", size)
		}
	default:
		return Frame{}, Hard(FrameError, "unknown frame type %d", typ)
	}

	total := int(size) + frameOverhead
	if total <= r.br.Size() {
		p, err := r.br.Peek(total)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if p[total-1] != FrameEnd {
			return Frame{}, Hard(FrameError, "frame end octet is 0x%02x, not 0xCE", p[total-1])
		}
		if _, err := r.br.Discard(total); err != nil { // cannot fail: the bytes are buffered
			return Frame{}, err
		}
		return Frame{Type: typ, Channel: channel, Payload: p[7 : total-1 : total-1]}, nil
	}

	// Larger than the bufio buffer: read into our own, grown to at most frame-max.
	if _, err := r.br.Discard(7); err != nil {
		return Frame{}, err
	}
	need := int(size) + 1
	if cap(r.buf) < need {
		r.buf = make([]byte, need)
	}
	buf := r.buf[:need]
	if _, err := io.ReadFull(r.br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	if buf[size] != FrameEnd {
		return Frame{}, Hard(FrameError, "frame end octet is 0x%02x, not 0xCE", buf[size])
	}
	return Frame{Type: typ, Channel: channel, Payload: buf[:size:size]}, nil
}

// appendFrameHeader appends a frame header with a zero size, to be patched by endFrame.
func appendFrameHeader(dst []byte, typ uint8, channel uint16) []byte {
	return append(dst, typ, byte(channel>>8), byte(channel), 0, 0, 0, 0)
}

// endFrame patches the size of the frame whose header starts at start and appends
// the end octet.
func endFrame(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start+3:start+7], uint32(len(dst)-start-7))
	return append(dst, FrameEnd)
}

// AppendMethodFrame appends a method frame carrying m on channel to dst.
func AppendMethodFrame(dst []byte, channel uint16, m Method) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, FrameMethod, channel)
	dst = m.Append(dst)
	return endFrame(dst, start)
}

// AppendHeaderFrame appends a content header frame (AMQP 0-9-1 §4.2.6.1): class id,
// weight 0, body size, property flags and the raw property list rawProps (as
// ContentHeader.Props or Properties.Append produce it).
func AppendHeaderFrame(dst []byte, channel uint16, classID uint16, bodySize uint64, flags uint16, rawProps []byte) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, FrameHeader, channel)
	dst = appendShort(dst, classID)
	dst = appendShort(dst, 0) // weight: "MUST be zero"
	dst = appendLonglong(dst, bodySize)
	dst = appendShort(dst, flags)
	dst = append(dst, rawProps...)
	return endFrame(dst, start)
}

// AppendBodyFrames appends body as body frames of at most frameMax bytes each (their
// payloads at most frameMax-8); frameMax 0 means FrameMaxCeiling. An empty body gets
// no frame (AMQP 0-9-1 §4.2.6.2: the body is split into zero or more frames).
func AppendBodyFrames(dst []byte, channel uint16, body []byte, frameMax uint32) []byte {
	if frameMax == 0 || frameMax > FrameMaxCeiling {
		frameMax = FrameMaxCeiling
	}
	chunk := int(frameMax) - frameOverhead
	if chunk < 1 {
		chunk = 1
	}
	for len(body) > 0 {
		n := min(len(body), chunk)
		dst = append(dst, FrameBody, byte(channel>>8), byte(channel))
		dst = appendLong(dst, uint32(n))
		dst = append(dst, body[:n]...)
		dst = append(dst, FrameEnd)
		body = body[n:]
	}
	return dst
}

// heartbeatFrame is a heartbeat on channel 0 (AMQP 0-9-1 §4.2.7: heartbeats are
// channel-0 frames with an empty payload).
var heartbeatFrame = [frameOverhead]byte{FrameHeartbeat, 0, 0, 0, 0, 0, 0, FrameEnd}

// AppendHeartbeat appends a heartbeat frame to dst.
func AppendHeartbeat(dst []byte) []byte { return append(dst, heartbeatFrame[:]...) }
