package conformance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// This file reproduces the RabbitMQ topology that MassTransit and NServiceBus (RabbitMQ transport,
// conventional routing topology and delayed delivery) declare, and checks that messages flow through it.
// Names carry the check's unique prefix so runs never collide; the shapes (types, arguments, bindings,
// properties) are the frameworks' own.

func init() { Checks = append(Checks, masstransitChecks...) }

// fwName returns a name unique to this run, ending in suffix, that is deleted after the check as a queue
// and an exchange (queue true) or as an exchange. Framework names such as "<endpoint>_error" are built from it.
func (e *Env) fwName(suffix string, queue bool) string {
	n := e.Name("fw") + suffix
	if queue {
		e.frameworkTrack([]string{n}, nil)
	}
	e.frameworkTrack(nil, []string{n}) // endpoints are an exchange and a queue of one name
	return n
}

// fwExchange declares a durable exchange as both frameworks do (MassTransit ExchangeDeclare durable,
// not auto-delete; NServiceBus the same).
func (e *Env) fwExchange(ch *Chan, name, kind string, args amqp.Table) {
	e.Must(ch.ExchangeDeclare(name, kind, true, false, false, false, args), fmt.Sprintf("exchange.declare %q type %s durable", name, kind))
}

// fwQueue declares a durable queue with args.
func (e *Env) fwQueue(ch *Chan, name string, args amqp.Table) {
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	e.Must(err, fmt.Sprintf("queue.declare %q durable %v", name, args))
}

// e2e binds exchange dst to exchange src with key (exchange.bind, a RabbitMQ extension).
func (e *Env) e2e(ch *Chan, dst, key, src string) {
	e.Must(ch.ExchangeBind(dst, key, src, false, nil), fmt.Sprintf("exchange.bind destination %q source %q key %q", dst, src, key))
}

// mtEndpoint declares a MassTransit receive endpoint: a fanout exchange and a queue of the same name, the
// queue bound to the exchange (RabbitMqReceiveEndpointBuilder / ConfigureTopology: "the queue is bound
// to an exchange with the same name").
func (e *Env) mtEndpoint(ch *Chan, name string) {
	e.fwExchange(ch, name, "fanout", nil)
	e.fwQueue(ch, name, nil)
	e.Bind(ch, name, "", name, nil)
}

// mtMessage is a message as MassTransit publishes it: persistent, JSON envelope content type, a message id.
func mtMessage(body string) amqp.Publishing {
	return amqp.Publishing{
		ContentType:  "application/vnd.masstransit+json",
		DeliveryMode: amqp.Persistent,
		MessageId:    fmt.Sprintf("%d", time.Now().UnixNano()),
		Headers:      amqp.Table{"MT-Activity-Id": "00-conformance-01"},
		Body:         []byte(body),
	}
}

// consumeOne starts an auto-ack consumer on q and returns its delivery channel.
func (e *Env) consumeOne(ch *Chan, q string) <-chan amqp.Delivery {
	d, err := ch.Consume(q, "", true, false, false, false, nil)
	e.Must(err, "basic.consume "+q)
	return d
}

// wantEmpty returns an error if q holds any ready message.
func (e *Env) wantEmpty(q string) error {
	if n := e.Ready(q); n != 0 {
		return fmt.Errorf("queue %q holds %d messages, want 0", q, n)
	}
	return nil
}

// nsbDelayLevels is how many delay levels the NServiceBus check builds: NServiceBus builds 28
// (MaxLevel 27, delays up to 2^28-1 s); three are enough to route through a skipped level and two queues.
const nsbDelayLevels = 3

// nsbLevelTTL is the TTL of delay level l in the reduced topology: 2^l × 20 ms, where NServiceBus uses
// 2^l × 1 s.
func nsbLevelTTL(l int) int32 { return int32(20 << l) }

// nsbKey builds the NServiceBus delay routing key for delay (in units of the level-0 TTL) and destination:
// one bit per level, most significant first, then the destination address ("1.0.1.Sales").
func nsbKey(delay int, dest string) string {
	var b strings.Builder
	for l := nsbDelayLevels - 1; l >= 0; l-- {
		fmt.Fprintf(&b, "%d.", (delay>>l)&1)
	}
	return b.String() + dest
}

