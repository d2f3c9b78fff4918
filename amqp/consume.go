package amqp

import (
	"sort"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// consumer is one basic.consume subscription. It implements vhost.Consumer.
type consumer struct {
	ch       *channel
	tag      string
	q        *vhost.Queue
	noAck    bool
	noWait   bool   // basic.consume no-wait: no consume-ok
	prefetch uint16 // per-consumer limit (basic.qos global=false at consume time); 0: none
	wait     int64  // consumer timeout in ms (timeout.go); 0: none

	// guarded by ch.mu
	active  bool // consume-ok has been sent: deliveries may flow
	unacked int
	starved bool // refused for lack of prefetch credit; kick when credit returns
	queued  bool // in the outbox's blocked list
}

var (
	_ vhost.Consumer = (*consumer)(nil)
	_ vhost.Starter  = (*consumer)(nil)
)

// Deliver writes d to the client if the consumer has credit and the
// connection's outbox has room. Called with d.Queue's lock held.
func (co *consumer) Deliver(d vhost.Delivery) bool {
	ch := co.ch
	c := ch.c
	ch.mu.Lock()
	if ch.closed || !co.active || ch.timedOut.Load() != nil {
		ch.mu.Unlock()
		return false
	}
	if !co.noAck && (co.prefetch > 0 && co.unacked >= int(co.prefetch) ||
		ch.globalPrefetch > 0 && ch.unackedCount >= int(ch.globalPrefetch)) {
		co.starved = true
		ch.mu.Unlock()
		return false
	}
	o := c.out
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		ch.mu.Unlock()
		return false
	}
	if len(o.buf) >= outboxHighWater {
		if !co.queued {
			co.queued = true
			o.blocked = append(o.blocked, co)
		}
		o.mu.Unlock()
		ch.mu.Unlock()
		return false
	}
	ch.nextTag++
	tag := ch.nextTag
	m := d.Msg
	dm := &ch.deliver
	dm.ConsumerTag, dm.DeliveryTag, dm.Redelivered = co.tag, tag, d.Redelivered
	dm.Exchange, dm.RoutingKey = m.Exchange, m.RoutingKey
	o.buf = wire.AppendMethodFrame(o.buf, ch.id, dm)
	o.buf = wire.AppendHeaderFrame(o.buf, ch.id, 60, uint64(len(m.Body)), m.Flags, m.Props)
	o.buf = wire.AppendBodyFrames(o.buf, ch.id, m.Body, c.frameMax)
	wake := o.signalLocked()
	o.mu.Unlock()
	if !co.noAck {
		ch.unacked = append(ch.unacked, record{tag: tag, q: d.Queue, entry: d.Entry, co: co, at: c.srv.clock.Load(), wait: co.wait})
		ch.maxWait = max(ch.maxWait, co.wait)
		co.unacked++
		ch.unackedCount++
	}
	ch.stats.delivered(co.noAck, false, d.Redelivered)
	ch.mu.Unlock()
	if wake {
		o.notify()
	}
	return true
}

// Cancelled is called by the queue when it cancels the consumer itself (the
// queue was deleted). The client hears basic.cancel if it asked for
// consumer_cancel_notify.
func (co *consumer) Cancelled(q *vhost.Queue, tag string) {
	ch := co.ch
	ch.mu.Lock()
	if ch.consumers[co.tag] != co {
		ch.mu.Unlock()
		return
	}
	delete(ch.consumers, co.tag)
	closed := ch.closed
	ch.mu.Unlock()
	if !closed && ch.c.caps.cancelNotify {
		ch.c.sendMethod(ch.id, &wire.BasicCancel{ConsumerTag: co.tag, NoWait: true})
	}
}

// kick asks the consumer's queue to dispatch again. Called without locks.
func (co *consumer) kick() {
	co.ch.mu.Lock()
	co.queued = false
	co.ch.mu.Unlock()
	co.q.Kick()
}

