package vhost

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/warrenmq/warren/store"
)

// Paging (issue 4: "a backlog does not have to fit in memory"). With a store, a durable
// queue's ready list may hold runs: items that stand for consecutive messages kept on
// disk only (ring.go). A persistent message goes into a run instead of memory when the
// broker's queued messages in memory are past the budget and the queue has a backlog of
// its own (pageLow), or when the queue's tail is a run already and memory is above half
// the budget (so a queue's disk part stays in few runs, and a queue whose consumers caught
// up returns to memory). The pager goroutine reads the first run back, a page at a time, when
// fewer than pageLow messages are in memory ahead of it and someone may want them (a
// consumer, or a TTL to enforce at the head). basic.get pages in on the caller's
// goroutine. So memory holds about the budget plus a page per active queue, however long
// the queues get, as in RabbitMQ's classic queues v2, which keep the head in memory and
// the rest on disk.
//
// A priority queue keeps a run per priority (ring.go, item.runByRank): a run's range
// interleaves with other priorities' entries, so its page-in reads past them, after a
// barrier, since it cannot tell a commit in flight from another priority's entry.
//
// Transient messages always stay in memory (RabbitMQ CQv2 writes them to disk under memory
// pressure too, and drops them at restart); warren's memory alarm is not part of this.
//
// A dense run's messages were all committed to the store (or their commit was issued, under
// the queue's lock, before the run covered them); a read that finds a gap stops there and,
// after a barrier (every commit issued before it is done), reads again. A run recovered at
// start is sparse: it stands for whatever entries the store has in its range.
const (
	pageMsgs  = 1024    // messages per page-in, at most
	pageBytes = 4 << 20 // bytes of stored messages per page-in, at most
	pageLow   = 256     // page in when fewer messages than this are in memory ahead of a run
)

var errPageFull = errors.New("page full")

// readyLocked is the number of ready messages, in memory and on disk.
func (q *Queue) readyLocked() int { return q.mu.ready.len() - q.mu.runs + q.mu.paged }

// storesLocked reports whether it has an entry in the store.
func (q *Queue) stores(m *Message) bool { return m.Persistent && q.durable && q.vhost.pst != nil }

// leftLocked accounts for an in-memory message that left the queue for good (acked,
// delivered without ack, dropped): its memory, and its store entry, are released. A
// delivered mark may exist only for an item marked redelivered: one read back with its
// mark, requeued, or taken from the unacknowledged set (takeLocked sets it).
func (q *Queue) leftLocked(it *item) {
	pst := q.vhost.pst
	if pst == nil {
		return
	}
	pst.mem.Add(-msgCost(it.msg))
	if q.durable && it.msg.Persistent {
		pst.journal.ack(q.mu.ix, it.seq, it.msg.inline, it.redelivered)
	}
}

// deliveredLocked records a delivery awaiting its ack, so that after a crash the message
// comes back with redelivered set (AMQP 0-9-1 §1.8.3.9). A redelivered message was marked
// at its first delivery.
func (q *Queue) deliveredLocked(it *item) {
	if !it.redelivered && q.stores(it.msg) {
		q.vhost.pst.journal.mark(q.mu.ix, it.seq)
	}
}

// storesReadyLocked reports whether a purge has stored messages to remove.
func (q *Queue) storesReadyLocked() bool {
	if q.vhost.pst == nil || !q.durable {
		return false
	}
	if q.mu.runs > 0 {
		return true
	}
	for i := range q.mu.ready.len() {
		if q.mu.ready.at(i).msg.Persistent {
			return true
		}
	}
	return false
}

// dropReadyLocked empties the ready list, releasing memory; store entries are the
// caller's business (purgeStoredLocked, or the deleted queue's index is dropped).
func (q *Queue) dropReadyLocked() {
	if pst := q.vhost.pst; pst != nil {
		var n int64
		q.mu.ready.each(func(it *item) {
			if !it.isRun() {
				n += msgCost(it.msg)
			}
		})
		pst.mem.Add(-n)
	}
	q.mu.ready.clear()
	q.mu.runs, q.mu.paged = 0, 0
}

func (q *Queue) dropUnackedLocked() {
	if pst := q.vhost.pst; pst != nil {
		var n int64
		for _, p := range q.mu.unacked {
			n += msgCost(p.it.msg)
		}
		pst.mem.Add(-n)
	}
}

