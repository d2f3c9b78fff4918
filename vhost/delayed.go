package vhost

import (
	"fmt"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/exchange"
	"github.com/warrenmq/warren/store"
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
// With a store, a durable delayed exchange keeps its held persistent messages in a message
// index of its own, named after the exchange's store identity, so that they survive a
// restart (the plugin keeps them in a Mnesia disc table): recovery schedules each for its
// publish time plus its x-delay (at once if that has passed), and the entry is removed once
// the message has been routed. A crash between the two routes it again (at least once).
// The store commit is not waited for: the confirm of such a publish does not wait for the
// disk. Transient messages, and those of a non-durable exchange, are held in memory only.
// A deleted exchange's index goes with the next restart (the janitor's orphans).

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
	h := held{v: p.v, x: x, m: dm}
	if pst := p.v.pst; pst != nil && x.sid != 0 && m.Persistent {
		dm.ts = nowNano()
		h.ix, h.seq = indexName(x.sid), x.heldSeq.Add(1)
		data := appendMessage(nil, dm)
		h.inline = pst.st.Inline(len(data))
		// Committed by route once v.mu is released (commitHeld): the publish's confirm
		// waits for it like any persistent message's.
		if p.held == nil {
			p.held = new(store.Batch)
		}
		id := pst.nextMsg.Add(1)
		p.held.PutMessage(id, data)
		p.held.Enqueue(h.ix, h.seq, id)
	}
	h.schedule(time.Duration(ms) * time.Millisecond)
	return true
}

// held is a message an x-delayed-message exchange holds.
type held struct {
	v      *VHost
	x      *Exchange
	m      *Message
	ix     string // its store index, "" if held in memory only
	seq    uint64 // its entry there
	inline bool   // the entry holds the body (journal ack)
	due    int64  // recovered: when it is due (Unix ns)
}

// schedule routes h.m from h.x after d.
func (h held) schedule(d time.Duration) {
	time.AfterFunc(d, h.fire)
}

func (h held) fire() {
	v := h.v
	if v.closed.Load() {
		return
	}
	v.mu.RLock()
	live := v.mu.exchanges[h.x.name] == h.x
	v.mu.RUnlock()
	if !live {
		return // the exchange was deleted meanwhile; its index goes at the next restart
	}
	p := v.pool.Get().(*Publisher)
	p.skip = h.x
	_, _, _ = p.publish(h.m, nil, 0)
	p.skip = nil
	v.pool.Put(p)
	if h.ix != "" {
		v.pst.journal.ack(h.ix, h.seq, h.inline, false) // a held message is never delivered, so never marked
	}
}

// recoverHeld loads the messages x held when the broker stopped, from index ixName.
func (pst *persister) recoverHeld(v *VHost, x *Exchange, ixName string) (int, error) {
	n := 0
	err := pst.st.Messages(ixName, 0, 0, func(sm store.Message) error {
		m, err := decodeMessage(sm.Data)
		if err != nil {
			return fmt.Errorf("delayed entry %d: %w", sm.Seq, err)
		}
		hdrs := decodeHeaders(headersRaw(m))
		ms, _ := asInt(hdrs["x-delay"])
		pst.held = append(pst.held, held{v: v, x: x, m: m, ix: ixName, seq: sm.Seq, inline: sm.Inline,
			due: m.ts + ms*int64(time.Millisecond)})
		if sm.Seq > x.heldSeq.Load() {
			x.heldSeq.Store(sm.Seq)
		}
		n++
		return nil
	})
	return n, err
}

// scheduleHeld schedules the recovered held messages.
func (pst *persister) scheduleHeld() {
	now := nowNano()
	for _, h := range pst.held {
		h.schedule(time.Duration(max(h.due-now, 0)))
	}
	pst.held = nil
}

// commitHeld stores the copies this publish's delayed exchanges hold (p.held), after
// v.mu is released. When the message also goes to durable queues (reserve follows), the
// held copies are synced first, so that reserve's Stored, which confirms the publish,
// comes after them; that is rare and stalls only this publisher. Otherwise the commit is
// asynchronous and its completion is the publish's Stored: it reports pending.
func (p *Publisher) commitHeld(w Waiter, token uint64, alsoQueued bool) (pending bool) {
	b := p.held
	p.held = nil
	pst := p.v.pst
	if alsoQueued || w == nil {
		if err := pst.st.CommitSync(b); err != nil {
			pst.log.Error().Err(err).Msg("cannot store a delayed message: it is held in memory only")
		}
		return false
	}
	pst.st.Commit(b, func(err error) {
		if err != nil {
			pst.log.Error().Err(err).Msg("cannot store a delayed message: it is held in memory only")
		}
		w.Stored(token, err)
	})
	return true
}
