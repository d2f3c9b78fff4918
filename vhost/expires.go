package vhost

import (
	"time"
)

// Queue expiry (RW:docs/ttl.md, "Queue TTL"): a queue declared with x-expires is deleted
// once it has been unused for that many milliseconds. Unused means no consumers, and no
// basic.get or queue.declare (passive or not) of it within the period; each of those starts
// the period again, as does the last consumer leaving (rabbit_amqqueue_process:
// ensure_expiry_timer/1 runs on stat, basic_get, and when consumers drop to zero). A
// restart starts it again too. Unacknowledged messages do not keep a queue in use.
//
// One time.AfterFunc per such queue (no goroutine waits): when it fires it deletes the queue
// if it is still unused and the period has passed, or re-arms itself for what remains.

// touchLocked records a use of q and makes sure its expiry timer runs.
func (q *Queue) touchLocked() {
	if q.opts.expires <= 0 || q.mu.deleted {
		return
	}
	q.mu.usedAt = nowNano()
	if q.mu.idleTimer == nil && !q.vhost.closed.Load() {
		q.mu.idleTimer = time.AfterFunc(time.Duration(q.opts.expires)*time.Millisecond, q.idleTick)
	}
}

// idleTick runs on the expiry timer's goroutine.
func (q *Queue) idleTick() {
	q.mu.Lock()
	if q.mu.deleted || q.vhost.closed.Load() {
		q.mu.Unlock()
		return
	}
	if q.mu.consumers.n > 0 || q.opts.expires <= 0 || q.mu.idleTimer == nil {
		// In use: armed again when the last consumer leaves (touchLocked). No expiry: a
		// policy removed it (policy.go) after this tick was due.
		q.mu.idleTimer = nil
		q.mu.Unlock()
		return
	}
	left := q.mu.usedAt + q.opts.expires*int64(time.Millisecond) - nowNano()
	if left > 0 {
		q.mu.idleTimer.Reset(time.Duration(left))
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	// ifUnused: a consumer that arrived in between keeps it. Nobody is told: there are no
	// consumers (rabbit_amqqueue_process stops with reason normal).
	if _, err := q.vhost.deleteQueue(q, true, false, false); err != nil {
		q.vhost.log.Warn().Err(err).Str("queue", q.name).Msg("cannot delete expired queue")
	}
}
