package vhost

import (
	"cmp"
	"slices"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
)

// Message is one published message. It is immutable once published and shared by every
// queue it lands in; publish each Message once (a persistent one records its place in the
// store).
type Message struct {
	Exchange   string
	RoutingKey string
	Flags      uint16 // content-header property flags
	Props      []byte // raw property list, owned by the message
	Body       []byte
	Persistent bool // delivery-mode 2
	Priority   uint8

	// Set by Publish before the message is enqueued anywhere; immutable afterwards.
	hasTTL bool     // the expiration property holds a valid TTL
	ttl    int64    // that TTL, in milliseconds
	ccKeys []string // CC and BCC routing keys, kept for dead-lettering with the original keys
	ts     int64    // publish time (Unix ns) of a persistent message going to the store; 0 otherwise
	inline bool     // stored inside its one index entry: its ack may skip the store's read (store.Batch.AckInline)
}

// Publisher routes messages for one publishing goroutine (an amqp channel) and keeps the
// scratch space routing needs, so that a publish allocates nothing in steady state. Not safe
// for concurrent use.
type Publisher struct {
	v      *VHost
	keys   []string     // routing key, then CC and BCC keys
	dests  []dest       // one Route call's output
	queues []*Queue     // the publish's target queues
	work   []*Exchange  // exchanges to route through; also the visited set
	skip   *Exchange    // a delayed exchange routing a message whose delay is over (delayed.go)
	res    []resv       // per p.queues entry: its reservation in a durable queue (persist.go)
	locked []int        // indexes into p.queues of the durable queues being reserved
	held   *store.Batch // stored copies of messages delayed exchanges hold (delayed.go)

	rejected bool // the last publish was refused by a queue's length limit (maxlen.go)
}

// NewPublisher returns a Publisher for v.
func (v *VHost) NewPublisher() *Publisher { return &Publisher{v: v} }

// Publish routes m with a pooled Publisher; see Publisher.Publish.
func (v *VHost) Publish(m *Message) (routed bool, err error) {
	p := v.pool.Get().(*Publisher)
	routed, err = p.Publish(m)
	v.pool.Put(p)
	return routed, err
}

// Publish routes m from exchange m.Exchange and enqueues it once in each matched queue,
// dispatching to consumers on the caller's goroutine. The default exchange "" routes to the
// queue named by the key. Exchange-to-exchange bindings are followed and an exchange that
// routes nowhere hands the message to its alternate-exchange; each exchange is visited at
// most once (rabbit_exchange:route1/4), so binding cycles terminate. CC and BCC headers
// (arrays of longstr) add routing keys (RW:docs/sender-selected.md); BCC is removed from
// m's properties (m.Flags and m.Props are replaced), routed or not. The expiration property
// sets a per-message TTL (ttl.go). routed=false when no queue took the message (amqp then
// returns it if mandatory). Errors: 404 missing exchange, 403 internal exchange.
func (p *Publisher) Publish(m *Message) (routed bool, err error) {
	routed, _, err = p.publish(m, nil, 0)
	return routed, err
}

func (p *Publisher) publish(m *Message, w Waiter, token uint64) (routed, pending bool, err error) {
	p.keys = append(p.keys[:0], m.RoutingKey)
	var hdrs wire.Table
	hdrsDecoded, bcc := false, false
	m.hasTTL, m.ccKeys = false, nil
	if len(m.Props) > 0 {
		h := wire.ContentHeader{Flags: m.Flags, Props: m.Props}
		pv := h.Scan()
		if pv.Expiration != nil {
			m.ttl, m.hasTTL, _ = parseExpiration(pv.Expiration)
		}
		if raw := pv.Headers; raw != nil {
			_, _, cc := wire.TableFind(raw, "CC")
			_, _, bcc = wire.TableFind(raw, "BCC")
			if cc || bcc {
				hdrs, hdrsDecoded = decodeHeaders(raw), true
				p.keys = appendKeys(p.keys, hdrs["CC"])
				p.keys = appendKeys(p.keys, hdrs["BCC"])
				if len(p.keys) > 1 {
					m.ccKeys = append([]string(nil), p.keys[1:]...)
				}
			}
		}
	}
	return p.route(m, bcc, hdrs, hdrsDecoded, false, nil, w, token)
}

