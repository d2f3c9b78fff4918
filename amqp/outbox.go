package amqp

import (
	"sync"
)

// outboxHighWater is how many bytes may wait for a connection's writer before
// queues stop delivering to that connection's consumers. Deliveries resume
// when the writer has drained the buffer. Replies to the client's own methods
// are never refused.
const outboxHighWater = 1 << 20

// outbox holds the frames waiting for a connection's writeLoop. Anyone may
// append (the connection's own readLoop, and other connections' readLoops
// delivering to its consumers); only writeLoop takes them.
type outbox struct {
	mu sync.Mutex
	// guarded by mu
	buf     []byte      // encoded frames, in order
	closed  bool        // the connection is going away: appends are dropped
	blocked []*consumer // consumers refused because buf was over the high-water mark
	waking  bool        // a wake is pending: writeLoop has not yet taken buf

	wake chan struct{} // capacity 1: tells writeLoop there is work
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1)}
}

// signalLocked marks a pending wake and reports whether the caller must send
// it (after unlocking).
func (o *outbox) signalLocked() bool {
	if o.waking {
		return false
	}
	o.waking = true
	return true
}

func (o *outbox) notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// append runs fn on the buffer under the lock and wakes the writer. It reports
// false if the outbox is closed.
func (o *outbox) append(fn func([]byte) []byte) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	o.buf = fn(o.buf)
	w := o.signalLocked()
	o.mu.Unlock()
	if w {
		o.notify()
	}
	return true
}
