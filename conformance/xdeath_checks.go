package conformance

import (
	"bytes"
	"embed"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// x-death, byte for byte (issue 5): each scenario dead-letters one message published on raw frames (so
// that its header order is known), fetches it from the dead-letter queue with a raw basic.get and
// compares the content header's bytes with the ones RabbitMQ 3.10.8 sent for the same scenario
// (testdata/xdeath/<scenario>.hex), after masking what differs from run to run: the x-death entries'
// "time" values (checked to be within a minute of now instead) and the random part of the queue and
// exchange names. A broker that reports RabbitMQ 3.13 or later, or warren, is compared with those bytes
// turned into 3.13's by to313, the one explicit difference. Record new golden files with
// XDEATH_RECORD=1 (xdeath_test.go).

//go:embed testdata/xdeath/*.hex
var xdeathGolden embed.FS

// xdeathScenario dead-letters one message and returns the dead-lettered message's content header.
type xdeathScenario struct {
	name string // also the golden file's base name
	rule string
	run  func(e *Env, x *xdeathRun) []byte
}

// xdeathRun holds one scenario's names, so that their random parts can be masked.
type xdeathRun struct {
	e     *Env
	names []string
}

func (x *xdeathRun) queue() string    { n := x.e.Queue(); x.names = append(x.names, n); return n }
func (x *xdeathRun) exchange() string { n := x.e.Exchange(); x.names = append(x.names, n); return n }

// deadLettered names and declares, in this order, a fanout dead-letter exchange, a queue q with args
// and that exchange as its x-dead-letter-exchange, and a queue dlq bound to the exchange.
func (x *xdeathRun) deadLettered(ch *Chan, args amqp.Table) (q, dlq string) {
	e := x.e
	dlx := x.exchange()
	q, dlq = x.queue(), x.queue()
	e.Must(ch.ExchangeDeclare(dlx, "fanout", false, false, false, false, nil), "exchange.declare dlx")
	args["x-dead-letter-exchange"] = dlx
	_, err := ch.QueueDeclare(q, false, false, false, false, args)
	e.Must(err, "queue.declare")
	_, err = ch.QueueDeclare(dlq, false, false, false, false, nil)
	e.Must(err, "queue.declare dlq")
	e.Bind(ch, dlq, "", dlx, nil)
	return q, dlq
}

// deadLetteredByKey names a queue q and a queue dlq, in this order, declares dlq, then q (durable as
// asked) with args and the default exchange as its dead-letter exchange, dlq as its dead-letter key.
func (x *xdeathRun) deadLetteredByKey(ch *Chan, durable bool, args amqp.Table) (q, dlq string) {
	e := x.e
	q, dlq = x.queue(), x.queue()
	_, err := ch.QueueDeclare(dlq, false, false, false, false, nil)
	e.Must(err, "queue.declare dlq")
	args["x-dead-letter-exchange"], args["x-dead-letter-routing-key"] = "", dlq
	_, err = ch.QueueDeclare(q, durable, false, false, false, args)
	e.Must(err, "queue.declare")
	return q, dlq
}

// sourced declares a direct exchange (named before deadLettered's names) and binds q to it with key k1.
func (x *xdeathRun) sourced(ch *Chan, args amqp.Table) (xch, q, dlq string) {
	xch = x.exchange()
	x.e.Must(ch.ExchangeDeclare(xch, "direct", false, false, false, false, nil), "exchange.declare")
	q, dlq = x.deadLettered(ch, args)
	x.e.Bind(ch, q, "k1", xch, nil)
	return xch, q, dlq
}

// normalize replaces the random hex suffix of every name in b with the name's index in the scenario,
// zero-padded to the same length (so offsets hold): ….q.00000001 for the first name, and so on.
func (x *xdeathRun) normalize(b []byte) []byte {
	out := append([]byte(nil), b...)
	for k, n := range x.names {
		i := strings.LastIndexByte(n, '.')
		fixed := fmt.Sprintf("%s%0*d", n[:i+1], len(n)-i-1, k+1)
		out = bytes.ReplaceAll(out, []byte(n), []byte(fixed))
	}
	return out
}

// rawPublish sends basic.publish with a content header whose properties are content-type text/plain,
// the given headers (in this order), and expiration when not "".
func rawPublish(r *rawConn, ch uint16, exchange, key string, headers []xfield, expiration string, body string) {
	var w enc
	r.send(ch, mBasicPublish, w.u16(0).shortstr(exchange).shortstr(key).u8(0).b)
	flags := uint16(flagContentType | flagHeaders)
	var p enc
	p.shortstr("text/plain")
	p.b = appendXTable(p.b, headers)
	if expiration != "" {
		flags |= 0x0100 // expiration, §4.2.6.1 basic properties
		p.shortstr(expiration)
	}
	var h enc
	h.u16(classBasic).u16(0).u64(uint64(len(body))).u16(flags)
	h.b = append(h.b, p.b...)
	r.write(frame(frameHeader, ch, h.b))
	r.write(frame(frameBody, ch, []byte(body)))
}

// strVal is a long string value ('S').
func strVal(s string) xval {
	return xval{tag: 'S', raw: append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)}
}