// purgeStoredLocked purges a durable queue with stored ready messages by moving it to a
// new message index: one batch rewrites the queue's record with the new index and copies
// the unacknowledged messages (marked delivered) into it; the old index is deleted in the
// background once that batch is synced. A crash leaves either the old index in use (the
// purge never happened) or an orphan that recovery deletes. Deleting the ready entries one
// by one instead could take a long time for a backlog on disk. The returned func waits
// for the sync (call it without the lock).
func (q *Queue) purgeStoredLocked() (wait func() error) {
	pst := q.vhost.pst
	newID := pst.nextID.Add(1)
	ix := indexName(newID)
	var b store.Batch
	rec, err := encodeQueue(q, newID)
	if err != nil {
		return func() error { return err }
	}
	b.PutEntity(store.KindQueue, nameKey(q.vhost.name, q.name), rec)
	for seq, p := range q.mu.unacked {
		if !q.stores(p.it.msg) {
			continue
		}
		id := pst.nextMsg.Add(1)
		b.PutMessage(id, appendMessage(nil, p.it.msg))
		b.Enqueue(ix, seq, id)
		b.MarkDeliveredLive(ix, seq) // enqueued in this batch: no read needed
	}
	old := q.mu.ix
	q.mu.ix = ix
	q.mu.gen++
	q.dropReadyLocked()
	done := make(chan error, 1)
	pst.st.Commit(&b, func(err error) {
		if err == nil {
			pst.janitor.add(dropIndex{ix: old})
		}
		done <- err
	})
	return func() error { return <-done }
}

// pagesOutLocked reports whether m, a persistent message just reserved in q as seq, goes
// to disk only (a run) instead of memory: past the budget (over) when q has a backlog of
// its own, or while memory is above half the budget (tail) when q's tail is on disk
// already; in a priority queue, the tail of m's priority. A length-limited queue pages like
// any other (maxlen.go).
func (q *Queue) pagesOutLocked(m *Message, seq uint64, over, tail bool) bool {
	r := &q.mu.ready
	var out bool
	if q.opts.maxPrio < 0 {
		out = (over && r.len() >= pageLow) || (tail && q.mu.runs > 0 && r.back().isRun())
	} else {
		rank := q.rank(m)
		end := r.rankEnd(rank)
		out = (over && r.len() >= pageLow) || (tail && q.mu.runs > 0 && end > 0 && r.at(end-1).rank == rank && r.at(end-1).isRun())
	}
	if !out {
		r.memSeq = seq
	}
	return out
}

// appendRunLocked puts m, just reserved as seq, in the queue's disk-only tail: the last
// run, or in a priority queue the last run of m's priority (its runs are runByRank: their
// ranges interleave with other priorities' entries, so a page-in reads past those). Then a
// drop-head length limit is enforced (maxlen.go), so the caller must flush dead letters
// (Queue.flushDead) once it released q.mu.
func (q *Queue) appendRunLocked(seq uint64, m *Message) {
	defer q.dropHeadLocked()
	r := &q.mu.ready
	r.pagedBytes += int64(len(m.Body))
	q.mu.paged++
	if q.opts.maxPrio >= 0 {
		rank := q.rank(m)
		if end := r.rankEnd(rank); end > 0 {
			// Extend the run only if every entry of this rank after its last one is m: no
			// message of the queue that stays in memory was reserved in between.
			if t := r.at(end - 1); t.rank == rank && t.runByRank() && r.memSeq < t.runEnd() && t.n < math.MaxUint32 {
				t.expires = int64(seq)
				t.n++
				return
			}
		}
		r.insertSorted(item{seq: seq, expires: int64(seq), n: 1, rank: rank, redelivered: true})
		q.mu.runs++
		return
	}
	if r.len() > 0 {
		if t := r.back(); t.isRun() && t.runDense() && t.runEnd()+1 == seq && t.n < math.MaxUint32 {
			t.expires = int64(seq)
			t.n++
			return
		}
	}
	r.pushBack(item{seq: seq, expires: int64(seq), n: 1})
	q.mu.runs++
}

// runHolds reports whether the stored message data belongs to run, a runByRank run whose
// range it is in: whether it has the run's priority.
func (q *Queue) runHolds(run *item, data []byte) bool {
	m, err := decodeMessage(data)
	return err == nil && q.rank(m) == run.rank
}

// wantPageLocked asks the pager for the queue's next page if it has a run close to the
// head and someone may want the messages: a consumer, a queue TTL or a length limit to
// enforce.
func (q *Queue) wantPageLocked() {
	if q.mu.runs == 0 || q.mu.paging || q.mu.deleted {
		return
	}
	if q.mu.consumers.n == 0 && q.opts.ttl < 0 && !q.opts.limited() {
		return // a length limit needs the head in memory to drop it (maxlen.go)
	}
	if q.mu.ready.headBefore(pageLow) >= pageLow {
		return
	}
	q.mu.paging = true
	q.vhost.pst.pager.add(q)
}

type pageResult int

const (
	pageDone   pageResult = iota // paged in, or nothing (left) to do
	pageGap                      // the run's next entry is not in the store yet
	pageFailed                   // the store could not be read (logged)
)

