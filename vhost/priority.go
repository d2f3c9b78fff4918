package vhost

// Priority queues (RW:docs/priority.md): a queue declared with x-max-priority N (0-255)
// delivers ready messages of higher priority first, FIFO within a priority. A message's
// priority property above N counts as N; a message without one has priority 0.
//
// The ready list stays one ring, ordered by (rank, seq) with rank = 255 - priority
// (ring.go), so dispatch, basic.get, requeue and length limits work unchanged: requeued
// messages go back to their place within their priority, and drop-head drops the message
// that would be delivered next (as rabbit_priority_queue:drop/2 takes the highest priority
// first). Message TTL expires at the head of the whole queue, as RabbitMQ does it:
// rabbit_priority_queue:dropwhile/2 and fetchwhile/4 walk the per-priority backing queues
// from the highest (find2/3) and stop at the first whose head is alive, so an expired
// lower-priority message behind a live higher-priority one stays, and counts, until it
// reaches the head (checked on 3.10.8 by conformance's
// x-max-priority/ttl-expires-at-the-head-only, and the same code is in 3.13.7).
//
// A priority queue pages like other queues (pager.go): a message paged out joins the run
// at the tail of its priority, a run that stands for its priority's entries in its range
// (item.runByRank). After a restart the recovered backlog is one run at the head (its
// priorities are unknown until read); paging it in sorts its messages into their
// priorities, and nothing is delivered before it is all in memory.

// rank is m's place class in q's ready list: 255 - its capped priority in a priority
// queue, 0 in any other.
func (q *Queue) rank(m *Message) uint8 {
	if q.opts.maxPrio < 0 {
		return 0
	}
	return 255 - min(m.Priority, uint8(q.opts.maxPrio))
}
