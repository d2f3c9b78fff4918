package conformance

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// A minimal AMQP 0-9-1 frame writer and reader (AMQP 0-9-1 §4.2.3), for the few behaviours that amqp091-go
// cannot provoke or cannot show: channel.open twice, a method on a channel that is not open, the frames a
// broker drops after channel.close, a server-generated consumer tag, authentication_failure_close. It is
// written for this suite alone and deliberately shares nothing with warren's codec.

// Frame types and the frame-end octet, AMQP 0-9-1 §4.2.3 and the spec XML's constants.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
)

// classBasic is the basic class's id, which a content header carries (amqp0-9-1.xml).
const classBasic = 60

type methodID struct{ class, method uint16 }

var (
	mConnStart    = methodID{10, 10}
	mConnStartOk  = methodID{10, 11}
	mConnTune     = methodID{10, 30}
	mConnTuneOk   = methodID{10, 31}
	mConnOpen     = methodID{10, 40}
	mConnOpenOk   = methodID{10, 41}
	mConnClose    = methodID{10, 50}
	mConnCloseOk  = methodID{10, 51}
	mChanOpen     = methodID{20, 10}
	mChanOpenOk   = methodID{20, 11}
	mChanClose    = methodID{20, 40}
	mChanCloseOk  = methodID{20, 41}
	mQueueDeclare = methodID{50, 10}
	mBasicConsume = methodID{60, 20}
	mBasicConsOk  = methodID{60, 21}
	mBasicPublish = methodID{60, 40}
)

func (m methodID) String() string {
	return strconv.Itoa(int(m.class)) + "." + strconv.Itoa(int(m.method))
}

// enc appends AMQP 0-9-1 field values (§4.2.5) to a byte slice.
type enc struct{ b []byte }

func (w *enc) u8(v uint8) *enc   { w.b = append(w.b, v); return w }
func (w *enc) u16(v uint16) *enc { w.b = binary.BigEndian.AppendUint16(w.b, v); return w }
func (w *enc) u32(v uint32) *enc { w.b = binary.BigEndian.AppendUint32(w.b, v); return w }
func (w *enc) u64(v uint64) *enc { w.b = binary.BigEndian.AppendUint64(w.b, v); return w }
func (w *enc) shortstr(s string) *enc {
	w.b = append(append(w.b, byte(len(s))), s...)
	return w
}
func (w *enc) longstr(s string) *enc {
	w.b = append(binary.BigEndian.AppendUint32(w.b, uint32(len(s))), s...)
	return w
}

// table appends a field table of booleans and strings; nested tables as map[string]any.
func (w *enc) table(fields map[string]any) *enc {
	var t enc
	for k, v := range fields {
		t.shortstr(k)
		switch v := v.(type) {
		case bool:
			b := uint8(0)
			if v {
				b = 1
			}
			t.u8('t').u8(b)
		case string:
			t.u8('S').longstr(v)
		case map[string]any:
			t.u8('F').table(v)
		default:
			panic(fmt.Sprintf("raw table: unsupported %T", v))
		}
	}
	return w.longstr(string(t.b))
}

// dec reads AMQP field values from a method's arguments; the first short read sticks in err.
type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = io.ErrUnexpectedEOF
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) u8() uint8          { return d.take(1)[0] }
func (d *dec) u16() uint16        { return binary.BigEndian.Uint16(d.take(2)) }
func (d *dec) u32() uint32        { return binary.BigEndian.Uint32(d.take(4)) }
func (d *dec) u64() uint64        { return binary.BigEndian.Uint64(d.take(8)) }
func (d *dec) shortstr() string   { return string(d.take(int(d.u8()))) }
func (d *dec) rest() []byte       { v := d.b; d.b = nil; return v }
func (d *dec) ok() bool           { return d.err == nil }
func newDec(b []byte) *dec        { return &dec{b: b} }
func (d *dec) methodID() methodID { return methodID{d.u16(), d.u16()} }

// rawMethod is a method frame as read.
type rawMethod struct {
	channel uint16
	id      methodID
	args    []byte
}

// closeArgs decodes connection.close or channel.close arguments (§ connection.close: reply-code,
// reply-text, class-id, method-id).
func (m rawMethod) closeArgs() (code uint16, text string, failed methodID) {
	d := newDec(m.args)
	code, text = d.u16(), d.shortstr()
	failed = d.methodID()
	return code, text, failed
}