func (ch *channel) onConsume(m *wire.BasicConsume) error {
	qname, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if m.ConsumerTag != "" {
		ch.mu.Lock()
		_, dup := ch.consumers[m.ConsumerTag]
		ch.mu.Unlock()
		if dup {
			return wire.Hard(wire.NotAllowed, "attempt to reuse consumer tag '%s'", m.ConsumerTag)
		}
	}
	if qname == replyQueue {
		return ch.consumeReply(m)
	}
	if err := ch.acc().Check(vhost.Read, vhost.KindQueue, qname); err != nil {
		return err
	}
	co := &consumer{ch: ch, noAck: m.NoAck, prefetch: ch.prefetch, noWait: m.NoWait}
	if q := ch.c.vhost.Queue(qname); q != nil {
		ch.mu.Lock()
		global := ch.globalPrefetch
		ch.mu.Unlock()
		if q.Quorum() && global > 0 {
			// rabbit_quorum_queue:consume/3 (3.10): a connection exception.
			return wire.Hard(wire.NotImplemented, "queue '%s' in vhost '%s' does not support global qos", qname, ch.c.vhostName)
		}
		if !m.NoAck {
			co.wait = ch.c.srv.ackWait(q, m.Arguments) // before the first Deliver
		}
	}
	tag, q, err := ch.c.vhost.Consume(ch.c.owner, qname, m.ConsumerTag, co, m.Exclusive, m.NoAck, m.Arguments)
	if err != nil {
		return err
	}
	ch.mu.Lock()
	co.tag, co.q = tag, q
	ch.consumers[tag] = co
	ch.mu.Unlock()
	return nil
}

// Started implements vhost.Starter: the queue calls it, under its lock,
// once the consumer is registered and before its first delivery. consume-ok
// goes into the outbox and the consumer becomes active in one step, so no
// delivery can precede consume-ok and none is refused after the client has
// seen it (a refusal would hand the message to a lower-priority consumer).
func (co *consumer) Started(q *vhost.Queue, tag string) {
	ch := co.ch
	ch.mu.Lock()
	co.tag, co.q = tag, q
	if !co.noWait {
		ok := wire.BasicConsumeOk{ConsumerTag: tag}
		ch.c.out.append(func(b []byte) []byte { return wire.AppendMethodFrame(b, ch.id, &ok) })
	}
	co.active = true
	ch.mu.Unlock()
}

func (ch *channel) onCancel(m *wire.BasicCancel) error {
	ch.mu.Lock()
	co := ch.consumers[m.ConsumerTag]
	delete(ch.consumers, m.ConsumerTag)
	ch.mu.Unlock()
	switch {
	case co != nil && co.q == nil:
		ch.dropReply()
	case co != nil:
		co.q.Cancel(co, co.tag)
	}
	// Cancelling an unknown tag is not an error (RabbitMQ replies cancel-ok).
	if !m.NoWait {
		ch.send(&wire.BasicCancelOk{ConsumerTag: m.ConsumerTag})
	}
	return nil
}

func (ch *channel) onGet(m *wire.BasicGet) error {
	qname, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.acc().Check(vhost.Read, vhost.KindQueue, qname); err != nil {
		return err
	}
	d, ok, remaining, err := ch.c.vhost.Get(ch.c.owner, qname, m.NoAck)
	if err != nil {
		return err
	}
	if !ok {
		ch.stats.getEmpty.Add(1)
		ch.send(&wire.BasicGetEmpty{})
		return nil
	}
	ch.stats.delivered(m.NoAck, true, d.Redelivered)
	ch.mu.Lock()
	ch.nextTag++
	tag := ch.nextTag
	if !m.NoAck {
		wait := ch.c.srv.ackWait(d.Queue, nil)
		ch.unacked = append(ch.unacked, record{tag: tag, q: d.Queue, entry: d.Entry, at: ch.c.srv.clock.Load(), wait: wait})
		ch.maxWait = max(ch.maxWait, wait)
		ch.unackedCount++
	}
	ch.mu.Unlock()
	msg := d.Msg
	getOk := wire.BasicGetOk{DeliveryTag: tag, Redelivered: d.Redelivered, Exchange: msg.Exchange, RoutingKey: msg.RoutingKey, MessageCount: remaining}
	frameMax := ch.c.frameMax
	ch.c.out.append(func(b []byte) []byte {
		b = wire.AppendMethodFrame(b, ch.id, &getOk)
		b = wire.AppendHeaderFrame(b, ch.id, 60, uint64(len(msg.Body)), msg.Flags, msg.Props)
		return wire.AppendBodyFrames(b, ch.id, msg.Body, frameMax)
	})
	return nil
}

