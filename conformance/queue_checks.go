package conformance

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

func noQueue(e *Env, q string) string {
	return fmt.Sprintf("NOT_FOUND - no queue '%s' in vhost '%s'", q, e.Vhost)
}

func inequivalentQueue(e *Env, q, field, received, current string) string {
	return fmt.Sprintf("PRECONDITION_FAILED - inequivalent arg '%s' for queue '%s' in vhost '%s': received %s but current is %s",
		field, q, e.Vhost, received, current)
}

// lockedQueue is RabbitMQ's 405 text for another connection's exclusive queue (rabbit_amqqueue.erl
// check_exclusive_access).
func lockedQueue(e *Env, q string) string {
	return fmt.Sprintf("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "+
		"It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.", q, e.Vhost)
}

// fill publishes n messages "m1".."mn" to q through the default exchange, confirmed.
func fill(e *Env, q string, n int) {
	pub := e.Publisher()
	for i := range n {
		e.PublishConfirmed(pub, "", q, Text(fmt.Sprintf("m%d", i+1)))
	}
}

// filledQueue opens a channel, declares a fresh queue on it and fills it with n messages, as fill.
func filledQueue(e *Env, n int) (*Chan, string) {
	ch := e.Channel()
	q := e.DeclareQueue(ch)
	fill(e, q, n)
	return ch, q
}

// exclusiveLockedChecks: another connection's exclusive queue is RESOURCE_LOCKED for every method that
// names it (AMQP 0-9-1 queue.declare exclusive, rule 'exclusive').
func exclusiveLockedChecks() []Check {
	cases := []struct {
		method string
		op     func(e *Env, ch *Chan, q string) error
	}{
		{"queue.declare", func(e *Env, ch *Chan, q string) error {
			_, err := ch.QueueDeclare(q, false, false, true, false, nil)
			return err
		}},
		{"queue.declare-passive", func(e *Env, ch *Chan, q string) error {
			_, err := ch.QueueDeclarePassive(q, false, false, true, false, nil)
			return err
		}},
		{"basic.consume", func(e *Env, ch *Chan, q string) error {
			_, err := ch.Consume(q, "", false, false, false, false, nil)
			return err
		}},
		{"queue.bind", func(e *Env, ch *Chan, q string) error {
			return ch.QueueBind(q, "k", "amq.direct", false, nil)
		}},
		{"queue.unbind", func(e *Env, ch *Chan, q string) error {
			return ch.QueueUnbind(q, "k", "amq.direct", nil)
		}},
		{"queue.delete", func(e *Env, ch *Chan, q string) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		}},
		{"queue.purge", func(e *Env, ch *Chan, q string) error {
			_, err := ch.QueuePurge(q, false)
			return err
		}},
		{"basic.get", func(e *Env, ch *Chan, q string) error {
			_, _, err := ch.Get(q, false)
			return err
		}},
	}
	var checks []Check
	for _, tc := range cases {
		name := strings.TrimSuffix(tc.method, "-passive")
		checks = append(checks, Check{
			Name: tc.method + "/exclusive-queue-of-another-connection-405",
			Rule: "AMQP 0-9-1 queue.declare exclusive (rule 'exclusive'): RESOURCE_LOCKED for other connections; RabbitMQ rabbit_amqqueue.erl check_exclusive_access",
			Run: func(e *Env) error {
				owner := e.Channel()
				q := e.Queue()
				_, err := owner.QueueDeclare(q, false, false, true, false, nil)
				e.Must(err, "queue.declare exclusive")
				// RabbitMQ answers queue.unbind of a binding that does not exist with unbind-ok before
				// it looks at the queue, so give the queue a binding to unbind.
				e.Must(owner.QueueBind(q, "k", "amq.direct", false, nil), "queue.bind by the owner")
				other := e.Channel()
				err = tc.op(e, other, q)
				e.WantChannelError(other, err, amqp.ResourceLocked, lockedQueue(e, q), name+" of another connection's exclusive queue")
				// The owner still has its queue.
				_, err = owner.QueueDeclarePassive(q, false, false, true, false, nil)
				e.WantOK(err, "the owner's passive queue.declare afterwards")
				return nil
			},
		})
	}
	return checks
}

