package vhost

import (
	"slices"

	"github.com/warrenmq/warren/amqp/wire"
)

// Consumer is implemented by the amqp channel, one value per basic.consume (or one per
// channel, told apart by tag).
type Consumer interface {
	// Deliver offers d. Called with the queue's lock held, on whichever goroutine dispatches
	// (a publisher, an acker or Kick caller, or a TTL timer dead-lettering into this queue).
	// Must not block and must not call back into vhost. false = refused for now (no prefetch credit, or output buffer full): the queue
	// offers d to its next consumer and offers to this one again on a later dispatch (after
	// Kick or the next publish).
	Deliver(d Delivery) bool
	// Cancelled tells the consumer that its queue was deleted (or it was cancelled by the
	// server); called without any queue lock held. amqp then sends basic.cancel when the
	// client supports it (consumer_cancel_notify).
	Cancelled(q *Queue, tag string)
}

// Starter may be implemented by a Consumer that must emit something before its first
// delivery (basic.consume-ok, AMQP 0-9-1 §1.8.3.3: the server replies consume-ok and then
// delivers). Consume calls Started once, with the queue lock held, after the consumer is
// registered and before anything is offered to it; the same rules as Deliver apply. Without
// it, a concurrent publish may call Deliver before Consume has returned.
type Starter interface {
	Started(q *Queue, tag string)
}

// Delivery is one message offered to a consumer (or returned by Get).
type Delivery struct {
	Queue       *Queue
	Tag         string // consumer tag ("" for basic.get)
	Msg         *Message
	Redelivered bool
	Entry       Entry // give it back to Queue.Ack / Reject / Requeue; zero for no-ack deliveries
}

// Entry identifies one unacknowledged delivery within its queue. Comparable, no pointers.
type Entry struct {
	seq  uint64 // the message's enqueue sequence
	dtag uint64 // which delivery of it (a requeued message is delivered again with a new dtag)
}

// Consume implements basic.consume. tag "" → "amq.ctag-…". Whether the tag is already used
// on the channel is for amqp to check (530 NOT_ALLOWED), not here. An exclusive consumer
// needs a queue without consumers and keeps others out: 403 "in exclusive use"
// (rabbit_amqqueue_process, basic_consume; rabbit_classic_queue:consume/3). Another
// connection's exclusive queue: 405.
func (v *VHost) Consume(o *Owner, queue, tag string, c Consumer, exclusive, noAck bool, args wire.Table) (string, *Queue, error) {
	q, err := v.lookupQueue(o, queue)
	if err != nil {
		return "", nil, err
	}
	prio, err := consumePriority(v.name, queue, args)
	if err != nil {
		return "", nil, err
	}
	if tag == "" {
		tag = NewConsumerTag()
	}
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return "", nil, errNoQueue(v.name, queue)
	}
	if q.mu.exclusiveConsumer || (exclusive && q.mu.consumers.n > 0) {
		q.mu.Unlock()
		return "", nil, wire.Soft(wire.AccessRefused, "queue '%s' in vhost '%s' in exclusive use", queue, v.name)
	}
	q.mu.consumers.add(&consumer{c: c, tag: tag, noAck: noAck, exclusive: exclusive, prio: prio, args: args})
	q.touchLocked()
	q.mu.exclusiveConsumer = exclusive
	if s, ok := c.(Starter); ok {
		s.Started(q, tag)
	}
	q.dispatchLocked(0)
	q.armLocked()
	q.unlockFlush()
	return tag, q, nil
}

// Cancel removes the consumer (c, tag) (basic.cancel, or its channel closed) and reports
// whether it was there. Its unacknowledged deliveries stay unacknowledged: the channel may
// still ack them, or requeue them when it closes. An auto-delete queue is deleted when its
// last consumer goes (RW:docs/queues.md, auto-delete). Cancelled is not called.
func (q *Queue) Cancel(c Consumer, tag string) bool {
	q.mu.Lock()
	k := q.mu.consumers.remove(c, tag)
	if k == nil {
		q.mu.Unlock()
		return false
	}
	if k.exclusive {
		q.mu.exclusiveConsumer = false
	}
	last := q.mu.consumers.n == 0 && q.autoDelete && !q.mu.deleted
	if q.mu.consumers.n == 0 {
		q.touchLocked() // x-expires counts from now
	}
	if q.mu.consumers.single && q.mu.consumers.n > 0 {
		// The next consumer in line becomes the active one and gets the backlog.
		q.dispatchLocked(0)
		q.armLocked()
		q.unlockFlush()
		return true
	}
	q.mu.Unlock()
	if last {
		// ifUnused: a consumer that arrived in between keeps the queue alive.
		_, _ = q.vhost.deleteQueue(q, true, false, false)
	}
	return true
}

