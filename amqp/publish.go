package amqp

import (
	"slices"
	"strings"
	"sync"

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
	invalid   error  // a property RabbitMQ refuses (user-id, expiration); raised when complete
	replyTo   bool   // reply-to is amq.rabbitmq.reply-to: rewrite it (replyto.go)
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
	pv := h.Scan()
	if pv.UserID != nil && string(pv.UserID) != ch.c.user.Name && !slices.Contains(ch.c.user.Tags, "impersonator") {
		// RW:docs/validated-user-id.md; rabbit_channel:check_user_id_header/2.
		p.invalid = wire.Soft(wire.PreconditionFailed, "user_id property set to '%s' but authenticated user was '%s'", pv.UserID, ch.c.user.Name)
	} else if pv.Expiration != nil {
		p.invalid = vhost.CheckExpiration(pv.Expiration)
	}
	p.replyTo = string(pv.ReplyTo) == replyQueue
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
			Persistent: pv.DeliveryMode == 2,
			Priority:   pv.Priority,
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
	if err := ch.checkPublish(p.exchange, p.key, p.msg.Flags, p.msg.Props); err != nil {
		return publishErr(err)
	}
	if p.invalid != nil {
		if ex, ok := p.invalid.(*wire.Exception); ok {
			ex.ClassID, ex.MethodID = 60, 40
		}
		return p.invalid
	}
	if p.replyTo {
		if err := ch.rewriteReplyTo(p.msg); err != nil {
			return publishErr(err)
		}
	}
	if ch.c.blocked.Load() {
		// A resource alarm is set: this publish goes through, then reading
		// from this publisher stops until the alarm clears
		// (rabbit_reader's 'blocked' state).
		defer ch.c.waitUnblocked()
	}
	if ch.tx {
		ch.txPubs = append(ch.txPubs, txPublish{m: p.msg, mandatory: p.mandatory})
		return nil
	}
	return ch.route(p.msg, p.mandatory)
}

// route publishes m and answers as RabbitMQ does: basic.return for an
// unroutable mandatory message, then the confirm, which for a persistent
// message in a durable queue waits until the store has synced it.
func (ch *channel) route(m *vhost.Message, mandatory bool) error {
	if ch.publisher == nil {
		ch.publisher = ch.c.vhost.NewPublisher()
	}
	if !ch.confirm {
		routed, _, err := ch.publish(m, noWaiter{}, 0) // a rejected message is dropped silently
		if err != nil {
			return publishErr(err)
		}
		if !routed && mandatory {
			ch.sendReturn(m, wire.NoRoute, "NO_ROUTE")
		}
		return nil
	}
	// The sequence number goes into ch.waiting before the publish, so that
	// a Stored racing this goroutine finds it, and no confirm covers it
	// until it leaves ch.waiting.
	// ch.inFlight holds confirms below seq until the publish has returned and
	// said whether a queue rejected it (Stored may come first).
	ch.mu.Lock()
	ch.pubSeq++
	seq := ch.pubSeq
	ch.waiting = append(ch.waiting, seq)
	ch.inFlight = seq
	ch.mu.Unlock()
	routed, pending, err := ch.publish(m, ch, seq)
	if err != nil {
		ch.mu.Lock()
		ch.inFlight = 0
		ch.mu.Unlock()
		return publishErr(err)
	}
	if !routed && mandatory {
		// Before the confirm: RW:docs/confirms.md.
		ch.sendReturn(m, wire.NoRoute, "NO_ROUTE")
	}
	ch.mu.Lock()
	ch.inFlight = 0
	if ch.publisher.Rejected() && !isReply(m) {
		// A queue's length limit refused it (x-overflow reject-publish):
		// basic.nack instead of basic.ack (RW:docs/maxlength.md).
		ch.nacks = append(ch.nacks, seq)
	}
	if !pending {
		ch.waiting = ch.waiting[:len(ch.waiting)-1] // still the last: only this goroutine appends
	}
	ch.mu.Unlock()
	if !ch.dirty {
		ch.dirty = true
		ch.c.dirty = append(ch.c.dirty, ch)
	}
	return nil
}

// publish hands m to the broker core, or straight to a direct reply-to
// consumer.
func (ch *channel) publish(m *vhost.Message, w vhost.Waiter, token uint64) (routed, pending bool, err error) {
	if isReply(m) {
		routed = ch.routeReply(m)
		ch.stats.publishedOne(ch.confirm, routed)
		return routed, false, nil
	}
	routed, pending, err = ch.publisher.PublishFor(m, w, token)
	if err == nil {
		ch.stats.publishedOne(ch.confirm, routed)
	}
	return routed, pending, err
}

// isReply reports whether m goes to a direct reply-to consumer (replyto.go).
func isReply(m *vhost.Message) bool {
	return m.Exchange == "" && strings.HasPrefix(m.RoutingKey, replyPrefix)
}

func publishErr(err error) error {
	if ex, ok := err.(*wire.Exception); ok && ex.ClassID == 0 {
		ex.ClassID, ex.MethodID = 60, 40
	}
	return err
}