// route routes m with the keys in p.keys from exchange m.Exchange and enqueues it in every
// matched queue once. A publish refuses a missing or internal exchange; a dead letter
// (dead=true) may go to an internal exchange, is dropped silently when its exchange is
// missing, and skips the queues for which cycle reports true. A persistent message bound
// for durable queues is committed to the store first (reserve); pending reports that
// w.Stored(token, …) will follow.
func (p *Publisher) route(m *Message, stripBcc bool, hdrs wire.Table, hdrsDecoded, dead bool, cycle func(*Queue) bool,
	w Waiter, token uint64) (routed, pending bool, err error) {
	v := p.v
	v.mu.RLock()
	x := v.mu.exchanges[m.Exchange]
	if x == nil {
		v.mu.RUnlock()
		if dead {
			return false, false, nil
		}
		return false, false, errNoExchange(v.name, m.Exchange)
	}
	if x.internal && !dead {
		v.mu.RUnlock()
		return false, false, wire.Soft(wire.AccessRefused, "cannot publish to internal exchange '%s' in vhost '%s'", m.Exchange, v.name)
	}
	p.work = append(p.work[:0], x)
	routes := 0
	for i := 0; i < len(p.work); i++ {
		x := p.work[i]
		p.dests = p.dests[:0]
		switch {
		case x.router == nil: // the default exchange
			for _, k := range p.keys {
				if q := v.mu.queues[k]; q != nil {
					p.dests = append(p.dests, dest{q: q})
				}
			}
			routes += len(p.keys)
		case x.routeKind != x.kind && !dead && p.delay(x, m, &hdrs, &hdrsDecoded):
			routed = true // held by the x-delayed-message exchange (delayed.go)
			continue
		case x.routeKind == "fanout":
			p.dests = x.router.Route(p.dests, m.RoutingKey, nil)
			routes++
		case x.routeKind == "headers":
			if !hdrsDecoded {
				hdrs, hdrsDecoded = decodeHeaders(headersRaw(m)), true
			}
			p.dests = x.router.Route(p.dests, m.RoutingKey, hdrs)
			routes++
		default:
			for _, k := range p.keys {
				p.dests = x.router.Route(p.dests, k, nil)
			}
			routes += len(p.keys)
		}
		if len(p.dests) == 0 && x.alternate != "" {
			if ae := v.mu.exchanges[x.alternate]; ae != nil {
				p.visit(ae)
			}
		}
		for _, d := range p.dests {
			if d.q != nil {
				p.queues = append(p.queues, d.q)
			} else {
				p.visit(d.x)
			}
		}
	}
	v.mu.RUnlock()
	clear(p.dests)
	clear(p.work)

	if routes > 1 && len(p.queues) > 1 {
		// Several Route calls may name a queue more than once; enqueue it once.
		slices.SortFunc(p.queues, func(a, b *Queue) int { return cmp.Compare(a.id, b.id) })
		p.queues = slices.Compact(p.queues)
	}
	if stripBcc {
		stripBCC(m)
	}
	if cycle != nil {
		p.queues = slices.DeleteFunc(p.queues, cycle)
	}
	p.count(x, dead)
	if p.held != nil {
		pending = p.commitHeld(w, token, m.Persistent && len(p.queues) > 0)
	}
	if m.Persistent && v.pst != nil && len(p.queues) > 0 {
		pending = p.reserve(m, w, token)
	}
	p.rejected = false
	for i, q := range p.queues {
		if len(p.res) > 0 && p.res[i].ok {
			if q.enqueueReserved(m, p.res[i]) {
				routed = true
			}
			continue
		}
		if len(p.res) > 0 && p.res[i].rejected {
			q.refuse(m)
			routed, p.rejected = true, true
			continue
		}
		ok, rejected := q.enqueue(m)
		routed = routed || ok
		p.rejected = p.rejected || rejected
	}
	clear(p.queues)
	p.queues = p.queues[:0]
	clear(p.res)
	p.res = p.res[:0]
	return routed, pending, nil
}

// visit adds x to the work list unless it has been visited in this publish.
func (p *Publisher) visit(x *Exchange) {
	if !slices.Contains(p.work, x) {
		p.work = append(p.work, x)
	}
}

// headersRaw returns m's encoded headers table, nil if it has none.
func headersRaw(m *Message) []byte {
	if len(m.Props) == 0 {
		return nil
	}
	h := wire.ContentHeader{Flags: m.Flags, Props: m.Props}
	return h.HeadersRaw()
}

// decodeHeaders decodes a headers table; a table that does not decode (amqp validated the
// properties already) routes as no headers.
func decodeHeaders(raw []byte) wire.Table {
	if raw == nil {
		return nil
	}
	t, err := wire.DecodeTable(raw)
	if err != nil {
		return nil
	}
	return t
}

// appendKeys appends the longstr elements of a CC/BCC header value. Other types are
// ignored, as RabbitMQ 3.13+ does (mc_amqpl:essential_properties/1; 3.10 refused them).
func appendKeys(keys []string, v any) []string {
	arr, ok := v.([]any)
	if !ok {
		return keys
	}
	for _, e := range arr {
		if s, ok := e.(string); ok {
			keys = append(keys, s)
		}
	}
	return keys
}

// stripBCC removes the BCC header from m's properties (RW:docs/sender-selected.md), also
// when m is unroutable, so that basic.return does not show it either: RabbitMQ strips it
// when it creates the message (mc_amqpl:init/1, strip_header(_, ?DELETED_HEADER)). Runs
// before m is enqueued anywhere, so m is still the publisher's.
func stripBCC(m *Message) {
	var props wire.Properties
	if err := props.Decode(m.Flags, m.Props); err != nil {
		return
	}
	delete(props.Headers, "BCC")
	if flags, out, err := props.Append(make([]byte, 0, len(m.Props))); err == nil {
		m.Flags, m.Props = flags, out
	}
}

// Waiter learns when a published message is safely stored. The amqp channel
// implements it to send publisher confirms and to finish tx.commit.
type Waiter interface {
	// Stored reports that the publish identified by token is on disk (err nil)
	// or could not be stored. It is called exactly once per pending publish,
	// from another goroutine, without vhost locks held, and in publish order
	// for any one Waiter.
	Stored(token uint64, err error)
}

// PublishFor is Publish for a publisher that confirms: when m is persistent
// and lands in a durable queue, it may be confirmed only once the store has
// synced it; then pending is true and w.Stored(token, err) follows later.
// Otherwise pending is false and Stored is never called for token. A nil w is allowed
// (nothing to report; the message is stored all the same).
//
// After it returns, Rejected reports whether a queue refused m (x-overflow reject-publish
// or reject-publish-dlx, maxlen.go): the publisher must then get basic.nack for it instead
// of basic.ack (RW:docs/maxlength.md), also when other queues took it; pending still says
// whether Stored follows for the queues that did.
func (p *Publisher) PublishFor(m *Message, w Waiter, token uint64) (routed, pending bool, err error) {
	return p.publish(m, w, token)
}

// Rejected reports whether the last Publish or PublishFor was refused by at least one
// queue's length limit (x-overflow reject-publish or reject-publish-dlx). Such a publish
// still counts as routed.
func (p *Publisher) Rejected() bool { return p.rejected }
