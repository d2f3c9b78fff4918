package vhost

import (
	"sync"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
)

// journalKeep bounds the collecting list kept for reuse between rounds: past it, a
// burst is over and its memory is given back.
const journalKeep = 32768

// journal batches the store changes nobody waits for: acks (also of rejected, expired,
// dead-lettered and no-ack deliveries) and delivered marks. At most one round of batches
// is being committed at a time; what arrives meanwhile collects and goes out when it
// finishes, so a busy broker commits its settlements in a few large batches and an idle
// one at once. A mark still collecting when its message's ack arrives is dropped: it
// would be written and deleted in the same round. Under load most marks go that way, as
// in RabbitMQ's classic queue index, which also writes delivery marks lazily.
// Lock order: Queue.mu → journal.mu → (store's own lock, inside Commit).
//
// Ordering: a change to a queue entry must reach the store after the entry's Enqueue.
// Publishers issue the Enqueue (store.Commit) before the entry becomes visible in the
// queue (Publisher.reserve), and the store applies commits in the order they were issued,
// so anything done with the entry afterwards is applied after it.
type journal struct {
	st  *store.Store   // immutable
	log zerolog.Logger // immutable
	max int            // changes per batch: what one Badger transaction surely holds; immutable

	mu struct {
		sync.Mutex
		ops      []jop          // collecting, in arrival order
		marks    map[jkey]int   // index in ops of each mark collecting
		inflight []*store.Batch // handed to the store, not done yet, in commit order
		free     []*store.Batch // reusable
		failed   bool           // a commit failed (logged once)
	}
	doneFn func(error) // j.done, allocated once
	idle   *sync.Cond  // signalled when inflight drops to zero with nothing collected
}

// jop is one collected change: an ack, or a delivered mark.
type jop struct {
	ix     string
	seq    uint64
	ack    bool
	inline bool // an ack of an entry holding its body (Message.inline)
	marked bool // an ack of an entry that may have a delivered mark in the store
	gone   bool // a mark superseded by its ack
}

type jkey struct {
	ix  string
	seq uint64
}

func newJournal(st *store.Store, log zerolog.Logger) *journal {
	// Every index is named by indexName, all of one length. A batch larger than a transaction would
	// fail whole (store.ErrBatchTooBig), and its acks would come back after a restart.
	j := &journal{st: st, log: log, max: st.MaxSettles(len(indexName(0)))}
	j.doneFn = j.done
	j.idle = sync.NewCond(&j.mu.Mutex)
	j.mu.marks = make(map[jkey]int)
	return j
}

// ack removes entry seq of store queue ix (and its mark); inline: the entry holds its
// body (Message.inline); marked: a delivered mark may have been issued for it (mark) or
// read with it from the store. An ack whose mark is still collecting, or of an entry
// never marked, deletes one key instead of two (store.HintUnmarked): in a drain most
// marks go that way (issue 6, scenario 6).
func (j *journal) ack(ix string, seq uint64, inline, marked bool) {
	j.mu.Lock()
	k := jkey{ix, seq}
	if i, ok := j.mu.marks[k]; ok {
		// The only mark ever issued for the entry (a message is marked at its first
		// delivery only) never reached the store.
		j.mu.ops[i].gone = true
		delete(j.mu.marks, k)
		marked = false
	}
	j.mu.ops = append(j.mu.ops, jop{ix: ix, seq: seq, ack: true, inline: inline, marked: marked})
	out := j.takeLocked()
	j.mu.Unlock()
	j.issue(out)
}

// mark records that entry seq of store queue ix was delivered.
func (j *journal) mark(ix string, seq uint64) {
	j.mu.Lock()
	j.mu.marks[jkey{ix, seq}] = len(j.mu.ops)
	j.mu.ops = append(j.mu.ops, jop{ix: ix, seq: seq})
	out := j.takeLocked()
	j.mu.Unlock()
	j.issue(out)
}

// forget drops the marks still collecting for index ix, which the caller is about to
// delete (a deleted or purged queue's, janitor.go): written after the deletion, they
// would stay behind it. Marks already handed to the store commit before the deletion.
// No new mark for ix can come: a queue marks its entries in its current index only.
func (j *journal) forget(ix string) {
	j.mu.Lock()
	for k, i := range j.mu.marks {
		if k.ix == ix {
			j.mu.ops[i].gone = true
			delete(j.mu.marks, k)
		}
	}
	j.mu.Unlock()
}

// takeLocked returns the batches to commit now: everything collected, if nothing is in
// flight. The caller commits them after releasing j.mu (Commit on a closed store calls
// done at once, which takes j.mu).
func (j *journal) takeLocked() []*store.Batch {
	if len(j.mu.inflight) > 0 || len(j.mu.ops) == 0 {
		return nil
	}
	var out []*store.Batch
	var b *store.Batch
	for _, o := range j.mu.ops {
		if o.gone {
			continue
		}
		if b == nil || b.Len() >= j.max {
			b = j.newBatchLocked()
			out = append(out, b)
		}
		if !o.ack {
			// The entry is there: its Enqueue was issued before the message could be
			// delivered (Ordering), its ack comes after this mark, and an index being
			// dropped had its marks taken out first (forget).
			b.MarkDeliveredLive(o.ix, o.seq)
			continue
		}
		var h store.AckHint
		if o.inline {
			h |= store.HintInline
		}
		if !o.marked {
			h |= store.HintUnmarked
		}
		b.AckHinted(o.ix, o.seq, h)
	}
	if cap(j.mu.ops) > journalKeep {
		j.mu.ops = nil // a burst is over: give its memory back
	} else {
		clear(j.mu.ops)
		j.mu.ops = j.mu.ops[:0]
	}
	clear(j.mu.marks)
	j.mu.inflight = append(j.mu.inflight, out...)
	return out
}

func (j *journal) newBatchLocked() *store.Batch {
	if n := len(j.mu.free); n > 0 {
		b := j.mu.free[n-1]
		j.mu.free = j.mu.free[:n-1]
		return b
	}
	return new(store.Batch)
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
	copy(j.mu.inflight, j.mu.inflight[1:])
	j.mu.inflight[len(j.mu.inflight)-1] = nil
	j.mu.inflight = j.mu.inflight[:len(j.mu.inflight)-1]
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
