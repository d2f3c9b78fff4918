package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmsOf publishes bodies to the default exchange with key q on a fresh confirm-mode channel and
// returns, per publish, whether the broker acked (true) or nacked (false) it.
func (e *Env) confirmsOf(q string, bodies ...string) []bool {
	ch := e.Channel()
	e.Must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, len(bodies)))
	for _, b := range bodies {
		e.Publish(ch, "", q, Text(b))
	}
	acks := make([]bool, len(bodies))
	for i := range bodies {
		select {
		case c := <-confirms:
			if c.DeliveryTag != uint64(i+1) {
				e.Fatalf("confirm %d: delivery tag %d", i+1, c.DeliveryTag)
			}
			acks[i] = c.Ack
		case <-e.within(closeWait):
			e.Fatalf("confirm %d of %d did not come", i+1, len(bodies))
		}
	}
	return acks
}

// gone reports whether queue q no longer exists, without using it (a declare or basic.get would
// restart its x-expires period): a mandatory publish to it through the default exchange comes back.
func (e *Env) gone(pub *Chan, returns <-chan amqp.Return, q string) bool {
	e.Must(pub.PublishWithContext(e.ctx, "", q, true, false, Text("probe")), "mandatory basic.publish probe")
	e.Sync(pub)
	select {
	case <-returns:
		return true
	default:
		return false
	}
}

// extension2Checks cover RabbitMQ's queue length limits (docs/maxlength.md) and queue expiry
// (docs/ttl.md).
var extension2Checks = append(extension2Base, xdeathChecks()...)

