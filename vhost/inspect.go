package vhost

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
)

// Read-only views of the topology and the queues, for the management API (issue 8) and
// the metrics. Each function takes the locks its data lives under, in the package's lock
// order (VHost.mu → Queue.mu, one queue lock at a time), copies what it reports and
// releases them: callers get values, never live state, and nothing here changes a queue:
// no expiry, no dispatch, no paging. Tables (Args) are shared with the broker and
// immutable: do not modify them.

// ListVHosts returns the broker's virtual hosts, sorted by name.
func (b *Broker) ListVHosts() []*VHost {
	b.mu.RLock()
	vs := make([]*VHost, 0, len(b.mu.vhosts))
	for _, v := range b.mu.vhosts {
		vs = append(vs, v)
	}
	b.mu.RUnlock()
	slices.SortFunc(vs, func(a, b *VHost) int { return cmp.Compare(a.name, b.name) })
	return vs
}

// ExchangeStats describes one exchange.
type ExchangeStats struct {
	Name, Kind                    string
	Durable, AutoDelete, Internal bool
	Args                          wire.Table    // as declared; shared, do not modify
	Counts                        MessageCounts // PublishIn and PublishOut (stats.go)
}

func (x *Exchange) stats() ExchangeStats {
	return ExchangeStats{Name: x.name, Kind: x.kind, Durable: x.durable, AutoDelete: x.autoDelete, Internal: x.internal, Args: x.args,
		Counts: x.counts()}
}

// Exchanges returns v's exchanges (the default exchange "" included), sorted by name.
func (v *VHost) Exchanges() []ExchangeStats {
	v.mu.RLock()
	xs := make([]ExchangeStats, 0, len(v.mu.exchanges))
	for _, x := range v.mu.exchanges {
		xs = append(xs, x.stats())
	}
	v.mu.RUnlock()
	slices.SortFunc(xs, func(a, b ExchangeStats) int { return cmp.Compare(a.Name, b.Name) })
	return xs
}

// ExchangeStats returns the named exchange; false if there is none.
func (v *VHost) ExchangeStats(name string) (ExchangeStats, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x := v.mu.exchanges[name]
	if x == nil {
		return ExchangeStats{}, false
	}
	return x.stats(), true
}

// QueueStats describes one queue and its messages at one moment.
type QueueStats struct {
	Name                           string
	Durable, AutoDelete, Exclusive bool
	Owner                          *Owner     // the connection owning an exclusive queue; nil otherwise
	Args                           wire.Table // as declared; shared, do not modify

	Ready     int // messages waiting for a consumer, in memory and on disk
	Unacked   int // delivered, not yet acknowledged
	PagedOut  int // of Ready, messages kept on disk only (pager.go)
	Consumers int
	// Persistent counts the persistent messages among Ready (in memory) and Unacked.
	Persistent int
	// ReadyBytes and UnackedBytes are the body sizes of those messages; ReadyBytes
	// counts the in-memory part only (paged-out messages are not read back to count them).
	ReadyBytes, UnackedBytes int64
	// ExclusiveConsumer is the tag of the consumer holding exclusive access, "" if none.
	ExclusiveConsumer string
	// Counts are the queue's message counters since it was declared (stats.go).
	Counts MessageCounts
}

// statsCap bounds how many ready messages one QueueStats call walks to count bytes and
// persistent messages while holding the queue's lock; past it the counts are
// extrapolated from the messages walked (about 10 µs per queue at most).
const statsCap = 10_000

