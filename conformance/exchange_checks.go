package conformance

import (
	"fmt"
	"slices"

	amqp "github.com/rabbitmq/amqp091-go"
)

// inequivalentExchange builds RabbitMQ's 406 text for an exchange redeclared with another property
// (rabbit_exchange.erl assert_equivalence → rabbit_misc:assert_field_equivalence).
func inequivalentExchange(e *Env, x, field, received, current string) string {
	return fmt.Sprintf("PRECONDITION_FAILED - inequivalent arg '%s' for exchange '%s' in vhost '%s': received '%s' but current is '%s'",
		field, x, e.Vhost, received, current)
}

func noExchange(e *Env, x string) string {
	return fmt.Sprintf("NOT_FOUND - no exchange '%s' in vhost '%s'", x, e.Vhost)
}

const defaultExchangeRefused = "ACCESS_REFUSED - operation not permitted on the default exchange"

// wantRouted publishes body to x with key on a confirm channel and checks which of the queues got it.
func wantRouted(e *Env, pub *Chan, x, key string, body string, queues []string, want ...string) {
	e.PublishConfirmed(pub, x, key, Text(body))
	for _, q := range queues {
		got := e.Drain(q)
		should := slices.Contains(want, q)
		switch {
		case should && !slices.Equal(got, []string{body}):
			e.Fatalf("publish to %q with key %q: queue %s got %q, want exactly [%q]", x, key, q, got, body)
		case !should && len(got) != 0:
			e.Fatalf("publish to %q with key %q: queue %s got %q, want nothing", x, key, q, got)
		}
	}
}

