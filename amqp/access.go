package amqp

import (
	"strings"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// Permission checks, placed where rabbit_channel.erl (rabbitmq-server 4.x; the same in
// 3.10 unless noted) places them, and in its order, so that a method failing two checks
// gets RabbitMQ's answer:
//
//	exchange.declare   type (503), default exchange (403), configure on the exchange;
//	                   when creating: "amq." prefix (403), then with alternate-exchange
//	                   read on the exchange and write on the alternate
//	exchange.declare passive   default exchange, then any of read/write/configure (4.x;
//	                   3.10 checks nothing)
//	exchange.delete    default exchange, "amq." exchanges, configure
//	queue.declare      "amq." prefix (403), configure on the name (a server-generated
//	                   "amq.gen-…" name too); when creating with x-dead-letter-exchange:
//	                   read on the queue, write on the dead-letter exchange
//	queue.declare passive      any of read/write/configure (4.x; 3.10 checks nothing)
//	queue.delete       configure;  queue.purge, basic.get, basic.consume: read
//	queue.bind/unbind, exchange.bind/unbind
//	                   write on the destination, default exchange at either end, read on
//	                   the source, and for a topic source the read topic permission on
//	                   the routing key
//	basic.publish      write on the exchange (the default one is "amq.default"), internal
//	                   exchange, write topic permission on the routing key
//
// vhost raises the non-permission errors itself; these helpers skip a check when vhost is
// going to refuse the method for a reason RabbitMQ checks first.

// acc is the connection's permission checker.
func (ch *channel) acc() *vhost.Access { return &ch.c.sess.Access }

func (ch *channel) checkExchangeDeclare(m *wire.ExchangeDeclare) error {
	if m.Exchange == "" {
		return nil // default exchange: vhost answers 403 first
	}
	a := ch.acc()
	if m.Passive {
		return a.CheckAny(vhost.KindExchange, m.Exchange)
	}
	if !vhost.ValidExchangeType(m.Type) {
		return nil // 503 first
	}
	if err := a.Check(vhost.Configure, vhost.KindExchange, m.Exchange); err != nil {
		return err
	}
	if strings.HasPrefix(m.Exchange, "amq.") || ch.c.vhost.Exchange(m.Exchange) != nil {
		return nil
	}
	if ae, ok := m.Arguments["alternate-exchange"].(string); ok {
		if err := a.Check(vhost.Read, vhost.KindExchange, m.Exchange); err != nil {
			return err
		}
		return a.Check(vhost.Write, vhost.KindExchange, ae)
	}
	return nil
}

func (ch *channel) checkExchangeDelete(name string) error {
	if name == "" || strings.HasPrefix(name, "amq.") {
		return nil // vhost refuses both first
	}
	return ch.acc().Check(vhost.Configure, vhost.KindExchange, name)
}

// checkQueueDeclare checks a non-passive declare of name (already generated when the
// client left it empty).
func (ch *channel) checkQueueDeclare(name string, generated bool, args wire.Table) error {
	if !generated && strings.HasPrefix(name, "amq.") {
		return nil // reserved prefix: vhost answers 403 first
	}
	a := ch.acc()
	if err := a.Check(vhost.Configure, vhost.KindQueue, name); err != nil {
		return err
	}
	if dlx, ok := args["x-dead-letter-exchange"].(string); ok && ch.c.vhost.Queue(name) == nil {
		if err := a.Check(vhost.Read, vhost.KindQueue, name); err != nil {
			return err
		}
		return a.Check(vhost.Write, vhost.KindExchange, dlx)
	}
	return nil
}

// checkBind checks queue.bind/unbind (toQueue) and exchange.bind/unbind
// (rabbit_channel:binding_action_with_checks/10).
func (ch *channel) checkBind(toQueue bool, dest, source, key string) error {
	a := ch.acc()
	kind := vhost.KindExchange
	if toQueue {
		kind = vhost.KindQueue
	}
	if err := a.Check(vhost.Write, kind, dest); err != nil {
		return err
	}
	if source == "" || (!toQueue && dest == "") {
		return nil // default exchange: vhost answers 403
	}
	if err := a.Check(vhost.Read, vhost.KindExchange, source); err != nil {
		return err
	}
	if x := ch.c.vhost.Exchange(source); x != nil && x.Kind() == "topic" {
		return a.CheckTopic(vhost.Read, source, key)
	}
	return nil
}

// checkPublish checks write on the exchange and, for a topic exchange, the write topic
// permission on the routing key and on those of the CC and BCC headers (RabbitMQ 3.13+
// checks every routing key of the message; 3.10 only the first). flags and props are the
// message's properties, decoded only when topic permissions apply. Like rabbit_channel's permission cache
// (?MAX_PERMISSION_CACHE_SIZE, 12) it remembers the last exchanges it allowed, for the
// channel's life: a publish to one of them costs a few string comparisons and no lock.
func (ch *channel) checkPublish(exchange, key string, flags uint16, props []byte) error {
	pc := &ch.permCache
	e := pc.find(exchange)
	if e == nil {
		if err := ch.acc().Check(vhost.Write, vhost.KindExchange, exchange); err != nil {
			return err
		}
		x := ch.c.vhost.Exchange(exchange)
		e = pc.add(exchange, x != nil && x.Kind() == "topic" && ch.acc().HasTopicPermissions(exchange))
	}
	if !e.topic {
		return nil
	}
	if !e.keyOK || e.key != key {
		if err := ch.acc().CheckTopic(vhost.Write, exchange, key); err != nil {
			return err
		}
		e.key, e.keyOK = key, true
	}
	if flags&wire.FlagHeaders == 0 {
		return nil
	}
	h := wire.ContentHeader{Flags: flags, Props: props}
	hdrs, err := wire.DecodeTable(h.HeadersRaw())
	if err != nil {
		return nil // validated when the header frame came; routing sees no headers either
	}
	for _, name := range [...]string{"CC", "BCC"} {
		arr, _ := hdrs[name].([]any)
		for _, v := range arr {
			if k, ok := v.(string); ok {
				if err := ch.acc().CheckTopic(vhost.Write, exchange, k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// permCacheSize is how many exchanges a channel remembers as writable.
const permCacheSize = 12

// permCache is a channel's exchanges allowed for publishing. Owned by readLoop.
type permCache struct {
	n       int // entries in use
	next    int // the entry to replace when full
	entries [permCacheSize]permEntry
}

type permEntry struct {
	exchange string // write on it is allowed
	topic    bool   // topic permissions apply to its routing keys
	key      string // the last routing key allowed, when keyOK
	keyOK    bool
}

func (pc *permCache) find(exchange string) *permEntry {
	for i := range pc.n {
		if pc.entries[i].exchange == exchange {
			return &pc.entries[i]
		}
	}
	return nil
}

func (pc *permCache) add(exchange string, topic bool) *permEntry {
	i := pc.n
	if i == permCacheSize {
		i = pc.next
		pc.next = (pc.next + 1) % permCacheSize
	} else {
		pc.n++
	}
	pc.entries[i] = permEntry{exchange: exchange, topic: topic}
	return &pc.entries[i]
}

// declareQueue runs queue.declare with its permission checks. A server-named queue's name
// is generated here, so that configure is checked on it as RabbitMQ does.
func (ch *channel) declareQueue(m *wire.QueueDeclare) (vhost.QueueInfo, error) {
	v := ch.c.vhost
	if m.Passive {
		if err := ch.acc().CheckAny(vhost.KindQueue, m.Queue); err != nil {
			return vhost.QueueInfo{}, err
		}
		return v.DeclareQueue(ch.c.owner, m.Queue, true, m.Durable, m.Exclusive, m.AutoDelete, m.Arguments)
	}
	if m.Queue == "" {
		name := vhost.NewQueueName()
		if err := ch.checkQueueDeclare(name, true, m.Arguments); err != nil {
			return vhost.QueueInfo{}, err
		}
		return v.DeclareServerNamed(ch.c.owner, name, m.Durable, m.Exclusive, m.AutoDelete, m.Arguments)
	}
	if err := ch.checkQueueDeclare(m.Queue, false, m.Arguments); err != nil {
		return vhost.QueueInfo{}, err
	}
	return v.DeclareQueue(ch.c.owner, m.Queue, false, m.Durable, m.Exclusive, m.AutoDelete, m.Arguments)
}
