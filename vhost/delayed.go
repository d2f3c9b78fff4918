package vhost

import (
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/exchange"
)

// Delayed messages, built in: the exchange type x-delayed-message of RabbitMQ's
// rabbitmq_delayed_message_exchange plugin (its README). The exchange routes as the type
// named by its x-delayed-type argument; a message reaching it with an x-delay header of a
// positive integer (milliseconds) is held for that long and then routed from it, headers
// unchanged. Without x-delay, or with zero or less, it routes at once.
//
// A held message counts as routed (no basic.return for a mandatory publish) and is
// confirmed at once, as the plugin does. Each held message has one time.AfterFunc timer (no
// goroutine waits). Broker.Close drops the timers.
//
// TODO(issue 5): held messages are in memory only: a restart loses them (the plugin keeps
// them in a Mnesia disc table). The exchange itself is durable like any other.

const delayedKind = "x-delayed-message"

// delayedType returns the type that routes for an exchange of type kind: kind itself, or
// for x-delayed-message its x-delayed-type argument, which must name another known type
// (406 with the plugin's text otherwise).
func delayedType(kind string, args wire.Table) (string, error) {
	if kind != delayedKind {
		return kind, nil
	}
	t, ok := args["x-delayed-type"].(string)
	if !ok || t == delayedKind || !exchange.Valid(t) {
		return "", wire.Soft(wire.PreconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type")
	}
	return t, nil
}

// delay holds m at the delayed exchange x if its x-delay header asks for it, and reports
// whether it did. hdrs is decoded here if it was not yet.
func (p *Publisher) delay(x *Exchange, m *Message, hdrs *wire.Table, decoded *bool) bool {
	if p.skip == x {
		return false
	}
	if !*decoded {
		*hdrs, *decoded = decodeHeaders(headersRaw(m)), true
	}
	raw, ok := (*hdrs)["x-delay"]
	if !ok || typeClass(raw) != "int" {
		return false
	}
	ms, _ := asInt(raw)
	if ms <= 0 {
		return false
	}
	// A copy: m is the publisher's and may also be enqueued by this publish; the copy is
	// published afresh when the delay is over (its CC/BCC and expiration read again).
	dm := &Message{
		Exchange: x.name, RoutingKey: m.RoutingKey, Flags: m.Flags,
		Props: append([]byte(nil), m.Props...), Body: m.Body, Persistent: m.Persistent, Priority: m.Priority,
	}
	v := p.v
	time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
		if v.closed.Load() {
			return
		}
		v.mu.RLock()
		live := v.mu.exchanges[x.name] == x
		v.mu.RUnlock()
		if !live {
			return // the exchange was deleted meanwhile
		}
		q := v.pool.Get().(*Publisher)
		q.skip = x
		_, _, _ = q.publish(dm, nil, 0)
		q.skip = nil
		v.pool.Put(q)
	})
	return true
}
