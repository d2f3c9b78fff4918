package vhost

import (
	"encoding/binary"
	"slices"
	"sort"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Dead-lettering (RW:docs/dlx.md), as RabbitMQ's rabbit_dead_letter does it: a
// message rejected without requeue or expired in a queue with x-dead-letter-exchange is
// republished to that exchange, with x-dead-letter-routing-key (CC dropped) or its original
// routing keys, the expiration property removed, and an x-death header recording the event,
// written byte for byte as RabbitMQ 3.13 writes it (appendDeadProps; conformance's
// x-death/bytes-* checks compare it with RabbitMQ 3.10.8's recorded bytes).
// Republishing needs VHost.mu, so a queue collects dead letters under its lock
// (Queue.mu.dead) and publishes them after releasing it (unlockFlush).
// Reason "maxlen" comes from length limits (maxlen.go).

// deadLetter is a message leaving a queue for its dead-letter exchange.
type deadLetter struct {
	msg    *Message
	reason string // "rejected", "expired"
	ix     string // the source queue's store index, "" if msg is not stored there
	seq    uint64 // its entry there, removed once the dead letter is published
	marked bool   // the entry may have a delivered mark (leftLocked)
}

// deadLetterLocked queues it, which left the queue, for dead-lettering. Its store entry
// (if any) is removed after the dead letter is published, so that a crash in between
// leaves the message twice rather than nowhere.
func (q *Queue) deadLetterLocked(it *item, reason string) {
	d := deadLetter{msg: it.msg, reason: reason}
	if pst := q.vhost.pst; pst != nil {
		pst.mem.Add(-msgCost(it.msg))
		if q.stores(it.msg) {
			d.ix, d.seq, d.marked = q.mu.ix, it.seq, it.redelivered
		}
	}
	q.mu.dead = append(q.mu.dead, d)
}

// unlockFlush releases q.mu and then dead-letters what was collected under it. Every path
// that may collect dead letters ends with it instead of q.mu.Unlock. One goroutine at a time
// publishes a queue's dead letters (q.mu.flushing), taking batches in the order they were
// collected until none is left, so dead letters leave in order (as from RabbitMQ's one
// queue process) even when the publisher, the pager and a timer drop messages at once. A
// dead letter routed back into q (a rejected message's cycle) is collected and published by
// the same loop.
//
// Others leave their dead letters to that goroutine only while fewer than deadHelpAt wait:
// past that, publishers dropping heads faster than one goroutine can republish them would
// grow the list without bound (their memory is no longer counted, deadLetterLocked) and
// keep the flushing goroutine, maybe a connection's reader, busy with everyone's dead
// letters. Then the caller publishes the waiting ones itself: order between such batches
// is lost, but nobody waits for anybody (waiting could deadlock two queues that
// dead-letter into each other).
func (q *Queue) unlockFlush() {
	if len(q.mu.dead) == 0 || (q.mu.flushing && len(q.mu.dead) < deadHelpAt) {
		q.mu.Unlock()
		return
	}
	v := q.vhost
	p := v.pool.Get().(*Publisher)
	if q.mu.flushing {
		q.publishDeadLocked(p)
		q.mu.Unlock()
		v.pool.Put(p)
		return
	}
	q.mu.flushing = true
	for len(q.mu.dead) > 0 {
		q.publishDeadLocked(p)
	}
	q.mu.flushing = false
	q.mu.Unlock()
	v.pool.Put(p)
}

// deadHelpAt is how many waiting dead letters make unlockFlush's caller publish them
// instead of leaving them to the goroutine already flushing: a few pages' worth
// (pageLow), so that a burst from one drop-head publish stays in order.
const deadHelpAt = 4 * pageLow

// publishDeadLocked takes the waiting dead letters and publishes them with q.mu released
// for the time: held on entry and on return.
func (q *Queue) publishDeadLocked(p *Publisher) {
	v := q.vhost
	dead := q.mu.dead
	q.mu.dead = nil
	to := dlTarget{x: q.opts.dlx, rk: q.opts.dlrk, hasRK: q.opts.hasRK} // under q.mu: a policy may change them
	q.mu.Unlock()
	for _, d := range dead {
		p.deadLetter(q, to, d)
		if d.ix != "" {
			v.pst.journal.ack(d.ix, d.seq, d.msg.inline, d.marked)
		}
	}
	q.mu.Lock()
}

// dlTarget is where a queue's dead letters go: its effective dead-letter exchange and
// routing key (an argument, or a policy's), read under Queue.mu.
type dlTarget struct {
	x, rk string
	hasRK bool
}

// flushDead dead-letters what was collected under q.mu by someone who released it with
// Unlock (Publisher.reserve holds several queue locks, so it cannot publish in between).
func (q *Queue) flushDead() {
	q.mu.Lock()
	q.unlockFlush()
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
	flags, raw, err := appendDeadProps(props)
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

// updateXDeath records event in h's x-death header as RabbitMQ 3.13 does (mc:record_death/4):
// the first death (no x-death yet) sets x-first-death-{reason,queue,exchange}; every death
// sets x-last-death-{reason,queue,exchange} (3.13; 3.10 has no x-last-death headers); a
// repeated (queue, reason) pair increments that entry's count, keeps its time (the first
// time) and moves it to the front; a non-array x-death is reset
// (rabbit_dead_letter:update_x_death_header/2). Returns the new x-death array.
func updateXDeath(h wire.Table, event wire.Table, queue, reason, exchange string) []any {
	old, present := h["x-death"]
	if !present {
		h["x-first-death-reason"] = reason
		h["x-first-death-queue"] = queue
		h["x-first-death-exchange"] = exchange
	}
	h["x-last-death-reason"] = reason
	h["x-last-death-queue"] = queue
	h["x-last-death-exchange"] = exchange
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

// xDeathOrder is the order of an x-death entry's fields on the wire in RabbitMQ 3.13
// (mc_amqpl:death_table/7): original-expiration first when present, then these. Other keys
// (a client's additions) follow in key order. RabbitMQ 3.10 writes count first and
// original-expiration last, and sorts an entry whose count it increments; conformance's
// x-death/bytes-* checks compare both forms with RabbitMQ's bytes.
var xDeathOrder = []string{"original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys"}

// appendDeadProps encodes props as RabbitMQ writes a message whose headers it changed (a
// dead letter's x-death, a quorum queue's x-delivery-count): the headers sorted by key
// (rabbit_misc:set_table_value/4 sorts them in 3.10, mc_amqpl:protocol_state/2 in 3.13),
// each x-death entry in xDeathOrder.
func appendDeadProps(props wire.Properties) (uint16, []byte, error) {
	hdrs := props.Headers
	props.Headers = nil
	props.Flags &^= wire.FlagHeaders
	flags, raw, err := props.Append(nil)
	if err != nil {
		return 0, nil, err
	}
	keys := make([]string, 0, len(hdrs))
	for k := range hdrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	table := make([]byte, 4, 512)
	for _, k := range keys {
		if arr, ok := hdrs[k].([]any); ok && k == "x-death" {
			if table, err = appendXDeath(table, arr); err != nil {
				return 0, nil, err
			}
			continue
		}
		if table, err = appendEntry(table, k, hdrs[k]); err != nil {
			return 0, nil, err
		}
	}
	binary.BigEndian.PutUint32(table, uint32(len(table)-4))
	// The headers come after content-type and content-encoding (AMQP 0-9-1 §4.2.6.1).
	at := 0
	for _, f := range []uint16{wire.FlagContentType, wire.FlagContentEncoding} {
		if flags&f != 0 {
			at += 1 + int(raw[at])
		}
	}
	out := make([]byte, 0, len(raw)+len(table))
	out = append(append(append(out, raw[:at]...), table...), raw[at:]...)
	return flags | wire.FlagHeaders, out, nil
}

// appendEntry appends one field-table entry (name, type tag, value) for v: the types
// dead-lettering writes ('S', 'l', 'T', 'A' of 'S') directly, others as wire.AppendTable
// encodes them (AMQP 0-9-1 §4.2.5.5 with RabbitMQ's tags, as amqp/wire's Table doc lists).
func appendEntry(dst []byte, key string, v any) ([]byte, error) {
	if len(key) <= 255 {
		switch v := v.(type) {
		case string:
			dst = append(append(dst, byte(len(key))), key...)
			return appendLongstr(append(dst, 'S'), v), nil
		case int64:
			dst = append(append(dst, byte(len(key))), key...)
			return binary.BigEndian.AppendUint64(append(dst, 'l'), uint64(v)), nil
		case time.Time:
			dst = append(append(dst, byte(len(key))), key...)
			return binary.BigEndian.AppendUint64(append(dst, 'T'), uint64(v.Unix())), nil
		case []any:
			if allStrings(v) {
				dst = append(append(dst, byte(len(key))), key...)
				dst = append(dst, 'A', 0, 0, 0, 0)
				at := len(dst)
				for _, e := range v {
					dst = appendLongstr(append(dst, 'S'), e.(string))
				}
				binary.BigEndian.PutUint32(dst[at-4:], uint32(len(dst)-at))
				return dst, nil
			}
		}
	}
	b, err := wire.AppendTable(nil, wire.Table{key: v})
	if err != nil {
		return dst, err
	}
	return append(dst, b[4:]...), nil
}

func appendLongstr(dst []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(dst, uint32(len(s))), s...)
}

func allStrings(a []any) bool {
	for _, e := range a {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// appendXDeath appends the x-death entry: an array ('A') of tables, each in xDeathOrder.
func appendXDeath(dst []byte, deaths []any) ([]byte, error) {
	dst = append(dst, byte(len("x-death")))
	dst = append(dst, "x-death"...)
	dst = append(dst, 'A', 0, 0, 0, 0)
	at := len(dst)
	for _, e := range deaths {
		t, ok := e.(wire.Table)
		if !ok {
			// Not a table (a client put it there): encoded as it is.
			b, err := appendEntry(nil, "", e)
			if err != nil {
				return dst, err
			}
			dst = append(dst, b[1:]...) // drop the empty name's length octet
			continue
		}
		dst = append(dst, 'F', 0, 0, 0, 0)
		tat := len(dst)
		for _, k := range xDeathOrder {
			if v, ok := t[k]; ok {
				var err error
				if dst, err = appendEntry(dst, k, v); err != nil {
					return dst, err
				}
			}
		}
		var extra []string
		for k := range t {
			if !slices.Contains(xDeathOrder, k) {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			var err error
			if dst, err = appendEntry(dst, k, t[k]); err != nil {
				return dst, err
			}
		}
		binary.BigEndian.PutUint32(dst[tat-4:], uint32(len(dst)-tat))
	}
	binary.BigEndian.PutUint32(dst[at-4:], uint32(len(dst)-at))
	return dst, nil
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