// Kick offers ready messages to the consumers again: call it when a consumer regained
// credit (an ack freed prefetch, basic.qos raised it, the output buffer drained).
func (q *Queue) Kick() {
	q.mu.Lock()
	q.dispatchLocked(0)
	q.armLocked()
	q.unlockFlush()
}

// dispatchLocked offers ready messages to the consumers until the queue is empty or every
// consumer refused: each message goes to the highest priority that has a consumer taking
// it, round-robin within the priority. A consumer that refused is not asked again in the
// same round, so a round costs O(messages + consumers) Deliver calls at most.
// Expired messages reaching the head are dropped first (now: see dropExpiredLocked).
func (q *Queue) dispatchLocked(now int64) {
	cs := &q.mu.consumers
	if cs.n > 0 && q.mu.ready.len() > 0 {
		cs.round++
		for {
			q.dropExpiredLocked(now)
			if q.mu.ready.len() == 0 || q.mu.ready.front().isRun() || !q.offerLocked(cs) {
				break
			}
		}
	}
	if q.mu.runs > 0 {
		q.wantPageLocked()
	}
}

// offerLocked offers the first ready message; false if no consumer took it.
func (q *Queue) offerLocked(cs *consumerSet) bool {
	it := q.mu.ready.front()
	for _, g := range cs.groups {
		n := len(g.members)
		if cs.single {
			n, g.next = 1, 0 // only the active consumer (consumers.go)
		}
		for range n {
			if g.next >= n {
				g.next = 0
			}
			k := g.members[g.next]
			g.next++
			if k.refused == cs.round {
				continue
			}
			d := Delivery{Queue: q, Tag: k.tag, Msg: q.deliveryMsgLocked(it), Redelivered: it.redelivered}
			if !k.noAck {
				d.Entry = Entry{seq: it.seq, dtag: q.mu.dtag + 1}
			}
			if !k.c.Deliver(d) {
				k.refused = cs.round
				continue
			}
			got := q.mu.ready.popFront()
			q.counters.delivered(false, k.noAck, got.redelivered)
			if !k.noAck {
				q.mu.dtag++
				q.mu.unacked[got.seq] = pending{it: got, dtag: q.mu.dtag}
				q.deliveredLocked(&got)
			} else {
				q.leftLocked(&got)
			}
			return true
		}
	}
	return false
}

// enqueue appends m and dispatches. ok=false if the queue was deleted meanwhile;
// rejected=true (with ok) if its length limit refused m (maxlen.go).
func (q *Queue) enqueue(m *Message) (ok, rejected bool) {
	var now int64
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return false, false
	}
	expires := q.expiryFor(m, &now) // under q.mu: a policy may change the queue's TTL
	if q.refusesLocked(m) {
		q.unlockFlush()
		return true, true
	}
	q.mu.seq++
	if q.opts.maxPrio >= 0 {
		q.mu.ready.insert(item{msg: m, seq: q.mu.seq, expires: expires, rank: q.rank(m)})
	} else {
		q.mu.ready.pushBack(item{msg: m, seq: q.mu.seq, expires: expires})
	}
	if pst := q.vhost.pst; pst != nil {
		pst.mem.Add(msgCost(m))
	}
	q.dispatchLocked(now)
	q.dropHeadLocked()
	if expires != 0 || q.mu.dead != nil {
		q.armLocked()
		q.unlockFlush()
		return true, false
	}
	q.mu.Unlock()
	return true, false
}

