package vhost

import (
	"github.com/warrenmq/warren/amqp/wire"
)

// Quorum queues (RW:docs/quorum-queues.md), with the semantics warren can give them on one
// node: x-queue-type quorum is accepted for a durable, non-exclusive, non-auto-delete queue
// (otherwise 406 with rabbit_queue_type_util's texts, in its order), and
//   - x-delivery-limit: a message that came back unacknowledged (requeued, or its channel
//     closed) more times than the limit is dead-lettered with reason "delivery_limit", or
//     dropped without a dead-letter exchange;
//   - consuming with a global prefetch (basic.qos global=true) is refused by package amqp
//     with 540 "does not support global qos" (Queue.Quorum);
//   - x-overflow reject-publish-dlx, argument or policy, acts as drop-head
//     (rabbit_quorum_queue:overflow/3; args.go, policy.go);
//   - a message delivered again after n returns carries the header x-delivery-count = n
//     (a long), as RabbitMQ 3.13 adds it (rabbit_fifo_client:add_delivery_count_header/2,
//     only when the count is above 0, for basic.consume and basic.get alike; rabbit_fifo
//     counts a return in return_one/5: a requeueing nack or reject, or the consumer's channel
//     gone). RabbitMQ 3.10 also adds x-delivery-count 0 to a first basic.get (3.10's
//     add_delivery_count_header/2 has no "above 0" guard, and its dequeue path always calls
//     it); warren follows 3.13.
//
// Otherwise a quorum queue behaves as a classic one. Difference from RabbitMQ: the return
// count is not stored, so it restarts from zero after a restart.

// checkQuorum is rabbit_quorum_queue:declare/2's property checks, then its refusal of
// arguments quorum queues do not support (rabbit_queue_type_util:check_invalid_arguments/3,
// 3.10: x-max-priority and x-queue-mode; texts checked against a 3.10.8 node).
func checkQuorum(vhost, name string, durable, exclusive, autoDelete bool, args wire.Table) error {
	var prop string
	switch {
	case autoDelete:
		prop = "auto-delete"
	case exclusive:
		prop = "exclusive-owner"
	case !durable:
		prop = "non-durable"
	}
	if prop != "" {
		return wire.Soft(wire.PreconditionFailed, "invalid property '%s' for queue '%s' in vhost '%s'", prop, name, vhost)
	}
	for _, k := range []string{"x-max-priority", "x-queue-mode"} {
		if _, ok := args[k]; ok {
			return wire.Soft(wire.PreconditionFailed, "invalid arg '%s' for queue '%s' in vhost '%s' of queue type rabbit_quorum_queue", k, name, vhost)
		}
	}
	return nil
}

// Quorum reports whether q was declared with x-queue-type quorum.
func (q *Queue) Quorum() bool { return q.opts.quorum }

// overDeliveryLimitLocked counts a return of it, which left the unacknowledged set, and
// reports whether that took it past the queue's x-delivery-limit; then it is gone: dead-
// lettered ("delivery_limit") or dropped.
func (q *Queue) overDeliveryLimitLocked(it *item) bool {
	if q.opts.quorum && it.returns < ^uint16(0) {
		it.returns++ // x-delivery-count
	}
	if q.opts.delivLim < 0 {
		return false
	}
	if int64(it.returns) <= q.opts.delivLim {
		return false
	}
	if q.opts.hasDLX {
		q.deadLetterLocked(it, "delivery_limit")
	} else {
		q.leftLocked(it)
	}
	return true
}

// deliveryMsgLocked returns the message to deliver for it: it.msg itself, or for a quorum
// queue's message that came back before, a copy whose headers hold x-delivery-count (the
// message may be in other queues too, so it is never changed in place). The header goes
// into the sorted headers table as mc_amqpl:protocol_state/2 writes it.
func (q *Queue) deliveryMsgLocked(it *item) *Message {
	if !q.opts.quorum || it.returns == 0 {
		return it.msg
	}
	m := it.msg
	var props wire.Properties
	if err := props.Decode(m.Flags, m.Props); err != nil {
		return m
	}
	if props.Headers == nil {
		props.Headers = wire.Table{}
	}
	props.Headers["x-delivery-count"] = int64(it.returns)
	flags, raw, err := appendDeadProps(props)
	if err != nil {
		return m
	}
	c := *m
	c.Flags, c.Props = flags, raw
	return &c
}
