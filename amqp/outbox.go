package amqp

import (
	"sync"
	"time"
)

// outboxHighWater is how many bytes may wait for a connection's writer before
// queues stop delivering to that connection's consumers. Deliveries resume
// when the writer has drained the buffer. Replies to the client's own methods
// are never refused.
const outboxHighWater = 1 << 20

// keepBuffer is the largest outbox buffer a writer keeps for reuse; a larger
// one (a burst's) is let go.
const keepBuffer = 4 * outboxHighWater

// keepIdle is the smallest second buffer a writer keeps when it goes idle:
// smaller ones (a handshake's replies) are let go.
const keepIdle = 4 << 10

// outbox holds the frames waiting to be written to a connection's socket.
// Anyone may append (the connection's own readLoop, other connections'
// readLoops delivering to its consumers, the store's commit goroutine sending
// confirms); only the writer takes them.
//
// There is no writer goroutine while there is nothing to write: the append
// that finds the outbox idle starts one (writeLoop), which writes until the
// buffer stays empty and then returns. An idle connection (issue 6, scenario 7:
// a thousand consumers waiting) thus costs one goroutine, its reader, not two.
type outbox struct {
	c *conn // immutable: whose socket the writer writes

	mu sync.Mutex
	// guarded by mu
	buf     []byte        // encoded frames, in order
	spare   []byte        // the writer's previous buffer, reused for the next swap
	closed  bool          // the connection is going away: appends are dropped
	blocked []*consumer   // consumers refused because buf was over the high-water mark
	writing bool          // a writer goroutine runs (or is being started)
	idle    chan struct{} // set by waitIdle: closed when the writer returns
}

func newOutbox(c *conn) *outbox {
	return &outbox{c: c}
}

// signalLocked reports whether the caller, having appended to buf, must start
// the writer with notify (after unlocking): true when none runs.
func (o *outbox) signalLocked() bool {
	if o.writing {
		return false
	}
	o.writing = true
	return true
}

// notify starts the writer; called after signalLocked said so, without o.mu.
func (o *outbox) notify() {
	go o.c.writeLoop()
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

// close drops later appends and waits, at most timeout, for the writer to
// write what is already queued. It reports whether a writer is still running.
func (o *outbox) close(timeout time.Duration) (running bool) {
	o.mu.Lock()
	o.closed = true
	o.blocked = nil
	var idle chan struct{}
	if o.writing {
		if o.idle == nil {
			o.idle = make(chan struct{})
		}
		idle = o.idle
	}
	o.mu.Unlock()
	if idle == nil {
		return false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return false
	case <-t.C:
		return true
	}
}

// waitIdle waits until no writer runs; called after close, once the socket is
// closed, so that a writer stuck in a write has failed.
func (o *outbox) waitIdle() {
	o.mu.Lock()
	idle := o.idle
	if !o.writing {
		idle = nil
	}
	o.mu.Unlock()
	if idle != nil {
		<-idle
	}
}

// take swaps the buffer out for the writer and hands it the consumers to kick.
// It returns an empty buffer, and marks the writer gone, when there is nothing
// to write.
func (o *outbox) take() (buf []byte, kick []*consumer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf, kick = o.buf, o.blocked
	o.blocked = nil
	if len(buf) == 0 {
		// Idle. A busy connection keeps both buffers for its next burst (growing a
		// new one costs several allocations); an idle one keeps one small buffer,
		// not two (issue 6, scenario 7).
		if cap(o.spare) < keepIdle {
			o.spare = nil
		}
		o.stopLocked()
		return nil, kick
	}
	o.buf, o.spare = o.spare[:0], nil
	return buf, kick
}

// done returns a written buffer for reuse.
func (o *outbox) done(buf []byte) {
	clear(buf)
	if cap(buf) > keepBuffer {
		return // don't keep a burst's buffer forever
	}
	o.mu.Lock()
	if o.spare == nil {
		o.spare = buf[:0]
	}
	o.mu.Unlock()
}

// fail marks the writer gone after a failed write: the socket is closed and
// later appends are dropped.
func (o *outbox) fail() {
	o.mu.Lock()
	o.closed = true
	o.buf, o.spare, o.blocked = nil, nil, nil
	o.stopLocked()
	o.mu.Unlock()
}

func (o *outbox) stopLocked() {
	o.writing = false
	if o.idle != nil {
		close(o.idle)
		o.idle = nil
	}
}
