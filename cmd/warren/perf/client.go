package perf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// ch is the one channel each of the tool's connections opens.
const ch = 1

// defaultFrameMax is what the tool asks for when the server sets no limit:
// RabbitMQ's default frame_max.
const defaultFrameMax = 131072

// handshakeTimeout bounds dialing, the handshake and each setup RPC.
const handshakeTimeout = 15 * time.Second

// closeTimeout bounds the wait for connection.close-ok, and a publishing write still
// under way when the run ends.
const closeTimeout = 5 * time.Second

// protocolHeader opens an AMQP 0-9-1 connection (AMQP 0-9-1 §4.2.2).
var protocolHeader = []byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}

// errClosed reports a connection or channel closed by the broker.
type errClosed struct {
	what string // "connection" or "channel"
	m    string // reply code and text
}

func (e *errClosed) Error() string { return "perf: broker closed the " + e.what + ": " + e.m }

// conn is one of the tool's AMQP connections, with channel 1 open. Its reading side
// (r, ms) is owned by one goroutine and its writing side (w) by one goroutine; during
// setup they are the same.
type conn struct {
	nc       net.Conn          // immutable
	r        *wire.FrameReader // owned by the reader
	ms       wire.Methods      // owned by the reader; values valid until the next Decode
	w        []byte            // owned by the writer: scratch for method frames
	frameMax uint32            // immutable after dial
}

// dial connects, authenticates with PLAIN, tunes without heartbeats and opens
// channel 1.
func dial(ctx context.Context, u brokerURL, name string) (*conn, error) {
	d := net.Dialer{Timeout: handshakeTimeout}
	nc, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true) // Go's default, stated: latency figures depend on it
	}
	c := &conn{nc: nc, r: wire.NewFrameReader(nc, 0)}
	if err := c.handshake(u, name); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) handshake(u brokerURL, name string) error {
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(protocolHeader); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	m, err := c.next(0)
	if err != nil {
		return err
	}
	if _, ok := m.(*wire.ConnectionStart); !ok {
		return fmt.Errorf("perf: expected connection.start, got %s", m.Name())
	}
	if err := c.send(0, &wire.ConnectionStartOk{
		ClientProperties: wire.Table{
			"product":         "warren perf",
			"connection_name": name,
			"capabilities": wire.Table{
				"publisher_confirms":           true,
				"basic.nack":                   true,
				"consumer_cancel_notify":       true,
				"connection.blocked":           true,
				"authentication_failure_close": true,
			},
		},
		Mechanism: "PLAIN",
		Response:  "\x00" + u.user + "\x00" + u.pass, // RFC 4616
		Locale:    "en_US",
	}); err != nil {
		return err
	}
	if m, err = c.next(0); err != nil {
		return err
	}
	tune, ok := m.(*wire.ConnectionTune)
	if !ok {
		return fmt.Errorf("perf: expected connection.tune, got %s", m.Name())
	}
	// AMQP 0-9-1 §4.2.3: frame-max 0 means no limit; keep frames to RabbitMQ's size then.
	c.frameMax = tune.FrameMax
	if c.frameMax == 0 || c.frameMax > defaultFrameMax {
		c.frameMax = defaultFrameMax
	}
	// Heartbeat 0: the tool sends no heartbeats and asks for none (runs are bounded).
	if err := c.send(0, &wire.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: c.frameMax}); err != nil {
		return err
	}
	c.r.SetFrameMax(c.frameMax)
	if err := c.send(0, &wire.ConnectionOpen{VirtualHost: u.vhost}); err != nil {
		return err
	}
	if _, err := c.expect(0, wire.ClassConnection, wire.MethodConnectionOpenOk); err != nil {
		return err
	}
	return c.call(&wire.ChannelOpen{}, wire.MethodChannelOpenOk)
}

// send writes one method frame.
func (c *conn) send(channel uint16, m wire.Method) error {
	c.w = wire.AppendMethodFrame(c.w[:0], channel, m)
	if _, err := c.nc.Write(c.w); err != nil {
		return fmt.Errorf("perf: write %s: %w", m.Name(), err)
	}
	return nil
}

// next returns the next method frame's method on channel, skipping heartbeats and
// answering a close from the broker with close-ok and an *errClosed.
func (c *conn) next(channel uint16) (wire.Method, error) {
	for {
		f, err := c.r.Next()
		if err != nil {
			return nil, fmt.Errorf("perf: read: %w", err)
		}
		if f.Type != wire.FrameMethod {
			continue // heartbeats; content of a delivery nobody waits for
		}
		m, err := c.ms.Decode(f.Payload)
		if err != nil {
			return nil, fmt.Errorf("perf: decode: %w", err)
		}
		if err := c.closedBy(f.Channel, m); err != nil {
			return nil, err
		}
		if f.Channel == channel {
			return m, nil
		}
	}
}

// closedBy answers connection.close and channel.close from the broker and returns
// them as errors; other methods give nil.
func (c *conn) closedBy(channel uint16, m wire.Method) error {
	switch m := m.(type) {
	case *wire.ConnectionClose:
		err := &errClosed{"connection", fmt.Sprintf("%d %s", m.ReplyCode, m.ReplyText)}
		c.send(0, &wire.ConnectionCloseOk{}) // AMQP 0-9-1 §4.2.4: answer close with close-ok
		return err
	case *wire.ChannelClose:
		err := &errClosed{"channel", fmt.Sprintf("%d %s", m.ReplyCode, m.ReplyText)}
		c.send(channel, &wire.ChannelCloseOk{})
		return err
	}
	return nil
}

// expect reads the next method on channel and checks it is classID.methodID.
func (c *conn) expect(channel uint16, classID, methodID uint16) (wire.Method, error) {
	m, err := c.next(channel)
	if err != nil {
		return nil, err
	}
	if m.ClassID() != classID || m.MethodID() != methodID {
		return nil, fmt.Errorf("perf: expected %s, got %s", wire.MethodName(classID, methodID), m.Name())
	}
	return m, nil
}

// call sends a synchronous method on channel 1 and waits for its reply (of the same
// class, method okID), within handshakeTimeout.
func (c *conn) call(m wire.Method, okID uint16) error {
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if err := c.send(ch, m); err != nil {
		return err
	}
	if _, err := c.expect(ch, m.ClassID(), okID); err != nil {
		return fmt.Errorf("%s: %w", m.Name(), err)
	}
	return nil
}

// close ends the connection politely: connection.close, then close-ok or closeTimeout.
// Frames still arriving (deliveries, confirms) are read and dropped.
func (c *conn) close() {
	c.nc.SetDeadline(time.Now().Add(closeTimeout))
	if c.send(0, &wire.ConnectionClose{ReplyCode: wire.ReplySuccess, ReplyText: "perf done"}) == nil {
		for {
			m, err := c.next(0)
			if err != nil {
				break
			}
			if _, ok := m.(*wire.ConnectionCloseOk); ok {
				break
			}
		}
	}
	c.nc.Close()
}

// isTimeout reports a deadline error (how Run interrupts blocked reads and writes).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
