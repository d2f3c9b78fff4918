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

// consumer receives on its own connection; its goroutine (loop) owns both sides of c.
type consumer struct {
	c        *conn
	noAck    bool   // immutable
	multiAck uint64 // ack once this many deliveries are unacked (immutable)
	timed    bool   // bodies carry a send time (immutable)

	delivered   atomic.Int64 // written by loop
	lastDeliver atomic.Int64 // UnixNano of the last complete delivery; written by loop
	lat         hist         // written by loop, drained by the reporter
}

// errCancelled is a consumer cancelled by the broker (its queue was deleted).
var errCancelled = errors.New("perf: the broker cancelled a consumer")

// loop counts deliveries until ctx is done or the connection fails. Acks are appended
// to a buffer and written once the frames already read are handled, so a burst of
// deliveries costs one write.
func (k *consumer) loop(ctx context.Context) error {
	c := k.c
	stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Now()) })
	defer stop()

	var (
		acks      []byte // ack frames not yet written
		unacked   uint64 // complete deliveries not yet acked
		doneTag   uint64 // delivery tag of the last complete delivery
		tag       uint64 // delivery tag of the delivery being read
		bodyLeft  uint64 // body bytes still expected for it
		firstBody bool   // its first body frame (with the send time) is next
		n         int64  // deliveries so far
	)
	complete := func(now time.Time) {
		n++
		k.delivered.Store(n)
		k.lastDeliver.Store(now.UnixNano())
		doneTag = tag
		if k.noAck {
			return
		}
		unacked++
		if unacked >= k.multiAck {
			acks = wire.AppendMethodFrame(acks, ch, &wire.BasicAck{DeliveryTag: tag, Multiple: k.multiAck > 1})
			unacked = 0
		}
	}
	for {
		f, err := c.r.Next()
		if err != nil {
			if ctx.Err() != nil && isTimeout(err) {
				break
			}
			return fmt.Errorf("perf: consumer read: %w", err)
		}
		switch f.Type {
		case wire.FrameMethod:
			m, err := c.ms.Decode(f.Payload)
			if err != nil {
				return fmt.Errorf("perf: decode: %w", err)
			}
			switch m := m.(type) {
			case *wire.BasicDeliver:
				tag = m.DeliveryTag
			case *wire.BasicCancel:
				return errCancelled
			default:
				if err := c.closedBy(f.Channel, m); err != nil {
					return err
				}
			}
		case wire.FrameHeader:
			if len(f.Payload) < 12 {
				return errors.New("perf: short content header")
			}
			bodyLeft = binary.BigEndian.Uint64(f.Payload[4:12])
			firstBody = true
			if bodyLeft == 0 {
				complete(time.Now())
			}
		case wire.FrameBody:
			now := time.Now()
			if firstBody && k.timed && len(f.Payload) >= 8 {
				sent := int64(binary.BigEndian.Uint64(f.Payload))
				k.lat.record(time.Duration(now.UnixNano() - sent))
			}
			firstBody = false
			bodyLeft -= min(bodyLeft, uint64(len(f.Payload)))
			if bodyLeft == 0 {
				complete(now)
			}
		}
		if len(acks) > 0 && c.r.Buffered() == 0 {
			if _, err := c.nc.Write(acks); err != nil {
				return fmt.Errorf("perf: ack: %w", err)
			}
			acks = acks[:0]
		}
	}

	// Stopped: ack what was counted, so a kept queue holds no redeliveries of it.
	if unacked > 0 {
		acks = wire.AppendMethodFrame(acks, ch, &wire.BasicAck{DeliveryTag: doneTag, Multiple: true})
	}
	if len(acks) > 0 {
		c.nc.SetDeadline(time.Now().Add(closeTimeout))
		if _, err := c.nc.Write(acks); err != nil {
			return fmt.Errorf("perf: ack: %w", err)
		}
	}
	return nil
}