var (
	mBasicGet      = methodID{60, 70}
	mBasicGetOk    = methodID{60, 71}
	mBasicGetEmpty = methodID{60, 72}
)

// rawGet polls queue with basic.get no-ack on channel ch until a message comes, and returns its content
// header frame's payload.
func rawGet(e *Env, r *rawConn, ch uint16, queue string) []byte {
	var hdr []byte
	e.Eventually("a dead-lettered message in "+queue, func() bool {
		var w enc
		r.send(ch, mBasicGet, w.u16(0).shortstr(queue).u8(1).b)
		m, err := r.next()
		e.Must(err, "basic.get")
		switch m.id {
		case mBasicGetEmpty:
			return false
		case mBasicGetOk:
		default:
			e.Fatalf("basic.get: got method %v, want get-ok or get-empty", m.id)
		}
		typ, _, payload, err := r.readFrame()
		e.Must(err, "content header")
		if typ != frameHeader || len(payload) < 14 {
			e.Fatalf("after basic.get-ok: frame type %d, want a content header", typ)
		}
		hdr = payload
		size := binary.BigEndian.Uint64(payload[4:12])
		for got := uint64(0); got < size; {
			typ, _, body, err := r.readFrame()
			e.Must(err, "content body")
			if typ != frameBody {
				e.Fatalf("content body: frame type %d", typ)
			}
			got += uint64(len(body))
		}
		return true
	})
	return hdr
}

// xdeathConn opens a raw connection with channel 1 open.
func xdeathConn(e *Env) *rawConn {
	r := e.rawDial()
	r.handshake()
	r.openChannel(1)
	return r
}

// nackOne takes one message from q with basic.get and nacks it.
func nackOne(e *Env, ch *Chan, q string, requeue bool) {
	var d amqp.Delivery
	e.Eventually("a message in "+q, func() bool {
		var ok bool
		var err error
		d, ok, err = ch.Get(q, false)
		e.Must(err, "basic.get")
		return ok
	})
	e.Must(d.Nack(false, requeue), "basic.nack")
	e.Sync(ch)
}

const xdeathBody = "x-death bytes"

