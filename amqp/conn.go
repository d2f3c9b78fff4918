package amqp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// protocolHeader is AMQP 0-9-1's protocol header (§4.2.2).
var protocolHeader = [8]byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}

// conn is one client connection.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	log zerolog.Logger
	out *outbox

	// Set during the handshake by readLoop, immutable once the connection is
	// open (other connections' goroutines read frameMax and caps to deliver).
	frameMax   uint32
	channelMax uint16
	heartbeat  time.Duration
	caps       clientCaps
	user       *vhost.User
	vhost      *vhost.VHost
	vhostName  string
	owner      *vhost.Owner
	sess       *vhost.Session       // counts towards limits; closed by teardown
	tls        *tls.ConnectionState // nil on a plain TCP connection
	clientName string

	// owned by readLoop
	r        *wire.FrameReader
	hr       *deadlineReader
	methods  wire.Methods
	channels map[uint16]*channel
	last     *channel   // the channel of the previous frame: most frames follow one
	dirty    []*channel // channels with confirms to flush at the end of a read batch
	closing  bool       // connection.close sent; waiting for close-ok
	released bool       // exclusive queues deleted

	// forced is set by Shutdown (from another goroutine), which has sent
	// connection.close with it: the connection is closing.
	forced atomic.Pointer[wire.Exception]
	// tuned is set once tune-ok has fixed heartbeat and frameMax.
	tuned atomic.Bool
	// kill is closed by forceClose: it wakes a readLoop parked by an alarm.
	kill     chan struct{}
	killOnce sync.Once

	// Resource alarms (blocked.go).
	blocked     atomic.Bool // set while an alarm is active
	blockMu     sync.Mutex
	unblock     chan struct{} // guarded by blockMu: closed when the alarm clears
	sentBlocked bool          // guarded by blockMu: connection.blocked was sent
	stopAlarms  func()        // owned by readLoop

	insp  inspect   // the management API's view of this connection (inspect.go)
	stats connStats // message counters (inspect.go)

	// Heartbeats to the client: hb is started by serve once the handshake has
	// fixed the interval and stopped by teardown; hbSent (owned by hb's
	// function) is stats.sendOct at its previous tick.
	hb     *time.Timer
	hbSent uint64
}

type clientCaps struct {
	cancelNotify     bool // consumer_cancel_notify
	authFailureClose bool // authentication_failure_close
	blocked          bool // connection.blocked
}

// deadlineReader re-arms the read deadline before every read from the socket,
// so that a peer silent for longer than timeout (missed heartbeats, a frame cut
// short) makes the read fail. Reads happen per buffered batch, not per frame.
// It also counts the bytes read (recv_oct): one add per read, not per frame.
type deadlineReader struct {
	nc      net.Conn
	timeout atomic.Int64  // time.Duration; 0: none
	octets  atomic.Uint64 // bytes read from the socket; written by readLoop, read by anyone
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if t := time.Duration(d.timeout.Load()); t > 0 {
		d.nc.SetReadDeadline(time.Now().Add(t))
	}
	n, err := d.nc.Read(p)
	d.octets.Add(uint64(n))
	return n, err
}

func newConn(s *Server, nc net.Conn) *conn {
	id := s.nextID.Add(1)
	c := &conn{
		srv:        s,
		nc:         nc,
		id:         id,
		log:        s.log.Hook(connHook{nc: nc, id: id}),
		frameMax:   s.cfg.FrameMax,
		channelMax: s.cfg.ChannelMax,
		channels:   make(map[uint16]*channel),
		kill:       make(chan struct{}),
	}
	c.out = newOutbox(c)
	c.hr = &deadlineReader{nc: nc}
	c.r = wire.NewFrameReader(c.hr, s.cfg.FrameMax)
	return c
}

// connHook adds the connection's number and peer address to each of its log
// lines. A hook costs nothing per connection; Logger.With would hold a 500-byte
// context buffer for each (zerolog's initial size), most of the memory of an
// idle connection's logger.
type connHook struct {
	nc net.Conn
	id uint64
}

func (h connHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Uint64("conn", h.id).Str("remote", h.nc.RemoteAddr().String())
}