// rawConn is one TCP connection speaking raw frames.
type rawConn struct {
	e        *Env
	nc       net.Conn
	br       *bufio.Reader
	frameMax uint32 // negotiated in handshake; 0 before
}

// rawDial opens a TCP connection to the broker for raw frames. It skips the check for amqps URLs.
func (e *Env) rawDial() *rawConn {
	if e.uri.Scheme == "amqps" {
		e.Skipf("raw-frame checks need a plain amqp:// URL")
	}
	if e.uri.Host == "" {
		e.Fatalf("cannot parse URL %s", e.redacted())
	}
	nc, err := e.dialSocket("tcp", net.JoinHostPort(e.uri.Host, strconv.Itoa(e.uri.Port)))
	e.Must(err, "dial")
	e.Cleanup(func() { _ = nc.Close() })
	return &rawConn{e: e, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) write(b []byte) {
	_, err := r.nc.Write(b)
	r.e.Must(err, "write")
}

// frame builds one frame: type, channel, size, payload, frame-end (§4.2.3).
func frame(typ uint8, channel uint16, payload []byte) []byte {
	var w enc
	w.u8(typ).u16(channel).u32(uint32(len(payload)))
	w.b = append(w.b, payload...)
	return w.u8(frameEnd).b
}

// methodFrame builds a method frame: class-id, method-id, arguments (§4.2.4).
func methodFrame(channel uint16, id methodID, args []byte) []byte {
	var w enc
	w.u16(id.class).u16(id.method)
	w.b = append(w.b, args...)
	return frame(frameMethod, channel, w.b)
}

// send writes one method frame.
func (r *rawConn) send(channel uint16, id methodID, args []byte) {
	r.write(methodFrame(channel, id, args))
}

// readFrame reads one frame, or reports io.EOF when the broker closed the socket.
func (r *rawConn) readFrame() (typ uint8, channel uint16, payload []byte, err error) {
	var hdr [7]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[3:])
	if size > 16<<20 {
		return 0, 0, nil, fmt.Errorf("frame of %d bytes from the broker", size)
	}
	buf := make([]byte, size+1)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return 0, 0, nil, err
	}
	if buf[size] != frameEnd {
		return 0, 0, nil, fmt.Errorf("frame-end octet %#x from the broker", buf[size])
	}
	return hdr[0], binary.BigEndian.Uint16(hdr[1:3]), buf[:size], nil
}

// next returns the next method frame, skipping heartbeats and content frames.
func (r *rawConn) next() (rawMethod, error) {
	for range 1000 {
		typ, ch, payload, err := r.readFrame()
		if err != nil {
			return rawMethod{}, err
		}
		if typ != frameMethod {
			continue
		}
		d := newDec(payload)
		id := d.methodID()
		if !d.ok() {
			return rawMethod{}, fmt.Errorf("short method frame from the broker")
		}
		return rawMethod{channel: ch, id: id, args: d.rest()}, nil
	}
	return rawMethod{}, fmt.Errorf("1000 frames without a method")
}

// expect reads the next method and ends the check unless it is want on channel.
func (r *rawConn) expect(channel uint16, want methodID, what string) rawMethod {
	m, err := r.next()
	r.e.Must(err, what+": waiting for "+want.String())
	if m.id != want || m.channel != channel {
		desc := fmt.Sprintf("method %v on channel %d", m.id, m.channel)
		if m.id == mConnClose || m.id == mChanClose {
			code, text, _ := m.closeArgs()
			desc = fmt.Sprintf("%v (close) %d %q on channel %d", m.id, code, text, m.channel)
		}
		r.e.Fatalf("%s: got %s, want method %v on channel %d", what, desc, want, channel)
	}
	return m
}

// startOk sends connection.start-ok with PLAIN credentials and the given client capabilities.
func (r *rawConn) startOk(user, pass string, caps map[string]any) {
	var w enc
	w.table(map[string]any{"product": "warren-conformance", "capabilities": caps})
	w.shortstr("PLAIN").longstr("\x00" + user + "\x00" + pass).shortstr("en_US")
	r.send(0, mConnStartOk, w.b)
}

