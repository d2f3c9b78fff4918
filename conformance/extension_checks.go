package conformance

import (
	"fmt"
	"reflect"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// declareWith declares a fresh queue with arguments on ch.
func (e *Env) declareWith(ch *Chan, args amqp.Table) string {
	q := e.Queue()
	_, err := ch.QueueDeclare(q, false, false, false, false, args)
	e.Must(err, fmt.Sprintf("queue.declare %s with %v", q, args))
	return q
}

// deadLetterPair declares a fanout dead-letter exchange with a queue bound to it, and returns both.
func (e *Env) deadLetterPair(ch *Chan) (dlx, dlq string) {
	dlx = e.DeclareExchange(ch, "fanout")
	dlq = e.DeclareQueue(ch)
	e.Bind(ch, dlq, "", dlx, nil)
	return dlx, dlq
}

// firstDeath returns the first x-death entry of d, or an error.
func firstDeath(d amqp.Delivery) (amqp.Table, error) {
	deaths, ok := d.Headers["x-death"].([]any)
	if !ok || len(deaths) == 0 {
		return nil, fmt.Errorf("no x-death array in headers %v", d.Headers)
	}
	t, ok := deaths[0].(amqp.Table)
	if !ok {
		return nil, fmt.Errorf("x-death[0] is %T, want a table", deaths[0])
	}
	return t, nil
}

// wantDeath compares the stable fields of an x-death entry.
func wantDeath(t amqp.Table, queue, reason, exchange string, keys []any) error {
	if t["queue"] != queue || t["reason"] != reason || t["exchange"] != exchange || t["count"] != int64(1) {
		return fmt.Errorf("x-death entry %v: want queue %q reason %q exchange %q count 1 (long)", t, queue, reason, exchange)
	}
	if !reflect.DeepEqual(t["routing-keys"], keys) {
		return fmt.Errorf("x-death routing-keys %#v, want %#v", t["routing-keys"], keys)
	}
	if _, ok := t["time"].(time.Time); !ok {
		return fmt.Errorf("x-death time is %T, want a timestamp", t["time"])
	}
	return nil
}

// extensionChecks cover RabbitMQ's TTL, dead-lettering and consumer priorities (docs/ttl.md, docs/dlx.md,
// docs/consumer-priority.md).
var extensionChecks = []Check{
	{
		Name: "x-message-ttl/expired-messages-leave-the-queue",
		Rule: "RabbitMQ docs/ttl.md: messages older than the queue's x-message-ttl are discarded, also with no consumer",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.declareWith(ch, amqp.Table{"x-message-ttl": int32(100)})
			pub := e.Publisher()
			for i := range 3 {
				e.PublishConfirmed(pub, "", q, Text(fmt.Sprint(i)))
			}
			e.Eventually(fmt.Sprintf("queue %s empty after its 100 ms TTL", q), func() bool { return e.Ready(q) == 0 })
			return nil
		},
	},
	{
		Name: "basic.publish/expiration-property-expires-the-message",
		Rule: "RabbitMQ docs/ttl.md (per-message TTL): a message whose expiration has passed is not delivered",
		Run: func(e *Env) error {
			q := e.DeclareQueue(e.Channel())
			pub := e.Publisher()
			e.PublishConfirmed(pub, "", q, amqp.Publishing{Expiration: "50", Body: []byte("short")})
			e.PublishConfirmed(pub, "", q, Text("keep"))
			e.Eventually("the expired message to leave the head of the queue", func() bool { return e.Ready(q) == 1 })
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"keep"}) {
				return fmt.Errorf("queue holds %q, want [keep]", got)
			}
			return nil
		},
	},
	{
		Name: "dead-lettering/rejected-message-with-x-death",
		Rule: "RabbitMQ docs/dlx.md: basic.reject requeue=false dead-letters to x-dead-letter-exchange with an x-death entry (queue, reason rejected, count, time, exchange, routing-keys) and x-first-death-*",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-dead-letter-exchange": dlx})
			e.PublishConfirmed(e.Publisher(), "", q, Text("bad"))
			d, ok, err := ch.Get(q, false)
			e.Must(err, "basic.get")
			if !ok {
				e.Fatalf("basic.get: queue empty, want the message")
			}
			e.Must(d.Reject(false), "basic.reject requeue=false")
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			m := e.Recv(dead, "the dead-lettered message")
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, q, "rejected", "", []any{q}); err != nil {
				return err
			}
			if m.Headers["x-first-death-reason"] != "rejected" || m.Headers["x-first-death-queue"] != q || m.Headers["x-first-death-exchange"] != "" {
				return fmt.Errorf("x-first-death-* headers %v", m.Headers)
			}
			return nil
		},
	},
	{
		Name: "dead-lettering/expired-message-loses-its-expiration",
		Rule: "RabbitMQ docs/dlx.md: an expired message is dead-lettered with reason expired; its expiration property is removed and kept as original-expiration",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-dead-letter-exchange": dlx})
			e.PublishConfirmed(e.Publisher(), "", q, amqp.Publishing{Expiration: "20", Body: []byte("late")})
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			m := e.Recv(dead, "the expired message")
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, q, "expired", "", []any{q}); err != nil {
				return err
			}
			if m.Expiration != "" || t["original-expiration"] != "20" {
				return fmt.Errorf("expiration %q, original-expiration %v; want none and \"20\"", m.Expiration, t["original-expiration"])
			}
			return nil
		},
	},
	{
		Name: "dead-lettering/x-dead-letter-routing-key",
		Rule: "RabbitMQ docs/dlx.md: x-dead-letter-routing-key replaces the routing key of dead-lettered messages",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx := e.DeclareExchange(ch, "direct")
			dlq := e.DeclareQueue(ch)
			e.Bind(ch, dlq, "dead", dlx, nil)
			q := e.declareWith(ch, amqp.Table{"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"})
			e.PublishConfirmed(e.Publisher(), "", q, Text("x"))
			d, ok, err := ch.Get(q, false)
			e.Must(err, "basic.get")
			if !ok {
				e.Fatalf("basic.get: queue empty")
			}
			e.Must(d.Nack(false, false), "basic.nack requeue=false")
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			if m := e.Recv(dead, "the dead-lettered message"); m.RoutingKey != "dead" {
				return fmt.Errorf("dead-lettered with key %q, want \"dead\"", m.RoutingKey)
			}
			return nil
		},
	},
	{
		Name: "consumer-priority/higher-priority-consumer-served-first",
		Rule: "RabbitMQ docs/consumer-priority.md: messages go to the highest-priority consumer that can take them",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			low, err := ch.Consume(q, "low", true, false, false, false, amqp.Table{"x-priority": int32(1)})
			e.Must(err, "basic.consume x-priority 1")
			high, err := ch.Consume(q, "high", true, false, false, false, amqp.Table{"x-priority": int32(10)})
			e.Must(err, "basic.consume x-priority 10")
			pub := e.Publisher()
			for i := range 5 {
				e.PublishConfirmed(pub, "", q, Text(fmt.Sprint(i)))
			}
			e.RecvN(high, 5, "deliveries to the x-priority 10 consumer")
			select {
			case d := <-low:
				return fmt.Errorf("the x-priority 1 consumer got %q while a higher one could take it", d.Body)
			default:
			}
			return nil
		},
	},
}