// serve runs the connection: the handshake, then frames until it ends.
func (c *conn) serve() {
	defer c.srv.removeConn(c)
	var closeCode uint16
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg("connection panicked")
			closeCode = wire.InternalError
			c.sendCloseAndWait(wire.Hard(wire.InternalError, "internal error"))
		}
		c.teardown(closeCode)
	}()
	if err := c.handshake(); err != nil {
		c.handshakeFailed(err)
		return
	}
	c.log.Info().Str("user", c.user.Name).Str("vhost", c.vhostName).Str("client", c.clientName).
		Uint32("frame_max", c.frameMax).Uint16("channel_max", c.channelMax).
		Dur("heartbeat", c.heartbeat).Msg("connection opened")
	c.watchAlarms()
	c.startHeartbeats()
	closeCode = c.readLoop()
}

// teardown releases everything the connection holds: channels (their
// consumers are cancelled and unacked messages requeued), exclusive queues,
// the writer and the socket.
func (c *conn) teardown(code uint16) {
	if c.stopAlarms != nil {
		c.stopAlarms()
	}
	if c.sess != nil {
		c.sess.Close(len(c.channels))
	}
	for id, ch := range c.channels {
		ch.teardown()
		delete(c.channels, id)
	}
	c.releaseExclusive()
	if c.hb != nil {
		c.hb.Stop()
	}
	c.out.close(c.srv.cfg.CloseTimeout) // what is queued goes out first (close-ok, ...)
	c.nc.Close()
	c.out.waitIdle()
	if c.user != nil {
		c.log.Info().Uint16("code", code).Msg("connection closed")
	}
}

// releaseExclusive deletes the connection's exclusive queues, once. As in
// rabbit_reader's close_connection, it runs before connection.close-ok is
// sent, so a client that saw close-ok finds them gone.
func (c *conn) releaseExclusive() {
	if c.vhost != nil && c.owner != nil && !c.released {
		c.released = true
		c.vhost.OwnerClosed(c.owner)
	}
}

// forceClose closes the connection with ex from any goroutine: it sends
// connection.close and lets readLoop wait (bounded) for close-ok.
func (c *conn) forceClose(ex *wire.Exception) {
	if !c.forced.CompareAndSwap(nil, ex) {
		return
	}
	c.killOnce.Do(func() { close(c.kill) })
	c.sendMethod(0, &wire.ConnectionClose{ReplyCode: ex.Code, ReplyText: closeText(ex)})
	c.hr.timeout.Store(int64(c.srv.cfg.CloseTimeout))
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseTimeout))
}

// isClosing reports whether connection.close was sent to the client.
func (c *conn) isClosing() bool { return c.closing || c.forced.Load() != nil }

// handshakeFailed answers a failure before the connection was open.
func (c *conn) handshakeFailed(err error) {
	var ex *wire.Exception
	var silent errSilentClose
	switch {
	case errors.Is(err, errBadHeader):
		// §4.2.2: answer with the protocol header we support, then close.
		c.out.append(func(b []byte) []byte { return append(b, protocolHeader[:]...) })
	case errors.As(err, &silent):
		c.log.Warn().Str("reason", silent.reason).Msg("handshake refused")
	case errors.As(err, &ex):
		c.log.Warn().Uint16("code", ex.Code).Str("reason", ex.Text).Msg("handshake refused")
		c.sendCloseAndWait(ex)
	case isClosedErr(err):
		c.log.Debug().Err(err).Msg("client left during handshake")
	default:
		c.log.Warn().Err(err).Msg("handshake failed")
	}
}

