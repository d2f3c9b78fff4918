package vhost

import (
	"sync"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
)

// journalMax bounds the changes in one journal batch: a store batch must fit one Badger
// transaction (about 96k entries with the default 64 MiB memtable; an ack writes two).
const journalMax = 8192

// journal batches the store changes nobody waits for: acks (also of rejected, expired,
// dead-lettered and no-ack deliveries) and delivered marks. At most one batch is being
// committed at a time; what arrives meanwhile collects and goes out when it finishes,
// so a busy broker commits its settlements in a few large batches and an idle one at
// once. Lock order: Queue.mu → journal.mu → (store's own lock, inside Commit).
//
// Ordering: a change to a queue entry must reach the store after the entry's Enqueue.
// Publishers issue the Enqueue (store.Commit) before the entry becomes visible in the
// queue (Publisher.reserve), and the store applies commits in the order they were issued,
// so anything done with the entry afterwards is applied after it.
type journal struct {
	st  *store.Store   // immutable
	log zerolog.Logger // immutable

	mu struct {
		sync.Mutex
		cur      *store.Batch   // collecting
		full     []*store.Batch // full batches waiting for the one in flight
		free     []*store.Batch // reusable
		inflight []*store.Batch // handed to the store, not done yet, in commit order
		failed   bool           // a commit failed (logged once)
	}
	doneFn func(error) // j.done, allocated once
	idle   *sync.Cond  // signalled when inflight drops to zero with nothing queued
}

func newJournal(st *store.Store, log zerolog.Logger) *journal {
	j := &journal{st: st, log: log}
	j.doneFn = j.done
	j.idle = sync.NewCond(&j.mu.Mutex)
	return j
}

// ack removes entry seq of store queue ix; mark records its delivery.
func (j *journal) ack(ix string, seq uint64)  { j.add(ix, seq, false) }
func (j *journal) mark(ix string, seq uint64) { j.add(ix, seq, true) }

func (j *journal) add(ix string, seq uint64, mark bool) {
	j.mu.Lock()
	if j.mu.cur == nil {
		j.mu.cur = j.newBatchLocked()
	}
	if mark {
		j.mu.cur.MarkDelivered(ix, seq)
	} else {
		j.mu.cur.Ack(ix, seq)
	}
	if j.mu.cur.Len() >= journalMax {
		j.mu.full = append(j.mu.full, j.mu.cur)
		j.mu.cur = nil
	}
	out := j.takeLocked()
	j.mu.Unlock()
	j.issue(out)
}

func (j *journal) newBatchLocked() *store.Batch {
	if n := len(j.mu.free); n > 0 {
		b := j.mu.free[n-1]
		j.mu.free = j.mu.free[:n-1]
		return b
	}
	return new(store.Batch)
}

// takeLocked returns the batches to commit now: everything queued, if nothing is in
// flight. The caller commits them after releasing j.mu (Commit on a closed store calls
// done at once, which takes j.mu).
func (j *journal) takeLocked() []*store.Batch {
	if len(j.mu.inflight) > 0 {
		return nil
	}
	out := j.mu.full
	j.mu.full = nil
	if j.mu.cur != nil && j.mu.cur.Len() > 0 {
		out = append(out, j.mu.cur)
		j.mu.cur = nil
	}
	j.mu.inflight = append(j.mu.inflight, out...)
	return out
}

func (j *journal) issue(out []*store.Batch) {
	for _, b := range out {
		j.st.Commit(b, j.doneFn)
	}
}

// done runs on the store's committer goroutine, once per batch, in commit order (or at
// once inside Commit on a closed store), so the batch that finished is inflight[0].
func (j *journal) done(err error) {
	j.mu.Lock()
	if err != nil && !j.mu.failed {
		j.mu.failed = true
		j.log.Error().Err(err).Msg("cannot write acks to the store; acknowledged messages may come back after a restart")
	}
	b := j.mu.inflight[0]
	j.mu.inflight = j.mu.inflight[1:]
	b.Reset()
	if len(j.mu.free) < 4 {
		j.mu.free = append(j.mu.free, b)
	}
	var out []*store.Batch
	if len(j.mu.inflight) == 0 {
		out = j.takeLocked()
		if len(out) == 0 {
			j.idle.Broadcast()
		}
	}
	j.mu.Unlock()
	j.issue(out)
}

// flush commits everything collected and waits until the store has it. For Broker.Close.
func (j *journal) flush() {
	j.mu.Lock()
	for {
		if len(j.mu.inflight) == 0 {
			out := j.takeLocked()
			if len(out) == 0 {
				break
			}
			j.mu.Unlock()
			j.issue(out)
			j.mu.Lock()
			continue
		}
		j.idle.Wait()
	}
	j.mu.Unlock()
}
