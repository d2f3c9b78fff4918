package vhost

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Queue is one queue of a vhost: its ready messages, unacknowledged deliveries and consumers.
type Queue struct {
	id         uint64     // immutable; process-wide unique
	sid        uint64     // immutable; store identity of a durable queue (codec.go); 0 otherwise
	name       string     // immutable
	vhost      *VHost     // immutable
	durable    bool       // immutable; false for exclusive queues (rabbit_channel: Durable = DurableDeclare andalso not ExclusiveDeclare)
	autoDelete bool       // immutable; deleted when its last consumer goes, if it ever had one
	owner      *Owner     // immutable; non-nil exactly for an exclusive queue
	args       wire.Table // immutable; as declared
	// opts are the options acted on: the arguments merged with the policy (policy.go).
	// maxPrio, single, quorum and ackWait never change (no policy sets them) and are read
	// without a lock; the others are guarded by mu (a policy change rewrites them).
	opts   queueOpts
	policy *Policy // guarded by VHost.mu: the policy applied, nil if none

	sources map[*Exchange]int // guarded by VHost.mu: bindings to this queue, counted per source exchange

	counters queueCounters // message counters for the management API (stats.go)

	mu struct {
		sync.Mutex
		ready             ring               // messages waiting for a consumer, in seq order
		unacked           map[uint64]pending // delivered, awaiting ack; keyed by item.seq
		consumers         consumerSet
		exclusiveConsumer bool // the only consumer holds exclusive access
		deleted           bool
		seq               uint64       // last enqueue sequence number
		dtag              uint64       // last delivery number (tells a stale Entry from a live one)
		scratch           []item       // reused by Requeue
		dead              []deadLetter // to dead-letter once the lock is released (unlockFlush)
		flushing          bool         // a goroutine is publishing dead letters (unlockFlush); others leave theirs to it
		timer             *time.Timer  // expires the head (ttl.go); nil until first needed
		timerAt           int64        // when timer fires (Unix ns); 0 if not armed
		idleTimer         *time.Timer  // deletes an unused queue with x-expires (expires.go); nil if not armed
		usedAt            int64        // last use (Unix ns), for x-expires

		// With a store, for a durable queue (pager.go):
		ix     string // the store's name for its message index; a purge moves it to a new one
		gen    uint64 // incremented when ix changes
		runs   int    // run items (messages on disk only) in ready
		paged  int    // messages those runs stand for
		paging bool   // queued with the pager
		// reserved and reservedBytes count the messages Publisher.reserve gave a place
		// in memory that enqueueReserved has not put there yet: a length limit counts
		// them (maxlen.go), or concurrent publishers would all fit in the last place.
		reserved      int
		reservedBytes int64
	}
}

// pending is an unacknowledged delivery.
type pending struct {
	it   item
	dtag uint64
}

// QueueInfo is what queue.declare-ok reports.
type QueueInfo struct {
	Name      string
	Messages  uint32 // ready messages (not those delivered and unacknowledged)
	Consumers uint32 // all consumers (RW:docs/specification.md: RabbitMQ counts all, not only active ones)
}

// ConsumerTimeout returns the queue's x-consumer-timeout argument in milliseconds: how long
// a delivery from it may stay unacknowledged before its channel is closed (package amqp
// enforces it). ok=false when the queue has none (or not a non-negative integer).
func (q *Queue) ConsumerTimeout() (ms int64, ok bool) { return q.opts.ackWait, q.opts.ackWait >= 0 }

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// VHost returns the vhost the queue belongs to.
func (q *Queue) VHost() *VHost { return q.vhost }

// Durable, Exclusive and AutoDelete report the queue's properties.
func (q *Queue) Durable() bool    { return q.durable }
func (q *Queue) Exclusive() bool  { return q.owner != nil }
func (q *Queue) AutoDelete() bool { return q.autoDelete }

func (q *Queue) info() QueueInfo {
	q.mu.Lock()
	q.dropExpiredLocked(0)
	q.touchLocked() // a declare, passive or not, is a use (x-expires)
	info := QueueInfo{Name: q.name, Messages: uint32(q.readyLocked()), Consumers: uint32(q.mu.consumers.n)}
	q.unlockFlush()
	return info
}

