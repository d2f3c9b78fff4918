package perf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// batchBytes is how many bytes a producer gathers before one write: large enough
// that the system call is amortised over hundreds of small messages, small enough
// to stay well inside socket buffers.
const batchBytes = 64 << 10

// producer publishes on its own connection. Its goroutine (loop) owns the writing
// side of c; its confirm reader (readLoop) owns the reading side.
type producer struct {
	c     *conn
	limit int64 // messages to publish; -1: until stopped (immutable)

	tmpl  []byte // one pre-encoded message: publish, header and body frames (immutable)
	tsOff int    // offset of the 8-byte send time in tmpl; -1: the body is too short (immutable)

	window int64         // unconfirmed messages allowed; 0: no confirms (immutable)
	rate   float64       // messages per second; 0: unlimited (immutable)
	drain  time.Duration // how long to wait for the last confirms (immutable)

	published   atomic.Int64 // written by loop
	lastPublish atomic.Int64 // UnixNano of the last write; written by loop
	confirmed   atomic.Int64 // basic.ack'd; written by readLoop
	nacked      atomic.Int64 // basic.nack'd; written by readLoop
	returned    atomic.Int64 // basic.return'd; written by readLoop
	lastConfirm atomic.Int64 // UnixNano of the last ack or nack; written by readLoop

	wake       chan struct{} // cap 1: readLoop tells loop that confirms arrived
	readerDone chan struct{} // closed when readLoop returns
	readerErr  error         // readLoop's error; read after readerDone
}

// newProducer pre-encodes the message a producer sends: to exchange with routingKey.
func newProducer(c *conn, cfg *Config, exchange, routingKey string, limit int64) *producer {
	mode := uint8(1)
	if cfg.Persistent {
		mode = 2
	}
	props := wire.Properties{DeliveryMode: mode}
	flags, raw, _ := props.Append(nil) // no headers: cannot fail
	tmpl := wire.AppendMethodFrame(nil, ch, &wire.BasicPublish{Exchange: exchange, RoutingKey: routingKey, Mandatory: cfg.Mandatory})
	tmpl = wire.AppendHeaderFrame(tmpl, ch, wire.ClassBasic, uint64(cfg.Size), flags, raw)
	tsOff := -1
	if cfg.Size >= 8 {
		tsOff = len(tmpl) + 7 // after the first body frame's header
	}
	tmpl = wire.AppendBodyFrames(tmpl, ch, make([]byte, cfg.Size), c.frameMax)
	return &producer{
		c: c, limit: limit, tmpl: tmpl, tsOff: tsOff,
		window: int64(cfg.Confirm), rate: cfg.Rate, drain: cfg.DrainTimeout,
		wake: make(chan struct{}, 1), readerDone: make(chan struct{}),
	}
}

// settled is the number of messages the broker has confirmed or rejected.
func (p *producer) settled() int64 { return p.confirmed.Load() + p.nacked.Load() }

// loop publishes until the limit, ctx or an error stops it; with confirms, a producer
// that reached its limit then waits for the outstanding ones, for at most p.drain.
func (p *producer) loop(ctx context.Context) error {
	nc := p.c.nc
	// At the end of the run a write in progress may finish (so that every message
	// counted as published reaches the broker whole), but not wait forever on a broker
	// that stopped reading.
	stop := context.AfterFunc(ctx, func() { nc.SetWriteDeadline(time.Now().Add(closeTimeout)) })
	defer stop()

	perBatch := max(1, batchBytes/len(p.tmpl))
	buf := make([]byte, 0, perBatch*len(p.tmpl))
	start := time.Now()
	var sent int64
	for ctx.Err() == nil && (p.limit < 0 || sent < p.limit) {
		n := int64(perBatch)
		if p.limit >= 0 {
			n = min(n, p.limit-sent)
		}
		if p.window > 0 {
			room := p.window - (sent - p.settled())
			if room <= 0 {
				if err := p.waitConfirms(ctx); err != nil {
					if ctx.Err() != nil {
						break // the run is over
					}
					return err
				}
				continue
			}
			n = min(n, room)
		}
		if p.rate > 0 {
			// Message k (from 0) is due at start + k/rate.
			due := int64(time.Since(start).Seconds()*p.rate) + 1 - sent
			if due <= 0 {
				next := start.Add(time.Duration(float64(sent) / p.rate * float64(time.Second)))
				if !sleepUntil(ctx, next) {
					break
				}
				continue
			}
			n = min(n, due)
		}

		buf = buf[:0]
		ts := time.Now().UnixNano()
		for range n {
			off := len(buf)
			buf = append(buf, p.tmpl...)
			if p.tsOff >= 0 {
				binary.BigEndian.PutUint64(buf[off+p.tsOff:], uint64(ts))
			}
		}
		w, err := nc.Write(buf)
		if err != nil {
			if w > 0 && w < len(buf) {
				return errPartialWrite // the stream is cut mid-frame: only an abort is left
			}
			if ctx.Err() != nil && isTimeout(err) {
				break
			}
			return p.readerFailed(fmt.Errorf("perf: publish: %w", err))
		}
		sent += n
		p.published.Store(sent)
		p.lastPublish.Store(time.Now().UnixNano())
	}
	if p.window > 0 && ctx.Err() == nil { // published the limit: wait for its confirms
		drain, cancel := context.WithTimeout(ctx, p.drain)
		defer cancel()
		for p.settled() < sent {
			if err := p.waitConfirms(drain); err != nil {
				if drain.Err() != nil {
					return nil // out of time: the summary shows the shortfall
				}
				return err
			}
		}
	}
	return nil
}