func (ch *channel) onQos(m *wire.BasicQos) error {
	if m.PrefetchSize != 0 {
		return wire.Hard(wire.NotImplemented, "prefetch_size!=0 (%d)", m.PrefetchSize)
	}
	if !m.Global {
		// RabbitMQ: global=false sets the limit for consumers created later.
		ch.prefetch = m.PrefetchCount
		ch.view.prefetch.Store(uint32(m.PrefetchCount))
		ch.send(&wire.BasicQosOk{})
		return nil
	}
	ch.mu.Lock()
	ch.globalPrefetch = m.PrefetchCount
	ch.kicks = ch.starvedLocked(ch.kicks[:0])
	ch.mu.Unlock()
	ch.send(&wire.BasicQosOk{})
	ch.runKicks()
	return nil
}

// starvedLocked appends the queues of consumers refused for lack of credit
// and clears their flags.
func (ch *channel) starvedLocked(qs []*vhost.Queue) []*vhost.Queue {
	for _, co := range ch.consumers {
		if co.starved {
			co.starved = false
			qs = append(qs, co.q)
		}
	}
	return qs
}

func (ch *channel) runKicks() {
	for i, q := range ch.kicks {
		q.Kick()
		ch.kicks[i] = nil
	}
	ch.kicks = ch.kicks[:0]
}

// find returns the index of the unsettled record with tag, or -1.
func (ch *channel) findLocked(tag uint64) int {
	recs := ch.unacked[ch.head:]
	i := sort.Search(len(recs), func(i int) bool { return recs[i].tag >= tag })
	if i < len(recs) && recs[i].tag == tag && !recs[i].settled && !recs[i].txAcked {
		return ch.head + i
	}
	return -1
}

// onAck handles basic.ack, basic.nack and basic.reject.
func (ch *channel) onAck(tag uint64, multiple, nack, requeue bool) error {
	ch.mu.Lock()
	// RabbitMQ's collect_acks: the tag itself must be outstanding, except
	// that multiple with tag 0 means everything.
	if !(multiple && tag == 0) && ch.findLocked(tag) < 0 {
		ch.mu.Unlock()
		ex := wire.Soft(wire.PreconditionFailed, "unknown delivery tag %d", tag)
		return ex
	}
	if ch.tx {
		ch.markTxLocked(tag, multiple)
		ch.mu.Unlock()
		ch.txAcks = append(ch.txAcks, txAck{tag: tag, multiple: multiple, nack: nack, requeue: requeue})
		return nil
	}
	ch.settle = ch.collectLocked(ch.settle[:0], tag, multiple, false)
	ch.kicks = ch.starvedLocked(ch.kicks[:0])
	ch.mu.Unlock()
	ch.apply(nack, requeue)
	return nil
}