var exchangeChecks = []Check{
	{
		Name: "exchange.declare/each-type",
		Rule: "AMQP 0-9-1 exchange.declare type (§3.1.3: direct, fanout, topic, headers)",
		Run: func(e *Env) error {
			ch := e.Channel()
			for _, kind := range []string{"direct", "fanout", "topic", "headers"} {
				x := e.Exchange()
				e.WantOK(ch.ExchangeDeclare(x, kind, false, false, false, false, nil), "exchange.declare type "+kind)
				e.WantOK(ch.ExchangeDeclarePassive(x, kind, false, false, false, false, nil), "passive exchange.declare type "+kind)
				e.WantOK(ch.ExchangeDeclare(x, kind, false, false, false, false, nil), "identical redeclare of type "+kind)
			}
			return nil
		},
	},
	{
		Name: "exchange.declare/predeclared-exchanges",
		Rule: "AMQP 0-9-1 §3.1.3.1-4 (amq.direct, amq.fanout, amq.topic, amq.headers/amq.match); RabbitMQ rabbit_vhost.erl",
		Run: func(e *Env) error {
			ch := e.Channel()
			for x, kind := range map[string]string{"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
				"amq.headers": "headers", "amq.match": "headers"} {
				e.WantOK(ch.ExchangeDeclarePassive(x, kind, true, false, false, false, nil), "passive exchange.declare "+x)
			}
			return nil
		},
	},
	{
		Name: "exchange.declare/durable",
		Rule: "AMQP 0-9-1 exchange.declare durable",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Exchange()
			e.WantOK(ch.ExchangeDeclare(x, "direct", true, false, false, false, nil), "exchange.declare durable")
			e.WantOK(ch.ExchangeDeclare(x, "direct", true, false, false, false, nil), "identical redeclare")
			return nil
		},
	},
	{
		Name: "exchange.declare/passive-missing-404",
		Rule: "AMQP 0-9-1 exchange.declare passive: NOT_FOUND if the exchange does not exist",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Name("x")
			err := ch.ExchangeDeclarePassive(x, "direct", false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noExchange(e, x), "passive exchange.declare of a missing exchange")
			return nil
		},
	},
	{
		Name: "exchange.declare/passive-empty-type",
		Rule: "AMQP 0-9-1 exchange.declare passive (other fields ignored); RabbitMQ accepts an empty type (Laravel's existence check)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "topic")
			e.WantOK(ch.ExchangeDeclarePassive(x, "", false, false, false, false, nil), "passive exchange.declare with type \"\"")
			e.WantOK(ch.ExchangeDeclarePassive(x, "fanout", true, true, true, false, nil), "passive exchange.declare with other properties")
			return nil
		},
	},
	{
		Name: "exchange.declare/inequivalent-type-406",
		Rule: "AMQP 0-9-1 exchange.declare type: redeclaring with another type is a PRECONDITION_FAILED channel exception",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			err := ch.ExchangeDeclare(x, "fanout", false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentExchange(e, x, "type", "fanout", "direct"), "redeclare with another type")
			return nil
		},
	},
	{
		Name: "exchange.declare/inequivalent-durable-406",
		Rule: "AMQP 0-9-1 exchange.declare durable (rule 'equivalent'); RabbitMQ rabbit_exchange.erl assert_equivalence",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			err := ch.ExchangeDeclare(x, "direct", true, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentExchange(e, x, "durable", "true", "false"), "redeclare durable")
			return nil
		},
	},
	{
		Name: "exchange.declare/inequivalent-auto-delete-406",
		Rule: "RabbitMQ rabbit_exchange.erl assert_equivalence (auto_delete)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			err := ch.ExchangeDeclare(x, "direct", false, true, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentExchange(e, x, "auto_delete", "true", "false"), "redeclare auto-delete")
			return nil
		},
	},
	{
		Name: "exchange.declare/inequivalent-internal-406",
		Rule: "RabbitMQ rabbit_exchange.erl assert_equivalence (internal)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			err := ch.ExchangeDeclare(x, "direct", false, false, true, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, inequivalentExchange(e, x, "internal", "true", "false"), "redeclare internal")
			return nil
		},
	},
	{
		Name: "exchange.declare/invalid-type-503",
		Rule: "AMQP 0-9-1 exchange.declare type (rule 'typed': COMMAND_INVALID for an unknown type); RabbitMQ rabbit_exchange.erl check_type",
		Run: func(e *Env) error {
			c := e.Dial()
			ch := c.Open()
			err := ch.ExchangeDeclare(e.Exchange(), "no-such-type", false, false, false, false, nil)
			e.WantConnError(c, err, amqp.CommandInvalid, "COMMAND_INVALID - unknown exchange type 'no-such-type'", "exchange.declare with type no-such-type")
			return nil
		},
	},
	{
		Name: "exchange.declare/reserved-amq-prefix-403",
		Rule: "AMQP 0-9-1 exchange.declare exchange (rule 'reserved-names': ACCESS_REFUSED for amq.*)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := "amq." + e.Name("x")
			err := ch.ExchangeDeclare(x, "direct", false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused,
				fmt.Sprintf("ACCESS_REFUSED - exchange name '%s' contains reserved prefix 'amq.*'", x), "exchange.declare "+x)
			return nil
		},
	},
	{
		Name: "exchange.delete/deletes",
		Rule: "AMQP 0-9-1 exchange.delete",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "fanout")
			e.WantOK(ch.ExchangeDelete(x, false, false), "exchange.delete")
			if e.ExchangeExists(x) {
				return fmt.Errorf("exchange %s still exists after exchange.delete", x)
			}
			return nil
		},
	},
	{
		Name: "exchange.delete/if-unused-406",
		Rule: "AMQP 0-9-1 exchange.delete if-unused: PRECONDITION_FAILED if the exchange has bindings",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			e.Bind(ch, e.DeclareQueue(ch), "k", x, nil)
			err := ch.ExchangeDelete(x, true, false)
			e.WantChannelError(ch, err, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - exchange '%s' in vhost '%s' in use", x, e.Vhost), "exchange.delete if-unused of a bound exchange")
			return nil
		},
	},
	{
		Name: "exchange.delete/if-unused-ok-when-unbound",
		Rule: "AMQP 0-9-1 exchange.delete if-unused",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			e.WantOK(ch.ExchangeDelete(x, true, false), "exchange.delete if-unused of an unbound exchange")
			return nil
		},
	},
	{
		Name: "exchange.delete/missing-ok",
		Rule: "RabbitMQ docs/specification.md: exchange.delete is idempotent (the spec's 404 rule is not followed)",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.WantOK(ch.ExchangeDelete(e.Name("x"), false, false), "exchange.delete of a missing exchange")
			e.WantOK(ch.ExchangeDelete(e.Name("x"), true, false), "exchange.delete if-unused of a missing exchange")
			return nil
		},
	},
	{
		Name: "exchange.bind/routes-through-and-unbind-stops",
		Rule: "RabbitMQ docs/e2e.md: exchange-to-exchange bindings; exchange.bind/unbind",
		Run: func(e *Env) error {
			ch := e.Channel()
			src, dst := e.DeclareExchange(ch, "direct"), e.DeclareExchange(ch, "fanout")
			q := e.DeclareQueue(ch)
			e.Bind(ch, q, "", dst, nil)
			e.WantOK(ch.ExchangeBind(dst, "k", src, false, nil), "exchange.bind")
			pub := e.Publisher()
			wantRouted(e, pub, src, "k", "bound", []string{q}, q)
			wantRouted(e, pub, src, "other", "other-key", []string{q})
			e.WantOK(ch.ExchangeUnbind(dst, "k", src, false, nil), "exchange.unbind")
			wantRouted(e, pub, src, "k", "unbound", []string{q})
			return nil
		},
	},
	{
		Name: "exchange.unbind/missing-ok",
		Rule: "RabbitMQ docs/specification.md: unbinding what is not bound succeeds",
		Run: func(e *Env) error {
			ch := e.Channel()
			src, dst := e.DeclareExchange(ch, "direct"), e.DeclareExchange(ch, "fanout")
			e.WantOK(ch.ExchangeUnbind(dst, "never-bound", src, false, nil), "exchange.unbind of a missing binding")
			return nil
		},
	},
	{
		Name: "exchange.bind/missing-source-404",
		Rule: "RabbitMQ docs/e2e.md; exchange.bind source: NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			dst, src := e.DeclareExchange(ch, "fanout"), e.Name("x")
			err := ch.ExchangeBind(dst, "k", src, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noExchange(e, src), "exchange.bind from a missing source")
			return nil
		},
	},
	{
		Name: "exchange.bind/missing-destination-404",
		Rule: "RabbitMQ docs/e2e.md; exchange.bind destination: NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			src, dst := e.DeclareExchange(ch, "fanout"), e.Name("x")
			err := ch.ExchangeBind(dst, "k", src, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noExchange(e, dst), "exchange.bind to a missing destination")
			return nil
		},
	},
	{
		Name: "exchange.declare/internal-publish-403",
		Rule: "AMQP 0-9-1 exchange.declare internal (RabbitMQ: publishing to an internal exchange is ACCESS_REFUSED)",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Exchange()
			e.WantOK(ch.ExchangeDeclare(x, "fanout", false, false, true, false, nil), "exchange.declare internal")
			e.Publish(ch, x, "", Text("to internal"))
			e.WantChannelClosed(ch, amqp.AccessRefused,
				fmt.Sprintf("ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '%s'", x, e.Vhost), "basic.publish to an internal exchange")
			return nil
		},
	},
	{
		Name: "exchange.declare/internal-routes-from-bound-exchange",
		Rule: "AMQP 0-9-1 exchange.declare internal; RabbitMQ docs/e2e.md (internal exchanges receive through e2e bindings)",
		Run: func(e *Env) error {
			ch := e.Channel()
			src, in := e.DeclareExchange(ch, "fanout"), e.Exchange()
			e.WantOK(ch.ExchangeDeclare(in, "fanout", false, false, true, false, nil), "exchange.declare internal")
			q := e.DeclareQueue(ch)
			e.Bind(ch, q, "", in, nil)
			e.WantOK(ch.ExchangeBind(in, "", src, false, nil), "exchange.bind internal to public")
			wantRouted(e, e.Publisher(), src, "", "via internal", []string{q}, q)
			return nil
		},
	},
	{
		Name: "exchange.declare/alternate-exchange",
		Rule: "RabbitMQ docs/ae.md: messages no binding routes go to the alternate-exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			ae := e.DeclareExchange(ch, "fanout")
			x := e.Exchange()
			e.WantOK(ch.ExchangeDeclare(x, "direct", false, false, false, false, amqp.Table{"alternate-exchange": ae}), "exchange.declare with alternate-exchange")
			routed, stray := e.DeclareQueue(ch), e.DeclareQueue(ch)
			e.Bind(ch, routed, "k", x, nil)
			e.Bind(ch, stray, "", ae, nil)
			pub := e.Publisher()
			wantRouted(e, pub, x, "k", "routed", []string{routed, stray}, routed)
			wantRouted(e, pub, x, "nobody", "unroutable", []string{routed, stray}, stray)
			return nil
		},
	},
	{
		Name: "exchange.declare/auto-delete-after-last-unbind",
		Rule: "AMQP 0-9-1 exchange.declare auto-delete (deleted when all queues have finished using it); RabbitMQ: on removal of its last binding",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Exchange()
			e.WantOK(ch.ExchangeDeclare(x, "direct", false, true, false, false, nil), "exchange.declare auto-delete")
			q1, q2 := e.DeclareQueue(ch), e.DeclareQueue(ch)
			e.Bind(ch, q1, "a", x, nil)
			e.Bind(ch, q2, "b", x, nil)
			e.WantOK(ch.QueueUnbind(q1, "a", x, nil), "queue.unbind of the first binding")
			if !e.ExchangeExists(x) {
				return fmt.Errorf("auto-delete exchange gone while it still had a binding")
			}
			e.WantOK(ch.QueueUnbind(q2, "b", x, nil), "queue.unbind of the last binding")
			e.Eventually("auto-delete exchange deleted after its last binding", func() bool { return !e.ExchangeExists(x) })
			return nil
		},
	},
	{
		Name: "exchange.declare/auto-delete-unbound-stays",
		Rule: "RabbitMQ docs/exchanges.md: an auto-delete exchange that never had a binding is not deleted",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Exchange()
			e.WantOK(ch.ExchangeDeclare(x, "direct", false, true, false, false, nil), "exchange.declare auto-delete")
			if !e.ExchangeExists(x) {
				return fmt.Errorf("auto-delete exchange without bindings deleted, want it kept")
			}
			return nil
		},
	},
	{
		Name: "exchange.declare/default-exchange-refused-403",
		Rule: "AMQP 0-9-1 §3.1.3.1 (default exchange); RabbitMQ rabbit_channel.erl: operations on \"\" are ACCESS_REFUSED",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.ExchangeDeclare("", "direct", true, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "exchange.declare of the default exchange")
			return nil
		},
	},
	{
		Name: "exchange.delete/default-exchange-refused-403",
		Rule: "RabbitMQ rabbit_channel.erl check_not_default_exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.ExchangeDelete("", false, false)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "exchange.delete of the default exchange")
			return nil
		},
	},
	{
		Name: "queue.bind/default-exchange-refused-403",
		Rule: "AMQP 0-9-1 §3.1.3.1: the default exchange's bindings are implicit; RabbitMQ rabbit_channel.erl check_not_default_exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			err := ch.QueueBind(q, "k", "", false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "queue.bind to the default exchange")
			return nil
		},
	},
	{
		Name: "queue.unbind/default-exchange-refused-403",
		Rule: "RabbitMQ rabbit_channel.erl check_not_default_exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			err := ch.QueueUnbind(q, q, "", nil)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "queue.unbind from the default exchange")
			return nil
		},
	},
	{
		Name: "exchange.bind/default-exchange-refused-403",
		Rule: "RabbitMQ rabbit_channel.erl check_not_default_exchange (as source or destination)",
		Run: func(e *Env) error {
			c := e.Dial()
			ch := c.Open()
			x := e.DeclareExchange(ch, "fanout")
			err := ch.ExchangeBind(x, "k", "", false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "exchange.bind from the default exchange")
			ch = c.Open()
			err = ch.ExchangeBind("", "k", x, false, nil)
			e.WantChannelError(ch, err, amqp.AccessRefused, defaultExchangeRefused, "exchange.bind to the default exchange")
			return nil
		},
	},
	{
		Name: "basic.publish/default-exchange-routes-by-queue-name",
		Rule: "AMQP 0-9-1 §3.1.3.1: every queue is bound to the default exchange by its name",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, other := e.DeclareQueue(ch), e.DeclareQueue(ch)
			wantRouted(e, e.Publisher(), "", q, "direct to queue", []string{q, other}, q)
			return nil
		},
	},
}