// noWaiter is the Waiter of publishes nobody confirms.
type noWaiter struct{}

func (noWaiter) Stored(uint64, error) {}

// Stored implements vhost.Waiter: the publish numbered seq is on disk, or
// failed. Called from the store's goroutine, in publish order.
func (ch *channel) Stored(seq uint64, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.waiting) == 0 || ch.waiting[0] != seq {
		// Cannot happen while Stored keeps publish order; never confirm
		// out of turn.
		ch.c.log.Error().Uint64("seq", seq).Msg("store confirmed a publish out of order")
		return
	}
	ch.waiting = ch.waiting[1:]
	if ch.closed {
		return
	}
	if err != nil {
		ch.confirmLocked(seq - 1)
		ch.c.log.Error().Err(err).Uint64("seq", seq).Msg("message could not be stored: nacked")
		nack := wire.BasicNack{DeliveryTag: seq}
		ch.c.sendMethod(ch.id, &nack)
		ch.ackedTo = seq
	}
	ch.confirmLocked(ch.confirmableLocked())
}

// confirmableLocked is the highest sequence number every publish up to which
// may be confirmed.
func (ch *channel) confirmableLocked() uint64 {
	if len(ch.waiting) > 0 {
		return ch.waiting[0] - 1
	}
	if ch.inFlight != 0 {
		return ch.inFlight - 1
	}
	return ch.pubSeq
}

// confirmLocked confirms every publish up to upTo not yet confirmed: one
// basic.nack for each rejected one (ch.nacks), one basic.ack (multiple=true
// when it covers more than one) for each stretch in between.
func (ch *channel) confirmLocked(upTo uint64) {
	for len(ch.nacks) > 0 && ch.nacks[0] <= upTo {
		n := ch.nacks[0]
		ch.nacks = ch.nacks[1:]
		if n <= ch.ackedTo {
			continue // nacked already (the store failed it)
		}
		ch.ackLocked(n - 1)
		nack := wire.BasicNack{DeliveryTag: n}
		ch.c.sendMethod(ch.id, &nack)
		ch.ackedTo = n
	}
	if len(ch.nacks) == 0 {
		ch.nacks = nil // let the array go
	}
	ch.ackLocked(upTo)
}

// ackLocked sends one basic.ack covering every publish up to upTo not yet
// confirmed (multiple=true when it covers more than one).
func (ch *channel) ackLocked(upTo uint64) {
	if upTo <= ch.ackedTo {
		return
	}
	ch.confirmAck = wire.BasicAck{DeliveryTag: upTo, Multiple: upTo-ch.ackedTo > 1}
	ch.stats.confirmed.Add(upTo - ch.ackedTo)
	ch.ackedTo = upTo
	ch.c.sendMethod(ch.id, &ch.confirmAck) // encoded before it returns: the scratch is free again
}

func (ch *channel) sendReturn(m *vhost.Message, code uint16, text string) {
	ret := wire.BasicReturn{ReplyCode: code, ReplyText: text, Exchange: m.Exchange, RoutingKey: m.RoutingKey}
	ch.stats.returned.Add(1)
	frameMax := ch.c.frameMax
	ch.c.out.append(func(b []byte) []byte {
		b = wire.AppendMethodFrame(b, ch.id, &ret)
		b = wire.AppendHeaderFrame(b, ch.id, 60, uint64(len(m.Body)), m.Flags, m.Props)
		return wire.AppendBodyFrames(b, ch.id, m.Body, frameMax)
	})
}

// flushConfirms runs at the end of a read batch: it confirms the publishes of
// the batch that need not wait for the disk.
func (ch *channel) flushConfirms() {
	ch.dirty = false
	if ch.closing {
		return
	}
	ch.mu.Lock()
	ch.confirmLocked(ch.confirmableLocked())
	ch.mu.Unlock()
}

// commit applies a transaction: publishes in order, then acks. commit-ok
// goes out only once every persistent message is on disk: readLoop waits.
func (ch *channel) commit() error {
	pubs, acks := ch.txPubs, ch.txAcks
	ch.txPubs, ch.txAcks = nil, nil
	if len(pubs) > 0 && ch.publisher == nil {
		ch.publisher = ch.c.vhost.NewPublisher()
	}
	var w txWaiter
	for _, p := range pubs {
		w.wg.Add(1)
		routed, pending, err := ch.publish(p.m, &w, 0)
		if !pending {
			w.wg.Done()
		}
		if err != nil {
			w.wg.Wait()
			return publishErr(err)
		}
		if !routed && p.mandatory {
			ch.sendReturn(p.m, wire.NoRoute, "NO_ROUTE")
		}
	}
	w.wg.Wait()
	if w.err != nil {
		return wire.Hard(wire.InternalError, "tx.commit could not store its messages: %v", w.err)
	}
	for _, a := range acks {
		ch.settleTx(a)
	}
	return nil
}

// txWaiter waits for a commit's persistent messages.
type txWaiter struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (w *txWaiter) Stored(_ uint64, err error) {
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	w.wg.Done()
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
