package vhost

import "github.com/warrenmq/warren/amqp/wire"

// Quorum queues (RW:docs/quorum-queues.md), with the semantics warren can give them on one
// node: x-queue-type quorum is accepted for a durable, non-exclusive, non-auto-delete queue
// (otherwise 406 with rabbit_queue_type_util's texts, in its order), and
//   - x-delivery-limit: a message that came back unacknowledged (requeued, or its channel
//     closed) more times than the limit is dead-lettered with reason "delivery_limit", or
//     dropped without a dead-letter exchange;
//   - consuming with a global prefetch (basic.qos global=true) is refused by package amqp
//     with 540 "does not support global qos" (Queue.Quorum).
//
// Otherwise a quorum queue behaves as a classic one. Differences from RabbitMQ: no
// x-delivery-count header on redeliveries; the return count is not stored, so it restarts
// from zero after a restart.

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
	if q.opts.delivLim < 0 {
		return false
	}
	if it.returns < ^uint16(0) {
		it.returns++
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
