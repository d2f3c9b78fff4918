package amqp

import (
	"sync"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Consumer timeout (RW:docs/consumers.md, "Delivery Acknowledgement Timeout"): a delivery
// that stays unacknowledged for longer than its timeout closes its channel with
// 406 PRECONDITION_FAILED and RabbitMQ's text (rabbit_channel:evaluate_consumer_timeout/1);
// the channel's unacknowledged messages are requeued as on any channel close. The timeout
// is the consumer's x-consumer-timeout argument, else its queue's x-consumer-timeout
// (RabbitMQ 3.12+; 3.10 has only the node-wide setting), else Config.ConsumerTimeout
// (RabbitMQ's consumer_timeout, 30 minutes by default). basic.get deliveries use the
// queue's or the server's.
//
// The hot path stays cheap: each record takes its timestamp from a coarse clock that one
// server-wide goroutine (timeoutLoop) advances every TimeoutTick, and that goroutine also
// checks every channel. Records are in delivery order, so the check walks a channel's
// unacknowledged records only while they are older than the largest timeout among them.
//
// The checker cannot run the channel's teardown (its state belongs to the connection's
// readLoop): it marks the channel timed out (no more deliveries) and sends channel.close;
// readLoop finishes the close at the channel's next frame, at the latest the client's
// channel.close-ok.

// DefaultConsumerTimeout is RabbitMQ's default consumer_timeout (rabbit.app: 1800000 ms).
const DefaultConsumerTimeout = 30 * time.Minute

// ticker owns the goroutine running timeoutLoop: started by the first Serve, stopped by
// Shutdown.
type ticker struct {
	once     sync.Once
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func (t *ticker) start(s *Server) {
	t.once.Do(func() {
		s.clock.Store(time.Now().UnixMilli())
		t.quit, t.done = make(chan struct{}), make(chan struct{})
		go s.timeoutLoop(t.quit, t.done)
	})
}

// stop ends the goroutine, if it was started, and waits for it.
func (t *ticker) stop() {
	t.once.Do(func() {}) // never start after this
	t.stopOnce.Do(func() {
		if t.quit != nil {
			close(t.quit)
			<-t.done
		}
	})
}

// ackWait is the timeout in ms for deliveries from q to a consumer with args (nil for
// basic.get); 0: none.
func (s *Server) ackWait(q *vhost.Queue, args wire.Table) int64 {
	if v, ok := args["x-consumer-timeout"]; ok {
		if n, ok := intArg(v); ok && n >= 0 {
			return n
		}
	}
	if ms, ok := q.ConsumerTimeout(); ok {
		return ms
	}
	if s.cfg.ConsumerTimeout < 0 {
		return 0
	}
	return s.cfg.ConsumerTimeout.Milliseconds()
}

// intArg reads an integer table value.
func intArg(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

func (s *Server) timeoutLoop(quit, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.TimeoutTick)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case now := <-t.C:
			ms := now.UnixMilli()
			s.clock.Store(ms)
			s.mu.Lock()
			conns := make([]*conn, 0, len(s.mu.conns))
			for c := range s.mu.conns {
				conns = append(conns, c)
			}
			s.mu.Unlock()
			for _, c := range conns {
				for _, ch := range c.channelList() {
					ch.checkTimeout(ms)
				}
			}
		}
	}
}

// checkTimeout closes ch if one of its deliveries is unacknowledged for longer than its
// timeout at now (Unix ms).
func (ch *channel) checkTimeout(now int64) {
	ch.mu.Lock()
	if ch.closed || ch.maxWait == 0 || ch.timedOut.Load() != nil {
		ch.mu.Unlock()
		return
	}
	var wait int64
	for _, r := range ch.unacked[ch.head:] {
		if r.at+ch.maxWait >= now {
			break // this one and all later ones are younger than any timeout
		}
		if !r.settled && r.wait > 0 && now-r.at > r.wait {
			wait = r.wait
			break
		}
	}
	if wait == 0 {
		ch.mu.Unlock()
		return
	}
	ex := wire.Soft(wire.PreconditionFailed, "delivery acknowledgement on channel %d timed out. Timeout value used: %d ms. "+
		"This timeout value can be configured, see consumers doc guide to learn more", ch.id, wait)
	ch.timedOut.Store(ex)
	ch.mu.Unlock()
	ch.c.log.Warn().Uint16("channel", ch.id).Int64("timeout_ms", wait).Msg("consumer timed out waiting for delivery acknowledgement: closing the channel")
	ch.send(&wire.ChannelClose{ReplyCode: ex.Code, ReplyText: closeText(ex)})
}

// closeTimedOut finishes, on readLoop, the close that checkTimeout began: the channel
// releases what it holds and waits for close-ok.
func (ch *channel) closeTimedOut() {
	ch.teardown()
	ch.closing = true
	ch.pub = publishing{}
}