var xdeathScenarios = []xdeathScenario{
	{
		name: "rejected",
		rule: "rabbit_dead_letter:make_msg/5: a rejected message with a CC header and another header; routing-keys holds the key and the CC key",
		run: func(e *Env, x *xdeathRun) []byte {
			ch := e.Channel()
			xch, q, dlq := x.sourced(ch, amqp.Table{})
			r := xdeathConn(e)
			rawPublish(r, 1, xch, "k1", []xfield{
				{key: "zz-app", val: strVal("1")},
				{key: "CC", val: xval{tag: 'A', arr: []xval{strVal("k2")}}},
			}, "", xdeathBody)
			nackOne(e, ch, q, false)
			return rawGet(e, r, 1, dlq)
		},
	},
	{
		name: "expired-queue-ttl",
		rule: "rabbit_dead_letter:make_msg/5: a message expired by the queue's x-message-ttl (no original-expiration)",
		run: func(e *Env, x *xdeathRun) []byte {
			xch, _, dlq := x.sourced(e.Channel(), amqp.Table{"x-message-ttl": int32(20)})
			r := xdeathConn(e)
			rawPublish(r, 1, xch, "k1", nil, "", xdeathBody)
			return rawGet(e, r, 1, dlq)
		},
	},
	{
		name: "expired-per-message",
		rule: "rabbit_dead_letter:per_msg_ttl_header/1: a message expired by its expiration property keeps it as original-expiration; the property is removed",
		run: func(e *Env, x *xdeathRun) []byte {
			q, dlq := x.deadLetteredByKey(e.Channel(), false, amqp.Table{})
			r := xdeathConn(e)
			rawPublish(r, 1, "", q, []xfield{{key: "a", val: xval{tag: 'l', raw: binary.BigEndian.AppendUint64(nil, 7)}}}, "20", xdeathBody)
			return rawGet(e, r, 1, dlq)
		},
	},
	{
		name: "maxlen",
		rule: "rabbit_amqqueue_process:maybe_drop_head/2: the head dropped by x-max-length is dead-lettered with reason maxlen",
		run: func(e *Env, x *xdeathRun) []byte {
			q, dlq := x.deadLettered(e.Channel(), amqp.Table{"x-max-length": int32(1)})
			r := xdeathConn(e)
			rawPublish(r, 1, "", q, nil, "", xdeathBody)
			rawPublish(r, 1, "", q, nil, "", xdeathBody)
			return rawGet(e, r, 1, dlq)
		},
	},
	{
		name: "delivery-limit",
		rule: "rabbit_fifo:return_one/5: a quorum queue's message returned more than x-delivery-limit times is dead-lettered with reason delivery_limit; x-dead-letter-routing-key drops CC",
		run: func(e *Env, x *xdeathRun) []byte {
			ch := e.Channel()
			q, dlq := x.deadLetteredByKey(ch, true, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(1)})
			r := xdeathConn(e)
			rawPublish(r, 1, "", q, []xfield{{key: "CC", val: xval{tag: 'A', arr: []xval{strVal("nowhere")}}}}, "", xdeathBody)
			nackOne(e, ch, q, true)
			nackOne(e, ch, q, true)
			return rawGet(e, r, 1, dlq)
		},
	},
	{
		name: "twice",
		rule: "rabbit_dead_letter:update_x_death_header/2: expired from q1, rejected from q2, expired from q1 again: one entry per queue and reason, newest first, count 2",
		run: func(e *Env, x *xdeathRun) []byte {
			ch := e.Channel()
			q1, q2 := x.queue(), x.queue()
			_, err := ch.QueueDeclare(q1, false, false, false, false, amqp.Table{"x-message-ttl": int32(20),
				"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q2})
			e.Must(err, "queue.declare q1")
			_, err = ch.QueueDeclare(q2, false, false, false, false, amqp.Table{
				"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q1})
			e.Must(err, "queue.declare q2")
			r := xdeathConn(e)
			rawPublish(r, 1, "", q1, nil, "", xdeathBody)
			nackOne(e, ch, q2, false)
			return rawGet(e, r, 1, q2)
		},
	},
}

// brokerIs313 reports whether the broker at e writes RabbitMQ 3.13's dead-letter headers: it reports
// RabbitMQ 3.13 or later, or is not RabbitMQ (warren follows 3.13).
func brokerIs313(e *Env) bool {
	c := e.Dial()
	if p, _ := c.Properties["product"].(string); p != "RabbitMQ" {
		return true
	}
	v, _ := c.Properties["version"].(string)
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return true
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	return major > 3 || (major == 3 && minor >= 13)
}

// xdeathCapture runs s and returns the dead-lettered header with names normalized, after checking that
// its x-death times are within a minute of now.
func xdeathCapture(e *Env, s xdeathScenario) (xheader, []byte) {
	x := &xdeathRun{e: e}
	raw := x.normalize(s.run(e, x))
	h, err := parseXHeader(raw)
	if err != nil {
		e.Fatalf("dead-lettered content header %x: %v", raw, err)
	}
	now := time.Now().Unix()
	for i, t := range h.xdeathTimes() {
		if t < now-60 || t > now+60 {
			e.Fatalf("x-death[%d].time is %d, want about %d (now, in seconds)", i, t, now)
		}
	}
	return h, raw
}

// expectedXDeath returns the bytes s's dead-lettered header must have on this broker, times zeroed.
func expectedXDeath(name string, is313 bool) ([]byte, error) {
	text, err := xdeathGolden.ReadFile("testdata/xdeath/" + name + ".hex")
	if err != nil {
		return nil, err
	}
	g, err := parseGolden(string(text))
	if err != nil {
		return nil, err
	}
	if !is313 {
		return g.b, nil
	}
	h, err := parseXHeader(g.b)
	if err != nil {
		return nil, err
	}
	return to313(h).bytes(), nil
}

func xdeathChecks() []Check {
	var cs []Check
	for _, s := range xdeathScenarios {
		cs = append(cs, Check{
			Name: "x-death/bytes-" + s.name,
			Rule: s.rule + "; compared byte for byte with RabbitMQ 3.10.8's header (testdata/xdeath), turned into 3.13's for a 3.13 broker (NOTES.md)",
			Run: func(e *Env) error {
				is313 := brokerIs313(e)
				h, raw := xdeathCapture(e, s)
				got, _ := masked(raw, h.timeOffsets())
				want, err := expectedXDeath(s.name, is313)
				if err != nil {
					return fmt.Errorf("golden file: %v", err)
				}
				if d := diffBytes(want, got); d != "" {
					return fmt.Errorf("dead-lettered content header differs (3.13 form: %v): %s\n  want %x\n  got  %x", is313, d, want, got)
				}
				return nil
			},
		})
	}
	return cs
}