var errBadHeader = errors.New("amqp: bad protocol header")

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// readLoop reads frames until the connection ends and returns the reply code
// it closed with (0 when the peer went away).
func (c *conn) readLoop() uint16 {
	if c.heartbeat > 0 {
		// Two missed heartbeat intervals close the connection (RabbitMQ's
		// rabbit_heartbeat: the receiver gives up after two).
		c.hr.timeout.Store(int64(2 * c.heartbeat))
	} else {
		c.hr.timeout.Store(0)
		c.nc.SetReadDeadline(time.Time{})
	}
	for {
		f, err := c.r.Next()
		if err != nil {
			var ex *wire.Exception
			switch {
			case errors.As(err, &ex):
				// The stream has lost sync: like rabbit_reader's
				// fatal_frame_error, send the close and hang up.
				c.log.Warn().Uint16("code", ex.Code).Str("reason", ex.Text).Msg("frame error")
				c.sendClose(ex)
				c.drain()
				return ex.Code
			case isTimeout(err) && c.isClosing():
				return c.closeCode() // no close-ok in time
			case isTimeout(err):
				c.log.Warn().Dur("timeout", c.heartbeat).Msg("missed heartbeats from client, closing connection")
				return 0
			case isClosedErr(err):
				return 0
			default:
				c.log.Warn().Err(err).Msg("read failed")
				return 0
			}
		}
		done, code := c.onFrame(f)
		if done {
			return code
		}
		if c.r.Buffered() == 0 {
			c.flushBatch()
		}
	}
}

// onFrame handles one frame; done reports that the connection is finished.
func (c *conn) onFrame(f wire.Frame) (done bool, code uint16) {
	err := c.dispatch(f)
	if err == nil {
		return false, 0
	}
	var ex *wire.Exception
	switch {
	case errors.Is(err, errClientClosed):
		// rabbit_reader leaves closing the socket to the client after
		// close-ok (bounded by a timeout): closing first would race the
		// client's read of close-ok.
		c.drain()
		return true, wire.ReplySuccess
	case errors.Is(err, errConnClosed):
		return true, c.closeCode()
	case errors.As(err, &ex) && !ex.Hard:
		ch := c.channels[f.Channel]
		if ch != nil {
			ch.fail(ex)
			return false, 0
		}
		ex = wire.Hard(ex.Code, "%s", ex.Text)
		fallthrough
	case errors.As(err, &ex):
		c.log.Warn().Uint16("code", ex.Code).Str("reason", ex.Text).Uint16("channel", f.Channel).Msg("connection exception")
		c.sendCloseAndWait(ex)
		return true, ex.Code
	default:
		c.log.Warn().Err(err).Msg("connection failed")
		return true, 0
	}
}

// errConnClosed ends readLoop after the client answered our connection.close;
// errClientClosed after we answered the client's.
var (
	errConnClosed   = errors.New("amqp: connection closed")
	errClientClosed = errors.New("amqp: connection closed by client")
)

func (c *conn) closeCode() uint16 {
	if ex := c.forced.Load(); ex != nil {
		return ex.Code
	}
	return wire.ReplySuccess
}

func (c *conn) dispatch(f wire.Frame) error {
	if c.isClosing() {
		// §4.2.2 / RabbitMQ: after sending connection.close, only
		// connection.close and connection.close-ok are processed.
		if f.Type == wire.FrameMethod && f.Channel == 0 {
			m, err := c.methods.Decode(f.Payload)
			if err != nil {
				return nil
			}
			switch m.(type) {
			case *wire.ConnectionCloseOk:
				return errConnClosed
			case *wire.ConnectionClose:
				c.sendMethod(0, &wire.ConnectionCloseOk{})
			}
		}
		return nil
	}
	switch f.Type {
	case wire.FrameHeartbeat:
		if f.Channel != 0 {
			// RabbitMQ's rabbit_reader answers a heartbeat on a non-zero
			// channel with unexpected_frame.
			return wire.Hard(wire.UnexpectedFrame, "type %d, all octets = <<>>: heartbeat on channel %d", f.Type, f.Channel)
		}
		return nil
	case wire.FrameMethod:
		m, err := c.methods.Decode(f.Payload)
		if err != nil {
			return err
		}
		if f.Channel == 0 {
			return c.onConnMethod(m)
		}
		ch, err := c.channel(f.Channel, m)
		if err != nil || ch == nil {
			return err
		}
		if ch.timedOut.Load() != nil && !ch.closing {
			ch.closeTimedOut()
		}
		return ch.onMethod(m)
	case wire.FrameHeader, wire.FrameBody:
		if f.Channel == 0 {
			return wire.Hard(wire.UnexpectedFrame, "type %d, content frame on channel 0", f.Type)
		}
		ch, err := c.channel(f.Channel, nil)
		if err != nil || ch == nil {
			return err
		}
		if ch.timedOut.Load() != nil && !ch.closing {
			ch.closeTimedOut()
		}
		if f.Type == wire.FrameHeader {
			return ch.onHeader(f.Payload)
		}
		return ch.onBody(f.Payload)
	}
	return wire.Hard(wire.FrameError, "unknown frame type %d", f.Type)
}

