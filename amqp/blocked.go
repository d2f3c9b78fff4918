package amqp

import (
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Resource alarms (RW:docs/connection-blocked.md, rabbit_reader's throttle):
// when the broker raises an alarm, every connection is told with
// connection.blocked if its client advertised the capability, and a
// connection stops reading as soon as a publish completes on it, until the
// alarm clears (connection.unblocked). Consumers keep being served.

// watchAlarms subscribes the connection to the broker's alarms; called once
// the connection is open.
func (c *conn) watchAlarms() {
	c.stopAlarms = c.srv.cfg.Broker.WatchAlarms(c.onAlarm)
	if reason, active := c.srv.cfg.Broker.Alarmed(); active {
		c.onAlarm(reason, true)
	}
}

// onAlarm runs on whichever goroutine changed the alarm state.
func (c *conn) onAlarm(reason string, active bool) {
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	if active == c.blocked.Load() {
		return
	}
	if active {
		c.unblock = make(chan struct{})
		c.blocked.Store(true)
		if c.caps.blocked {
			c.sentBlocked = true
			c.sendMethod(0, &wire.ConnectionBlocked{Reason: reason})
		}
		return
	}
	c.blocked.Store(false)
	close(c.unblock)
	if c.sentBlocked {
		c.sentBlocked = false
		c.sendMethod(0, &wire.ConnectionUnblocked{})
	}
}

// waitUnblocked parks readLoop until the alarm clears or the connection is
// being closed. Heartbeats from the client are not read meanwhile, so the
// read deadline is suspended (RabbitMQ pauses heartbeat monitoring too).
func (c *conn) waitUnblocked() {
	c.blockMu.Lock()
	ch := c.unblock
	blocked := c.blocked.Load()
	c.blockMu.Unlock()
	if !blocked {
		return
	}
	c.log.Info().Msg("connection blocked by a resource alarm")
	select {
	case <-ch:
		c.log.Info().Msg("connection unblocked")
	case <-c.kill:
	}
	if c.heartbeat > 0 {
		c.nc.SetReadDeadline(time.Now().Add(2 * c.heartbeat))
	}
}
