package conformance

import (
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// This file reproduces, with amqp091-go, the topology that kombu/Celery's native delayed delivery and Nameko's
// RPC and events declare, and sends messages through it.
//
// Not covered: kombu chooses basic.qos global semantics from the server-properties product and version
// (kombu/transport/pyamqp.py); that is a client-side decision with nothing for a broker to show here.

// celeryLevels is kombu's MAX_NUMBER_OF_BITS_TO_USE (celery/kombu:kombu/transport/native_delayed_delivery.py).
const celeryLevels = 28

// celeryTopology names the objects of one native delayed delivery topology.
type celeryTopology struct {
	prefix    string // kombu's optional name prefix; "" for the real names
	queueType string // kombu's queue_type: "classic" or "quorum"
}

// level is kombu's level_name: "celery_delayed_<level>", or "<prefix>_celery_delayed_<level>".
func (t celeryTopology) level(l int) string {
	if t.prefix != "" {
		return fmt.Sprintf("%s_celery_delayed_%d", t.prefix, l)
	}
	return fmt.Sprintf("celery_delayed_%d", l)
}

// delivery is kombu's _celery_delayed_delivery_exchange.
func (t celeryTopology) delivery() string {
	if t.prefix != "" {
		return t.prefix + "_celery_delayed_delivery"
	}
	return "celery_delayed_delivery"
}

// celeryTTL is x-message-ttl as py-amqp encodes kombu's Python int pow(2, level)*unit: a signed 32-bit
// field ('I') when it fits, else a signed 64-bit one ('l') (celery/py-amqp:amqp/serialization.py).
func celeryTTL(level int, unitMs int64) any {
	v := (int64(1) << level) * unitMs
	if v <= 1<<31-1 {
		return int32(v)
	}
	return int64(v)
}

// declareCeleryDelayed declares t as kombu's declare_native_delayed_delivery_exchanges_and_queues does
// with t.queueType, except that the TTL unit is unitMs (kombu: 1000). Exchanges and queues are
// durable and not auto-delete (kombu's Exchange/Queue defaults). They are deleted after the check.
func (e *Env) declareCeleryDelayed(ch *Chan, t celeryTopology, unitMs int64) {
	e.Cleanup(func() { e.deleteCeleryDelayed(t) })
	key := "1.#"
	for l := celeryLevels - 1; l >= 0; l-- {
		x := t.level(l)
		e.Must(ch.ExchangeDeclare(x, "topic", true, false, false, false, nil), "exchange.declare "+x)
		dlx := t.delivery()
		if l > 0 {
			dlx = t.level(l - 1)
		}
		args := amqp.Table{
			"x-queue-type":           t.queueType,
			"x-overflow":             "reject-publish",
			"x-message-ttl":          celeryTTL(l, unitMs),
			"x-dead-letter-exchange": dlx,
		}
		if t.queueType == "quorum" {
			args["x-dead-letter-strategy"] = "at-least-once"
		}
		_, err := ch.QueueDeclare(x, true, false, false, false, args)
		e.Must(err, fmt.Sprintf("queue.declare %s with %v", x, args))
		e.Bind(ch, x, key, x, nil)
		key = "*." + key
	}
	key = "0.#"
	for l := celeryLevels - 1; l > 0; l-- {
		e.Must(ch.ExchangeBind(t.level(l-1), key, t.level(l), false, nil),
			fmt.Sprintf("exchange.bind %s to %s with key %q", t.level(l-1), t.level(l), key))
		key = "*." + key
	}
	e.Must(ch.ExchangeDeclare(t.delivery(), "topic", true, false, false, false, nil), "exchange.declare "+t.delivery())
	e.Must(ch.ExchangeBind(t.delivery(), key, t.level(0), false, nil),
		fmt.Sprintf("exchange.bind %s to %s with key %q", t.delivery(), t.level(0), key))
}

// deleteCeleryDelayed deletes t's objects on a fresh connection, ignoring errors.
func (e *Env) deleteCeleryDelayed(t celeryTopology) {
	c, err := e.DialConfig(e.Config())
	if err != nil {
		return
	}
	ch, err := c.OpenErr()
	if err != nil {
		return
	}
	for l := range celeryLevels {
		_, _ = ch.QueueDelete(t.level(l), false, false, false)
		_ = ch.ExchangeDelete(t.level(l), false, false)
	}
	_ = ch.ExchangeDelete(t.delivery(), false, false)
}

// celeryRoutingKey is kombu's calculate_routing_key: the countdown's 28 binary digits joined by dots, then
// the routing key.
func celeryRoutingKey(countdown int, key string) string {
	bits := fmt.Sprintf("%0*b", celeryLevels, countdown)
	return strings.Join(strings.Split(bits, ""), ".") + "." + key
}

// namekoReplyTTL is nameko's RPC_REPLY_QUEUE_TTL (nameko/nameko:nameko/rpc.py), sent as x-expires.
const namekoReplyTTL = int32(300000)

// celeryDelayedRoute runs a countdown-5 task through a reduced copy (20 ms TTL unit) of kombu's delayed
// delivery topology with queueType, and checks when and how it arrives.
func celeryDelayedRoute(e *Env, queueType string) error {
	ch := e.Channel()
	t := celeryTopology{prefix: e.Name("p"), queueType: queueType}
	const unit = 20
	e.declareCeleryDelayed(ch, t, unit)
	// The task queue and its topic exchange, bound as bind_queue_to_native_delayed_delivery_exchange does.
	x := e.Exchange()
	e.Must(ch.ExchangeDeclare(x, "topic", true, false, false, false, nil), "exchange.declare "+x)
	q := e.Queue()
	_, err := ch.QueueDeclare(q, true, false, false, false, nil)
	e.Must(err, "queue.declare "+q)
	e.Bind(ch, q, "tasks", x, nil)
	e.Must(ch.ExchangeBind(x, "#.tasks", t.delivery(), false, nil), "exchange.bind task exchange to "+t.delivery())
	e.Bind(ch, q, "#.tasks", x, nil)
	d, err := ch.Consume(q, "", true, false, false, false, nil)
	e.Must(err, "basic.consume "+q)

	// countdown 5 = 0b101: level 2 (4 units), then level 0 (1 unit); level 1 is skipped by the e2e binding.
	key := celeryRoutingKey(5, "tasks")
	pub := e.Publisher()
	start := time.Now()
	e.PublishConfirmed(pub, t.level(celeryLevels-1), key, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("later")})
	m := e.Recv(d, "the delayed task")
	took := time.Since(start)
	if string(m.Body) != "later" || m.RoutingKey != key || m.Exchange != t.delivery() {
		// The last dead-lettering published it to celery_delayed_delivery (level 0's DLX).
		return fmt.Errorf("got %q via exchange %q key %q, want \"later\" via %q key %q", m.Body, m.Exchange, m.RoutingKey, t.delivery(), key)
	}
	if took < 5*unit*time.Millisecond-10*time.Millisecond {
		return fmt.Errorf("the task arrived after %v, want about %v (levels 2 and 0)", took, 5*unit*time.Millisecond)
	}
	deaths, ok := m.Headers["x-death"].([]any)
	if !ok {
		return fmt.Errorf("no x-death array in headers %v", m.Headers)
	}
	var queues []string
	for _, dv := range deaths {
		dt, ok := dv.(amqp.Table)
		if !ok {
			return fmt.Errorf("x-death entry is %T, want a table", dv)
		}
		if dt["reason"] != "expired" {
			return fmt.Errorf("x-death entry %v: want reason expired", dt)
		}
		qn, _ := dt["queue"].(string)
		queues = append(queues, qn)
	}
	// x-death lists the most recent death first.
	if want := []string{t.level(0), t.level(2)}; fmt.Sprint(queues) != fmt.Sprint(want) {
		return fmt.Errorf("x-death queues %v, want %v", queues, want)
	}
	if n := e.Ready(t.level(1)); n != 0 {
		return fmt.Errorf("queue %s holds %d messages, want 0", t.level(1), n)
	}
	return nil
}

