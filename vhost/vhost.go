package vhost

import (
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/exchange"
	"github.com/warrenmq/warren/store"
)

// VHost is one virtual host: its exchanges, queues and the bindings between them.
type VHost struct {
	name string         // immutable
	log  zerolog.Logger // immutable
	pst  *persister     // immutable; the broker's store, nil in memory

	// mu guards the topology: both maps, every Exchange's router, dests and sources, and
	// every Queue's sources. Publish holds it for reading while it routes (Router.Route is
	// safe for concurrent readers); declare, delete, bind and unbind hold it for writing.
	mu struct {
		sync.RWMutex
		exchanges map[string]*Exchange
		queues    map[string]*Queue
		added     uint64 // exchanges and queues declared so far (policy.go's rematchTo)

		// The durability seam's state (durable.go), used only with a store:
		pend *store.Batch // entity changes of the operation in progress
		jobs []any        // janitor jobs to start once pend is synced
		perr error        // a change that could not be encoded
		last *entityWait  // the last entity batch issued
	}

	pol    policies                    // policy.go
	pool   sync.Pool                   // of *Publisher, for Publish calls without a caller-held Publisher
	closed atomic.Bool                 // set by Broker.Close: no expiry timer is armed any more
	limits atomic.Pointer[VHostLimits] // set by Broker.SetVHostLimits (vhosts.go); nil: none
}

// nextID numbers queues and exchanges process-wide; publish dedup sorts by it.
var nextID atomic.Uint64

func newVHost(name string, log zerolog.Logger, pst *persister) *VHost {
	v := &VHost{name: name, log: log.With().Str("vhost", name).Logger(), pst: pst}
	v.mu.exchanges = make(map[string]*Exchange)
	v.mu.queues = make(map[string]*Queue)
	v.pool.New = func() any { return v.NewPublisher() }
	// Predeclared exchanges, as rabbit_vhost:do_add/3 creates them: the default exchange,
	// amq.direct, amq.topic, amq.match and amq.headers (AMQP 0-9-1 §3.1.3), amq.fanout, and
	// the internal amq.rabbitmq.trace. All durable.
	v.mu.exchanges[""] = &Exchange{id: nextID.Add(1), name: "", kind: "direct", durable: true}
	for _, p := range []struct {
		name, kind string
		internal   bool
	}{
		{"amq.direct", "direct", false},
		{"amq.fanout", "fanout", false},
		{"amq.topic", "topic", false},
		{"amq.headers", "headers", false},
		{"amq.match", "headers", false},
		{"amq.rabbitmq.trace", "topic", true},
	} {
		x, err := newExchange(p.name, p.kind, true, false, p.internal, nil)
		if err != nil {
			panic("vhost: predeclared exchange: " + err.Error()) // a bug in package exchange
		}
		v.mu.exchanges[p.name] = x
	}
	return v
}

// close stops every queue's expiry timer; later arming is refused (closed).
func (v *VHost) close() {
	v.closed.Store(true)
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, q := range v.mu.queues {
		q.mu.Lock()
		if q.mu.timer != nil {
			q.mu.timer.Stop()
		}
		if q.mu.idleTimer != nil {
			q.mu.idleTimer.Stop()
		}
		q.mu.timerAt = 0
		q.mu.Unlock()
	}
}

// Name returns the vhost's name ("/").
func (v *VHost) Name() string { return v.name }

// Owner stands for one client connection: it owns exclusive queues. amqp creates one per
// connection with NewOwner and calls OwnerClosed when the connection ends.
type Owner struct {
	name string // immutable; for logs

	mu struct {
		sync.Mutex
		closed bool
		queues map[*Queue]struct{} // exclusive queues this owner declared and that still exist
	}
}

// NewOwner returns an Owner for one connection; name is for logs (e.g. the peer address).
func NewOwner(name string) *Owner { return &Owner{name: name} }

// String returns the owner's name.
func (o *Owner) String() string { return o.name }

// addQueue records an exclusive queue; false if the owner is already closed.
func (o *Owner) addQueue(q *Queue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.mu.closed {
		return false
	}
	if o.mu.queues == nil {
		o.mu.queues = make(map[*Queue]struct{})
	}
	o.mu.queues[q] = struct{}{}
	return true
}

func (o *Owner) removeQueue(q *Queue) {
	o.mu.Lock()
	delete(o.mu.queues, q)
	o.mu.Unlock()
}

// OwnerClosed deletes o's exclusive queues in v (their consumers are cancelled) and marks o
// closed, so that an exclusive declare racing with the close creates nothing
// (RabbitMQ answers such a declare as if it succeeded: rabbit_channel, owner_died).
func (v *VHost) OwnerClosed(o *Owner) {
	o.mu.Lock()
	o.mu.closed = true
	qs := make([]*Queue, 0, len(o.mu.queues))
	for q := range o.mu.queues {
		if q.vhost == v {
			qs = append(qs, q)
		}
	}
	o.mu.Unlock()
	for _, q := range qs {
		v.deleteQueue(q, false, false, true)
	}
}

// newRouter wraps exchange.New for our destination type.
func newRouter(kind string) (exchange.Router[dest], error) { return exchange.New[dest](kind) }