// lockedFor reports whether o may not use q: q is exclusive to another connection
// (rabbit_amqqueue:check_exclusive_access/3, lax).
func (q *Queue) lockedFor(o *Owner) bool { return q.owner != nil && q.owner != o }

// genName returns prefix + "-" + 22 base64url characters of 128 random bits: the form of
// RabbitMQ's server-generated names (rabbit_guid:binary(rabbit_guid:gen_secure(), Prefix)),
// "amq.gen-…" for queues and "amq.ctag-…" for consumer tags.
func genName(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + "-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewConsumerTag returns a server-generated consumer tag "amq.ctag-…".
func NewConsumerTag() string { return genName("amq.ctag") }

// classicQueueArgs are the arguments RabbitMQ compares on a queue redeclare
// (rabbit_classic_queue:capabilities/0, queue_arguments). Others may differ freely.
var classicQueueArgs = []string{
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
	"x-queue-version", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator",
	"x-queue-leader-locator",
}

// DeclareQueue implements queue.declare with RabbitMQ's rules (rabbit_channel, queue.declare):
//   - passive: 404 if missing, 405 if exclusive to another connection;
//   - name "" → "amq.gen-…"; a client-chosen "amq." name → 403 (even if the queue exists);
//   - redeclare: exclusivity must match exactly (405), then durable, auto_delete and the
//     classic queue arguments must be equivalent (406);
//   - an exclusive queue belongs to o and goes when o closes.
func (v *VHost) DeclareQueue(o *Owner, name string, passive, durable, exclusive, autoDelete bool, args wire.Table) (QueueInfo, error) {
	return v.declareQueue(o, name, passive, durable, exclusive, autoDelete, args, false)
}

// DeclareServerNamed declares a queue under a name from NewQueueName, for a caller that
// checked permissions on the name first (RabbitMQ checks configure on the generated name).
func (v *VHost) DeclareServerNamed(o *Owner, name string, durable, exclusive, autoDelete bool, args wire.Table) (QueueInfo, error) {
	return v.declareQueue(o, name, false, durable, exclusive, autoDelete, args, true)
}

func (v *VHost) declareQueue(o *Owner, name string, passive, durable, exclusive, autoDelete bool, args wire.Table, serverNamed bool) (QueueInfo, error) {
	if passive {
		v.mu.RLock()
		q := v.mu.queues[name]
		v.mu.RUnlock()
		if q == nil {
			return QueueInfo{}, errNoQueue(v.name, name)
		}
		if q.lockedFor(o) {
			return QueueInfo{}, errLocked(v.name, name)
		}
		return q.info(), nil
	}
	if name == "" {
		name = genName("amq.gen")
	} else if strings.HasPrefix(name, "amq.") && !serverNamed {
		return QueueInfo{}, wire.Soft(wire.AccessRefused, "queue name '%s' contains reserved prefix 'amq.*'", name)
	}
	durable = durable && !exclusive
	var owner *Owner
	if exclusive {
		owner = o
	}

	v.mu.Lock()
	if q := v.mu.queues[name]; q != nil {
		// rabbit_amqqueue:perform_full_equivalence_checks/5: check_exclusive_access strict first.
		var err error
		switch {
		case q.owner != owner:
			err = errLocked(v.name, name)
		case q.durable != durable:
			err = errInequivalent("durable", "queue", name, v.name, fieldVal(durable), fieldVal(q.durable))
		case q.autoDelete != autoDelete:
			err = errInequivalent("auto_delete", "queue", name, v.name, fieldVal(autoDelete), fieldVal(q.autoDelete))
		default:
			err = argsEquivalent(q.args, args, "queue", name, v.name, classicQueueArgs...)
		}
		if err == nil && q.durable && v.pst != nil {
			err = v.unlockSynced(nil)
		} else {
			v.mu.Unlock()
		}
		if err != nil {
			return QueueInfo{}, err
		}
		return q.info(), nil
	}
	if err := v.checkQueueLimitLocked(name); err != nil {
		v.mu.Unlock()
		return QueueInfo{}, err
	}
	opts, err := validateQueueArgs(v.name, name, args)
	if err == nil && opts.quorum {
		err = checkQuorum(v.name, name, durable, exclusive, autoDelete, args)
	}
	if err != nil {
		v.mu.Unlock()
		return QueueInfo{}, err
	}
	pol := v.matchLocked(name, opts.quorum, true)
	q := &Queue{
		id: nextID.Add(1), name: name, vhost: v,
		durable: durable, autoDelete: autoDelete, owner: owner, args: args, opts: withPolicy(opts, pol), policy: pol,
		sources: make(map[*Exchange]int),
	}
	q.mu.unacked = make(map[uint64]pending)
	q.mu.consumers.single = opts.single
	q.mu.Lock() // touchLocked may arm the x-expires timer, whose tick takes q.mu
	q.touchLocked()
	q.mu.Unlock()
	if durable && v.pst != nil {
		q.sid = v.pst.nextID.Add(1)
		q.mu.ix = indexName(v.pst.nextID.Add(1))
	}
	if owner != nil && !owner.addQueue(q) {
		// The connection closed while this declare was in flight: RabbitMQ pretends the
		// declare succeeded and creates nothing (rabbit_channel, {owner_died, _}).
		v.mu.Unlock()
		return QueueInfo{Name: name}, nil
	}
	v.mu.queues[name] = q
	v.mu.added++
	v.durableAddedLocked(q)
	if err := v.unlockCommit(nil); err != nil {
		return QueueInfo{}, err
	}
	return QueueInfo{Name: name}, nil
}

// lookupQueue finds name for connection o: 404 if missing, 405 if exclusive to another owner.
func (v *VHost) lookupQueue(o *Owner, name string) (*Queue, error) {
	v.mu.RLock()
	q := v.mu.queues[name]
	v.mu.RUnlock()
	if q == nil {
		return nil, errNoQueue(v.name, name)
	}
	if q.lockedFor(o) {
		return nil, errLocked(v.name, name)
	}
	return q, nil
}

// Queue returns the named queue, nil if there is none.
func (v *VHost) Queue(name string) *Queue {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.mu.queues[name]
}

// BindQueue implements queue.bind. Binding to the default exchange is refused (403), a
// missing exchange or queue is 404 (the exchange is checked first, rabbit_db_binding:not_found/3),
// a binding the exchange type rejects (headers x-match) is 406, another connection's
// exclusive queue 405. Binding twice is a no-op.
func (v *VHost) BindQueue(o *Owner, queue, exch, key string, args wire.Table) error {
	if exch == "" {
		return errDefaultExchange()
	}
	v.mu.Lock()
	x := v.mu.exchanges[exch]
	if x == nil {
		v.mu.Unlock()
		return errNoExchange(v.name, exch)
	}
	q := v.mu.queues[queue]
	if q == nil {
		v.mu.Unlock()
		return errNoQueue(v.name, queue)
	}
	// rabbit_binding:binding_checks/2: validate the binding, then exclusivity.
	if q.lockedFor(o) {
		v.mu.Unlock()
		if r, err := newRouter(x.routeKind); err == nil {
			if _, err := r.Bind(dest{q: q}, key, args); err != nil {
				return wire.Soft(wire.PreconditionFailed, "%s", err.Error())
			}
		}
		return errLocked(v.name, queue)
	}
	return v.bindUnlock(x, dest{q: q}, key, args)
}

// UnbindQueue implements queue.unbind. Unbinding what is not bound succeeds, also for a
// missing queue or exchange (RW:docs/specification.md: queue.unbind is idempotent;
// rabbit_db_binding:delete/2).
func (v *VHost) UnbindQueue(o *Owner, queue, exch, key string, args wire.Table) error {
	if exch == "" {
		return errDefaultExchange()
	}
	v.mu.Lock()
	x, q := v.mu.exchanges[exch], v.mu.queues[queue]
	if x == nil || q == nil || x.dests[dest{q: q}] == 0 {
		v.mu.Unlock()
		return nil
	}
	if q.lockedFor(o) {
		defer v.mu.Unlock()
		// The exclusivity check applies only to a binding that exists
		// (rabbit_db_binding:delete/2). Probe by removing and restoring it, under the
		// write lock, so nobody sees the gap.
		d := dest{q: q}
		if x.router.Unbind(d, key, args) {
			_, _ = x.router.Bind(d, key, args)
			return errLocked(v.name, queue)
		}
		return nil
	}
	v.unbindLocked(x, dest{q: q}, key, args)
	return v.unlockCommit(nil)
}

// PurgeQueue implements queue.purge: drops the ready messages and returns how many.
// Delivered, unacknowledged messages are not touched. For a durable queue with stored
// messages the purge is synced before it returns (purgeStoredLocked).
func (v *VHost) PurgeQueue(o *Owner, name string) (uint32, error) {
	q, err := v.lookupQueue(o, name)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	if q.mu.deleted {
		q.mu.Unlock()
		return 0, errNoQueue(v.name, name)
	}
	n := q.readyLocked()
	if !q.storesReadyLocked() {
		q.dropReadyLocked()
		q.mu.Unlock()
		return uint32(n), nil
	}
	wait := q.purgeStoredLocked()
	q.mu.Unlock()
	if err := wait(); err != nil {
		return 0, errStore(err)
	}
	return uint32(n), nil
}

// DeleteQueue implements queue.delete: deleting a missing queue succeeds with count 0
// (RW:docs/specification.md, idempotent). if-empty is checked before if-unused
// (rabbit_amqqueue_process, delete). Returns the number of ready messages deleted;
// consumers are told through Consumer.Cancelled.
func (v *VHost) DeleteQueue(o *Owner, name string, ifUnused, ifEmpty bool) (uint32, error) {
	v.mu.RLock()
	q := v.mu.queues[name]
	v.mu.RUnlock()
	if q == nil {
		return 0, nil
	}
	if q.lockedFor(o) {
		return 0, errLocked(v.name, name)
	}
	return v.deleteQueue(q, ifUnused, ifEmpty, true)
}

// deleteQueue removes q with its bindings (auto-delete exchanges that lose their last
// binding go too), drops its messages and cancels its consumers. notify=false skips the
// Cancelled calls (auto-delete after the last consumer left: there is nobody to tell).
func (v *VHost) deleteQueue(q *Queue, ifUnused, ifEmpty, notify bool) (uint32, error) {
	v.mu.Lock()
	if v.mu.queues[q.name] != q {
		v.mu.Unlock()
		return 0, nil
	}
	q.mu.Lock()
	if ifEmpty && q.readyLocked() > 0 {
		q.mu.Unlock()
		v.mu.Unlock()
		return 0, wire.Soft(wire.PreconditionFailed, "queue '%s' in vhost '%s' not empty", q.name, v.name)
	}
	if ifUnused && q.mu.consumers.n > 0 {
		q.mu.Unlock()
		v.mu.Unlock()
		return 0, wire.Soft(wire.PreconditionFailed, "queue '%s' in vhost '%s' in use", q.name, v.name)
	}
	n := q.readyLocked()
	q.dropReadyLocked()
	q.dropUnackedLocked()
	consumers := q.mu.consumers.takeAll()
	q.mu.unacked = nil
	q.mu.dead = nil
	q.mu.deleted = true
	if q.mu.timer != nil {
		q.mu.timer.Stop()
	}
	if q.mu.idleTimer != nil {
		q.mu.idleTimer.Stop()
	}
	q.mu.Unlock()

	delete(v.mu.queues, q.name)
	self := dest{q: q}
	for src := range q.sources {
		src.router.RemoveDest(self)
		delete(src.dests, self)
		v.maybeAutoDeleteLocked(src)
	}
	q.sources = nil
	v.durableRemovedLocked(q)
	err := v.unlockCommit(nil)

	if q.owner != nil {
		q.owner.removeQueue(q)
	}
	if notify {
		for _, c := range consumers {
			c.c.Cancelled(q, c.tag)
		}
	}
	return uint32(n), err
}