var frameworkKombuChecks = []Check{
	{
		Name: "framework.kombu/native-delayed-delivery-topology-declares",
		Rule: "celery/kombu:kombu/transport/native_delayed_delivery.py declare_native_delayed_delivery_exchanges_and_queues (queue_type classic): 28 durable topic exchanges and queues celery_delayed_{27..0} with x-overflow reject-publish, x-message-ttl 2^level*1000 (int64 from level 22), x-dead-letter-exchange the next level down, e2e bindings level→level-1 and celery_delayed_0→celery_delayed_delivery; a redeclare is idempotent",
		Run: func(e *Env) error {
			ch := e.Channel()
			// kombu's prefix option keeps a broker's real celery_delayed_* objects out of reach of
			// the check's cleanup; everything else is as kombu declares it.
			t := celeryTopology{prefix: e.Name("p"), queueType: "classic"}
			e.declareCeleryDelayed(ch, t, 1000)
			// Every worker runs the declaration at start-up: the second one must find everything equivalent.
			e.declareCeleryDelayed(ch, t, 1000)
			for l := range celeryLevels {
				if !e.ExchangeExists(t.level(l)) {
					return fmt.Errorf("exchange %s missing after the declaration", t.level(l))
				}
				if _, ok := e.Inspect(t.level(l)); !ok {
					return fmt.Errorf("queue %s missing after the declaration", t.level(l))
				}
			}
			if !e.ExchangeExists(t.delivery()) {
				return fmt.Errorf("exchange %s missing after the declaration", t.delivery())
			}
			// A message for a day from now (countdown 86400 s) waits in the levels it has a 1 bit for.
			pub := e.Publisher()
			e.PublishConfirmed(pub, t.level(celeryLevels-1), celeryRoutingKey(86400, "celery"), Text("eta"))
			// 86400 = 0b10101000110000000: its highest bit is level 16, so the message sits in celery_delayed_16.
			e.Eventually("the message parked in celery_delayed_16", func() bool { return e.Ready(t.level(16)) == 1 })
			for l := range celeryLevels {
				if l != 16 {
					if n := e.Ready(t.level(l)); n != 0 {
						return fmt.Errorf("queue %s holds %d messages, want 0 (only celery_delayed_16 should)", t.level(l), n)
					}
				}
			}
			return nil
		},
	},
	{
		Name: "framework.kombu/native-delayed-delivery-routes-through-levels",
		Rule: "celery/kombu:kombu/transport/native_delayed_delivery.py (prefix, calculate_routing_key, bind_queue_to_native_delayed_delivery_exchange) and celery/celery:celery/app/base.py (send_task publishes to celery_delayed_27): TTL expiry dead-letters level by level, e2e bindings skip the 0 bits, celery_delayed_delivery forwards by '#.<key>' to the task exchange; reduced copy with a 20 ms TTL unit instead of 1000 ms",
		Run:  func(e *Env) error { return celeryDelayedRoute(e, "classic") },
	},
	{
		Name: "framework.kombu/native-delayed-delivery-quorum-routes-through-levels",
		Rule: "celery/kombu:kombu/transport/native_delayed_delivery.py with queue_type quorum (Celery's default broker_native_delayed_delivery_queue_type): the level queues are quorum queues with x-dead-letter-strategy at-least-once next to x-overflow reject-publish (RabbitMQ docs/quorum-queues.md); reduced copy with a 20 ms TTL unit",
		Run:  func(e *Env) error { return celeryDelayedRoute(e, "quorum") },
	},
	{
		Name: "framework.nameko/rpc-request-and-reply",
		Rule: "nameko/nameko:nameko/rpc.py (durable topic exchange nameko-rpc, durable queue rpc-<service> bound with '<service>.*', reply queue rpc.reply-<service>-<uuid> with x-expires 300000 bound by the uuid, request with reply_to and correlation_id) and nameko/amqp/publish.py (use_confirms, mandatory for RPC)",
		Run: func(e *Env) error {
			// Nameko's rpc_exchange setting (default "nameko-rpc") names the exchange; a unique
			// name keeps a broker's real nameko-rpc out of reach of the check's cleanup.
			rpcX := strings.ReplaceAll(e.Name("nameko-rpc"), ".", "_")
			ch := e.Channel()
			e.Cleanup(func() { _ = e.adminChan().ExchangeDelete(rpcX, false, false) })
			e.Must(ch.ExchangeDeclare(rpcX, "topic", true, false, false, false, nil), "exchange.declare "+rpcX)
			service := strings.ReplaceAll(e.Name("svc"), ".", "_")
			rq := "rpc-" + service
			e.frameworkTrack([]string{rq}, nil)
			_, err := ch.QueueDeclare(rq, true, false, false, false, nil)
			e.Must(err, "queue.declare "+rq)
			e.Bind(ch, rq, service+".*", rpcX, nil)

			caller := strings.ReplaceAll(e.Name("caller"), ".", "_")
			uuid := strings.TrimPrefix(e.Name("u"), "conformance.")
			reply := "rpc.reply-" + caller + "-" + uuid
			e.frameworkTrack([]string{reply}, nil)
			_, err = ch.QueueDeclare(reply, true, false, false, false, amqp.Table{"x-expires": namekoReplyTTL})
			e.Must(err, "queue.declare "+reply)
			e.Bind(ch, reply, uuid, rpcX, nil)

			reqs, err := ch.Consume(rq, "", false, false, false, false, nil)
			e.Must(err, "basic.consume "+rq)
			replies, err := ch.Consume(reply, "", false, false, false, false, nil)
			e.Must(err, "basic.consume "+reply)

			pub := e.Publisher()
			returns := pub.NotifyReturn(make(chan amqp.Return, 1))
			dc, err := pub.PublishWithDeferredConfirmWithContext(e.Context(), rpcX, service+".echo", true, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent,
				ReplyTo: uuid, CorrelationId: "c1", Body: []byte(`{"args":["hi"],"kwargs":{}}`),
			})
			e.Must(err, "basic.publish of the request")
			ack, err := dc.WaitContext(e.Context())
			e.Must(err, "confirm of the request")
			if !ack {
				return fmt.Errorf("request nacked, want basic.ack")
			}
			req := e.Recv(reqs, "the RPC request")
			if req.ReplyTo != uuid || req.CorrelationId != "c1" || req.RoutingKey != service+".echo" {
				return fmt.Errorf("request reply_to %q correlation_id %q key %q, want %q c1 %q", req.ReplyTo, req.CorrelationId, req.RoutingKey, uuid, service+".echo")
			}
			// The service replies through the same exchange with the reply_to as routing key.
			e.Must(pub.PublishWithContext(e.Context(), rpcX, req.ReplyTo, true, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent,
				CorrelationId: req.CorrelationId, Body: []byte(`{"result":"hi","error":null}`),
			}), "basic.publish of the reply")
			e.Must(req.Ack(false), "basic.ack of the request")
			rep := e.Recv(replies, "the RPC reply")
			if rep.CorrelationId != "c1" || string(rep.Body) != `{"result":"hi","error":null}` {
				return fmt.Errorf("reply correlation_id %q body %s", rep.CorrelationId, rep.Body)
			}
			e.Must(rep.Ack(false), "basic.ack of the reply")

			// A call to a service with no queue comes back as basic.return (nameko's UnknownService).
			e.Must(pub.PublishWithContext(e.Context(), rpcX, service+"_missing.echo", true, false, amqp.Publishing{ReplyTo: uuid, CorrelationId: "c2"}),
				"basic.publish to an unknown service")
			select {
			case r := <-returns:
				if r.ReplyCode != 312 || r.RoutingKey != service+"_missing.echo" || r.CorrelationId != "c2" {
					return fmt.Errorf("basic.return %d %q key %q correlation_id %q, want 312 NO_ROUTE", r.ReplyCode, r.ReplyText, r.RoutingKey, r.CorrelationId)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no basic.return for a mandatory request to an unknown service")
			}
			return nil
		},
	},
	{
		Name: "framework.nameko/events-to-service-pool-handlers",
		Rule: "nameko/nameko:nameko/events.py (durable auto-delete topic exchange <service>.events, SERVICE_POOL handler queues evt-<service>-<event_type>--<handler service>.<method> bound by event_type) and nameko/amqp/publish.py (persistent, confirmed)",
		Run: func(e *Env) error {
			ch := e.Channel()
			source := strings.ReplaceAll(e.Name("src"), ".", "_")
			x := source + ".events"
			e.frameworkTrack(nil, []string{x})
			e.Must(ch.ExchangeDeclare(x, "topic", true, true, false, false, nil), "exchange.declare "+x)
			var qs []string
			for _, h := range []string{"billing.on_paid", "mail.on_paid"} {
				q := "evt-" + source + "-paid--" + h
				e.frameworkTrack([]string{q}, nil)
				_, err := ch.QueueDeclare(q, true, false, false, false, nil)
				e.Must(err, "queue.declare "+q)
				e.Bind(ch, q, "paid", x, nil)
				qs = append(qs, q)
			}
			pub := e.Publisher()
			e.PublishConfirmed(pub, x, "refunded", amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(`"r"`)})
			e.PublishConfirmed(pub, x, "paid", amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(`"p"`)})
			for _, q := range qs {
				if got := e.Drain(q); fmt.Sprint(got) != `["p"]` {
					return fmt.Errorf("handler queue %s holds %q, want only the paid event", q, got)
				}
			}
			return nil
		},
	},
}

func init() { Checks = append(Checks, frameworkKombuChecks...) }
