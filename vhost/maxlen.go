package vhost

// Length limits (RW:docs/maxlength.md): x-max-length counts a queue's ready messages,
// x-max-length-bytes the body bytes of its ready messages; unacknowledged deliveries count
// for neither. x-overflow says what happens past a limit, as rabbit_amqqueue_process does it
// (3.10):
//
//   - drop-head (default): the message is enqueued (and offered to consumers) first, then
//     the oldest ready messages are dropped, or dead-lettered with reason "maxlen", until the
//     queue is within its limits again (maybe_drop_head/2). A requeue does the same.
//   - reject-publish: a message that would take the queue past a limit is refused
//     (will_overflow/2: ready+1 > max-length or ready bytes+size > max-length-bytes), even
//     when a consumer is waiting. The publish still counts as routed (no basic.return); a
//     publisher in confirm mode gets basic.nack for it (Publisher.Rejected).
//   - reject-publish-dlx: refused likewise, and dead-lettered with reason "maxlen".
//
// A length-limited queue pages like any other (pager.go): both limits count the messages
// kept on disk only (a run's bytes are counted as it grows, ring.pagedBytes). drop-head
// drops from the head, which is in memory; when the head is a run, the pager is asked for
// it (Queue.wantPageLocked pages in for a limited queue even without consumers) and the
// page-in drops what is over the limit, so for that moment (one page read) the queue is
// over its limit. After a restart the recovered backlog of a durable queue is on disk; its
// messages count for x-max-length, and their bytes once they are in memory.

// overflowsLocked reports whether enqueueing m would take q past a limit. Messages
// reserved in memory by a persistent publish and not enqueued yet count (persist.go).
func (q *Queue) overflowsLocked(m *Message) bool {
	o := &q.opts
	return (o.maxLen >= 0 && int64(q.readyLocked()+q.mu.reserved)+1 > o.maxLen) ||
		(o.maxBytes >= 0 && q.readyBytesLocked()+q.mu.reservedBytes+int64(len(m.Body)) > o.maxBytes)
}

// refusesLocked reports whether q refuses m (x-overflow reject-publish or
// reject-publish-dlx and m would overflow); for reject-publish-dlx it queues m for
// dead-lettering, so the caller must release q.mu with unlockFlush.
func (q *Queue) refusesLocked(m *Message) bool {
	if q.opts.overflow == dropHead || !q.opts.limited() || !q.overflowsLocked(m) {
		return false
	}
	if q.opts.overflow == rejectPublishDLX && q.opts.hasDLX {
		q.mu.dead = append(q.mu.dead, deadLetter{msg: m, reason: "maxlen"})
	}
	return true
}

// dropHeadLocked enforces the limits of a drop-head queue: it drops or dead-letters
// ("maxlen") ready messages from the head while the queue is over a limit.
func (q *Queue) dropHeadLocked() {
	o := &q.opts
	if o.overflow != dropHead || !o.limited() {
		return
	}
	over := func() bool {
		return (o.maxLen >= 0 && int64(q.readyLocked()) > o.maxLen) || (o.maxBytes >= 0 && q.readyBytesLocked() > o.maxBytes)
	}
	for q.mu.ready.len() > 0 && !q.mu.ready.front().isRun() && over() {
		it := q.mu.ready.popFront()
		if o.hasDLX {
			q.deadLetterLocked(&it, "maxlen")
		} else {
			q.leftLocked(&it)
		}
	}
	if q.mu.runs > 0 && over() {
		q.wantPageLocked() // the head is on disk
	}
}

// readyBytesLocked is the body bytes of the ready messages, in memory and in dense runs.
func (q *Queue) readyBytesLocked() int64 { return q.mu.ready.bytes + q.mu.ready.pagedBytes }

// refuse handles m refused by q while it was being reserved (Publisher.reserve): a
// reject-publish-dlx queue dead-letters it.
func (q *Queue) refuse(m *Message) {
	q.mu.Lock() // before reading opts: a policy may change them
	if q.mu.deleted || q.opts.overflow != rejectPublishDLX || !q.opts.hasDLX {
		q.mu.Unlock()
		return
	}
	q.mu.dead = append(q.mu.dead, deadLetter{msg: m, reason: "maxlen"})
	q.unlockFlush()
}
