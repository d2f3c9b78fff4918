package vhost

import (
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Dead-lettering (RW:docs/dlx.md), as RabbitMQ 3.10's rabbit_dead_letter does it: a
// message rejected without requeue or expired in a queue with x-dead-letter-exchange is
// republished to that exchange, with x-dead-letter-routing-key (CC dropped) or its original
// routing keys, the expiration property removed, and an x-death header recording the event.
// Republishing needs VHost.mu, so a queue collects dead letters under its lock
// (Queue.mu.dead) and publishes them after releasing it (unlockFlush).
// Reason "maxlen" comes from length limits (maxlen.go).

// deadLetter is a message leaving a queue for its dead-letter exchange.
type deadLetter struct {
	msg    *Message
	reason string // "rejected", "expired"
	ix     string // the source queue's store index, "" if msg is not stored there
	seq    uint64 // its entry there, removed once the dead letter is published
}

// deadLetterLocked queues it, which left the queue, for dead-lettering. Its store entry
// (if any) is removed after the dead letter is published, so that a crash in between
// leaves the message twice rather than nowhere.
func (q *Queue) deadLetterLocked(it *item, reason string) {
	d := deadLetter{msg: it.msg, reason: reason}
	if pst := q.vhost.pst; pst != nil {
		pst.mem.Add(-msgCost(it.msg))
		if q.stores(it.msg) {
			d.ix, d.seq = q.mu.ix, it.seq
		}
	}
	q.mu.dead = append(q.mu.dead, d)
}

// unlockFlush releases q.mu and then dead-letters what was collected under it. Every path
// that may collect dead letters ends with it instead of q.mu.Unlock.
func (q *Queue) unlockFlush() {
	dead := q.mu.dead
	if len(dead) == 0 {
		q.mu.Unlock()
		return
	}
	q.mu.dead = nil
	to := dlTarget{x: q.opts.dlx, rk: q.opts.dlrk, hasRK: q.opts.hasRK} // under q.mu: a policy may change them
	q.mu.Unlock()
	v := q.vhost
	p := v.pool.Get().(*Publisher)
	for _, d := range dead {
		p.deadLetter(q, to, d)
		if d.ix != "" {
			v.pst.journal.ack(d.ix, d.seq, d.msg.inline)
		}
	}
	v.pool.Put(p)
}

// dlTarget is where a queue's dead letters go: its effective dead-letter exchange and
// routing key (an argument, or a policy's), read under Queue.mu.
type dlTarget struct {
	x, rk string
	hasRK bool
}

// deadLetter republishes d.msg from q to its dead-letter exchange to.x. A missing exchange
// drops it, as does a cycle (rabbit_dead_letter:detect_cycles/3).
func (p *Publisher) deadLetter(q *Queue, to dlTarget, d deadLetter) {
	m := d.msg
	var props wire.Properties
	if err := props.Decode(m.Flags, m.Props); err != nil {
		props = wire.Properties{}
	}
	if props.Headers == nil {
		props.Headers = wire.Table{}
	}
	// x-death routing-keys: the publish key and the CC keys (BCC is gone by now).
	rks := []any{m.RoutingKey}
	if cc, ok := props.Headers["CC"].([]any); ok {
		for _, k := range cc {
			if s, ok := k.(string); ok {
				rks = append(rks, s)
			}
		}
	}
	event := wire.Table{
		"reason":       d.reason,
		"queue":        q.name,
		"time":         time.Unix(time.Now().Unix(), 0).UTC(),
		"exchange":     m.Exchange,
		"routing-keys": rks,
	}
	if props.Flags&wire.FlagExpiration != 0 || props.Expiration != "" {
		event["original-expiration"] = props.Expiration
	}
	deaths := updateXDeath(props.Headers, event, q.name, d.reason, m.Exchange)

	p.keys = p.keys[:0]
	if to.hasRK {
		p.keys = append(p.keys, to.rk)
		delete(props.Headers, "CC")
	} else {
		p.keys = append(p.keys, m.RoutingKey)
		p.keys = append(p.keys, m.ccKeys...)
	}
	props.Expiration = ""
	props.Flags &^= wire.FlagExpiration
	flags, raw, err := props.Append(nil)
	if err != nil {
		return
	}
	dm := &Message{
		Exchange: to.x, RoutingKey: p.keys[0], Flags: flags, Props: raw, Body: m.Body,
		Persistent: m.Persistent, Priority: m.Priority,
	}
	if len(p.keys) > 1 {
		dm.ccKeys = append([]string(nil), p.keys[1:]...)
	}
	var cycle func(*Queue) bool
	if d.reason != "rejected" {
		cycle = func(target *Queue) bool { return isCycle(target.name, deaths) }
	}
	_, _, _ = p.route(dm, false, nil, false, true, cycle, nil, 0)
}

// updateXDeath records event in h's x-death header (rabbit_dead_letter:update_x_death_header/2,
// 3.10): the first death also sets x-first-death-{reason,queue,exchange}; a repeated
// (queue, reason) pair increments that entry's count and moves it to the front; a
// non-array x-death is reset. Returns the new x-death array.
func updateXDeath(h wire.Table, event wire.Table, queue, reason, exchange string) []any {
	old, present := h["x-death"]
	if !present {
		h["x-first-death-reason"] = reason
		h["x-first-death-queue"] = queue
		h["x-first-death-exchange"] = exchange
	}
	arr, isArr := old.([]any)
	if !present || !isArr {
		event["count"] = int64(1)
		deaths := []any{event}
		h["x-death"] = deaths
		return deaths
	}
	deaths := make([]any, 0, len(arr)+1)
	var match wire.Table
	for _, e := range arr {
		if t, ok := e.(wire.Table); ok && match == nil && t["queue"] == queue && t["reason"] == reason {
			match = t
			continue
		}
		deaths = append(deaths, e)
	}
	if match != nil {
		n, ok := asInt(match["count"])
		if !ok {
			n = 0
		}
		match["count"] = n + 1
		event = match
	} else {
		event["count"] = int64(1)
	}
	deaths = append([]any{event}, deaths...)
	h["x-death"] = deaths
	return deaths
}

// isCycle is rabbit_dead_letter:is_cycle/2: the message already died in queue, and every
// death since (including that one) was automatic (not "rejected"), so routing it there again
// would loop forever.
func isCycle(queue string, deaths []any) bool {
	for _, e := range deaths {
		t, ok := e.(wire.Table)
		if !ok {
			return false // something a client put there: not fully automatic
		}
		if t["reason"] == "rejected" {
			return false
		}
		if t["queue"] == queue {
			return true
		}
	}
	return false
}
