package amqp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// handshake runs connection negotiation as RabbitMQ's rabbit_reader does:
// protocol header, start/start-ok (authentication), tune/tune-ok, open/open-ok.
func (c *conn) handshake() error {
	deadline := time.Now().Add(c.srv.cfg.HandshakeTimeout)
	c.nc.SetReadDeadline(deadline)

	// §4.2.2: a protocol header we do not serve is answered with ours.
	var hdr [8]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return err
	}
	if hdr != protocolHeader {
		// RabbitMQ also reads AMQP 0-9 ({1,1,0,9}) as 0-9-1.
		if hdr != [8]byte{'A', 'M', 'Q', 'P', 1, 1, 0, 9} {
			return errBadHeader
		}
	}

	c.sendMethod(0, &wire.ConnectionStart{
		VersionMajor:     0,
		VersionMinor:     9,
		ServerProperties: c.serverProperties(),
		Mechanisms:       "PLAIN AMQPLAIN",
		Locales:          "en_US",
	})

	m, err := c.nextHandshakeMethod()
	if err != nil {
		return err
	}
	startOk, ok := m.(*wire.ConnectionStartOk)
	if !ok {
		return unexpectedHandshake(m, "starting")
	}
	c.readClientProperties(startOk.ClientProperties)
	user, err := c.authenticate(startOk.Mechanism, []byte(startOk.Response))
	if err != nil {
		return err
	}
	c.user = user

	c.sendMethod(0, &wire.ConnectionTune{
		ChannelMax: c.srv.cfg.ChannelMax,
		FrameMax:   c.srv.cfg.FrameMax,
		Heartbeat:  uint16(c.srv.cfg.Heartbeat / time.Second),
	})
	if m, err = c.nextHandshakeMethod(); err != nil {
		return err
	}
	tuneOk, ok := m.(*wire.ConnectionTuneOk)
	if !ok {
		return unexpectedHandshake(m, "tuning")
	}
	if err := c.tune(tuneOk); err != nil {
		return err
	}

	if m, err = c.nextHandshakeMethod(); err != nil {
		return err
	}
	open, ok := m.(*wire.ConnectionOpen)
	if !ok {
		return unexpectedHandshake(m, "opening")
	}
	v := c.srv.cfg.Broker.VHost(open.VirtualHost)
	if v == nil {
		ex := wire.Hard(wire.NotAllowed, "vhost %s not found", open.VirtualHost)
		ex.ClassID, ex.MethodID = open.ClassID(), open.MethodID()
		return ex
	}
	if !c.srv.cfg.Broker.Permitted(user, open.VirtualHost) {
		ex := wire.Hard(wire.AccessRefused, "access to vhost '%s' refused for user '%s'", open.VirtualHost, user.Name)
		ex.ClassID, ex.MethodID = open.ClassID(), open.MethodID()
		return ex
	}
	c.vhost, c.vhostName = v, open.VirtualHost
	c.owner = vhost.NewOwner(fmt.Sprintf("%s -> %s", c.nc.RemoteAddr(), c.nc.LocalAddr()))
	c.sendMethod(0, &wire.ConnectionOpenOk{})
	c.nc.SetReadDeadline(time.Time{})
	return nil
}

// nextHandshakeMethod returns the next method on channel 0, skipping
// heartbeats.
func (c *conn) nextHandshakeMethod() (wire.Method, error) {
	for {
		f, err := c.r.Next()
		if err != nil {
			return nil, err
		}
		switch {
		case f.Type == wire.FrameHeartbeat && f.Channel == 0:
			continue
		case f.Type != wire.FrameMethod || f.Channel != 0:
			return nil, wire.Hard(wire.UnexpectedFrame, "type %d, frame on channel %d during the handshake", f.Type, f.Channel)
		}
		m, err := c.methods.Decode(f.Payload)
		if err != nil {
			return nil, err
		}
		if cl, ok := m.(*wire.ConnectionClose); ok {
			_ = cl
			c.sendMethod(0, &wire.ConnectionCloseOk{})
			return nil, io.EOF
		}
		return m, nil
	}
}

func unexpectedHandshake(m wire.Method, state string) error {
	ex := wire.Hard(wire.ChannelError, "unexpected method in connection state %s", state)
	ex.ClassID, ex.MethodID = m.ClassID(), m.MethodID()
	return ex
}

func (c *conn) readClientProperties(props wire.Table) {
	if name, ok := props["connection_name"].(string); ok {
		c.clientName = name
	} else if product, ok := props["product"].(string); ok {
		c.clientName = product
	}
	caps, _ := props["capabilities"].(wire.Table)
	c.caps.cancelNotify, _ = caps["consumer_cancel_notify"].(bool)
	c.caps.authFailureClose, _ = caps["authentication_failure_close"].(bool)
	c.caps.blocked, _ = caps["connection.blocked"].(bool)
}