var queueChecks = concat([]Check{
	{
		Name: "queue.declare/passive-missing-404",
		Rule: "AMQP 0-9-1 queue.declare passive: NOT_FOUND if the queue does not exist",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			_, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "passive queue.declare of a missing queue")
			return nil
		},
	},
	{
		Name: "reply-text/truncated-to-255-octets",
		Rule: "AMQP 0-9-1 §4.2.5.3 (reply-text is a shortstr, at most 255 octets); RabbitMQ rabbit_binary_generator.erl: 252 octets and \"...\"",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			q += strings.Repeat("z", 255-len(q)) // the longest queue name
			_, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "passive queue.declare of a missing 255-octet name")
			return nil
		},
	},
	{
		Name: "queue.declare/declare-ok-counts",
		Rule: "AMQP 0-9-1 queue.declare-ok message-count and consumer-count; RabbitMQ: message-count counts ready messages, consumer-count all consumers",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 3)
			info, err := ch.QueueDeclare(q, false, false, false, false, nil)
			e.Must(err, "redeclare")
			if info.Name != q || info.Messages != 3 || info.Consumers != 0 {
				return fmt.Errorf("declare-ok after 3 publishes: got %q messages=%d consumers=%d, want %q 3 0", info.Name, info.Messages, info.Consumers, q)
			}
			cons := e.Channel()
			e.Must(cons.Qos(1, 0, false), "basic.qos 1")
			d, err := cons.Consume(q, "", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			e.Recv(d, "first delivery")
			info, err = ch.QueueDeclarePassive(q, false, false, false, false, nil)
			e.Must(err, "passive redeclare")
			if info.Messages != 2 || info.Consumers != 1 {
				return fmt.Errorf("declare-ok with one consumer holding 1 of 3 unacked: got messages=%d consumers=%d, want 2 1", info.Messages, info.Consumers)
			}
			return nil
		},
	},
	{
		Name: "queue.declare/server-named-amq-gen",
		Rule: "AMQP 0-9-1 queue.declare queue (empty: the server names it); RabbitMQ names start \"amq.gen-\"",
		Run: func(e *Env) error {
			ch := e.Channel()
			info, err := ch.QueueDeclare("", false, true, true, false, nil)
			e.Must(err, "queue.declare \"\"")
			if !strings.HasPrefix(info.Name, "amq.gen-") || len(info.Name) <= len("amq.gen-") {
				return fmt.Errorf("server-named queue: got %q, want \"amq.gen-…\"", info.Name)
			}
			e.Cleanup(func() { _, _ = ch.QueueDelete(info.Name, false, false, false) })
			info2, err := ch.QueueDeclare("", false, true, true, false, nil)
			e.Must(err, "second queue.declare \"\"")
			if info2.Name == info.Name {
				return fmt.Errorf("two server-named queues both named %q", info.Name)
			}
			_, err = ch.QueueDeclarePassive(info.Name, false, true, true, false, nil)
			e.WantOK(err, "passive queue.declare of the server-named queue")
			return nil
		},
	},
	{
		Name: "queue.declare/durable",
		Rule: "AMQP 0-9-1 queue.declare durable",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.WantOK(err, "queue.declare durable")
			_, err = ch.QueueDeclare(q, true, false, false, false, nil)
			e.WantOK(err, "identical redeclare")
			return nil
		},
	},
	{
		Name: "queue.declare/reserved-amq-prefix-403",
		Rule: "AMQP 0-9-1 queue.declare queue (rule 'reserved-prefix': ACCESS_REFUSED for amq.*)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := "amq." + e.Name("q")
			_, err := ch.QueueDeclare(q, false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused,
				fmt.Sprintf("ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'", q), "queue.declare "+q)
			return nil
		},
	},
	{
		Name: "queue.declare/inequivalent-durable-406",
		Rule: "AMQP 0-9-1 queue.declare (rule 'equivalent'); RabbitMQ rabbit_amqqueue.erl assert_equivalence",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			_, err := ch.QueueDeclare(q, true, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentQueue(e, q, "durable", "'true'", "'false'"), "redeclare durable")
			return nil
		},
	},
	{
		Name: "queue.declare/inequivalent-auto-delete-406",
		Rule: "RabbitMQ rabbit_amqqueue.erl assert_equivalence (auto_delete)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			_, err := ch.QueueDeclare(q, false, true, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentQueue(e, q, "auto_delete", "'true'", "'false'"), "redeclare auto-delete")
			return nil
		},
	},
	{
		Name: "queue.declare/inequivalent-arguments-406",
		Rule: "RabbitMQ rabbit_amqqueue.erl assert_args_equivalence (x-message-ttl)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-message-ttl": int32(60000)})
			e.Must(err, "queue.declare with x-message-ttl")
			_, err = ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-message-ttl": int32(30000)})
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				inequivalentQueue(e, q, "x-message-ttl", "'30000'", "'60000'"),
				"redeclare with another x-message-ttl")
			return nil
		},
	},
	{
		Name: "queue.declare/exclusive-mismatch-405",
		Rule: "RabbitMQ rabbit_amqqueue.erl check_exclusive_access: redeclaring a queue with another exclusive flag is RESOURCE_LOCKED",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			_, err := ch.QueueDeclare(q, false, false, true, false, nil)
			e.WantChannelError(ch, err, amqp.ResourceLocked, lockedQueue(e, q), "redeclare of a shared queue as exclusive")
			return nil
		},
	},
	{
		Name: "queue.declare/exclusive-deleted-when-connection-closes",
		Rule: "AMQP 0-9-1 queue.declare exclusive: the queue is deleted when its connection closes",
		Run: func(e *Env) error {
			owner := e.Channel()
			q := e.Queue()
			_, err := owner.QueueDeclare(q, false, false, true, false, nil)
			e.Must(err, "queue.declare exclusive")
			e.WantOK(owner.Conn.Close(), "connection.close of the owner")
			e.Eventually("exclusive queue deleted after its connection closed", func() bool { _, ok := e.Inspect(q); return !ok })
			return nil
		},
	},
	{
		Name: "queue.declare/auto-delete-after-last-consumer",
		Rule: "AMQP 0-9-1 queue.declare auto-delete: deleted when all consumers have finished using it",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, false, true, false, false, nil)
			e.Must(err, "queue.declare auto-delete")
			_, err = ch.Consume(q, "c1", false, false, false, false, nil)
			e.Must(err, "basic.consume c1")
			_, err = ch.Consume(q, "c2", false, false, false, false, nil)
			e.Must(err, "basic.consume c2")
			e.Must(ch.Cancel("c1", false), "basic.cancel c1")
			if _, ok := e.Inspect(q); !ok {
				return fmt.Errorf("auto-delete queue deleted while a consumer remained")
			}
			e.Must(ch.Cancel("c2", false), "basic.cancel c2")
			e.Eventually("auto-delete queue deleted after its last consumer cancelled", func() bool { _, ok := e.Inspect(q); return !ok })
			return nil
		},
	},
	{
		Name: "queue.declare/auto-delete-never-consumed-stays",
		Rule: "RabbitMQ docs/queues.md: an auto-delete queue that never had a consumer is not deleted",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Queue()
			_, err := ch.QueueDeclare(q, false, true, false, false, nil)
			e.Must(err, "queue.declare auto-delete")
			fill(e, q, 1)
			if n := e.Ready(q); n != 1 {
				return fmt.Errorf("auto-delete queue without consumers: %d messages, want 1", n)
			}
			return nil
		},
	},
	{
		Name: "queue.bind/missing-exchange-404",
		Rule: "AMQP 0-9-1 queue.bind exchange (rule 'exchange-existence'): NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, x := e.DeclareQueue(ch), e.Name("x")
			err := ch.QueueBind(q, "k", x, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noExchange(e, x), "queue.bind to a missing exchange")
			return nil
		},
	},
	{
		Name: "queue.bind/missing-queue-404",
		Rule: "AMQP 0-9-1 queue.bind queue (rule 'queue-known'): NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			err := ch.QueueBind(q, "k", "amq.direct", false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "queue.bind of a missing queue")
			return nil
		},
	},
	{
		Name: "queue.bind/rebind-is-idempotent",
		Rule: "AMQP 0-9-1 queue.bind (rule 'duplicates': a duplicate binding is ignored)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, x := e.DeclareQueue(ch), e.DeclareExchange(ch, "direct")
			e.Bind(ch, q, "k", x, nil)
			e.Bind(ch, q, "k", x, nil)
			wantRouted(e, e.Publisher(), x, "k", "once", []string{q}, q)
			return nil
		},
	},
	{
		Name: "queue.bind/arguments-distinguish-bindings",
		Rule: "AMQP 0-9-1 queue.bind/unbind arguments; RabbitMQ: a binding is (source, key, destination, arguments)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, x := e.DeclareQueue(ch), e.DeclareExchange(ch, "headers")
			a := amqp.Table{"x-match": "all", "a": "1"}
			b := amqp.Table{"x-match": "all", "b": "2"}
			e.Bind(ch, q, "", x, a)
			e.Bind(ch, q, "", x, b)
			pub := e.Publisher()
			withHeaders := func(body string, h amqp.Table) amqp.Publishing {
				return amqp.Publishing{Headers: h, Body: []byte(body)}
			}
			e.PublishConfirmed(pub, x, "", withHeaders("a", amqp.Table{"a": "1"}))
			e.PublishConfirmed(pub, x, "", withHeaders("b", amqp.Table{"b": "2"}))
			if got := e.Drain(q); strings.Join(got, ",") != "a,b" {
				return fmt.Errorf("two headers bindings: got %q, want [a b]", got)
			}
			// Unbinding with b's arguments removes only b's binding.
			e.Must(ch.QueueUnbind(q, "", x, b), "queue.unbind with b's arguments")
			e.PublishConfirmed(pub, x, "", withHeaders("a", amqp.Table{"a": "1"}))
			e.PublishConfirmed(pub, x, "", withHeaders("b", amqp.Table{"b": "2"}))
			if got := e.Drain(q); strings.Join(got, ",") != "a" {
				return fmt.Errorf("after unbinding b: got %q, want [a]", got)
			}
			return nil
		},
	},
	{
		Name: "queue.unbind/stops-routing",
		Rule: "AMQP 0-9-1 queue.unbind",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, x := e.DeclareQueue(ch), e.DeclareExchange(ch, "direct")
			e.Bind(ch, q, "k", x, nil)
			pub := e.Publisher()
			wantRouted(e, pub, x, "k", "bound", []string{q}, q)
			e.Must(ch.QueueUnbind(q, "k", x, nil), "queue.unbind")
			wantRouted(e, pub, x, "k", "unbound", []string{q})
			return nil
		},
	},
	{
		Name: "queue.unbind/missing-binding-ok",
		Rule: "RabbitMQ docs/specification.md: queue.unbind is idempotent (unbinding what is not bound succeeds)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, x := e.DeclareQueue(ch), e.DeclareExchange(ch, "direct")
			e.WantOK(ch.QueueUnbind(q, "never-bound", x, nil), "queue.unbind of a missing binding")
			e.WantOK(ch.QueueUnbind(q, "k", e.Name("x"), nil), "queue.unbind from a missing exchange")
			e.WantOK(ch.QueueUnbind(e.Name("q"), "k", x, nil), "queue.unbind of a missing queue")
			return nil
		},
	},
	{
		Name: "queue.purge/returns-count",
		Rule: "AMQP 0-9-1 queue.purge-ok message-count",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 3)
			n, err := ch.QueuePurge(q, false)
			e.Must(err, "queue.purge")
			if n != 3 {
				return fmt.Errorf("queue.purge-ok message-count: got %d, want 3", n)
			}
			if n := e.Ready(q); n != 0 {
				return fmt.Errorf("after queue.purge: %d messages, want 0", n)
			}
			return nil
		},
	},
	{
		Name: "queue.purge/missing-404",
		Rule: "AMQP 0-9-1 queue.purge queue (rule 'queue-known'): NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			_, err := ch.QueuePurge(q, false)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "queue.purge of a missing queue")
			return nil
		},
	},
	{
		Name: "queue.delete/returns-count",
		Rule: "AMQP 0-9-1 queue.delete-ok message-count",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 2)
			n, err := ch.QueueDelete(q, false, false, false)
			e.Must(err, "queue.delete")
			if n != 2 {
				return fmt.Errorf("queue.delete-ok message-count: got %d, want 2", n)
			}
			if _, ok := e.Inspect(q); ok {
				return fmt.Errorf("queue %s still exists after queue.delete", q)
			}
			return nil
		},
	},
	{
		Name: "queue.delete/if-unused-406",
		Rule: "AMQP 0-9-1 queue.delete if-unused: PRECONDITION_FAILED if the queue has consumers",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			cons := e.Channel()
			_, err := cons.Consume(q, "", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			_, err = ch.QueueDelete(q, true, false, false)
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - queue '%s' in vhost '%s' in use", q, e.Vhost), "queue.delete if-unused with a consumer")
			return nil
		},
	},
	{
		Name: "queue.delete/if-empty-406",
		Rule: "AMQP 0-9-1 queue.delete if-empty: PRECONDITION_FAILED if the queue has messages",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 1)
			_, err := ch.QueueDelete(q, false, true, false)
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - queue '%s' in vhost '%s' not empty", q, e.Vhost), "queue.delete if-empty with a message")
			return nil
		},
	},
	{
		Name: "queue.delete/if-unused-if-empty-ok",
		Rule: "AMQP 0-9-1 queue.delete if-unused, if-empty",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			n, err := ch.QueueDelete(q, true, true, false)
			e.WantOK(err, "queue.delete if-unused if-empty of an empty, unused queue")
			if n != 0 {
				return fmt.Errorf("queue.delete-ok message-count: got %d, want 0", n)
			}
			return nil
		},
	},
	{
		Name: "queue.delete/missing-ok",
		Rule: "RabbitMQ docs/specification.md: queue.delete is idempotent (the spec's 404 rule is not followed)",
		Run: func(e *Env) error {
			ch := e.Channel()
			n, err := ch.QueueDelete(e.Name("q"), false, false, false)
			e.WantOK(err, "queue.delete of a missing queue")
			if n != 0 {
				return fmt.Errorf("queue.delete-ok message-count for a missing queue: got %d, want 0", n)
			}
			return nil
		},
	},
}, exclusiveLockedChecks())