// errPartialWrite is a write cut short by the stop deadline.
var errPartialWrite = errors.New("perf: publish interrupted mid-frame")

// waitConfirms blocks until confirms arrive, ctx is done or the reader fails.
func (p *producer) waitConfirms(ctx context.Context) error {
	select {
	case <-p.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.readerDone:
		return p.readerFailed(errors.New("perf: the broker stopped answering"))
	}
}

// readerFailed prefers the reader's error (a close from the broker says why) to err.
func (p *producer) readerFailed(err error) error {
	select {
	case <-p.readerDone:
		if p.readerErr != nil {
			return p.readerErr
		}
	default:
	}
	return err
}

// readLoop reads what the broker sends a producer: confirms, returns, blocked
// notices, close. It returns nil on connection.close-ok (the producer closed).
func (p *producer) readLoop() {
	defer close(p.readerDone)
	var tr confirmTracker
	c := p.c
	for {
		f, err := c.r.Next()
		if err != nil {
			p.readerErr = fmt.Errorf("perf: producer read: %w", err)
			return
		}
		if f.Type != wire.FrameMethod {
			continue // content of a basic.return; heartbeats
		}
		m, err := c.ms.Decode(f.Payload)
		if err != nil {
			p.readerErr = fmt.Errorf("perf: decode: %w", err)
			return
		}
		switch m := m.(type) {
		case *wire.BasicAck:
			p.confirmed.Add(tr.settle(m.DeliveryTag, m.Multiple))
		case *wire.BasicNack:
			p.nacked.Add(tr.settle(m.DeliveryTag, m.Multiple))
		case *wire.BasicReturn:
			p.returned.Add(1)
			continue
		case *wire.ConnectionCloseOk:
			return
		case *wire.ConnectionClose, *wire.ChannelClose:
			p.readerErr = c.closedBy(f.Channel, m)
			return
		default:
			continue // connection.blocked / unblocked: TCP pushes back anyway
		}
		p.lastConfirm.Store(time.Now().UnixNano())
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// finish ends the producer's connection once loop has returned: connection.close, then
// wait for readLoop to see close-ok (or closeTimeout).
func (p *producer) finish(loopErr error) {
	nc := p.c.nc
	if loopErr == errPartialWrite {
		nc.Close()
		<-p.readerDone
		return
	}
	nc.SetDeadline(time.Now().Add(closeTimeout))
	select {
	case <-p.readerDone:
	default:
		if p.c.send(0, &wire.ConnectionClose{ReplyCode: wire.ReplySuccess, ReplyText: "perf done"}) == nil {
			<-p.readerDone // close-ok, an error, or the deadline
		}
	}
	nc.Close()
	<-p.readerDone
}

// confirmTracker counts confirms exactly when the broker mixes single and multiple
// acks: tags above lowest that were settled one by one are remembered until the
// tags below them are settled too. Owned by readLoop.
type confirmTracker struct {
	lowest uint64          // every tag <= lowest is settled (tags start at 1)
	done   map[uint64]bool // settled tags above lowest
}

// settle marks tag (and, with multiple, every tag up to it) settled and returns how
// many were not settled before.
func (t *confirmTracker) settle(tag uint64, multiple bool) int64 {
	if tag <= t.lowest {
		return 0
	}
	if !multiple {
		if t.done[tag] {
			return 0
		}
		if tag == t.lowest+1 {
			t.lowest++
			t.advance()
			return 1
		}
		if t.done == nil {
			t.done = map[uint64]bool{}
		}
		t.done[tag] = true
		return 1
	}
	n := int64(tag - t.lowest)
	for k := range t.done { // few entries: single acks out of order are rare
		if k <= tag {
			n--
			delete(t.done, k)
		}
	}
	t.lowest = tag
	t.advance()
	return n
}

func (t *confirmTracker) advance() {
	for len(t.done) > 0 && t.done[t.lowest+1] {
		delete(t.done, t.lowest+1)
		t.lowest++
	}
}

// sleepUntil sleeps until t or ctx is done; it reports false for ctx.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
