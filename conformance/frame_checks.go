package conformance

import (
	amqp "github.com/rabbitmq/amqp091-go"
)

// Bad input (issue 2, "Bad input"): each malformed frame gets RabbitMQ's answer, and the broker goes on
// serving other clients. Where RabbitMQ 3.10's answer is a crash of the connection's reader (the socket is
// closed without connection.close), the check accepts that or the reply code of the specification; see
// NOTES.md.

// badInput is a raw-frame check: handshake, open channel 1, send the bad input, expect the answer, then
// check that a new client is served.
func badInput(name, rule string, send func(e *Env, r *rawConn), expect func(r *rawConn, what string)) Check {
	return Check{
		Name: name,
		Rule: rule,
		Run: func(e *Env) error {
			r := e.rawDial()
			r.handshake()
			r.openChannel(1)
			send(e, r)
			expect(r, name)
			e.WantConnAlive(e.Dial(), "a new client after the bad input")
			return nil
		},
	}
}

func connClose(code uint16, text string) func(r *rawConn, what string) {
	return func(r *rawConn, what string) { r.expectConnClose(code, text, what) }
}

func refused(code uint16) func(r *rawConn, what string) {
	return func(r *rawConn, what string) { r.expectRefused(code, what) }
}

// tuneOkRefused sends tune-ok with frameMax and expects the connection refused.
func tuneOkRefused(name, rule string, frameMax uint32) Check {
	return Check{
		Name: name,
		Rule: rule,
		Run: func(e *Env) error {
			r := e.rawDial()
			r.write([]byte("AMQP\x00\x00\x09\x01"))
			r.expect(0, mConnStart, "connection.start")
			r.startOk(e.uri.Username, e.uri.Password, nil)
			r.expect(0, mConnTune, "connection.tune")
			var w enc
			r.send(0, mConnTuneOk, w.u16(0).u32(frameMax).u16(0).b)
			w = enc{}
			r.send(0, mConnOpen, w.shortstr(e.Vhost).shortstr("").u8(0).b)
			r.expectRefused(amqp.NotAllowed, name)
			e.WantConnAlive(e.Dial(), "a new client after the refused tune-ok")
			return nil
		},
	}
}