func (q *Queue) stats() QueueStats {
	s := QueueStats{
		Name: q.name, Durable: q.durable, AutoDelete: q.autoDelete,
		Exclusive: q.owner != nil, Owner: q.owner, Args: q.args,
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	s.Ready = q.readyLocked()
	s.PagedOut = q.mu.paged
	s.Unacked = len(q.mu.unacked)
	s.Consumers = q.mu.consumers.n
	s.Counts = q.countsLocked()
	if q.mu.exclusiveConsumer {
		for _, g := range q.mu.consumers.groups {
			for _, k := range g.members {
				if k.exclusive {
					s.ExclusiveConsumer = k.tag
				}
			}
		}
	}
	walked, inMem := 0, q.mu.ready.len()-q.mu.runs
	for i := 0; i < q.mu.ready.len() && walked < statsCap; i++ {
		it := q.mu.ready.at(i)
		if it.isRun() {
			continue
		}
		walked++
		s.ReadyBytes += int64(len(it.msg.Body))
		if it.msg.Persistent {
			s.Persistent++
		}
	}
	if walked > 0 && walked < inMem {
		s.ReadyBytes = s.ReadyBytes * int64(inMem) / int64(walked)
		s.Persistent = s.Persistent * inMem / walked
	}
	for _, p := range q.mu.unacked {
		s.UnackedBytes += int64(len(p.it.msg.Body))
		if p.it.msg.Persistent {
			s.Persistent++
		}
	}
	return s
}

// Queues returns v's queues, sorted by name.
func (v *VHost) Queues() []QueueStats {
	qs := v.queueList(true)
	out := make([]QueueStats, len(qs))
	for i, q := range qs {
		out[i] = q.stats()
	}
	return out
}

// QueueDepth is a queue's message and consumer counts, without the byte counts that
// need a walk over its messages.
type QueueDepth struct {
	Name                      string
	Ready, Unacked, Consumers int
	Counts                    MessageCounts // the queue's message counters (stats.go)
}

// QueueDepths returns the counts of v's queues, in no particular order: cheap enough to
// sample every few seconds whatever the queues hold.
func (v *VHost) QueueDepths() []QueueDepth {
	qs := v.queueList(false)
	out := make([]QueueDepth, len(qs))
	for i, q := range qs {
		q.mu.Lock()
		out[i] = QueueDepth{Name: q.name, Ready: q.readyLocked(), Unacked: len(q.mu.unacked), Consumers: q.mu.consumers.n,
			Counts: q.countsLocked()}
		q.mu.Unlock()
	}
	return out
}

// QueueStats returns the named queue; false if there is none.
func (v *VHost) QueueStats(name string) (QueueStats, bool) {
	q := v.Queue(name)
	if q == nil {
		return QueueStats{}, false
	}
	return q.stats(), true
}

// BindingStats is one binding. The default exchange's implicit bindings (every queue,
// with its name as key) are listed too, as RabbitMQ lists them (rabbit_binding:list/1).
type BindingStats struct {
	Source, Destination string
	ToQueue             bool // the destination is a queue; otherwise an exchange
	Key                 string
	Args                wire.Table // shared, do not modify
}

// Bindings returns v's bindings, default ones first, then sorted by source, destination
// type (exchanges first), destination and key.
func (v *VHost) Bindings() []BindingStats {
	v.mu.RLock()
	var out []BindingStats
	for _, q := range v.mu.queues {
		out = append(out, BindingStats{Destination: q.name, ToQueue: true, Key: q.name})
	}
	for _, x := range v.mu.exchanges {
		if x.router == nil {
			continue
		}
		x.router.Each(func(d dest, key string, args map[string]any) bool {
			b := BindingStats{Source: x.name, Key: key, Args: args}
			if d.q != nil {
				b.Destination, b.ToQueue = d.q.name, true
			} else {
				b.Destination = d.x.name
			}
			out = append(out, b)
			return true
		})
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b BindingStats) int {
		if c := cmp.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		if a.ToQueue != b.ToQueue {
			if a.ToQueue {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Destination, b.Destination); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// ConsumerStats is one consumer of a queue.
type ConsumerStats struct {
	Queue     string
	Tag       string
	Consumer  Consumer // what Consume was given (package amqp maps it to its channel)
	NoAck     bool
	Exclusive bool
	Priority  int64
	Args      wire.Table // shared, do not modify
}

// Consumers returns the consumers of v's queues, sorted by queue, then by priority
// (highest first) and subscription order, as dispatch visits them.
func (v *VHost) Consumers() []ConsumerStats {
	qs := v.queueList(true)
	var out []ConsumerStats
	for _, q := range qs {
		q.mu.Lock()
		for _, g := range q.mu.consumers.groups {
			for _, k := range g.members {
				out = append(out, ConsumerStats{
					Queue: q.name, Tag: k.tag, Consumer: k.c, NoAck: k.noAck,
					Exclusive: k.exclusive, Priority: k.prio, Args: k.args,
				})
			}
		}
		q.mu.Unlock()
	}
	return out
}

// Peeked is one message seen by Peek.
type Peeked struct {
	Msg         *Message // immutable once published; do not modify
	Redelivered bool
	Unacked     bool // delivered and awaiting its ack; otherwise ready
	OnDisk      bool // a ready message kept on disk only (pager.go), read from the store for the peek
}

// PeekResult is what Peek saw of a queue.
type PeekResult struct {
	Messages []Peeked
	Ready    int // ready messages in the queue
	Unacked  int // unacknowledged deliveries in the queue
	PagedOut int // of Ready, messages kept on disk only (pager.go); Peek reads them from the store
}

// peekPart is one element of a peek's plan: an in-memory message, or part of a run of
// messages on disk (skip entries of the run, then take).
type peekPart struct {
	p          Peeked // the message, or p.Msg == nil for a run
	run        item
	skip, take int
}

// Peek lists up to limit messages of a queue without delivering, requeueing, reordering or
// expiring anything (issue 8's non-destructive peek; RabbitMQ has no such operation, its
// management "get" is a basic.get with requeue). The unacknowledged deliveries come
// first, in queue order (they left the head of the queue before the ready ones), then the
// ready messages from the head, skipping offset messages of the whole list. Peek ignores
// exclusivity: it is an operator's view.
//
// Ready messages the pager keeps on disk only are read from the store, in their places,
// without the queue's lock and without paging them in: the queue stays as it was (the
// messages do not move to memory, their redelivered marks are the stored ones). The view
// is taken in two steps, so a message consumed from disk in between may be missing from
// it, or still shown.
func (v *VHost) Peek(queue string, offset, limit int) (PeekResult, error) {
	q := v.Queue(queue)
	if q == nil {
		return PeekResult{}, errNoQueue(v.name, queue)
	}
	offset, limit = max(offset, 0), max(limit, 0)
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return PeekResult{}, errNoQueue(v.name, queue)
	}
	r := PeekResult{Ready: q.readyLocked(), Unacked: len(q.mu.unacked), PagedOut: q.mu.paged}
	if len(q.mu.unacked) > offset && limit > 0 {
		un := make([]item, 0, len(q.mu.unacked))
		for _, p := range q.mu.unacked {
			un = append(un, p.it)
		}
		slices.SortFunc(un, func(a, b item) int { return cmp.Compare(a.seq, b.seq) })
		for _, it := range un[offset:] {
			if len(r.Messages) == limit {
				break
			}
			r.Messages = append(r.Messages, Peeked{Msg: it.msg, Redelivered: it.redelivered, Unacked: true})
		}
	}
	skip, want := max(offset-len(q.mu.unacked), 0), limit-len(r.Messages)
	var plan []peekPart
	for i := 0; i < q.mu.ready.len() && want > 0; i++ {
		it := q.mu.ready.at(i)
		if it.isRun() {
			if n := int(it.n); skip >= n {
				skip -= n
			} else {
				take := min(n-skip, want)
				plan = append(plan, peekPart{run: *it, skip: skip, take: take})
				skip, want = 0, want-take
			}
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		plan = append(plan, peekPart{p: Peeked{Msg: it.msg, Redelivered: it.redelivered}})
		want--
	}
	ix := q.mu.ix
	q.mu.Unlock()

	for _, part := range plan {
		if part.p.Msg != nil {
			r.Messages = append(r.Messages, part.p)
			continue
		}
		var err error
		if r.Messages, err = q.peekRun(r.Messages, ix, part); err != nil {
			return r, err
		}
	}
	return r, nil
}

// peekRun appends the messages part stands for, read from the store's index ix. A dense
// run's entries are consecutive, so its skip is a seek; a sparse one (recovered) is read
// from its start. A dense run's newest entries may still be in a commit (their publish
// does not wait for it): when the read comes up short, it waits for the commits issued
// so far (a barrier) and reads again, as the pager does.
func (q *Queue) peekRun(dst []Peeked, ix string, part peekPart) ([]Peeked, error) {
	n := len(dst)
	for attempt := 0; ; attempt++ {
		var err error
		dst, err = q.readRun(dst[:n], ix, part)
		if err != nil || len(dst)-n == part.take || !part.run.runDense() || attempt == 1 {
			return dst, err
		}
		if err := q.vhost.pst.barrier(); err != nil {
			return dst, err
		}
	}
}

func (q *Queue) readRun(dst []Peeked, ix string, part peekPart) ([]Peeked, error) {
	run, skip := part.run, part.skip
	from := run.seq
	if run.runDense() {
		from, skip = run.seq+uint64(skip), 0
	}
	dense, next, taken, limit := run.runDense(), from, 0, skip+part.take
	if run.runByRank() {
		limit = 0 // other priorities' entries are interleaved (pager.go)
	}
	err := q.vhost.pst.st.Messages(ix, from, limit, func(sm store.Message) error {
		if sm.Seq > run.runEnd() || taken == part.take || (dense && sm.Seq != next) {
			return errPageFull // past the run, done, or a gap
		}
		next = sm.Seq + 1
		if run.runByRank() && !q.runHolds(&run, sm.Data) {
			return nil
		}
		if skip > 0 {
			skip--
			return nil
		}
		m, err := decodeMessage(sm.Data)
		if err != nil {
			return fmt.Errorf("entry %d: %w", sm.Seq, err)
		}
		dst = append(dst, Peeked{Msg: m, Redelivered: sm.Delivered, OnDisk: true})
		taken++
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return dst, fmt.Errorf("vhost: peek of queue '%s' in vhost '%s': %w", q.name, q.vhost.name, err)
	}
	return dst, nil
}

// Owner returns the connection owning an exclusive queue, nil for other queues (and for
// a nil q). The management API acts with it where it acts for the broker, not for a
// connection, and exclusivity must not stop it.
func (q *Queue) Owner() *Owner {
	if q == nil {
		return nil
	}
	return q.owner
}

// AccessFor returns the permission checks of u on vhost without opening a Session:
// the management API checks each request as RabbitMQ's does
// (rabbit_mgmt_util:with_channel runs the operation on a channel of u), without
// counting towards connection limits.
func (b *Broker) AccessFor(u *User, vhost string) *Access {
	return &Access{b: b, user: u, vhost: vhost}
}

// queueList is a snapshot of v's queues, sorted by name when sorted is set, taken under
// VHost.mu and returned without it, so that the caller may lock each queue in turn.
func (v *VHost) queueList(sorted bool) []*Queue {
	v.mu.RLock()
	qs := make([]*Queue, 0, len(v.mu.queues))
	for _, q := range v.mu.queues {
		qs = append(qs, q)
	}
	v.mu.RUnlock()
	if sorted {
		slices.SortFunc(qs, func(a, b *Queue) int { return cmp.Compare(a.name, b.name) })
	}
	return qs
}