// collectLocked settles the records named by (tag, multiple) and appends them
// to dst. With txOnly, only records acked inside the transaction are taken.
func (ch *channel) collectLocked(dst []record, tag uint64, multiple, txOnly bool) []record {
	take := func(i int) {
		r := &ch.unacked[i]
		if r.settled || (txOnly && !r.txAcked) || (!txOnly && r.txAcked) {
			return
		}
		r.settled = true
		dst = append(dst, *r)
		ch.unackedCount--
		if r.co != nil {
			r.co.unacked--
		}
	}
	if multiple {
		for i := ch.head; i < len(ch.unacked) && (tag == 0 || ch.unacked[i].tag <= tag); i++ {
			take(i)
		}
	} else {
		recs := ch.unacked[ch.head:]
		j := sort.Search(len(recs), func(i int) bool { return recs[i].tag >= tag })
		if j < len(recs) && recs[j].tag == tag {
			take(ch.head + j)
		}
	}
	ch.compactLocked()
	return dst
}

// compactLocked drops settled records from the front.
func (ch *channel) compactLocked() {
	for ch.head < len(ch.unacked) && ch.unacked[ch.head].settled {
		ch.unacked[ch.head] = record{}
		ch.head++
	}
	if ch.head == len(ch.unacked) {
		ch.unacked, ch.head = ch.unacked[:0], 0
	} else if ch.head > 1024 && ch.head > len(ch.unacked)/2 {
		n := copy(ch.unacked, ch.unacked[ch.head:])
		clear(ch.unacked[n:])
		ch.unacked, ch.head = ch.unacked[:n], 0
	}
}

func (ch *channel) markTxLocked(tag uint64, multiple bool) {
	for i := ch.head; i < len(ch.unacked); i++ {
		r := &ch.unacked[i]
		if r.settled {
			continue
		}
		if multiple && (tag == 0 || r.tag <= tag) || r.tag == tag {
			r.txAcked = true
		}
	}
}

// apply settles ch.settle in the queues, then kicks starved consumers.
// Called without ch.mu.
func (ch *channel) apply(nack, requeueIt bool) {
	switch {
	case !nack:
		ch.stats.acked.Add(uint64(len(ch.settle)))
		ch.eachQueueRun(func(q *vhost.Queue, es []vhost.Entry) { q.Ack(es...) })
	case requeueIt:
		requeue(ch.settle)
	default:
		ch.eachQueueRun(func(q *vhost.Queue, es []vhost.Entry) { q.Reject(false, es...) })
	}
	clear(ch.settle)
	ch.settle = ch.settle[:0]
	ch.runKicks()
}

// eachQueueRun calls fn once per run of consecutive ch.settle records of one
// queue, so a multiple ack of many messages takes each queue's lock once per
// run rather than once per message.
func (ch *channel) eachQueueRun(fn func(q *vhost.Queue, es []vhost.Entry)) {
	for i := 0; i < len(ch.settle); {
		q := ch.settle[i].q
		es := ch.entries[:0]
		for ; i < len(ch.settle) && ch.settle[i].q == q; i++ {
			es = append(es, ch.settle[i].entry)
		}
		fn(q, es)
		clear(es)
		ch.entries = es[:0]
	}
}

func (ch *channel) settleTx(a txAck) {
	ch.mu.Lock()
	ch.settle = ch.collectLocked(ch.settle[:0], a.tag, a.multiple, true)
	ch.kicks = ch.starvedLocked(ch.kicks[:0])
	ch.mu.Unlock()
	ch.apply(a.nack, a.requeue)
}

// recover redelivers every unacknowledged message (basic.recover requeue=true:
// RabbitMQ requeues them).
func (ch *channel) recover(requeueIt bool) error {
	if !requeueIt {
		return wire.Hard(wire.NotImplemented, "requeue=false")
	}
	ch.mu.Lock()
	ch.settle = ch.settle[:0]
	for i := ch.head; i < len(ch.unacked); i++ {
		r := &ch.unacked[i]
		if r.settled {
			continue
		}
		r.settled = true
		ch.settle = append(ch.settle, *r)
		ch.unackedCount--
		if r.co != nil {
			r.co.unacked--
		}
	}
	ch.compactLocked()
	ch.kicks = ch.starvedLocked(ch.kicks[:0])
	ch.mu.Unlock()
	ch.apply(true, true)
	return nil
}