// channel finds the channel for a frame, opening it for channel.open. It
// returns nil, nil when the frame is to be dropped.
func (c *conn) channel(id uint16, m wire.Method) (*channel, error) {
	if ch := c.last; ch != nil && ch.id == id {
		return ch, nil
	}
	ch := c.channels[id]
	if ch != nil {
		c.last = ch
		return ch, nil
	}
	if _, ok := m.(*wire.ChannelOpen); ok {
		if len(c.channels) >= int(c.channelMax) {
			return nil, wire.Hard(wire.NotAllowed, "number of channels opened (%d) has reached the negotiated channel_max (%d)", len(c.channels), c.channelMax)
		}
		if id > c.channelMax {
			return nil, wire.Hard(wire.NotAllowed, "channel number %d exceeds the negotiated channel_max (%d)", id, c.channelMax)
		}
		if err := c.sess.OpenChannel(); err != nil {
			return nil, err
		}
		ch = newChannel(c, id)
		c.channels[id] = ch
		c.insp.addChannel(ch)
		c.last = ch
		c.sendMethod(id, &wire.ChannelOpenOk{})
		return nil, nil
	}
	// rabbit_channel in state 'starting' refuses everything but channel.open.
	ex := wire.Hard(wire.ChannelError, "expected 'channel.open'")
	if m != nil {
		ex.ClassID, ex.MethodID = m.ClassID(), m.MethodID()
	}
	return nil, ex
}

func (c *conn) removeChannel(ch *channel) {
	c.insp.removeChannel(ch)
	if c.channels[ch.id] == ch {
		c.sess.CloseChannel()
	}
	delete(c.channels, ch.id)
	if c.last == ch {
		c.last = nil
	}
}

func (c *conn) onConnMethod(m wire.Method) error {
	switch m := m.(type) {
	case *wire.ConnectionClose:
		// §2.2.4 connection.close: release everything, then close-ok.
		for _, ch := range c.channels {
			ch.teardown()
			c.removeChannel(ch)
		}
		c.releaseExclusive()
		c.sendMethod(0, &wire.ConnectionCloseOk{})
		c.log.Debug().Uint16("client_code", m.ReplyCode).Str("client_text", m.ReplyText).Msg("client closed connection")
		return errClientClosed
	case *wire.ConnectionCloseOk:
		return nil // unsolicited: ignore
	case *wire.ConnectionUpdateSecret:
		// Internal users have no expiring secrets: RabbitMQ's internal backend
		// accepts the update and keeps the user.
		c.sendMethod(0, &wire.ConnectionUpdateSecretOk{})
		return nil
	case *wire.ConnectionBlocked, *wire.ConnectionUnblocked:
		return nil
	}
	ex := wire.Hard(wire.ChannelError, "unexpected method in connection state running")
	ex.ClassID, ex.MethodID = m.ClassID(), m.MethodID()
	return ex
}

// sendMethod queues a method frame for the client.
// It encodes m under the outbox lock without a closure: it runs for every
// flushed basic.ack of publisher confirms.
func (c *conn) sendMethod(ch uint16, m wire.Method) {
	o := c.out
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.buf = wire.AppendMethodFrame(o.buf, ch, m)
	w := o.signalLocked()
	o.mu.Unlock()
	if w {
		o.notify()
	}
}

// sendClose sends connection.close for ex and enters the closing state.
func (c *conn) sendClose(ex *wire.Exception) {
	if c.isClosing() {
		return
	}
	c.closing = true
	c.sendMethod(0, &wire.ConnectionClose{
		ReplyCode:       ex.Code,
		ReplyText:       closeText(ex),
		FailingClassID:  ex.ClassID,
		FailingMethodID: ex.MethodID,
	})
	c.hr.timeout.Store(int64(c.srv.cfg.CloseTimeout))
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseTimeout))
}