// Get implements basic.get: takes the first ready message. ok=false when the queue is
// empty (basic.get-empty). remaining is the ready count after this one (get-ok's
// message-count). With noAck the message is settled at once; otherwise d.Entry must be
// acked, rejected or requeued.
func (v *VHost) Get(o *Owner, queue string, noAck bool) (d Delivery, ok bool, remaining uint32, err error) {
	q, err := v.lookupQueue(o, queue)
	if err != nil {
		return Delivery{}, false, 0, err
	}
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return Delivery{}, false, 0, errNoQueue(v.name, queue)
	}
	q.touchLocked()
	// Give up on a head that stays on disk after 3 page-ins that moved nothing (a priority
	// queue's recovered run stays at the head while its pages go to their priorities).
	for attempt, paged := 0, -1; ; attempt++ {
		q.dropExpiredLocked(0)
		if q.mu.ready.len() == 0 || (q.mu.ready.front().isRun() && attempt >= 3 && q.mu.paged == paged) {
			q.counters.getEmpty++
			q.unlockFlush()
			return Delivery{}, false, 0, nil
		}
		if !q.mu.ready.front().isRun() {
			break
		}
		paged = q.mu.paged
		// The head is on disk: read it back here (basic.get waits for its answer anyway).
		q.unlockFlush()
		if q.pageIn() == pageGap {
			_ = q.vhost.pst.barrier()
		}
		q.mu.Lock()
		if q.mu.deleted {
			q.mu.Unlock()
			return Delivery{}, false, 0, errNoQueue(v.name, queue)
		}
	}
	it := q.mu.ready.popFront()
	q.counters.delivered(true, noAck, it.redelivered)
	d = Delivery{Queue: q, Msg: q.deliveryMsgLocked(&it), Redelivered: it.redelivered}
	if !noAck {
		q.mu.dtag++
		q.mu.unacked[it.seq] = pending{it: it, dtag: q.mu.dtag}
		d.Entry = Entry{seq: it.seq, dtag: q.mu.dtag}
		q.deliveredLocked(&it)
	} else {
		q.leftLocked(&it)
	}
	remaining = uint32(q.readyLocked())
	if q.mu.runs > 0 {
		q.wantPageLocked()
	}
	q.armLocked()
	q.unlockFlush()
	return d, true, remaining, nil
}

// takeLocked removes e from the unacknowledged set; false if it is not there (already
// settled, requeued and redelivered, purged with the queue, or the queue was deleted).
// The item comes back with redelivered set: it was delivered, so it may have a delivered
// mark in the store (leftLocked).
func (q *Queue) takeLocked(e Entry) (item, bool) {
	p, ok := q.mu.unacked[e.seq]
	if !ok || p.dtag != e.dtag {
		return item{}, false
	}
	delete(q.mu.unacked, e.seq)
	p.it.redelivered = true
	return p.it, true
}

// Ack settles deliveries (basic.ack). Unknown or stale entries are ignored: acking an
// entry of a deleted queue is a no-op. Ack does not dispatch: the channel knows whether
// credit was freed and calls Kick.
func (q *Queue) Ack(es ...Entry) {
	q.mu.Lock()
	for _, e := range es {
		if it, ok := q.takeLocked(e); ok {
			q.leftLocked(&it)
			q.counters.ack++
		}
	}
	q.mu.Unlock()
}

// Reject settles deliveries negatively (basic.reject / basic.nack). requeue=true is Requeue.
// Otherwise the messages are dropped, or dead-lettered with reason "rejected" when the
// queue has a dead-letter exchange.
func (q *Queue) Reject(requeue bool, es ...Entry) {
	if requeue {
		q.Requeue(es...)
		return
	}
	q.mu.Lock()
	if !q.opts.hasDLX { // read under q.mu: a policy may set or clear it
		q.mu.Unlock()
		q.discard(es...)
		return
	}
	for _, e := range es {
		if it, ok := q.takeLocked(e); ok {
			q.deadLetterLocked(&it, "rejected")
		}
	}
	q.unlockFlush()
}

// Requeue puts deliveries back at their original places in the queue (ordered by enqueue
// sequence, as RabbitMQ's classic queues do), marked redelivered, then dispatches.
func (q *Queue) Requeue(es ...Entry) {
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return
	}
	s := q.mu.scratch[:0]
	for _, e := range es {
		if it, ok := q.takeLocked(e); ok {
			if q.overDeliveryLimitLocked(&it) {
				continue
			}
			s = append(s, it)
		}
	}
	slices.SortFunc(s, compareItems)
	q.mu.ready.insertAll(s)
	clear(s)
	q.mu.scratch = s[:0]
	q.dispatchLocked(0)
	q.dropHeadLocked()
	q.armLocked()
	q.unlockFlush()
}

// consumePriority reads the x-priority consumer argument (RW:docs/consumer-priority.md),
// 0 if absent. A non-integer is refused as rabbit_amqqueue:check_int_arg/2 refuses it
// (check_consume_arguments/3: "invalid arg '~ts' for ~ts: ~255p", the reason being an
// Erlang string, printed quoted).
// TODO(queue-arguments issue): x-consumer-timeout.
func consumePriority(vhost, queue string, args wire.Table) (int64, error) {
	v, ok := args["x-priority"]
	if !ok {
		return 0, nil
	}
	if _, isDecimal := v.(wire.Decimal); !isDecimal && typeClass(v) == "int" {
		p, _ := asInt(v)
		return p, nil
	}
	return 0, wire.Soft(wire.PreconditionFailed, "invalid arg 'x-priority' for queue '%s' in vhost '%s': \"expected integer, got %s\"",
		queue, vhost, typeName(v))
}
