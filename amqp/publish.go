package amqp

import (
	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// What a channel expects next while assembling a published message
// (AMQP 0-9-1 §4.2.6: method, then one content header, then body frames).
const (
	expectMethod = iota
	expectHeader
	expectBody
)

// publishing is the message being assembled on a channel. Owned by readLoop.
type publishing struct {
	expect    int
	exchange  string
	key       string
	mandatory bool
	msg       *vhost.Message
	size      uint64 // announced body size
	got       uint64 // body bytes received
	tooLarge  bool   // body is counted but not kept; 406 when complete
}

// unexpected reports a frame that does not fit the content sequence; RabbitMQ's
// rabbit_command_assembler answers it with 505 UNEXPECTED_FRAME.
func (p *publishing) unexpected(frameType uint8) error {
	switch p.expect {
	case expectHeader:
		return wire.Hard(wire.UnexpectedFrame, "expected content header for class 60, got non content header frame instead")
	case expectBody:
		return wire.Hard(wire.UnexpectedFrame, "expected content body, got non content body frame instead")
	}
	return wire.Hard(wire.UnexpectedFrame, "expected method frame, got non method frame instead")
}

func (ch *channel) onPublish(m *wire.BasicPublish) error {
	if m.Immediate {
		// RabbitMQ 3.x refuses immediate publishing outright.
		return wire.Hard(wire.NotImplemented, "immediate=true")
	}
	// Strings from the decoder are immutable and reused for repeating values,
	// so keeping them costs nothing.
	ch.pub = publishing{
		expect:    expectHeader,
		exchange:  m.Exchange,
		key:       m.RoutingKey,
		mandatory: m.Mandatory,
	}
	return nil
}

func (ch *channel) onHeader(payload []byte) error {
	if ch.closing {
		return nil
	}
	if ch.pub.expect != expectHeader {
		return ch.pub.unexpected(wire.FrameHeader)
	}
	h, err := wire.ParseContentHeader(payload)
	if err != nil {
		return err
	}
	if h.ClassID != 60 {
		return wire.Hard(wire.UnexpectedFrame, "expected content header for class 60, got one for class %d instead", h.ClassID)
	}
	p := &ch.pub
	p.size = h.BodySize
	if h.BodySize > uint64(ch.c.srv.cfg.MaxMessageSize) {
		p.tooLarge = true
	} else {
		// One allocation holds the properties and the body.
		buf := make([]byte, len(h.Props)+int(h.BodySize))
		copy(buf, h.Props)
		p.msg = &vhost.Message{
			Exchange:   p.exchange,
			RoutingKey: p.key,
			Flags:      h.Flags,
			Props:      buf[:len(h.Props):len(h.Props)],
			Body:       buf[len(h.Props):len(h.Props)],
			Persistent: h.DeliveryMode() == 2,
			Priority:   h.Priority(),
		}
	}
	if h.BodySize == 0 {
		return ch.published()
	}
	p.expect = expectBody
	return nil
}

func (ch *channel) onBody(payload []byte) error {
	if ch.closing {
		return nil
	}
	p := &ch.pub
	if p.expect != expectBody {
		return p.unexpected(wire.FrameBody)
	}
	if p.got+uint64(len(payload)) > p.size {
		return wire.Hard(wire.UnexpectedFrame, "content body of %d bytes exceeds the %d announced in the content header", p.got+uint64(len(payload)), p.size)
	}
	p.got += uint64(len(payload))
	if !p.tooLarge {
		p.msg.Body = append(p.msg.Body, payload...)
	}
	if p.got < p.size {
		return nil
	}
	return ch.published()
}

// published handles a fully assembled message.
func (ch *channel) published() error {
	p := ch.pub
	ch.pub = publishing{}
	if p.tooLarge {
		ex := wire.Soft(wire.PreconditionFailed, "message size %d is larger than configured max size %d", p.size, ch.c.srv.cfg.MaxMessageSize)
		ex.ClassID, ex.MethodID = 60, 40
		return ex
	}
	if ch.tx {
		ch.txPubs = append(ch.txPubs, txPublish{m: p.msg, mandatory: p.mandatory})
		return nil
	}
	return ch.route(p.msg, p.mandatory)
}

// route publishes m and answers as RabbitMQ does: basic.return for an
// unroutable mandatory message, then the confirm.
func (ch *channel) route(m *vhost.Message, mandatory bool) error {
	routed, err := ch.c.vhost.Publish(m)
	if err != nil {
		if ex, ok := err.(*wire.Exception); ok && ex.ClassID == 0 {
			ex.ClassID, ex.MethodID = 60, 40
		}
		return err
	}
	if !routed && mandatory {
		ch.sendReturn(m, wire.NoRoute, "NO_ROUTE")
	}
	if ch.confirm {
		ch.pubSeq++
		if !ch.dirty {
			ch.dirty = true
			ch.c.dirty = append(ch.c.dirty, ch)
		}
	}
	return nil
}

func (ch *channel) sendReturn(m *vhost.Message, code uint16, text string) {
	ret := wire.BasicReturn{ReplyCode: code, ReplyText: text, Exchange: m.Exchange, RoutingKey: m.RoutingKey}
	frameMax := ch.c.frameMax
	ch.c.out.append(func(b []byte) []byte {
		b = wire.AppendMethodFrame(b, ch.id, &ret)
		b = wire.AppendHeaderFrame(b, ch.id, 60, uint64(len(m.Body)), m.Flags, m.Props)
		return wire.AppendBodyFrames(b, ch.id, m.Body, frameMax)
	})
}

// flushConfirms sends one basic.ack covering every publish confirmed since
// the last flush (multiple=true when it covers more than one).
func (ch *channel) flushConfirms() {
	ch.dirty = false
	if ch.closing || ch.pubSeq == ch.ackedTo {
		return
	}
	ack := wire.BasicAck{DeliveryTag: ch.pubSeq, Multiple: ch.pubSeq-ch.ackedTo > 1}
	ch.ackedTo = ch.pubSeq
	ch.send(&ack)
}

// commit applies a transaction: publishes in order, then acks.
func (ch *channel) commit() error {
	pubs, acks := ch.txPubs, ch.txAcks
	ch.txPubs, ch.txAcks = nil, nil
	for _, p := range pubs {
		if err := ch.route(p.m, p.mandatory); err != nil {
			return err
		}
	}
	for _, a := range acks {
		ch.settleTx(a)
	}
	return nil
}

func (ch *channel) rollback() {
	ch.txPubs = nil
	ch.mu.Lock()
	for i := ch.head; i < len(ch.unacked); i++ {
		ch.unacked[i].txAcked = false
	}
	ch.mu.Unlock()
	ch.txAcks = nil
}