// authenticate checks the start-ok response for PLAIN or AMQPLAIN.
func (c *conn) authenticate(mechanism string, response []byte) (*vhost.User, error) {
	var name, pass string
	switch mechanism {
	case "PLAIN":
		// RFC 4616: [authzid] NUL authcid NUL passwd
		parts := bytes.Split(response, []byte{0})
		if len(parts) != 3 {
			return nil, c.authFailed(mechanism, "", "response for PLAIN is malformed")
		}
		name, pass = string(parts[1]), string(parts[2])
	case "AMQPLAIN":
		// The response is a field table without its length prefix.
		raw := make([]byte, 4, 4+len(response))
		binary.BigEndian.PutUint32(raw, uint32(len(response)))
		t, err := wire.DecodeTable(append(raw, response...))
		if err != nil {
			return nil, c.authFailed(mechanism, "", "response for AMQPLAIN is malformed")
		}
		name, _ = t["LOGIN"].(string)
		pass, _ = t["PASSWORD"].(string)
	default:
		// rabbit_reader: command_invalid, then a silent close.
		return nil, errSilentClose{fmt.Sprintf("unknown authentication mechanism '%s'", mechanism)}
	}
	u, err := c.srv.cfg.Broker.Authenticate(name, pass)
	if err != nil {
		return nil, c.authFailed(mechanism, name, fmt.Sprintf("user '%s' - invalid credentials", name))
	}
	if u.LoopbackOnly && !isLoopback(c.nc.RemoteAddr()) {
		return nil, c.authFailed(mechanism, name, fmt.Sprintf("user '%s' can only connect via localhost", name))
	}
	return u, nil
}

// authFailed logs the real reason and returns what the client may see: with
// authentication_failure_close, RabbitMQ's "safe" message; without it the
// socket is just closed (handshakeFailed).
func (c *conn) authFailed(mechanism, user, reason string) error {
	c.log.Warn().Str("user", user).Str("mechanism", mechanism).Str("reason", reason).Msg("login refused")
	if !c.caps.authFailureClose {
		return errSilentClose{reason}
	}
	return wire.Hard(wire.AccessRefused, "Login was refused using authentication mechanism %s. For details see the broker logfile.", mechanism)
}

// errSilentClose ends the handshake by closing the socket without a frame.
type errSilentClose struct{ reason string }

func (e errSilentClose) Error() string { return "amqp: handshake refused: " + e.reason }

func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	_, ok := a.(*net.UnixAddr)
	return ok || a.Network() == "pipe"
}

// tune applies tune-ok. As rabbit_reader's validate_negotiated_integer_value:
// a frame-max below 4096 or above ours, or a channel-max above ours, is refused
// with 530; 0 takes our value.
func (c *conn) tune(t *wire.ConnectionTuneOk) error {
	refuse := func(field string, v uint32, rel, bound string, limit uint32) error {
		ex := wire.Hard(wire.NotAllowed, "negotiated %s = %d is %s than the %s allowed value (%d)", field, v, rel, bound, limit)
		ex.ClassID, ex.MethodID = 10, 30 // connection.tune
		return ex
	}
	frameMax := t.FrameMax
	switch {
	case frameMax == 0:
		frameMax = c.srv.cfg.FrameMax
	case frameMax < wire.FrameMinSize:
		return refuse("frame_max", frameMax, "lower", "minimum", wire.FrameMinSize)
	case frameMax > c.srv.cfg.FrameMax:
		return refuse("frame_max", frameMax, "higher", "maximum", c.srv.cfg.FrameMax)
	}
	channelMax := t.ChannelMax
	switch {
	case channelMax == 0:
		channelMax = c.srv.cfg.ChannelMax
	case channelMax > c.srv.cfg.ChannelMax:
		return refuse("channel_max", uint32(channelMax), "higher", "maximum", uint32(c.srv.cfg.ChannelMax))
	}
	c.frameMax = frameMax
	c.channelMax = channelMax
	c.heartbeat = time.Duration(t.Heartbeat) * time.Second
	c.r.SetFrameMax(frameMax)
	c.tuned.Store(true)
	return nil
}

func (c *conn) serverProperties() wire.Table {
	host, _ := os.Hostname()
	caps := wire.Table{
		"publisher_confirms":           true,
		"exchange_exchange_bindings":   true,
		"basic.nack":                   true,
		"consumer_cancel_notify":       true,
		"authentication_failure_close": true,
		"per_consumer_qos":             true,
		"consumer_priorities":          true,
		"connection.blocked":           true,
		"direct_reply_to":              true,
	}
	product, version := "RabbitMQ", RabbitMQVersion
	if c.srv.cfg.ReportWarren {
		product, version = "warren", Version
	}
	return wire.Table{
		"product":      product,
		"version":      version,
		"platform":     fmt.Sprintf("warren %s (%s)", Version, runtime.Version()),
		"copyright":    "Copyright the warren authors; Apache-2.0",
		"information":  fmt.Sprintf("warren %s, an AMQP 0-9-1 broker that follows RabbitMQ %s", Version, RabbitMQVersion),
		"cluster_name": "warren@" + host,
		"capabilities": caps,
	}
}