var frameChecks = []Check{
	badInput("frame/bad-frame-end-501",
		"AMQP 0-9-1 §4.2.3: a frame not ending in 0xCE is a FRAME_ERROR connection exception",
		func(e *Env, r *rawConn) { r.write([]byte{frameHeartbeat, 0, 0, 0, 0, 0, 0, 0x00}) },
		connClose(amqp.FrameError, "FRAME_ERROR - *")),
	badInput("frame/unknown-frame-type-501",
		"AMQP 0-9-1 §4.2.3 (frame types 1, 2, 3, 8): an unknown type is a FRAME_ERROR",
		func(e *Env, r *rawConn) { r.write(frame(9, 0, nil)) },
		connClose(amqp.FrameError, "FRAME_ERROR - *")),
	badInput("frame/larger-than-frame-max-501",
		"AMQP 0-9-1 connection.tune frame-max: a larger frame is a FRAME_ERROR",
		func(e *Env, r *rawConn) { r.write(frame(frameBody, 1, make([]byte, 200_000))) },
		connClose(amqp.FrameError, "FRAME_ERROR - *")),
	badInput("frame/announced-1GiB-answered-before-payload-501",
		"AMQP 0-9-1 connection.tune frame-max; RabbitMQ checks the announced size before reading the payload",
		func(e *Env, r *rawConn) { r.write([]byte{frameMethod, 0, 1, 0x40, 0, 0, 0, 1, 2, 3}) },
		connClose(amqp.FrameError, "FRAME_ERROR - *")),
	badInput("frame/content-header-without-publish-505",
		"AMQP 0-9-1 §4.2.6: content frames follow a content method; otherwise UNEXPECTED_FRAME",
		func(e *Env, r *rawConn) {
			var h enc
			r.write(frame(frameHeader, 1, h.u16(classBasic).u16(0).u64(5).u16(0).b))
		},
		connClose(amqp.UnexpectedFrame, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")),
	badInput("frame/body-without-publish-505",
		"AMQP 0-9-1 §4.2.6: content frames follow a content method; otherwise UNEXPECTED_FRAME",
		func(e *Env, r *rawConn) { r.write(frame(frameBody, 1, []byte("abc"))) },
		connClose(amqp.UnexpectedFrame, "UNEXPECTED_FRAME - expected method frame, got non method frame instead")),
	badInput("frame/body-longer-than-announced-505",
		"AMQP 0-9-1 §4.2.6.2: the body frames carry exactly body-size octets; RabbitMQ answers UNEXPECTED_FRAME (at the next method)",
		func(e *Env, r *rawConn) {
			var m, h enc
			m.u16(0).shortstr("").shortstr(e.Name("nowhere")).u8(0)
			h.u16(classBasic).u16(0).u64(5).u16(0)
			out := methodFrame(1, mBasicPublish, m.b)
			out = append(out, frame(frameHeader, 1, h.b)...)
			out = append(out, frame(frameBody, 1, []byte("0123456789"))...)
			r.write(append(out, methodFrame(1, mQueueDeclare, queueDeclareArgs(e.Name("q"), true))...))
		},
		connClose(amqp.UnexpectedFrame, "UNEXPECTED_FRAME - *")),
	badInput("frame/heartbeat-on-channel-1-505",
		"AMQP 0-9-1 §4.2.7: heartbeats use channel 0 (the spec asks for 503, a draft for 501); RabbitMQ answers 505 UNEXPECTED_FRAME (see NOTES.md)",
		func(e *Env, r *rawConn) { r.write(frame(frameHeartbeat, 1, nil)) },
		connClose(amqp.UnexpectedFrame, "UNEXPECTED_FRAME - *")),
	badInput("method/truncated-arguments-501",
		"AMQP 0-9-1 §4.2.5; RabbitMQ answers method arguments it cannot decode with FRAME_ERROR \"cannot decode\" (see NOTES.md)",
		func(e *Env, r *rawConn) { r.send(1, mQueueDeclare, []byte{0, 0, 10, 'a'}) },
		connClose(amqp.FrameError, "FRAME_ERROR - cannot decode*")),
	badInput("method/unknown-class-and-method-closes-connection",
		"AMQP 0-9-1 §4.2.4 (540 NOT_IMPLEMENTED or 503); RabbitMQ 3.10 drops the connection (see NOTES.md)",
		func(e *Env, r *rawConn) { r.send(1, methodID{99, 99}, nil) },
		refused(0)),
	badInput("field-table/unknown-type-tag-closes-connection",
		"AMQP 0-9-1 §4.2.5.5 field tables (502 SYNTAX_ERROR); RabbitMQ 3.10 drops the connection (see NOTES.md)",
		func(e *Env, r *rawConn) {
			var t, w enc
			t.shortstr("k").u8('Z').u8(1)
			r.send(1, mQueueDeclare, w.u16(0).shortstr(e.Name("q")).u8(0).longstr(string(t.b)).b)
		},
		refused(0)),
	badInput("channel/method-after-close-ok-504",
		"AMQP 0-9-1 channel.close: a closed channel must be opened again before use (CHANNEL_ERROR)",
		func(e *Env, r *rawConn) {
			r.send(1, mChanClose, new(enc).u16(200).shortstr("bye").u16(0).u16(0).b)
			r.expect(1, mChanCloseOk, "channel.close")
			r.send(1, mQueueDeclare, queueDeclareArgs(e.Name("q"), true))
		},
		connClose(amqp.ChannelError, "CHANNEL_ERROR - expected 'channel.open'")),
	tuneOkRefused("connection.tune-ok/frame-max-below-4096-refused",
		"AMQP 0-9-1 connection.tune frame-max (rule 'minimum': 4096); RabbitMQ refuses during the handshake (see NOTES.md)", 1024),
	tuneOkRefused("connection.tune-ok/frame-max-above-server-refused",
		"AMQP 0-9-1 connection.tune-ok frame-max (rule 'upper-limit': not above the server's); RabbitMQ refuses", 1<<20),
}