// handshake runs protocol header, start/start-ok, tune/tune-ok and open/open-ok with the URL's
// credentials and vhost (§2.2.4), ending the check on any deviation.
func (r *rawConn) handshake() { r.handshakeTune(0) }

// handshakeTune is handshake answering tune with channel-max channelMax when it is lower than the
// server's (0 = the server's).
func (r *rawConn) handshakeTune(channelMax uint16) {
	r.write([]byte("AMQP\x00\x00\x09\x01"))
	r.expect(0, mConnStart, "connection.start")
	r.startOk(r.e.uri.Username, r.e.uri.Password, map[string]any{"authentication_failure_close": true})
	tune := r.expect(0, mConnTune, "connection.tune")
	d := newDec(tune.args)
	serverMax, frameMax := d.u16(), d.u32()
	if channelMax == 0 || serverMax != 0 && serverMax < channelMax {
		channelMax = serverMax
	}
	r.frameMax = frameMax
	var w enc
	r.send(0, mConnTuneOk, w.u16(channelMax).u32(frameMax).u16(0).b) // heartbeat 0: none
	w = enc{}
	r.send(0, mConnOpen, w.shortstr(r.e.Vhost).shortstr("").u8(0).b)
	r.expect(0, mConnOpenOk, "connection.open")
}

// openChannel sends channel.open on id and waits for channel.open-ok.
func (r *rawConn) openChannel(id uint16) {
	var w enc
	r.send(id, mChanOpen, w.shortstr("").b)
	r.expect(id, mChanOpenOk, "channel.open")
}

// expectConnClose waits for connection.close with code and text ("" = any, trailing "*" = prefix),
// answers close-ok, and checks that the broker then closes the socket.
func (r *rawConn) expectConnClose(code uint16, text string, what string) {
	m, err := r.next()
	if err != nil {
		r.e.Fatalf("%s: %v before any connection.close; want %s", what, err, wantDesc("connection exception", int(code), text))
	}
	if m.id != mConnClose {
		r.e.Fatalf("%s: got method %v on channel %d, want %s", what, m.id, m.channel, wantDesc("connection exception", int(code), text))
	}
	gotCode, gotText, _ := m.closeArgs()
	if gotCode != code || (text != "" && !textMatches(text, gotText)) {
		r.e.Fatalf("%s: got connection.close %d %q, want %s", what, gotCode, gotText, wantDesc("connection exception", int(code), text))
	}
	// The broker may close the socket without waiting for close-ok: a failed write is no failure.
	_, _ = r.nc.Write(methodFrame(0, mConnCloseOk, nil))
	r.expectEOF(what + ": after connection.close-ok")
}

// expectRefused checks that the broker ends the connection: with connection.close code (any code when 0),
// or by closing the socket without one, which is what RabbitMQ 3.10 does where its reader crashes (an
// unknown method, an unknown field type) or during the handshake (after a 3 s delay).
func (r *rawConn) expectRefused(code uint16, what string) {
	_ = r.nc.SetReadDeadline(time.Now().Add(closeWait))
	m, err := r.next()
	switch {
	case err == nil && m.id == mConnClose:
		gotCode, gotText, _ := m.closeArgs()
		if code != 0 && gotCode != code {
			r.e.Fatalf("%s: got connection.close %d %q, want %d or the socket closed", what, gotCode, gotText, code)
		}
		_, _ = r.nc.Write(methodFrame(0, mConnCloseOk, nil))
		r.expectEOF(what + ": after connection.close-ok")
	case err == nil:
		r.e.Fatalf("%s: got method %v on channel %d, want the connection closed", what, m.id, m.channel)
	default:
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.e.Fatalf("%s: connection still open after %v, want it closed", what, closeWait)
		}
	}
}

// expectEOF checks that the broker closes the socket (reads nothing but heartbeats until EOF).
func (r *rawConn) expectEOF(what string) {
	_ = r.nc.SetReadDeadline(time.Now().Add(closeWait))
	for range 1000 {
		typ, ch, _, err := r.readFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.e.Fatalf("%s: socket still open after %v, want it closed", what, closeWait)
			}
			return // EOF or reset: closed
		}
		if typ != frameHeartbeat {
			r.e.Fatalf("%s: got a frame of type %d on channel %d, want the socket closed", what, typ, ch)
		}
	}
}