// sendCloseAndWait sends connection.close and waits (bounded) for close-ok,
// discarding every other frame.
func (c *conn) sendCloseAndWait(ex *wire.Exception) {
	c.sendClose(ex)
	deadline := time.Now().Add(c.srv.cfg.CloseTimeout)
	c.nc.SetReadDeadline(deadline)
	c.hr.timeout.Store(0)
	for time.Now().Before(deadline) {
		f, err := c.r.Next()
		if err != nil {
			return // lost sync, timed out or gone
		}
		if c.dispatch(f) == errConnClosed {
			return
		}
	}
}

// drain discards input for a moment after a fatal frame error, so that the
// client reads our connection.close before the socket goes: closing a socket
// with unread input makes the kernel send RST, which can destroy the close
// frame in flight (rabbit_reader waits SILENT_CLOSE_DELAY for the same
// reason).
func (c *conn) drain() {
	c.hr.timeout.Store(0)
	c.nc.SetReadDeadline(time.Now().Add(min(c.srv.cfg.CloseTimeout, time.Second)))
	buf := make([]byte, 4096)
	for {
		if _, err := c.nc.Read(buf); err != nil {
			return
		}
	}
}

// closeText is the reply-text RabbitMQ sends: "NOT_FOUND - no queue 'q' ...".
// A reply-text is a shortstr: like rabbit_binary_generator, one longer than
// 255 octets is cut to 252 and ends in "...".
func closeText(ex *wire.Exception) string {
	s := fmt.Sprintf("%s - %s", wire.ReplyName(ex.Code), ex.Text)
	if len(s) > 255 {
		s = s[:252] + "..."
	}
	return s
}

// flushBatch runs at the end of each read batch: it sends the publisher
// confirms gathered while reading it.
func (c *conn) flushBatch() {
	for i, ch := range c.dirty {
		ch.flushConfirms()
		c.dirty[i] = nil
	}
	c.dirty = c.dirty[:0]
}

// writeLoop is the only writer of the socket while it runs; the first append
// to an idle outbox starts it (outbox.go). It swaps the outbox buffer out under
// the lock, writes it outside, kicks consumers that were refused while the
// buffer was full, and returns once it finds the buffer empty.
func (c *conn) writeLoop() {
	o := c.out
	for {
		buf, kick := o.take()
		if len(buf) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			n, err := c.nc.Write(buf)
			c.stats.sendOct.Add(uint64(n))
			if err != nil {
				if !isClosedErr(err) {
					c.log.Debug().Err(err).Msg("write failed")
				}
				c.nc.Close() // readLoop sees the error and tears down
				o.fail()
				return
			}
			o.done(buf)
		}
		for _, co := range kick {
			co.kick()
		}
		if len(buf) == 0 {
			return
		}
	}
}

// startHeartbeats sends a heartbeat frame every half negotiated interval in
// which nothing else was written (RabbitMQ's rabbit_heartbeat sender). The
// timer runs its function on a goroutine of its own for each tick, so an idle
// connection has no goroutine waiting for it.
func (c *conn) startHeartbeats() {
	if c.heartbeat <= 0 {
		return
	}
	interval := c.heartbeat / 2
	o := c.out
	tick := func() {
		sent := c.stats.sendOct.Load()
		idle := sent == c.hbSent
		c.hbSent = sent
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return // no more ticks
		}
		w := false
		if idle {
			o.buf = wire.AppendHeartbeat(o.buf)
			w = o.signalLocked()
		}
		c.hb.Reset(interval)
		o.mu.Unlock()
		if w {
			o.notify()
		}
	}
	o.mu.Lock() // c.hb is read by tick under o.mu
	c.hb = time.AfterFunc(interval, tick)
	o.mu.Unlock()
}

// writeTimeout bounds one socket write: a client that reads nothing for this
// long is disconnected.
const writeTimeout = 60 * time.Second