var extension2Base = []Check{
	{
		Name: "x-expires/unused-queue-is-deleted",
		Rule: "RabbitMQ docs/ttl.md (queue TTL): a queue unused (no consumers, basic.get or redeclare) for x-expires ms is deleted; publishing is no use, a consumer is",
		Run: func(e *Env) error {
			ch := e.Channel()
			idle := e.declareWith(ch, amqp.Table{"x-expires": int32(100)})
			consumed := e.declareWith(ch, amqp.Table{"x-expires": int32(100)})
			if _, err := ch.Consume(consumed, "", true, false, false, false, nil); err != nil {
				e.Must(err, "basic.consume")
			}
			pub := e.Channel()
			returns := pub.NotifyReturn(make(chan amqp.Return, 100))
			start := time.Now()
			e.Eventually("queue with x-expires 100 deleted", func() bool { return e.gone(pub, returns, idle) })
			if time.Since(start) < 90*time.Millisecond {
				return fmt.Errorf("queue with x-expires 100 deleted after %v", time.Since(start))
			}
			if e.gone(pub, returns, consumed) {
				return fmt.Errorf("queue with a consumer expired")
			}
			return nil
		},
	},
	{
		Name: "x-max-length/drop-head-keeps-the-newest",
		Rule: "RabbitMQ docs/maxlength.md: with x-max-length and the default overflow drop-head, the oldest ready messages are dropped",
		Run: func(e *Env) error {
			q := e.declareWith(e.Channel(), amqp.Table{"x-max-length": int32(2)})
			if acks := e.confirmsOf(q, "1", "2", "3", "4"); !reflect.DeepEqual(acks, []bool{true, true, true, true}) {
				return fmt.Errorf("confirms %v, want every publish acked", acks)
			}
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"3", "4"}) {
				return fmt.Errorf("queue holds %q, want [3 4]", got)
			}
			return nil
		},
	},
	{
		Name: "x-max-length-bytes/drop-head-counts-body-bytes",
		Rule: "RabbitMQ docs/maxlength.md: x-max-length-bytes limits the total body size of ready messages; drop-head drops the oldest",
		Run: func(e *Env) error {
			q := e.declareWith(e.Channel(), amqp.Table{"x-max-length-bytes": int32(5)})
			e.confirmsOf(q, "123", "45", "6")
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"45", "6"}) {
				return fmt.Errorf("queue holds %q, want [45 6]", got)
			}
			return nil
		},
	},
	{
		Name: "x-max-length/drop-head-dead-letters-maxlen",
		Rule: "RabbitMQ docs/maxlength.md, docs/dlx.md: messages dropped from the head are dead-lettered with reason maxlen",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-max-length": int32(1), "x-dead-letter-exchange": dlx})
			e.confirmsOf(q, "old", "new")
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			m := e.Recv(dead, "the dropped message")
			if string(m.Body) != "old" {
				return fmt.Errorf("dead-lettered %q, want \"old\"", m.Body)
			}
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, q, "maxlen", "", []any{q}); err != nil {
				return err
			}
			if m.Headers["x-first-death-reason"] != "maxlen" {
				return fmt.Errorf("x-first-death-reason %v, want maxlen", m.Headers["x-first-death-reason"])
			}
			return nil
		},
	},
	{
		Name: "x-overflow/reject-publish-nacks",
		Rule: "RabbitMQ docs/maxlength.md: with x-overflow reject-publish a full queue refuses new messages; a publisher using confirms gets basic.nack",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-max-length": int32(2), "x-overflow": "reject-publish", "x-dead-letter-exchange": dlx})
			if acks := e.confirmsOf(q, "1", "2", "3", "4"); !reflect.DeepEqual(acks, []bool{true, true, false, false}) {
				return fmt.Errorf("confirms %v, want [ack ack nack nack]", acks)
			}
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"1", "2"}) {
				return fmt.Errorf("queue holds %q, want [1 2]", got)
			}
			if got := e.Drain(dlq); len(got) != 0 {
				return fmt.Errorf("reject-publish dead-lettered %q", got)
			}
			// Room again: accepted again.
			if acks := e.confirmsOf(q, "5"); !acks[0] {
				return fmt.Errorf("publish into an emptied queue nacked")
			}
			return nil
		},
	},
	{
		Name: "x-overflow/reject-publish-dlx-nacks-and-dead-letters",
		Rule: "RabbitMQ docs/maxlength.md: reject-publish-dlx refuses like reject-publish and dead-letters the refused message (reason maxlen)",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlx, dlq := e.deadLetterPair(ch)
			q := e.declareWith(ch, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": dlx})
			if acks := e.confirmsOf(q, "kept", "refused"); !reflect.DeepEqual(acks, []bool{true, false}) {
				return fmt.Errorf("confirms %v, want [ack nack]", acks)
			}
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			m := e.Recv(dead, "the refused message")
			if string(m.Body) != "refused" {
				return fmt.Errorf("dead-lettered %q, want \"refused\"", m.Body)
			}
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if err := wantDeath(t, q, "maxlen", "", []any{q}); err != nil {
				return err
			}
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"kept"}) {
				return fmt.Errorf("queue holds %q, want [kept]", got)
			}
			return nil
		},
	},
	{
		Name: "x-overflow/reject-publish-still-routed",
		Rule: "RabbitMQ docs/maxlength.md: a message a full queue refuses was routed: a mandatory publish is nacked, not returned, and other queues get it",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "fanout")
			full := e.declareWith(ch, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"})
			other := e.DeclareQueue(ch)
			e.Bind(ch, full, "", x, nil)
			e.Bind(ch, other, "", x, nil)
			pub := e.Channel()
			e.Must(pub.Confirm(false), "confirm.select")
			returns := pub.NotifyReturn(make(chan amqp.Return, 1))
			dc, err := pub.PublishWithDeferredConfirmWithContext(e.ctx, x, "", true, false, Text("m"))
			e.Must(err, "basic.publish mandatory")
			ack, err := dc.WaitContext(e.ctx)
			e.Must(err, "waiting for the confirm")
			if ack {
				return fmt.Errorf("got basic.ack, want basic.nack")
			}
			select {
			case r := <-returns:
				return fmt.Errorf("got basic.return %d %s", r.ReplyCode, r.ReplyText)
			default:
			}
			if got := e.Drain(other); !reflect.DeepEqual(got, []string{"m"}) {
				return fmt.Errorf("the other queue holds %q, want [m]", got)
			}
			return nil
		},
	},
	{
		Name: "x-overflow/invalid-value-406",
		Rule: "rabbit_amqqueue:check_overflow/2: x-overflow must be drop-head, reject-publish or reject-publish-dlx",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-overflow": "drop-tail"})
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - invalid arg 'x-overflow' for queue '%s' in vhost '%s': invalid_overflow", q, e.Vhost), "queue.declare x-overflow drop-tail")
			return nil
		},
	},
	{
		Name: "x-max-priority/higher-priority-first",
		Rule: "RabbitMQ docs/priority.md: a queue with x-max-priority delivers higher-priority messages first, FIFO within a priority; priorities above the maximum count as the maximum",
		Run: func(e *Env) error {
			q := e.declareWith(e.Channel(), amqp.Table{"x-max-priority": int32(5)})
			pub := e.Publisher()
			for _, m := range []struct {
				body string
				prio uint8
			}{{"a0", 0}, {"b3", 3}, {"c9", 9}, {"d0", 0}, {"e5", 5}, {"f3", 3}, {"g", 0}} {
				e.PublishConfirmed(pub, "", q, amqp.Publishing{Body: []byte(m.body), Priority: m.prio})
			}
			want := []string{"c9", "e5", "b3", "f3", "a0", "d0", "g"}
			if got := e.Drain(q); !reflect.DeepEqual(got, want) {
				return fmt.Errorf("queue delivered %q, want %q", got, want)
			}
			return nil
		},
	},
	{
		Name: "x-max-priority/ttl-expires-at-the-head-only",
		Rule: "rabbit_priority_queue:dropwhile/2 (find2/3): expiry walks the priority levels from the highest and stops at the first level whose head is alive, so an expired lower-priority message behind a live higher-priority one stays (and counts) until it reaches the head (RW:docs/priority.md)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.declareWith(ch, amqp.Table{"x-max-priority": int32(5)})
			witness := e.declareWith(ch, nil)
			pub := e.Publisher()
			e.PublishConfirmed(pub, "", q, amqp.Publishing{Body: []byte("live"), Priority: 5})
			e.PublishConfirmed(pub, "", q, amqp.Publishing{Body: []byte("dies"), Priority: 1, Expiration: "1"})
			// A clock: once the witness's 30 ms message has expired, so has the 1 ms one.
			e.PublishConfirmed(pub, "", witness, amqp.Publishing{Body: []byte("clock"), Expiration: "30"})
			e.Eventually("the witness message expired", func() bool { return e.Ready(witness) == 0 })
			if n := e.Ready(q); n != 2 {
				return fmt.Errorf("%d messages in the priority queue, want 2 (the expired low-priority one waits behind the live one)", n)
			}
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"live"}) {
				return fmt.Errorf("queue delivered %q, want only \"live\" (the other expired once at the head)", got)
			}
			if n := e.Ready(q); n != 0 {
				return fmt.Errorf("%d messages left, want 0", n)
			}
			return nil
		},
	},
	{
		Name: "x-single-active-consumer/one-consumer-at-a-time",
		Rule: "RabbitMQ docs/consumers.md (single active consumer): only the first registered consumer gets messages; when it is cancelled the next one takes over",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.declareWith(ch, amqp.Table{"x-single-active-consumer": true})
			first, err := ch.Consume(q, "first", true, false, false, false, nil)
			e.Must(err, "basic.consume first")
			other := e.Channel()
			second, err := other.Consume(q, "second", true, false, false, false, amqp.Table{"x-priority": int32(10)})
			e.Must(err, "basic.consume second")
			pub := e.Publisher()
			for i := range 5 {
				e.PublishConfirmed(pub, "", q, Text(fmt.Sprint(i)))
			}
			e.RecvN(first, 5, "deliveries to the active consumer")
			e.Sync(other)
			select {
			case d := <-second:
				return fmt.Errorf("the waiting consumer got %q", d.Body)
			default:
			}
			e.Must(ch.Cancel("first", false), "basic.cancel first")
			e.PublishConfirmed(pub, "", q, Text("after"))
			if d := e.Recv(second, "delivery to the next consumer"); string(d.Body) != "after" {
				return fmt.Errorf("the next consumer got %q", d.Body)
			}
			return nil
		},
	},
	{
		Name: "x-single-active-consumer/not-a-bool-406",
		Rule: "rabbit_amqqueue:check_single_active_consumer_arg/2: the value must be a boolean",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-single-active-consumer": "yes"})
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '%s' in vhost '%s': {unacceptable_type,longstr}", q, e.Vhost),
				"queue.declare x-single-active-consumer \"yes\"")
			return nil
		},
	},
	{
		Name: "x-queue-type/classic-accepted",
		Rule: "RabbitMQ docs/queues.md: x-queue-type classic declares a classic queue",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.declareWith(ch, amqp.Table{"x-queue-type": "classic"})
			e.PublishConfirmed(e.Publisher(), "", q, Text("c"))
			if got := e.Drain(q); !reflect.DeepEqual(got, []string{"c"}) {
				return fmt.Errorf("queue holds %q", got)
			}
			return nil
		},
	},
	{
		Name: "x-queue-type/unknown-type-406",
		Rule: "rabbit_amqqueue:check_queue_type/2: a queue type the node does not know is refused with 406",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "foo"})
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue '%s' in vhost '%s': \"unsupported queue type 'foo'\"", q, e.Vhost),
				"queue.declare x-queue-type foo")
			return nil
		},
	},
	{
		Name: "x-delayed-message/x-delay-holds-the-message",
		Rule: "rabbitmq_delayed_message_exchange README: an x-delayed-message exchange routes as its x-delayed-type; a message with x-delay (ms) is routed after that delay (skipped where the plugin is absent)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Exchange()
			err := ch.ExchangeDeclare(x, "x-delayed-message", false, true, false, false, amqp.Table{"x-delayed-type": "direct"})
			if ae := (*amqp.Error)(nil); errors.As(err, &ae) && ae.Code == amqp.CommandInvalid {
				e.Skipf("exchange type x-delayed-message unknown: the delayed message plugin is not enabled")
			}
			e.Must(err, "exchange.declare x-delayed-message")
			q := e.DeclareQueue(ch)
			e.Bind(ch, q, "k", x, nil)
			ds, err := ch.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume")
			pub := e.Publisher()
			start := time.Now()
			e.PublishConfirmed(pub, x, "k", amqp.Publishing{Headers: amqp.Table{"x-delay": int32(200)}, Body: []byte("later")})
			e.PublishConfirmed(pub, x, "k", Text("now"))
			if d := e.Recv(ds, "the message without x-delay"); string(d.Body) != "now" {
				return fmt.Errorf("first delivery %q, want \"now\"", d.Body)
			}
			d := e.Recv(ds, "the delayed message")
			if string(d.Body) != "later" || time.Since(start) < 190*time.Millisecond {
				return fmt.Errorf("delivery %q after %v, want \"later\" after 200 ms", d.Body, time.Since(start))
			}
			return nil
		},
	},
	{
		Name: "x-queue-type/quorum-must-be-durable",
		Rule: "RabbitMQ docs/quorum-queues.md, rabbit_quorum_queue:declare/2: a quorum queue cannot be auto-delete, exclusive or non-durable, nor have x-max-priority (406)",
		Run: func(e *Env) error {
			for _, tc := range []struct {
				durable, autoDelete bool
				prop                string
			}{{true, true, "auto-delete"}, {false, false, "non-durable"}} {
				ch := e.Channel()
				q := e.Queue()
				_, err := ch.QueueDeclare(q, tc.durable, tc.autoDelete, false, false, amqp.Table{"x-queue-type": "quorum"})
				e.WantChannelError(ch, err, amqp.PreconditionFailed,
					fmt.Sprintf("PRECONDITION_FAILED - invalid property '%s' for queue '%s' in vhost '%s'", tc.prop, q, e.Vhost), "queue.declare quorum "+tc.prop)
			}
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-max-priority": int32(5)})
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '%s' of queue type rabbit_quorum_queue", q, e.Vhost),
				"queue.declare quorum with x-max-priority")
			return nil
		},
	},
	{
		Name: "x-delivery-limit/dead-letters-delivery_limit",
		Rule: "RabbitMQ docs/quorum-queues.md (poison message handling): a message returned more than x-delivery-limit times is dead-lettered with reason delivery_limit",
		Run: func(e *Env) error {
			ch := e.Channel()
			dlq := e.DeclareQueue(ch)
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(1),
				"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
			e.Must(err, "queue.declare quorum with x-delivery-limit 1")
			e.PublishConfirmed(e.Publisher(), "", q, Text("poison"))
			for i := range 2 {
				var d amqp.Delivery
				e.Eventually(fmt.Sprintf("basic.get %d", i+1), func() bool {
					var ok bool
					d, ok, err = ch.Get(q, false)
					e.Must(err, "basic.get")
					return ok
				})
				e.Must(d.Nack(false, true), "basic.nack requeue=true")
			}
			dead, err := ch.Consume(dlq, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the dead-letter queue")
			m := e.Recv(dead, "the message past its delivery limit")
			t, err := firstDeath(m)
			if err != nil {
				return err
			}
			if t["reason"] != "delivery_limit" || t["queue"] != q {
				return fmt.Errorf("x-death %v, want reason delivery_limit from %s", t, q)
			}
			return nil
		},
	},
	{
		Name: "x-queue-type/quorum-redelivery-carries-x-delivery-count",
		Rule: "rabbit_fifo_client:add_delivery_count_header/2: a quorum queue's message delivered again after n returns (nack with requeue) carries x-delivery-count n, a long; the first delivery has none",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			e.Must(err, "queue.declare quorum")
			e.PublishConfirmed(e.Publisher(), "", q, Text("again"))
			ds, err := ch.Consume(q, "", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			for i := range 3 {
				d := e.Recv(ds, fmt.Sprintf("delivery %d", i+1))
				n, has := d.Headers["x-delivery-count"]
				switch {
				case i == 0 && has:
					return fmt.Errorf("first delivery has x-delivery-count %#v, want none", n)
				case i > 0 && n != int64(i):
					return fmt.Errorf("delivery %d after %d returns: x-delivery-count %#v, want int64(%d)", i+1, i, n, i)
				case i > 0 && !d.Redelivered:
					return fmt.Errorf("delivery %d: redelivered false", i+1)
				}
				e.Must(d.Nack(false, true), "basic.nack requeue=true")
			}
			return nil
		},
	},
	{
		Name: "x-queue-type/quorum-refuses-global-qos",
		Rule: "rabbit_quorum_queue:consume/3: consuming from a quorum queue with a global prefetch is 540 NOT_IMPLEMENTED",
		Run: func(e *Env) error {
			c := e.Dial()
			ch := c.Open()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			e.Must(err, "queue.declare quorum")
			e.Must(ch.Qos(10, 0, true), "basic.qos global")
			_, err = ch.Consume(q, "", false, false, false, false, nil)
			e.WantConnError(c, err, amqp.NotImplemented,
				fmt.Sprintf("NOT_IMPLEMENTED - queue '%s' in vhost '%s' does not support global qos", q, e.Vhost), "basic.consume with global qos")
			return nil
		},
	},
}
