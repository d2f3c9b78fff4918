package amqp

import (
	"strings"
	"sync"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Direct reply-to (RW:docs/direct-reply-to.md): a client consumes, no-ack, from
// the pseudo-queue amq.rabbitmq.reply-to and publishes requests with that
// reply-to on the same channel; warren rewrites it to
// amq.rabbitmq.reply-to.<key>, and a reply published to the default exchange
// with that routing key goes straight to the consumer, through no queue.

const (
	replyQueue  = "amq.rabbitmq.reply-to"
	replyPrefix = replyQueue + "."
)

// replyRegistry maps reply keys to their consumers, server-wide.
type replyRegistry struct {
	mu sync.RWMutex
	m  map[string]*consumer // guarded by mu
}

func (r *replyRegistry) add(key string, co *consumer) {
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[string]*consumer)
	}
	r.m[key] = co
	r.mu.Unlock()
}

func (r *replyRegistry) remove(key string) {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
}

func (r *replyRegistry) lookup(key string) *consumer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[key]
}

// consumeReply handles basic.consume on amq.rabbitmq.reply-to.
func (ch *channel) consumeReply(m *wire.BasicConsume) error {
	if !m.NoAck {
		return wire.Soft(wire.PreconditionFailed, "reply consumer cannot acknowledge")
	}
	if ch.replyKey != "" {
		return wire.Soft(wire.PreconditionFailed, "reply consumer already set")
	}
	tag := m.ConsumerTag
	if tag == "" {
		tag = vhost.NewConsumerTag()
	}
	co := &consumer{ch: ch, tag: tag, noAck: true}
	ch.replyKey = strings.TrimPrefix(vhost.NewConsumerTag(), "amq.ctag-")
	ch.mu.Lock()
	ch.consumers[tag] = co
	ch.mu.Unlock()
	if !m.NoWait {
		ch.send(&wire.BasicConsumeOk{ConsumerTag: tag})
	}
	ch.mu.Lock()
	co.active = true
	ch.mu.Unlock()
	ch.c.srv.replies.add(ch.replyKey, co)
	return nil
}

// dropReply forgets the channel's reply consumer.
func (ch *channel) dropReply() {
	if ch.replyKey != "" {
		ch.c.srv.replies.remove(ch.replyKey)
		ch.replyKey = ""
	}
}

// rewriteReplyTo gives a request published with reply-to
// amq.rabbitmq.reply-to the channel's own reply address.
func (ch *channel) rewriteReplyTo(m *vhost.Message) error {
	if ch.replyKey == "" {
		return wire.Soft(wire.PreconditionFailed, "fast reply consumer does not exist")
	}
	var p wire.Properties
	if err := p.Decode(m.Flags, m.Props); err != nil {
		return err
	}
	p.ReplyTo = replyPrefix + ch.replyKey
	flags, props, err := p.Append(nil)
	if err != nil {
		return wire.Hard(wire.InternalError, "re-encoding properties: %v", err)
	}
	m.Flags, m.Props = flags, props
	return nil
}

// routeReply delivers a message published to the default exchange with a
// reply address; routed is false when that consumer is gone.
func (ch *channel) routeReply(m *vhost.Message) (routed bool) {
	co := ch.c.srv.replies.lookup(strings.TrimPrefix(m.RoutingKey, replyPrefix))
	if co == nil {
		return false
	}
	return co.deliverReply(m)
}

// deliverReply writes a reply to its consumer. Replies are not refused for
// a full outbox: there is no queue to keep them in.
func (co *consumer) deliverReply(m *vhost.Message) bool {
	ch := co.ch
	o := ch.c.out
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed || !co.active {
		return false
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	ch.nextTag++
	dm := &ch.deliver
	dm.ConsumerTag, dm.DeliveryTag, dm.Redelivered = co.tag, ch.nextTag, false
	dm.Exchange, dm.RoutingKey = m.Exchange, m.RoutingKey
	o.buf = wire.AppendMethodFrame(o.buf, ch.id, dm)
	o.buf = wire.AppendHeaderFrame(o.buf, ch.id, 60, uint64(len(m.Body)), m.Flags, m.Props)
	o.buf = wire.AppendBodyFrames(o.buf, ch.id, m.Body, ch.c.frameMax)
	wake := o.signalLocked()
	o.mu.Unlock()
	if wake {
		o.notify()
	}
	return true
}
