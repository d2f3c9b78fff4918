package vhost

import "sync/atomic"

// Message counters per queue and per exchange, for the management API's "message_stats"
// (issue 8). RabbitMQ's channels count them (rabbit_channel: ?INCR_STATS exchange_stats,
// queue_exchange_stats, queue_stats) and its management plugin sums them per object;
// warren counts where the work is done, so a message published over the API or by any
// channel counts alike, as it does in RabbitMQ (whose API publishes on an internal channel).
//
// Cost on the hot path: a publish adds one atomic add per target queue and one or two per
// exchange; a delivery, get and ack increment plain fields under the Queue.mu the
// operation holds anyway. Nothing allocates.

// queueCounters are a queue's counters.
type queueCounters struct {
	publish atomic.Uint64 // messages routed to the queue by a publish (not dead-lettering)

	// Guarded by Queue.mu:
	deliver, deliverNoAck uint64 // basic.deliver to consumers, with and without acks
	get, getNoAck         uint64 // basic.get-ok, with and without acks
	getEmpty              uint64 // basic.get-empty
	redeliver             uint64 // deliveries and gets of messages marked redelivered
	ack                   uint64 // basic.ack of the queue's deliveries
}

// exchangeCounters are an exchange's counters; atomic (publishers route concurrently under
// VHost.mu's read lock). Padded to a cache line of their own, so that their writes do not
// evict the exchange's routing fields, which every publish reads, from other cores' caches.
type exchangeCounters struct {
	_   [64]byte
	in  atomic.Uint64 // messages published to the exchange, routed or not
	out atomic.Uint64 // queue deliveries those publishes made (a message routed to two queues counts 2)
	_   [48]byte
}

// MessageCounts are the counters of a queue (Publish to Ack) or an exchange (PublishIn,
// PublishOut), named after the management API's fields.
type MessageCounts struct {
	Publish, Deliver, DeliverNoAck, Get, GetNoAck, GetEmpty, Redeliver, Ack uint64
	PublishIn, PublishOut                                                   uint64
}

// DeliverGet is the API's deliver_get: every delivery and get.
func (c MessageCounts) DeliverGet() uint64 { return c.Deliver + c.DeliverNoAck + c.Get + c.GetNoAck }

// countsLocked reads q's counters; q.mu held.
func (q *Queue) countsLocked() MessageCounts {
	s := &q.counters
	return MessageCounts{
		Publish: s.publish.Load(), Deliver: s.deliver, DeliverNoAck: s.deliverNoAck,
		Get: s.get, GetNoAck: s.getNoAck, GetEmpty: s.getEmpty, Redeliver: s.redeliver, Ack: s.ack,
	}
}

func (x *Exchange) counts() MessageCounts {
	return MessageCounts{PublishIn: x.counters.in.Load(), PublishOut: x.counters.out.Load()}
}

// count records a publish from x that reached p.queues: dead letters are not counted (as
// in RabbitMQ, where the queue dead-letters without a channel), nor the second routing of
// a message a delayed exchange held (p.skip; its publish was counted when it arrived).
func (p *Publisher) count(x *Exchange, dead bool) {
	if dead {
		return
	}
	if p.skip == nil {
		x.counters.in.Add(1)
	}
	if len(p.queues) == 0 {
		return
	}
	x.counters.out.Add(uint64(len(p.queues)))
	for _, q := range p.queues {
		q.counters.publish.Add(1)
	}
}

// delivered counts a delivery to a consumer (get=false) or a basic.get-ok; Queue.mu held.
func (s *queueCounters) delivered(get, noAck, redelivered bool) {
	switch {
	case get && noAck:
		s.getNoAck++
	case get:
		s.get++
	case noAck:
		s.deliverNoAck++
	default:
		s.deliver++
	}
	if redelivered {
		s.redeliver++
	}
}

// discard settles deliveries rejected without requeue by a queue without a dead-letter
// exchange: as Ack, but not counted as acks.
func (q *Queue) discard(es ...Entry) {
	q.mu.Lock()
	for _, e := range es {
		if it, ok := q.takeLocked(e); ok {
			q.leftLocked(&it)
		}
	}
	q.mu.Unlock()
}