// pageIn reads the queue's first run's next page from the store (without locks) and puts
// it in memory in the run's place. Safe to call concurrently (the pager, basic.get): a
// page whose run moved on meanwhile is dropped.
func (q *Queue) pageIn() pageResult {
	pst := q.vhost.pst
	q.mu.Lock()
	if q.mu.deleted || q.mu.runs == 0 {
		q.mu.Unlock()
		return pageDone
	}
	run := *q.mu.ready.at(q.mu.ready.firstRun())
	ix, gen := q.mu.ix, q.mu.gen
	q.mu.Unlock()

	limit, maxBytes := min(pageMsgs, int(run.n)), pageBytes
	if pst.over() {
		limit, maxBytes = min(limit, pageMsgs/8), pageBytes/8
	}
	byRank := run.runByRank()
	scan := limit // entries to read
	if byRank {
		// Its entries' commits were issued before they joined the run, and it cannot
		// tell a gap from another priority's entry: wait for them all.
		if err := pst.barrier(); err != nil {
			return pageFailed
		}
		scan = pageMsgs
	}
	dense, next, size, scanned, nScanned := run.runDense(), run.seq, 0, run.seq-1, 0
	var items []item
	err := pst.st.Messages(ix, run.seq, scan, func(sm store.Message) error {
		if sm.Seq > run.runEnd() || (dense && sm.Seq != next) || len(items) == limit {
			return errPageFull
		}
		m, err := decodeMessage(sm.Data)
		if err != nil {
			return fmt.Errorf("entry %d: %w", sm.Seq, err)
		}
		next, scanned = sm.Seq+1, sm.Seq
		nScanned++
		if byRank && q.rank(m) != run.rank {
			return nil // another priority's
		}
		m.inline = sm.Inline
		items = append(items, item{msg: m, seq: sm.Seq, redelivered: sm.Delivered, rank: q.rank(m)})
		if size += len(sm.Data); size >= maxBytes {
			return errPageFull
		}
		return nil
	})
	storeEnded := err == nil && nScanned < scan // the index has no entry past scanned
	if err != nil && !errors.Is(err, errPageFull) {
		q.vhost.log.Error().Err(err).Str("queue", q.name).Msg("cannot read messages from the store")
		return pageFailed
	}

	q.mu.Lock()
	if q.mu.deleted || q.mu.gen != gen {
		q.mu.Unlock()
		return pageDone
	}
	j := q.mu.ready.firstRun()
	if j < 0 || q.mu.ready.at(j).seq != run.seq {
		q.mu.Unlock()
		return pageDone // someone else paged this in
	}
	cur := q.mu.ready.at(j)
	switch {
	case byRank && (len(items) >= int(cur.n) || scanned >= cur.runEnd() || (storeEnded && cur.runEnd() == run.runEnd())):
		// All of it, or the store has no more of its range (and it did not grow): done.
		q.mu.paged -= int(cur.n)
		q.mu.runs--
		q.mu.ready.removeAt(j)
	case byRank:
		cur.seq = scanned + 1
		cur.n -= uint32(len(items))
		q.mu.paged -= len(items)
	case len(items) == 0 && dense:
		q.mu.Unlock()
		return pageGap
	case len(items) == 0 || uint64(len(items)) >= uint64(cur.n) || items[len(items)-1].seq >= cur.runEnd():
		if uint64(len(items)) < uint64(cur.n) {
			q.vhost.log.Warn().Str("queue", q.name).Uint32("expected", cur.n).Int("found", len(items)).
				Msg("fewer messages on disk than recovered; dropping the difference")
		}
		q.mu.paged -= int(cur.n)
		q.mu.runs--
		q.mu.ready.removeAt(j)
	default:
		cur.seq = items[len(items)-1].seq + 1
		cur.n -= uint32(len(items))
		q.mu.paged -= len(items)
	}
	var cost, body int64
	for k := range items {
		it := &items[k]
		it.expires = q.expiryAt(it.msg, it.msg.ts)
		cost += msgCost(it.msg)
		body += int64(len(it.msg.Body))
	}
	if dense || byRank {
		q.mu.ready.pagedBytes -= body // counted at appendRunLocked
	}
	pst.mem.Add(cost)
	q.mu.ready.insertAll(items)
	q.dispatchLocked(0)
	q.dropHeadLocked()
	q.wantPageLocked()
	q.armLocked()
	q.unlockFlush()
	return pageDone
}

// pagerLoop serves page-in requests until the broker closes.
func (pst *persister) pagerLoop() {
	defer pst.wg.Done()
	var spare []any
	for {
		jobs := pst.pager.take(pst.stop, spare)
		if jobs == nil {
			return
		}
		for _, j := range jobs {
			q := j.(*Queue)
			q.mu.Lock()
			q.mu.paging = false
			q.mu.Unlock()
			pst.pageQueue(q)
		}
		clear(jobs)
		spare = jobs
	}
}

// pageQueue pages in q's next page, waiting out a commit still in flight.
func (pst *persister) pageQueue(q *Queue) {
	for attempt := range 200 {
		switch q.pageIn() {
		case pageDone:
			return
		case pageFailed:
			return
		}
		// A gap: the entry's commit was issued but is not done. After a barrier it is,
		// unless its publisher has not issued it yet (it holds the queue's lock while it
		// does, so that is a matter of microseconds).
		if err := pst.barrier(); err != nil {
			return
		}
		if attempt > 0 {
			select {
			case <-time.After(time.Millisecond):
			case <-pst.stop:
				return
			}
		}
	}
	q.vhost.log.Error().Str("queue", q.name).Msg("a message on disk stays missing; its queue is stuck behind it")
}