// nsbLevelPattern is the binding key that matches bit value bit at level l: "*." once per higher level,
// then the bit, then "#".
func nsbLevelPattern(l, bit int) string {
	return strings.Repeat("*.", nsbDelayLevels-1-l) + fmt.Sprint(bit) + ".#"
}

// errInvalidExchangeType reports whether err is the broker refusing an unknown exchange type: RabbitMQ
// 3.10 closes the connection with 503 COMMAND_INVALID "unknown exchange type 'x-delayed-message'" (other versions say
// "invalid exchange type"); other brokers may answer 406.
func errInvalidExchangeType(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && (ae.Code == amqp.CommandInvalid || ae.Code == amqp.PreconditionFailed) &&
		(strings.Contains(ae.Reason, "invalid exchange type") || strings.Contains(ae.Reason, "unknown exchange type"))
}

var masstransitChecks = []Check{
	{
		Name: "framework.masstransit/publish-through-type-exchange-to-endpoint",
		Rule: "MassTransit RabbitMQ topology (MassTransit.RabbitMqTransport Topology/RabbitMqMessagePublishTopology.cs, " +
			"ReceiveEndpointBuilder): a durable fanout exchange per message type (\"Namespace:Type\"), bound e2e to the " +
			"endpoint's fanout exchange, which is bound to the endpoint queue; masstransit-project.com/advanced/topology/rabbitmq.html",
		Run: func(e *Env) error {
			ch := e.Channel()
			typeX := e.fwName(".Contracts:OrderSubmitted", false)
			endpoint := e.fwName(".order-service", true)
			other := e.fwName(".audit-service", true)
			e.mtEndpoint(ch, endpoint)
			e.mtEndpoint(ch, other)
			e.fwExchange(ch, typeX, "fanout", nil)
			e.fwExchange(ch, endpoint, "fanout", nil) // MassTransit redeclares on every start: must be equivalent
			e.e2e(ch, endpoint, "", typeX)
			e.e2e(ch, other, "", typeX)
			e.e2e(ch, endpoint, "", typeX) // idempotent rebind, as on a restart

			pub := e.Publisher()
			m := mtMessage(`{"message":{"orderId":1}}`)
			e.PublishConfirmed(pub, typeX, "", m)
			for _, q := range []string{endpoint, other} {
				d, ok, err := ch.Get(q, true)
				e.Must(err, "basic.get "+q)
				if !ok {
					return fmt.Errorf("queue %s empty after the confirmed publish, want the message", q)
				}
				if string(d.Body) != string(m.Body) || d.ContentType != m.ContentType || d.DeliveryMode != amqp.Persistent || d.MessageId != m.MessageId {
					return fmt.Errorf("at %s: body %q content-type %q mode %d id %q; want %q %q 2 %q", q, d.Body, d.ContentType, d.DeliveryMode, d.MessageId, m.Body, m.ContentType, m.MessageId)
				}
				if d.Exchange != typeX {
					return fmt.Errorf("at %s: delivered with exchange %q, want the publish exchange %q", q, d.Exchange, typeX)
				}
				if d.Headers["MT-Activity-Id"] != "00-conformance-01" {
					return fmt.Errorf("at %s: headers %v, want MT-Activity-Id kept", q, d.Headers)
				}
			}
			// Unbinding the type exchange from one endpoint (a removed consumer) stops its copies only.
			e.Must(ch.ExchangeUnbind(other, "", typeX, false, nil), "exchange.unbind")
			e.PublishConfirmed(pub, typeX, "", mtMessage("second"))
			if e.Ready(endpoint) != 1 {
				return fmt.Errorf("endpoint queue holds %d messages after the second publish, want 1", e.Ready(endpoint))
			}
			return e.wantEmpty(other)
		},
	},
	{
		Name: "framework.masstransit/hierarchical-type-exchanges",
		Rule: "MassTransit publish topology (RabbitMqMessagePublishTopology.cs, ImplementedMessageTypes): the exchange of a " +
			"concrete type is bound e2e to the exchange of each interface/base type it implements, so a consumer of the " +
			"base type gets the derived message once; masstransit-project.com/advanced/topology/rabbitmq.html",
		Run: func(e *Env) error {
			ch := e.Channel()
			concrete := e.fwName(".Contracts:OrderSubmitted", false)
			iface := e.fwName(".Contracts:IOrderEvent", false)
			base := e.fwName(".Contracts:IEvent", false)
			onIface := e.fwName(".order-history", true)
			onBoth := e.fwName(".order-dashboard", true)
			for _, x := range []string{concrete, iface, base} {
				e.fwExchange(ch, x, "fanout", nil)
			}
			e.e2e(ch, iface, "", concrete)
			e.e2e(ch, base, "", concrete)
			e.e2e(ch, base, "", iface)
			e.mtEndpoint(ch, onIface)
			e.mtEndpoint(ch, onBoth)
			e.e2e(ch, onIface, "", iface)
			// A consumer of both the concrete type and a base type: the endpoint exchange is reached along
			// several paths, yet a fanout exchange delivers one copy per queue.
			e.e2e(ch, onBoth, "", concrete)
			e.e2e(ch, onBoth, "", base)

			pub := e.Publisher()
			e.PublishConfirmed(pub, concrete, "", mtMessage("derived"))
			e.PublishConfirmed(pub, base, "", mtMessage("base-only"))
			e.Eventually("both messages in the dashboard queue", func() bool { return e.Ready(onBoth) == 2 })
			if got := e.Drain(onBoth); len(got) != 2 || got[0] != "derived" || got[1] != "base-only" {
				return fmt.Errorf("queue reached by three paths holds %q, want [derived base-only] (one copy each)", got)
			}
			if got := e.Drain(onIface); len(got) != 1 || got[0] != "derived" {
				return fmt.Errorf("interface consumer's queue holds %q, want [derived] only", got)
			}
			return nil
		},
	},
	{
		Name: "framework.masstransit/error-and-skipped-queues",
		Rule: "MassTransit receive endpoint (RabbitMqReceiveEndpointBuilder, ErrorTransportFilter / DeadLetterTransportFilter): " +
			"faulted messages go to fanout exchange+queue \"<endpoint>_error\" with MT-Fault-* headers, unconsumed ones to " +
			"\"<endpoint>_skipped\"; the original is acked; masstransit-project.com/advanced/topology/rabbitmq.html",
		Run: func(e *Env) error {
			ch := e.Channel()
			endpoint := e.fwName(".order-service", true)
			errQ := endpoint + "_error"
			skipQ := endpoint + "_skipped"
			e.frameworkTrack([]string{errQ, skipQ}, []string{errQ, skipQ})
			e.mtEndpoint(ch, endpoint)
			e.mtEndpoint(ch, errQ)
			e.mtEndpoint(ch, skipQ)

			pub := e.Publisher()
			e.PublishConfirmed(pub, endpoint, "", mtMessage("faulty"))
			e.PublishConfirmed(pub, endpoint, "", mtMessage("unknown-type"))
			in, err := ch.Consume(endpoint, "", false, false, false, false, nil)
			e.Must(err, "basic.consume "+endpoint)
			ms := e.RecvN(in, 2, "messages at the endpoint")
			// The consumer fails on the first message: MassTransit republishes it, with fault headers, to the
			// error exchange on a confirm channel, then acks the original.
			fault := amqp.Publishing{
				ContentType: ms[0].ContentType, DeliveryMode: amqp.Persistent, MessageId: ms[0].MessageId, Body: ms[0].Body,
				Headers: amqp.Table{
					"MT-Reason": "fault", "MT-Fault-ExceptionType": "System.InvalidOperationException",
					"MT-Fault-Message": "boom", "MT-Fault-Timestamp": time.Now().UTC().Format(time.RFC3339), "MT-Fault-RetryCount": int32(0),
				},
			}
			e.PublishConfirmed(pub, errQ, "", fault)
			e.Must(ms[0].Ack(false), "basic.ack of the faulted message")
			skipped := amqp.Publishing{ContentType: ms[1].ContentType, DeliveryMode: amqp.Persistent, MessageId: ms[1].MessageId, Body: ms[1].Body,
				Headers: amqp.Table{"MT-Reason": "skip"}}
			e.PublishConfirmed(pub, skipQ, "", skipped)
			e.Must(ms[1].Ack(false), "basic.ack of the skipped message")
			e.Sync(ch)

			d := e.Recv(e.consumeOne(ch, errQ), "the faulted message at "+errQ)
			if string(d.Body) != "faulty" || d.Headers["MT-Fault-Message"] != "boom" || d.Headers["MT-Fault-RetryCount"] != int32(0) || d.MessageId != ms[0].MessageId {
				return fmt.Errorf("error queue got body %q headers %v id %q; want faulty with MT-Fault-* headers and the original id", d.Body, d.Headers, d.MessageId)
			}
			d = e.Recv(e.consumeOne(ch, skipQ), "the skipped message at "+skipQ)
			if string(d.Body) != "unknown-type" || d.Headers["MT-Reason"] != "skip" {
				return fmt.Errorf("skipped queue got body %q headers %v; want unknown-type with MT-Reason skip", d.Body, d.Headers)
			}
			e.Eventually("the endpoint queue empty after the acks", func() bool {
				info, _ := e.Inspect(endpoint)
				return info.Messages == 0
			})
			return nil
		},
	},
	{
		Name: "framework.masstransit/publisher-confirms-batch",
		Rule: "MassTransit host option PublisherConfirmation (default true; RabbitMqHostSettings, BatchPublisher): publishes " +
			"on a confirm.select channel and completes each Publish on its basic.ack; RabbitMQ docs/confirms.md",
		Run: func(e *Env) error {
			ch := e.Channel()
			typeX := e.fwName(".Contracts:OrderSubmitted", false)
			endpoint := e.fwName(".order-service", true)
			e.mtEndpoint(ch, endpoint)
			e.fwExchange(ch, typeX, "fanout", nil)
			e.e2e(ch, endpoint, "", typeX)
			pub := e.Publisher()
			const n = 50
			var pending []*amqp.DeferredConfirmation
			for i := range n {
				dc, err := pub.PublishWithDeferredConfirmWithContext(e.Context(), typeX, "", false, false, mtMessage(fmt.Sprint(i)))
				e.Must(err, "basic.publish")
				pending = append(pending, dc)
			}
			for i, dc := range pending {
				ack, err := dc.WaitContext(e.Context())
				e.Must(err, fmt.Sprintf("confirm of publish %d", i+1))
				if !ack {
					return fmt.Errorf("publish %d: basic.nack, want basic.ack", i+1)
				}
				if dc.DeliveryTag != uint64(i+1) {
					return fmt.Errorf("publish %d confirmed with delivery tag %d", i+1, dc.DeliveryTag)
				}
			}
			// Every confirmed message is in the queue behind the e2e binding.
			if got := e.Ready(endpoint); got != n {
				return fmt.Errorf("endpoint queue holds %d messages after %d confirms, want %d", got, n, n)
			}
			// A publish that routes nowhere (no consumer bound yet) is still acked, not nacked.
			lonely := e.fwName(".Contracts:Unbound", false)
			e.fwExchange(ch, lonely, "fanout", nil)
			e.PublishConfirmed(pub, lonely, "", mtMessage("nowhere"))
			return nil
		},
	},
	{
		Name: "framework.masstransit/delayed-redelivery-x-delayed-message",
		Rule: "MassTransit UseDelayedRedelivery / delayed scheduler (DelayedExchangeMessageScheduler, " +
			"RabbitMqDelayedMessage): exchange \"<endpoint>_delay\" of type x-delayed-message with x-delayed-type fanout, bound " +
			"e2e to the endpoint exchange; messages carry an x-delay header (ms); needs rabbitmq-delayed-message-exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			endpoint := e.fwName(".order-service", true)
			e.mtEndpoint(ch, endpoint)
			delayX := endpoint + "_delay"
			e.frameworkTrack(nil, []string{delayX})
			// On a connection of its own: RabbitMQ refuses an unknown type with a connection exception.
			probe := e.Channel()
			err := probe.ExchangeDeclare(delayX, "x-delayed-message", true, false, false, false, amqp.Table{"x-delayed-type": "fanout"})
			if errInvalidExchangeType(err) {
				e.Skipf("the broker has no x-delayed-message exchange type (%s)", describe(err))
			}
			e.Must(err, "exchange.declare x-delayed-message")
			e.e2e(probe, endpoint, "", delayX)
			pub := e.Publisher()
			m := mtMessage("redeliver")
			m.Headers["x-delay"] = int32(150)
			m.Headers["MT-Redelivery-Count"] = int32(1)
			start := time.Now()
			e.PublishConfirmed(pub, delayX, "", m)
			d := e.Recv(e.consumeOne(ch, endpoint), "the delayed message")
			if el := time.Since(start); el < 140*time.Millisecond {
				return fmt.Errorf("delayed message arrived after %v, want at least its x-delay of 150 ms", el)
			}
			if string(d.Body) != "redeliver" || d.Headers["MT-Redelivery-Count"] != int32(1) {
				return fmt.Errorf("got body %q headers %v", d.Body, d.Headers)
			}
			return nil
		},
	},
	{
		Name: "framework.nservicebus/conventional-routing-topology",
		Rule: "NServiceBus.RabbitMQ ConventionalRoutingTopology.cs: a durable fanout exchange per message type " +
			"(\"Namespace:Type\") and per endpoint; the endpoint queue (quorum) is bound to its exchange; Subscribe binds type " +
			"exchange → endpoint exchange (e2e) and each type to its base types; docs.particular.net/transports/rabbitmq/routing-topology",
		Run: func(e *Env) error {
			ch := e.Channel()
			event := e.fwName(".Messages:OrderPlaced", false)
			baseEvent := e.fwName(".Messages:IOrderEvent", false)
			sales := e.fwName(".Sales", true)
			billing := e.fwName(".Billing", true)
			qargs := e.nsbQueueArgs()
			for _, ep := range []string{sales, billing} {
				e.fwExchange(ch, ep, "fanout", nil)
				e.fwQueue(ch, ep, qargs)
				e.Bind(ch, ep, "", ep, nil)
			}
			e.fwExchange(ch, event, "fanout", nil)
			e.fwExchange(ch, baseEvent, "fanout", nil)
			e.e2e(ch, baseEvent, "", event) // SetupTypeSubscriptions: type → base type
			e.e2e(ch, sales, "", event)     // Sales subscribes to OrderPlaced
			e.e2e(ch, billing, "", baseEvent)

			pub := e.Publisher()
			publish := amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: "nsb-1", Body: []byte("placed"),
				Headers: amqp.Table{"NServiceBus.EnclosedMessageTypes": "Messages.OrderPlaced;Messages.IOrderEvent", "NServiceBus.MessageIntent": "Publish"}}
			e.PublishConfirmed(pub, event, "", publish)
			// Send goes straight to the destination endpoint's exchange.
			send := amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: "nsb-2", Body: []byte("bill"),
				Headers: amqp.Table{"NServiceBus.MessageIntent": "Send"}}
			e.PublishConfirmed(pub, billing, "", send)

			if got := e.Drain(sales); len(got) != 1 || got[0] != "placed" {
				return fmt.Errorf("the Sales queue holds %q, want [placed]", got)
			}
			e.Eventually("two messages in Billing", func() bool { return e.Ready(billing) == 2 })
			d := e.Recv(e.consumeOne(ch, billing), "the event at Billing")
			if string(d.Body) != "placed" || d.Headers["NServiceBus.MessageIntent"] != "Publish" || d.MessageId != "nsb-1" {
				return fmt.Errorf("the Billing queue got %q headers %v id %q first, want the published event", d.Body, d.Headers, d.MessageId)
			}
			return nil
		},
	},
	{
		Name: "framework.nservicebus/delay-levels",
		Rule: "NServiceBus.RabbitMQ DelayInfrastructure.cs (docs.particular.net/transports/rabbitmq/delayed-delivery): topic " +
			"exchanges and quorum queues \"nsb.v2.delay-level-NN\", queue TTL 2^level s, x-dead-letter-exchange the next lower " +
			"level (level 0: nsb.v2.delay-delivery), x-overflow reject-publish, x-dead-letter-strategy at-least-once; level " +
			"exchanges bound e2e with \"*.…0.#\", queues with \"*.…1.#\". Reduced here to 3 levels of 20/40/80 ms",
		Timeout: 10 * time.Second,
		Run: func(e *Env) error {
			ch := e.Channel()
			prefix := e.Name("fw") + ".nsb.v2."
			level := func(l int) string { return fmt.Sprintf("%sdelay-level-%02d", prefix, l) }
			delivery := prefix + "delay-delivery"
			dest := e.fwName(".Sales", true)
			for l := range nsbDelayLevels {
				e.frameworkTrack([]string{level(l)}, []string{level(l)})
			}
			e.frameworkTrack(nil, []string{delivery})

			base := e.nsbQueueArgs()
			for l := nsbDelayLevels - 1; l >= 0; l-- {
				e.fwExchange(ch, level(l), "topic", nil)
				next := delivery
				if l > 0 {
					next = level(l - 1)
				}
				args := amqp.Table{"x-message-ttl": nsbLevelTTL(l), "x-dead-letter-exchange": next}
				for k, v := range base {
					args[k] = v
				}
				if args["x-queue-type"] == "quorum" {
					args["x-dead-letter-strategy"] = "at-least-once"
				}
				e.fwQueue(ch, level(l), args)
				e.Bind(ch, level(l), nsbLevelPattern(l, 1), level(l), nil)
			}
			e.fwExchange(ch, delivery, "topic", nil)
			for l := nsbDelayLevels - 1; l >= 0; l-- {
				next := delivery
				if l > 0 {
					next = level(l - 1)
				}
				e.e2e(ch, next, nsbLevelPattern(l, 0), level(l))
			}
			// The destination endpoint: fanout exchange + queue, bound to the delivery exchange by address.
			e.fwExchange(ch, dest, "fanout", nil)
			e.fwQueue(ch, dest, base)
			e.Bind(ch, dest, "", dest, nil)
			e.e2e(ch, dest, "#."+dest, delivery)

			in := e.consumeOne(ch, dest)
			pub := e.Publisher()
			top := level(nsbDelayLevels - 1)
			// Delay 5 = binary 101: 80 ms at level 2, level 1 skipped through the e2e binding, 20 ms at level 0.
			start := time.Now()
			e.PublishConfirmed(pub, top, nsbKey(5, dest), amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("delay-5"),
				Headers: amqp.Table{"NServiceBus.Transport.RabbitMQ.DelayInSeconds": int32(5)}})
			d := e.Recv(in, "the message delayed through levels 2 and 0")
			el := time.Since(start)
			if string(d.Body) != "delay-5" || d.RoutingKey != nsbKey(5, dest) {
				return fmt.Errorf("got %q with key %q, want delay-5 with key %q", d.Body, d.RoutingKey, nsbKey(5, dest))
			}
			if el < 100*time.Millisecond {
				return fmt.Errorf("arrived after %v, want at least 80+20 ms", el)
			}
			deaths, _ := d.Headers["x-death"].([]any)
			var queues []string
			for _, x := range deaths {
				if t, ok := x.(amqp.Table); ok {
					queues = append(queues, fmt.Sprint(t["queue"], "/", t["reason"]))
				}
			}
			want := []string{level(0) + "/expired", level(2) + "/expired"}
			if len(queues) != 2 || queues[0] != want[0] || queues[1] != want[1] {
				return fmt.Errorf("x-death queues %q, want %q (most recent first)", queues, want)
			}
			// Delay 0 passes every level through the e2e bindings and arrives at once.
			e.PublishConfirmed(pub, top, nsbKey(0, dest), Text("now"))
			if d := e.Recv(in, "the undelayed message"); string(d.Body) != "now" || d.Headers["x-death"] != nil {
				return fmt.Errorf("undelayed message %q headers %v, want \"now\" without x-death", d.Body, d.Headers)
			}
			for l := range nsbDelayLevels {
				if err := e.wantEmpty(level(l)); err != nil {
					return err
				}
			}
			return nil
		},
	},
}

// nsbQueueArgs are the arguments NServiceBus gives its queues: x-queue-type quorum (QueueType.Quorum, the
// default since transport v7; quorum queues are durable) and, as its delay queues need for at-least-once
// dead-lettering, x-overflow reject-publish. Both warren and RabbitMQ 3.10.8 accept them.
func (e *Env) nsbQueueArgs() amqp.Table {
	return amqp.Table{"x-queue-type": "quorum", "x-overflow": "reject-publish"}
}
