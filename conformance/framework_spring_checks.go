package conformance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func init() { Checks = append(Checks, springChecks...) }

// symfonyDelays is the exchange Symfony Messenger publishes delayed messages to.
const symfonyDelays = "delays"

// symfonyDelayQueue declares what Symfony Messenger's createDelayQueue does: the durable direct exchange
// "delays" (deleted after the check only if this check created it), and the durable queue name with
// x-message-ttl delay (ms), x-expires delay+10000 and dead-letter exchange and key dlx and key, bound to
// "delays" by its own name. It returns the queue's arguments.
func (e *Env) symfonyDelayQueue(ch *Chan, name string, delay int, dlx, key string) amqp.Table {
	e.frameworkTrack([]string{name}, nil)
	if !e.ExchangeExists(symfonyDelays) {
		e.frameworkTrack(nil, []string{symfonyDelays})
	}
	e.Must(ch.ExchangeDeclare(symfonyDelays, "direct", true, false, false, false, nil), "exchange.declare delays direct durable")
	args := amqp.Table{
		"x-message-ttl":             int32(delay),
		"x-expires":                 int32(delay + 10000),
		"x-dead-letter-exchange":    dlx,
		"x-dead-letter-routing-key": key,
	}
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	e.Must(err, "queue.declare "+name)
	e.Bind(ch, name, name, symfonyDelays, nil)
	return args
}

