package conformance

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// queueDeclareArgs encodes queue.declare arguments: reserved-1, queue, passive/durable/exclusive/
// auto-delete/no-wait bits, arguments (amqp0-9-1.xml).
func queueDeclareArgs(q string, passive bool) []byte {
	var w enc
	bits := uint8(0)
	if passive {
		bits |= 1
	}
	return w.u16(0).shortstr(q).u8(bits).table(nil).b
}

var channelChecks = []Check{
	{
		Name: "channel.flow/active-true-ok",
		Rule: "AMQP 0-9-1 channel.flow; RabbitMQ docs/specification.md (active=true is answered flow-ok)",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.WantOK(ch.Flow(true), "channel.flow active=true")
			e.WantConnAlive(ch.Conn, "after channel.flow")
			return nil
		},
	},
	{
		Name: "channel.flow/active-false-540",
		Rule: "RabbitMQ docs/specification.md: channel.flow active=false is not supported (NOT_IMPLEMENTED); basic.qos is the way to throttle",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.Flow(false)
			e.WantConnError(ch.Conn, err, amqp.NotImplemented, "NOT_IMPLEMENTED - active=false", "channel.flow active=false")
			return nil
		},
	},
	{
		Name: "channel.open/twice-504",
		Rule: "AMQP 0-9-1 channel.open (CHANNEL_ERROR when the channel is already open); RabbitMQ rabbit_reader.erl",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.handshake()
			r.openChannel(1)
			var w enc
			r.send(1, mChanOpen, w.shortstr("").b)
			r.expectConnClose(amqp.ChannelError, "CHANNEL_ERROR - second 'channel.open' seen", "second channel.open on channel 1")
			return nil
		},
	},
	{
		Name: "channel/method-before-open-504",
		Rule: "AMQP 0-9-1 channel.open: a method on a channel that is not open is a CHANNEL_ERROR connection exception",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.handshake()
			r.send(3, mQueueDeclare, queueDeclareArgs(e.Name("q"), true))
			r.expectConnClose(amqp.ChannelError, "CHANNEL_ERROR - expected 'channel.open'", "queue.declare on channel 3 before channel.open")
			return nil
		},
	},
	{
		Name: "channel.close/frames-dropped-until-close-ok",
		Rule: "AMQP 0-9-1 channel.close: after sending close, a peer discards frames on the channel until close-ok",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.handshake()
			r.openChannel(1)
			missing := e.Name("q")
			r.send(1, mQueueDeclare, queueDeclareArgs(missing, true))
			m := r.expect(1, mChanClose, "passive queue.declare of a missing queue")
			if code, text, _ := m.closeArgs(); code != amqp.NotFound {
				return fmt.Errorf("passive queue.declare of a missing queue: got channel.close %d %q, want 404", code, text)
			}
			// Neither of these may be answered: the broker is waiting for channel.close-ok.
			r.send(1, mQueueDeclare, queueDeclareArgs(e.Queue(), false))
			r.send(1, mQueueDeclare, queueDeclareArgs(missing, true))
			r.send(1, mChanCloseOk, nil)
			// The channel can be opened again, and the first reply on it is channel.open-ok.
			r.openChannel(1)
			r.send(1, mChanClose, new(enc).u16(200).shortstr("bye").u16(0).u16(0).b)
			r.expect(1, mChanCloseOk, "channel.close")
			return nil
		},
	},
	{
		Name: "channel.open/beyond-channel-max-530",
		Rule: "AMQP 0-9-1 connection.tune-ok channel-max; RabbitMQ rabbit_reader.erl: NOT_ALLOWED once channel_max channels are open",
		Run: func(e *Env) error {
			r := e.rawDial()
			r.handshakeTune(2)
			r.openChannel(1)
			r.openChannel(2)
			var w enc
			r.send(3, mChanOpen, w.shortstr("").b)
			r.expectConnClose(amqp.NotAllowed, "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
				"a third channel.open with channel-max 2")
			return nil
		},
	},
	{
		Name: "channel.close/server-close-keeps-connection",
		Rule: "AMQP 0-9-1 §2.3.6 (error handling): a channel exception closes only its channel",
		Run: func(e *Env) error {
			c := e.Dial()
			ch := c.Open()
			_, err := ch.QueueDeclarePassive(e.Name("q"), false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, "", "passive queue.declare of a missing queue")
			// A method on the closed channel fails in the client, and other channels keep working.
			if _, err := ch.QueueDeclare(e.Queue(), false, false, false, false, nil); err == nil {
				return fmt.Errorf("queue.declare on a channel closed by the server succeeded")
			}
			ch2 := c.Open()
			_, err = ch2.QueueDeclare(e.Queue(), false, true, false, false, nil)
			e.WantOK(err, "queue.declare on another channel of the same connection")
			return nil
		},
	},
}
