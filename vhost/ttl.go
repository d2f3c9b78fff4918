package vhost

import "time"

// Message TTL (RW:docs/ttl.md): a queue's x-message-ttl and a message's expiration
// property, the smaller one winning. As in RabbitMQ's classic queues, only the head of the
// queue expires: a message behind one with a longer TTL waits until it reaches the head.
// Expired messages are dropped, or dead-lettered with reason "expired". A TTL of 0 means
// "deliver now to a consumer that can take it, or expire".
//
// A queue whose head has an expiry arms one timer (time.AfterFunc: no goroutine waits; the
// runtime starts one when it fires), so that messages expire, and get dead-lettered, even
// when nobody reads the queue: the TTL + dead-letter-exchange delay pattern depends on it.

// nowNano is the clock TTLs are measured with; tests replace it.
var nowNano = func() int64 { return time.Now().UnixNano() }

// expiryFor returns when m expires in q (Unix ns), 0 for never. now is filled in lazily.
func (q *Queue) expiryFor(m *Message, now *int64) int64 {
	ttl := q.opts.ttl
	if m.hasTTL && (ttl < 0 || m.ttl < ttl) {
		ttl = m.ttl
	}
	if ttl < 0 {
		return 0
	}
	if *now == 0 {
		*now = nowNano()
	}
	return *now + ttl*int64(time.Millisecond)
}

// expiryAt returns when m, published at ts (Unix ns), expires in q; 0 for never. For
// messages read back from the store.
func (q *Queue) expiryAt(m *Message, ts int64) int64 {
	ttl := q.opts.ttl
	if m.hasTTL && (ttl < 0 || m.ttl < ttl) {
		ttl = m.ttl
	}
	if ttl < 0 {
		return 0
	}
	return ts + ttl*int64(time.Millisecond)
}

// dropExpiredLocked removes expired messages from the head of the ready list, queueing them
// for dead-lettering when the queue has a dead-letter exchange. now 0 = read the clock if
// the head has an expiry. A message expires strictly after its deadline, so one enqueued
// with TTL 0 is still offered by the dispatch that follows its enqueue (same now).
func (q *Queue) dropExpiredLocked(now int64) {
	for q.mu.ready.len() > 0 {
		h := q.mu.ready.front()
		if h.isRun() || h.expires == 0 {
			return
		}
		if now == 0 {
			now = nowNano()
		}
		if now <= h.expires {
			return
		}
		it := q.mu.ready.popFront()
		if q.opts.hasDLX {
			q.deadLetterLocked(&it, "expired")
		} else {
			q.leftLocked(&it)
		}
	}
}

// armLocked makes sure the timer fires when the head expires.
func (q *Queue) armLocked() {
	if q.mu.ready.len() == 0 || q.mu.deleted || q.vhost.closed.Load() || q.mu.ready.front().isRun() {
		return
	}
	at := q.mu.ready.front().expires
	if at == 0 || (q.mu.timerAt != 0 && q.mu.timerAt <= at) {
		return
	}
	d := time.Duration(at-nowNano()) + time.Millisecond
	if q.mu.timer == nil {
		q.mu.timer = time.AfterFunc(d, q.expireTick)
	} else {
		q.mu.timer.Reset(d)
	}
	q.mu.timerAt = at
}

// expireTick runs on the timer's goroutine.
func (q *Queue) expireTick() {
	q.mu.Lock()
	if q.mu.deleted || q.vhost.closed.Load() {
		q.mu.Unlock()
		return
	}
	q.mu.timerAt = 0
	q.dropExpiredLocked(0)
	if q.mu.runs > 0 {
		q.wantPageLocked() // the next messages to expire may be on disk
	}
	q.armLocked()
	q.unlockFlush()
}
