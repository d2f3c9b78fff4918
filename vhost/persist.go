package vhost

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
)

// persister connects a Broker to its store (issue 4). nil when the broker keeps
// everything in memory (Config.Store nil): then no code path below runs.
//
// What goes to the store: durable vhosts, exchanges, queues and bindings between durable
// ends (durable.go); persistent messages (delivery-mode 2) in durable queues, body once
// per publish and one index entry per queue (Publisher.reserve); acks and delivered marks
// (journal.go). Transient messages and non-durable queues never touch it.
type persister struct {
	st     *store.Store   // immutable
	log    zerolog.Logger // immutable
	budget int64          // immutable; bytes of queued messages kept in memory before paging (pager.go)

	mem     atomic.Int64  // bytes of queued messages held in memory, estimated (msgCost)
	nextMsg atomic.Uint64 // last message id handed out (store ids are never reused)
	nextID  atomic.Uint64 // last entity sid / queue index id handed out

	journal *journal
	held    []held // delayed messages recovered at start, scheduled once the broker runs (delayed.go)
	pager   worker // page-in requests (*Queue)
	janitor worker // background deletions (janitorTask)

	reqs sync.Pool // of *persistReq

	diskLimit int64         // immutable; free bytes below which the disk alarm is set; 0 = off
	diskEvery time.Duration // immutable; how often free space is polled
	stop      chan struct{} // closed by Broker.Close
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func newPersister(cfg Config) *persister {
	pst := &persister{
		st:        cfg.Store,
		log:       cfg.Logger,
		budget:    cfg.MemoryBudget,
		diskLimit: cfg.DiskFreeLimit,
		diskEvery: cfg.DiskCheckInterval,
		stop:      make(chan struct{}),
	}
	if pst.budget <= 0 {
		pst.budget = DefaultMemoryBudget
	}
	if pst.diskEvery <= 0 {
		pst.diskEvery = time.Second
	}
	pst.journal = newJournal(cfg.Store, cfg.Logger)
	pst.pager.init()
	pst.janitor.init()
	return pst
}

// msgOverhead estimates what a queued message costs beyond its properties and body: the
// Message struct (~150 bytes), its ring item (32) and slack for the allocator's size
// classes. Only the budget decisions use it.
const msgOverhead = 256

func msgCost(m *Message) int64 { return int64(len(m.Body) + len(m.Props) + msgOverhead) }

// over reports whether queued messages in memory exceed the budget: new persistent
// messages for durable queues then go to disk only.
func (pst *persister) over() bool { return pst.mem.Load() > pst.budget }

// persistReq is one publish's store batch and the confirm owed for it.
type persistReq struct {
	pst    *persister
	b      store.Batch
	data   []byte // the encoded message; the batch refers to it until done
	w      Waiter
	token  uint64
	state  atomic.Uint32 // reqCommitting → reqIssued, or reqDoneEarly
	err    error         // set with reqDoneEarly
	doneFn func(error)   // r.done, allocated once
}

const (
	reqCommitting = iota // Commit has not returned yet
	reqIssued            // Commit returned; done reports to the Waiter
	reqDoneEarly         // done ran before the publisher marked it issued (closed store, quick commit): the publisher reports
)

func (pst *persister) getReq() *persistReq {
	if r, ok := pst.reqs.Get().(*persistReq); ok {
		r.state.Store(reqCommitting)
		return r
	}
	r := &persistReq{pst: pst}
	r.doneFn = r.done
	return r
}

// done is the store's callback. It runs on the committer goroutine, except on a closed
// store, where it runs inside Commit while the publisher holds queue locks; then it only
// records the error and the publisher calls finish after unlocking (Waiter.Stored must
// be called without vhost locks).
//
// It may also run on the committer before the publisher marked the commit issued (a
// quick commit, a descheduled publisher): then too it leaves the report to the publisher,
// and err must be in place before the state says so, since the publisher reads it as
// soon as it sees reqDoneEarly (issued).
func (r *persistReq) done(err error) {
	r.err = err
	if r.state.CompareAndSwap(reqCommitting, reqDoneEarly) {
		return
	}
	r.finish(err)
}

// issued marks r's commit as issued once Commit returned. early: the store answered
// already (done ran first); the caller then calls r.finish(r.err), holding no locks.
func (r *persistReq) issued() (early bool) {
	return !r.state.CompareAndSwap(reqCommitting, reqIssued)
}

func (r *persistReq) finish(err error) {
	w, token := r.w, r.token
	r.w, r.err = nil, nil
	r.b.Reset()
	if cap(r.data) <= 64<<10 {
		r.data = r.data[:0]
	} else {
		r.data = nil
	}
	r.pst.reqs.Put(r)
	if w != nil {
		w.Stored(token, err)
	}
}

// resv is a publish's place in one durable queue, taken under the queue's lock before the
// store commit is issued (Publisher.reserve).
type resv struct {
	seq   uint64
	gen   uint64 // the queue's index generation at reservation (Queue.mu.gen)
	paged bool   // went to the queue's disk-only tail: nothing to do in memory
	ok    bool
	// rejected: the queue's length limit refused the message (x-overflow reject-publish*)
	rejected bool
}

// worker is a queue of jobs for one goroutine the persister owns.
type worker struct {
	mu   sync.Mutex
	jobs []any
	wake chan struct{} // cap 1
}

func (w *worker) init() { w.wake = make(chan struct{}, 1) }

func (w *worker) add(job any) {
	w.mu.Lock()
	w.jobs = append(w.jobs, job)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take waits for jobs; nil when stop is closed.
func (w *worker) take(stop <-chan struct{}, spare []any) []any {
	for {
		w.mu.Lock()
		jobs := w.jobs
		if len(jobs) > 0 {
			w.jobs = spare[:0]
			w.mu.Unlock()
			return jobs
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-stop:
			return nil
		}
	}
}

// barrier returns once every commit issued before it is done: the store applies and
// reports commits in the order they were issued.
func (pst *persister) barrier() error {
	var b store.Batch
	return pst.st.CommitSync(&b)
}

func (pst *persister) start(b *Broker) {
	pst.wg.Add(3)
	go pst.pagerLoop()
	go pst.janitorLoop()
	go pst.diskLoop(b)
}

// close stops the goroutines and writes out the journal.
func (pst *persister) close() {
	close(pst.stop)
	pst.wg.Wait()
	pst.journal.flush()
}

// diskLoop polls the data folder's free space and sets the "disk" alarm below the limit,
// as RabbitMQ's rabbit_disk_monitor does (RW:docs/disk-alarms.md): publishers are then
// blocked (package amqp) instead of messages being dropped.
func (pst *persister) diskLoop(b *Broker) {
	defer pst.wg.Done()
	if pst.diskLimit <= 0 || pst.st.Dir() == "" {
		return
	}
	t := time.NewTicker(pst.diskEvery)
	defer t.Stop()
	set := false
	for {
		free, err := pst.st.FreeBytes()
		switch {
		case err != nil:
			pst.log.Warn().Err(err).Msg("cannot read free disk space")
		case !set && free < uint64(pst.diskLimit):
			set = true
			pst.log.Warn().Uint64("free", free).Int64("limit", pst.diskLimit).Msg("free disk space below the limit: blocking publishers")
			b.SetAlarm("disk", true)
		case set && free >= uint64(pst.diskLimit):
			set = false
			b.SetAlarm("disk", false)
		}
		select {
		case <-t.C:
		case <-pst.stop:
			return
		}
	}
}

// reserve commits m to the store for the durable queues among p.queues. It locks them (in
// id order: the one place that holds several queue locks, briefly and without calling
// out), takes each one's next sequence number, adds the index entries to one batch with
// the body stored once, issues the commit and only then unlocks. So the commit is issued
// before anything can happen to those entries (journal.go, Ordering). A queue whose
// backlog is past the memory budget, or whose tail is on disk already, gets the message
// in its disk-only tail right here (pager.go); enqueueReserved puts the others in memory.
// pending: w.Stored(token, …) follows.
func (p *Publisher) reserve(m *Message, w Waiter, token uint64) (pending bool) {
	pst := p.v.pst
	p.locked = p.locked[:0]
	for i, q := range p.queues {
		if q.durable {
			p.locked = append(p.locked, i)
		}
	}
	if len(p.locked) == 0 {
		return false
	}
	if len(p.locked) > 1 {
		slices.SortFunc(p.locked, func(a, b int) int { return cmp.Compare(p.queues[a].id, p.queues[b].id) })
	}
	p.res = slices.Grow(p.res[:0], len(p.queues))[:len(p.queues)]
	clear(p.res)
	m.ts = nowNano()
	r := pst.getReq()
	id := pst.nextMsg.Add(1)
	r.data = appendMessage(slices.Grow(r.data[:0], messageSize(m)), m)
	r.b.PutMessage(id, r.data)

	for _, i := range p.locked {
		p.queues[i].mu.Lock()
	}
	// Past the budget, a queue with a backlog of its own sends new messages to disk; one
	// whose tail is on disk already keeps doing so (its messages stay in order in few runs)
	// until memory is down to half the budget, then new messages stay in memory again,
	// behind the run, and the pager catches up.
	mem := pst.mem.Load()
	over, tail := mem > pst.budget, mem > pst.budget/2
	n := 0
	for _, i := range p.locked {
		q := p.queues[i]
		if q.mu.deleted {
			continue
		}
		if q.opts.overflow != dropHead && q.opts.limited() && q.overflowsLocked(m) {
			p.res[i] = resv{rejected: true} // route refuses it (Queue.refuse)
			continue
		}
		q.mu.seq++
		rv := resv{seq: q.mu.seq, gen: q.mu.gen, ok: true}
		r.b.Enqueue(q.mu.ix, rv.seq, id)
		if q.pagesOutLocked(m, rv.seq, over, tail) {
			rv.paged = true
			q.appendRunLocked(rv.seq, m)
		} else {
			q.mu.reserved++
			q.mu.reservedBytes += int64(len(m.Body))
		}
		p.res[i] = rv
		n++
	}
	if n == 0 {
		for _, i := range p.locked {
			p.queues[i].mu.Unlock()
		}
		r.finish(nil) // no waiter set: only recycles r
		return false
	}
	// Set before any queue shows m (under the locks), read by whoever acks it.
	m.inline = n == 1 && pst.st.Inline(len(r.data))
	r.w, r.token = w, token
	pst.st.Commit(&r.b, r.doneFn)
	early := r.issued()
	for _, i := range p.locked {
		q := p.queues[i]
		if p.res[i].paged {
			q.wantPageLocked()
		}
		q.mu.Unlock()
	}
	for _, i := range p.locked {
		if p.res[i].paged {
			p.queues[i].flushDead() // what a drop-head limit dropped (appendRunLocked)
		}
	}
	if early {
		r.finish(r.err)
	}
	return w != nil
}

// enqueueReserved puts m in memory at the place reserve took for it, and dispatches.
// false if the queue was deleted meanwhile. If it was purged meanwhile, the message is
// dropped: its reservation, and so its place in line, came before the purge (its store
// entry went with the old index, see Queue.purgeStoredLocked).
func (q *Queue) enqueueReserved(m *Message, rv resv) bool {
	if rv.paged {
		return true
	}
	var now int64
	q.mu.Lock()
	q.mu.reserved--
	q.mu.reservedBytes -= int64(len(m.Body))
	if q.mu.deleted || q.mu.gen != rv.gen {
		deleted := q.mu.deleted
		q.mu.Unlock()
		return !deleted
	}
	expires := q.expiryFor(m, &now) // under q.mu: a policy may change the queue's TTL
	q.mu.ready.insert(item{msg: m, seq: rv.seq, expires: expires, rank: q.rank(m)})
	q.vhost.pst.mem.Add(msgCost(m))
	q.dispatchLocked(now)
	q.dropHeadLocked()
	q.armLocked()
	q.unlockFlush()
	return true
}