// is404 reports whether err is a server's NOT_FOUND channel exception.
func is404(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// springChecks reproduce the topology and traffic of Spring AMQP (direct reply-to RPC, publisher returns),
// Symfony Messenger's AMQP transport (delay and retry queues) and Laravel's vyuldashev/laravel-queue-rabbitmq
// (polling, existence probes, delay queues, reject).
var springChecks = []Check{
	{
		Name:    "framework.spring/direct-reply-to-rpc",
		Rule:    "spring-projects/spring-amqp: RabbitTemplate.evaluateFastReplyTo probes amq.rabbitmq.reply-to with a passive queue.declare on its own channel; doSendAndReceiveWithDirect consumes it no-ack and publishes the request (mandatory) with reply-to and correlation-id; the listener replies through the default exchange to the rewritten reply-to (src/reference/antora/modules/ROOT/pages/amqp/request-reply.adoc)",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			conn := e.Dial()
			probe := conn.Open()
			_, err := probe.QueueDeclarePassive(replyTo, false, false, false, false, nil)
			e.Must(err, "passive queue.declare amq.rabbitmq.reply-to (Spring's direct reply-to probe)")
			e.Must(probe.Close(), "channel.close of the probe channel")

			// The listener container side: a durable request queue bound to a direct exchange.
			server := e.Channel()
			x := e.Exchange()
			e.Must(server.ExchangeDeclare(x, "direct", true, false, false, false, nil), "exchange.declare "+x)
			q := e.Queue()
			_, err = server.QueueDeclare(q, true, false, false, false, nil)
			e.Must(err, "queue.declare "+q)
			e.Bind(server, q, "rpc", x, nil)
			requests, err := server.Consume(q, "", false, false, false, false, nil)
			e.Must(err, "basic.consume of the request queue")

			client := conn.Open()
			returns := client.NotifyReturn(make(chan amqp.Return, 1))
			replies, err := client.Consume(replyTo, "", true, false, false, false, nil)
			e.Must(err, "basic.consume amq.rabbitmq.reply-to no-ack")
			e.Must(client.PublishWithContext(e.Context(), x, "rpc", true, false, amqp.Publishing{
				ContentType: "text/plain", DeliveryMode: amqp.Persistent, Priority: 0,
				ReplyTo: replyTo, CorrelationId: "1", Body: []byte("ping"),
			}), "basic.publish of the request (mandatory)")

			req := e.Recv(requests, "the request")
			if !strings.HasPrefix(req.ReplyTo, replyTo+".") || req.CorrelationId != "1" || string(req.Body) != "ping" {
				return fmt.Errorf("request: reply-to %q correlation %q body %q; want %s.<key>, 1, ping", req.ReplyTo, req.CorrelationId, req.Body, replyTo)
			}
			e.Must(server.PublishWithContext(e.Context(), "", req.ReplyTo, false, false, amqp.Publishing{
				ContentType: "text/plain", DeliveryMode: amqp.Persistent, CorrelationId: req.CorrelationId, Body: []byte("pong"),
			}), "basic.publish of the reply through the default exchange")
			e.Must(req.Ack(false), "basic.ack of the request")

			rep := e.Recv(replies, "the reply")
			if string(rep.Body) != "pong" || rep.CorrelationId != "1" || rep.Exchange != "" || rep.RoutingKey != req.ReplyTo {
				return fmt.Errorf("reply: body %q correlation %q exchange %q key %q; want pong, 1, \"\", %q", rep.Body, rep.CorrelationId, rep.Exchange, rep.RoutingKey, req.ReplyTo)
			}
			e.Sync(client)
			select {
			case r := <-returns:
				return fmt.Errorf("the routed request was returned: %d %s", r.ReplyCode, r.ReplyText)
			default:
			}
			return nil
		},
	},
	{
		Name:    "framework.spring/publisher-returns-mandatory",
		Rule:    "spring-projects/spring-amqp: with publisherReturns and publisher confirms (CachingConnectionFactory ConfirmType.CORRELATED), RabbitTemplate publishes mandatory; an unroutable message comes back as basic.return 312 NO_ROUTE before its basic.ack (RabbitMQ docs/confirms.md), a routable one is only acked",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			ch := e.Publisher()
			returns := ch.NotifyReturn(make(chan amqp.Return, 2))
			x := e.Exchange()
			e.Must(ch.ExchangeDeclare(x, "direct", true, false, false, false, nil), "exchange.declare "+x)
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.Must(err, "queue.declare "+q)
			e.Bind(ch, q, "routed", x, nil)

			send := func(key, body string) bool {
				dc, err := ch.PublishWithDeferredConfirmWithContext(e.Context(), x, key, true, false, amqp.Publishing{
					ContentType: "text/plain", DeliveryMode: amqp.Persistent, MessageId: body, Body: []byte(body)})
				e.Must(err, "basic.publish mandatory with key "+key)
				ack, err := dc.WaitContext(e.Context())
				e.Must(err, "waiting for the confirm of "+body)
				return ack
			}
			if !send("nowhere", "lost") {
				return errors.New("unroutable mandatory message: got basic.nack, want basic.ack after the return")
			}
			// amqp091-go dispatches basic.return before the confirm that follows it.
			select {
			case r := <-returns:
				if r.ReplyCode != amqp.NoRoute || r.ReplyText != "NO_ROUTE" || r.Exchange != x || r.RoutingKey != "nowhere" || string(r.Body) != "lost" || r.MessageId != "lost" {
					return fmt.Errorf("basic.return %d %q exchange %q key %q body %q message-id %q; want 312 NO_ROUTE, %q, nowhere, lost, lost",
						r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body, r.MessageId, x)
				}
			case <-time.After(time.Second):
				return errors.New("unroutable mandatory message was acked but never returned")
			}
			if !send("routed", "kept") {
				return errors.New("routable mandatory message: got basic.nack, want basic.ack")
			}
			e.Sync(ch)
			select {
			case r := <-returns:
				return fmt.Errorf("routable message returned: %d %s", r.ReplyCode, r.ReplyText)
			default:
			}
			if got := e.Drain(q); len(got) != 1 || got[0] != "kept" {
				return fmt.Errorf("queue holds %q, want [kept]", got)
			}
			return nil
		},
	},
	{
		Name:    "framework.symfony/delay-queue-dead-letters-to-exchange",
		Rule:    "symfony/symfony: src/Symfony/Component/Messenger/Bridge/Amqp/Transport/Connection.php (publishWithDelay, createDelayQueue, getRoutingKeyForDelay): direct exchange 'delays', durable queue delay_<exchange>_<routingkey>_<delay>_delay with x-message-ttl=delay, x-expires=delay+10000, x-dead-letter-exchange=<exchange>, x-dead-letter-routing-key=<routingkey>, bound to 'delays' by its own name; the expired message reaches the queues bound to the original exchange (RabbitMQ docs/dlx.md)",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			const delay = 50
			ch := e.Channel()
			x := e.Exchange() // Symfony's default exchange type is fanout
			e.Must(ch.ExchangeDeclare(x, "fanout", true, false, false, false, nil), "exchange.declare "+x)
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.Must(err, "queue.declare "+q)
			e.Bind(ch, q, "", x, nil)

			dq := fmt.Sprintf("delay_%s_%s_%d_delay", x, "key", delay)
			args := e.symfonyDelayQueue(ch, dq, delay, x, "key")
			// Symfony redeclares the delay queue before each delayed publish: equivalent arguments are fine.
			_, err = ch.QueueDeclare(dq, true, false, false, false, args)
			e.Must(err, "second queue.declare "+dq+" with the same arguments")

			start := time.Now()
			e.PublishConfirmed(e.Publisher(), symfonyDelays, dq, amqp.Publishing{
				ContentType: "text/plain", DeliveryMode: amqp.Persistent,
				Headers: amqp.Table{"type": "App\\Message\\Ping"}, Body: []byte(`{"n":1}`)})
			got, err := ch.Consume(q, "", false, false, false, false, nil)
			e.Must(err, "basic.consume "+q)
			m := e.Recv(got, "the delayed message on the original exchange's queue")
			if el := time.Since(start); el < delay*time.Millisecond*8/10 {
				return fmt.Errorf("delayed message arrived after %v, want at least about %d ms", el, delay)
			}
			if string(m.Body) != `{"n":1}` || m.Exchange != x || m.RoutingKey != "key" || m.Headers["type"] != "App\\Message\\Ping" {
				return fmt.Errorf("delivery: body %q exchange %q key %q headers %v; want the message from %q with key 'key'", m.Body, m.Exchange, m.RoutingKey, m.Headers, x)
			}
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, dq, "expired", symfonyDelays, []any{dq}); err != nil {
				return err
			}
			e.Must(m.Ack(false), "basic.ack")
			if n := e.Ready(dq); n != 0 {
				return fmt.Errorf("delay queue holds %d messages after the delay, want 0", n)
			}
			return nil
		},
	},
	{
		Name:    "framework.symfony/retry-through-default-exchange",
		Rule:    "symfony/symfony: src/Symfony/Component/Messenger/Bridge/Amqp/Transport/Connection.php (createDelayQueue with isRetryAttempt): the retry queue delay_<exchange>_<queue>_<delay>_retry dead-letters to the default exchange '' with x-dead-letter-routing-key=<queue>, so the retried message reaches only the queue it failed in, not the others bound to the exchange",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			const delay = 40
			ch := e.Channel()
			x := e.Exchange()
			e.Must(ch.ExchangeDeclare(x, "fanout", true, false, false, false, nil), "exchange.declare "+x)
			failed, other := e.Queue(), e.Queue()
			for _, q := range []string{failed, other} {
				_, err := ch.QueueDeclare(q, true, false, false, false, nil)
				e.Must(err, "queue.declare "+q)
				e.Bind(ch, q, "", x, nil)
			}
			rq := fmt.Sprintf("delay_%s_%s_%d_retry", x, failed, delay)
			e.symfonyDelayQueue(ch, rq, delay, "", failed)

			pub := e.Publisher()
			e.PublishConfirmed(pub, x, "", Text("job"))
			// The worker takes the message from its queue, fails, publishes the retry and acks the original.
			d, ok, err := ch.Get(failed, false)
			e.Must(err, "basic.get "+failed)
			if !ok {
				e.Fatalf("basic.get %s: empty, want the message", failed)
			}
			e.PublishConfirmed(pub, symfonyDelays, rq, amqp.Publishing{DeliveryMode: amqp.Persistent,
				Headers: amqp.Table{"retry-count": int32(1)}, Body: d.Body})
			e.Must(d.Ack(false), "basic.ack of the failed delivery")
			if got := e.Drain(other); len(got) != 1 || got[0] != "job" {
				return fmt.Errorf("the other queue holds %q, want only the first delivery [job]", got)
			}

			retries, err := ch.Consume(failed, "", false, false, false, false, nil)
			e.Must(err, "basic.consume "+failed)
			m := e.Recv(retries, "the retried message")
			if string(m.Body) != "job" || m.Exchange != "" || m.RoutingKey != failed || m.Headers["retry-count"] != int32(1) {
				return fmt.Errorf("retry: body %q exchange %q key %q headers %v; want job via \"\" with key %q and retry-count 1", m.Body, m.Exchange, m.RoutingKey, m.Headers, failed)
			}
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, rq, "expired", symfonyDelays, []any{rq}); err != nil {
				return err
			}
			e.Must(m.Ack(false), "basic.ack of the retry")
			if n := e.Ready(other); n != 0 {
				return fmt.Errorf("the retry also reached the other queue (%d messages), want it only in %s", n, failed)
			}
			return nil
		},
	},
	{
		Name:    "framework.laravel/existence-probes-on-throwaway-channels",
		Rule:    "vyuldashev/laravel-queue-rabbitmq: src/Queue/RabbitMQQueue.php (isExchangeExists, isQueueExists): exchange_declare(name, '', passive=true) with an EMPTY type and queue_declare(name, passive=true), each on a fresh channel; existing objects answer declare-ok, missing ones close the channel 404 NOT_FOUND while the connection stays usable",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			conn := e.Dial()
			main := conn.Open()
			x := e.DeclareExchange(main, "direct")
			q := e.DeclareQueue(main)

			probe := func(what string, f func(ch *Chan) error) error {
				ch := conn.Open()
				err := f(ch)
				if err == nil {
					e.Must(ch.Close(), "channel.close after "+what)
				}
				return err
			}
			exchangeProbe := func(name string) error {
				return probe("passive exchange.declare "+name, func(ch *Chan) error {
					return ch.ExchangeDeclarePassive(name, "", false, false, false, false, nil)
				})
			}
			queueProbe := func(name string) error {
				return probe("passive queue.declare "+name, func(ch *Chan) error {
					_, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
					return err
				})
			}
			e.WantOK(exchangeProbe(x), "passive exchange.declare with an empty type of an existing direct exchange")
			e.WantOK(queueProbe(q), "passive queue.declare of an existing queue")
			missingX, missingQ := e.Exchange(), e.Queue()
			if err := exchangeProbe(missingX); !is404(err) {
				return fmt.Errorf("passive exchange.declare with an empty type of a missing exchange: got %s, want 404 NOT_FOUND", describe(err))
			}
			if err := queueProbe(missingQ); !is404(err) {
				return fmt.Errorf("passive queue.declare of a missing queue: got %s, want 404 NOT_FOUND", describe(err))
			}
			e.WantConnAlive(conn, "after the failed probes")
			// Laravel then declares what was missing on its main channel and uses it.
			e.Must(main.ExchangeDeclare(missingX, "direct", true, false, false, false, nil), "exchange.declare "+missingX)
			_, err := main.QueueDeclare(missingQ, true, false, false, false, nil)
			e.Must(err, "queue.declare "+missingQ)
			e.Bind(main, missingQ, missingQ, missingX, nil)
			e.PublishConfirmed(e.Publisher(), missingX, missingQ, Text("job"))
			if got := e.Drain(missingQ); len(got) != 1 || got[0] != "job" {
				return fmt.Errorf("queue holds %q, want [job]", got)
			}
			return nil
		},
	},
	{
		Name:    "framework.laravel/poll-basic-get-reject-requeue",
		Rule:    "vyuldashev/laravel-queue-rabbitmq: src/Queue/RabbitMQQueue.php (pop uses basic_get without no-ack, reject calls basic_reject with requeue): a requeued job is got again with redelivered set, basic.get on an empty queue answers get-empty, a job rejected without requeue is gone",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.Must(err, "queue.declare "+q)
			e.PublishConfirmed(e.Publisher(), "", q, amqp.Publishing{ContentType: "application/json",
				DeliveryMode: amqp.Persistent, CorrelationId: "job-1", Body: []byte(`{"job":"X"}`)})
			get := func(what string) amqp.Delivery {
				d, ok, err := ch.Get(q, false)
				e.Must(err, "basic.get "+what)
				if !ok {
					e.Fatalf("basic.get %s: get-empty, want the job", what)
				}
				return d
			}
			d := get("the job")
			if d.Redelivered || d.CorrelationId != "job-1" || d.ContentType != "application/json" || d.DeliveryMode != amqp.Persistent {
				return fmt.Errorf("first get: redelivered %v correlation %q content-type %q mode %d", d.Redelivered, d.CorrelationId, d.ContentType, d.DeliveryMode)
			}
			if _, ok, err := ch.Get(q, false); err != nil || ok {
				return fmt.Errorf("basic.get with the job unacked: ok %v err %s, want get-empty", ok, describe(err))
			}
			e.Must(d.Reject(true), "basic.reject requeue=true")
			d = get("the requeued job")
			if !d.Redelivered || string(d.Body) != `{"job":"X"}` {
				return fmt.Errorf("requeued job: redelivered %v body %q; want true and the same body", d.Redelivered, d.Body)
			}
			e.Must(d.Reject(false), "basic.reject requeue=false")
			e.Sync(ch)
			if _, ok, err := ch.Get(q, false); err != nil || ok {
				return fmt.Errorf("basic.get after reject without requeue: ok %v err %s, want get-empty", ok, describe(err))
			}
			return nil
		},
	},
	{
		Name:    "framework.laravel/delay-queue-2x-ttl-expires",
		Rule:    "vyuldashev/laravel-queue-rabbitmq: src/Queue/RabbitMQQueue.php (laterRaw, getDelayQueueArguments): durable queue <q>.delay.<ms> with x-dead-letter-exchange=<exchange> ('' by default), x-dead-letter-routing-key=<q>, x-message-ttl=<ms>, x-expires=2*<ms>, published to through the default exchange; the job reaches <q> after the delay and the idle delay queue expires (RabbitMQ docs/ttl.md queue TTL)",
		Timeout: 5 * time.Second,
		Run: func(e *Env) error {
			const ttl = 60
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.Must(err, "queue.declare "+q)
			dq := fmt.Sprintf("%s.delay.%d", q, ttl)
			e.frameworkTrack([]string{dq}, nil)
			_, err = ch.QueueDeclare(dq, true, false, false, false, amqp.Table{
				"x-dead-letter-exchange":    "",
				"x-dead-letter-routing-key": q,
				"x-message-ttl":             int32(ttl),
				"x-expires":                 int32(2 * ttl),
			})
			e.Must(err, "queue.declare "+dq)
			start := time.Now()
			e.PublishConfirmed(e.Publisher(), "", dq, amqp.Publishing{ContentType: "application/json",
				DeliveryMode: amqp.Persistent, CorrelationId: "job-2", Body: []byte(`{"job":"later"}`)})
			var d amqp.Delivery
			e.Eventually("the delayed job to reach "+q, func() bool {
				m, ok, err := ch.Get(q, false)
				e.Must(err, "basic.get "+q)
				d = m
				return ok
			})
			if el := time.Since(start); el < ttl*time.Millisecond*8/10 {
				return fmt.Errorf("delayed job arrived after %v, want at least about %d ms", el, ttl)
			}
			if string(d.Body) != `{"job":"later"}` || d.CorrelationId != "job-2" || d.RoutingKey != q {
				return fmt.Errorf("delayed job: body %q correlation %q key %q", d.Body, d.CorrelationId, d.RoutingKey)
			}
			t, err := firstDeath(d)
			if err != nil {
				return err
			}
			if err := wantDeath(t, dq, "expired", "", []any{dq}); err != nil {
				return err
			}
			e.Must(d.Ack(false), "basic.ack")
			// A passive queue.declare renews the queue's lease on RabbitMQ as on warren, so the probes are
			// spaced wider than x-expires: each one finds the queue idle for longer than its lease.
			for range 20 {
				select {
				case <-time.After(3 * ttl * time.Millisecond):
				case <-e.Context().Done():
					e.Fatalf("the unused delay queue %s did not expire (x-expires %d ms)", dq, 2*ttl)
				}
				if _, ok := e.Inspect(dq); !ok {
					return nil
				}
			}
			return fmt.Errorf("the unused delay queue %s still exists after 20 idle periods of %d ms (x-expires %d ms)", dq, 3*ttl, 2*ttl)
		},
	},
}
