package amqp

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// handshake runs connection negotiation as RabbitMQ's rabbit_reader does:
// protocol header, start/start-ok (authentication), tune/tune-ok, open/open-ok.
func (c *conn) handshake() error {
	deadline := time.Now().Add(c.srv.cfg.HandshakeTimeout)
	if tc, ok := c.nc.(*tls.Conn); ok {
		// The TLS handshake runs here, on the connection's goroutine and within the
		// handshake timeout, not in the accept loop.
		tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			return errTLSHandshake{err}
		}
		tc.SetWriteDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
	}
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
		Mechanisms:       c.mechanisms(),
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
	c.insp.started(startOk)
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
	sess, err := c.openSession(user, open.VirtualHost)
	if err != nil {
		var ex *wire.Exception
		if errors.As(err, &ex) {
			ex.ClassID, ex.MethodID = open.ClassID(), open.MethodID()
		}
		return err
	}
	c.sess = sess
	c.vhost, c.vhostName = sess.VHost(), open.VirtualHost
	c.owner = vhost.NewOwner(fmt.Sprintf("%s -> %s", c.nc.RemoteAddr(), c.nc.LocalAddr()))
	c.opened() // listed by the management API before the client hears open-ok
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
	case "EXTERNAL":
		if !c.offersExternal() {
			// Known to RabbitMQ but not offered: command_invalid, a silent close.
			return nil, errSilentClose{"invalid authentication mechanism 'EXTERNAL'"}
		}
		return c.authenticateExternal()
	default:
		// rabbit_reader: command_invalid, then a silent close.
		return nil, errSilentClose{fmt.Sprintf("unknown authentication mechanism '%s'", mechanism)}
	}
	u, err := c.srv.cfg.Broker.Authenticate(name, pass)
	if err != nil {
		return nil, c.authFailed(mechanism, name, strings.TrimPrefix(err.Error(), "vhost: "))
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
	delay, n := c.srv.fails.fail(c.nc.RemoteAddr(), time.Now())
	c.log.Warn().Str("user", user).Str("mechanism", mechanism).Str("reason", reason).
		Int("recent_failures", n).Dur("delay", delay).Msg("login refused")
	c.waitFor(delay)
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

// errTLSHandshake ends a connection whose TLS handshake failed (wrong CA, expired or
// missing client certificate, not TLS at all).
type errTLSHandshake struct{ err error }

func (e errTLSHandshake) Error() string { return "amqp: TLS handshake failed: " + e.err.Error() }
func (e errTLSHandshake) Unwrap() error { return e.err }

// mechanisms is the connection.start mechanisms list.
func (c *conn) mechanisms() string {
	if c.offersExternal() {
		return "PLAIN AMQPLAIN EXTERNAL"
	}
	return "PLAIN AMQPLAIN"
}

// offersExternal: EXTERNAL is offered on TLS connections when configured
// (rabbit_auth_mechanism_ssl:should_offer/1 offers it on every TLS socket, with or
// without a peer certificate, so that the refusal says why).
func (c *conn) offersExternal() bool { return c.srv.cfg.ExternalAuth && c.tls != nil }

// authenticateExternal logs in the user named by the client certificate's CN
// (rabbit_auth_mechanism_ssl:init/1, handle_response/2). The certificate was verified
// against the configured CAs during the TLS handshake.
func (c *conn) authenticateExternal() (*vhost.User, error) {
	const mech = "EXTERNAL"
	if len(c.tls.PeerCertificates) == 0 || len(c.tls.VerifiedChains) == 0 {
		return nil, c.authFailed(mech, "", "connection peer presented no TLS (x.509) certificate")
	}
	name := c.tls.PeerCertificates[0].Subject.CommonName
	if name == "" {
		return nil, c.authFailed(mech, "", "no name found")
	}
	u, err := c.srv.cfg.Broker.AuthenticateExternal(name)
	if err != nil {
		return nil, c.authFailed(mech, name, strings.TrimPrefix(err.Error(), "vhost: "))
	}
	if u.LoopbackOnly && !isLoopback(c.nc.RemoteAddr()) {
		return nil, c.authFailed(mech, name, fmt.Sprintf("user '%s' can only connect via localhost", name))
	}
	return u, nil
}

// openSession applies connection.open's limits and access checks in rabbit_reader's
// order: the node's connection limit, then (vhost.Broker.Open) the vhost, its connection
// limit, the user's, and the user's permission on the vhost.
func (c *conn) openSession(u *vhost.User, vh string) (*vhost.Session, error) {
	if max := c.srv.cfg.MaxConnections; max > 0 && c.srv.ConnectionCount() > max {
		return nil, wire.Hard(wire.NotAllowed, "connection refused: node connection limit (%d) is reached", max)
	}
	return c.srv.cfg.Broker.Open(u, vh, func(text string) {
		c.forceClose(wire.Hard(wire.ConnectionForced, "%s", text))
	})
}

// waitFor sleeps d on the connection's goroutine, cut short by Shutdown.
func (c *conn) waitFor(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.kill:
	}
}
