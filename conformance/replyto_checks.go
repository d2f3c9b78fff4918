package conformance

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

const replyTo = "amq.rabbitmq.reply-to"

// replyToChecks cover direct reply-to (RabbitMQ docs/direct-reply-to.md).
var replyToChecks = []Check{
	{
		Name: "direct-reply-to/request-reply",
		Rule: "RabbitMQ docs/direct-reply-to.md: consume amq.rabbitmq.reply-to no-ack, publish with that reply-to on the same channel; the reply to the rewritten address reaches the consumer",
		Run: func(e *Env) error {
			client := e.Channel()
			replies, err := client.Consume(replyTo, "", true, false, false, false, nil)
			e.Must(err, "basic.consume amq.rabbitmq.reply-to")
			server := e.Channel()
			q := e.DeclareQueue(server)
			requests, err := server.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the request queue")
			e.Publish(client, "", q, amqp.Publishing{ReplyTo: replyTo, CorrelationId: "c1", Body: []byte("ping")})
			req := e.Recv(requests, "the request")
			if !strings.HasPrefix(req.ReplyTo, replyTo+".") {
				return fmt.Errorf("request reply-to %q, want it rewritten to %s.<key>", req.ReplyTo, replyTo)
			}
			e.Publish(server, "", req.ReplyTo, amqp.Publishing{CorrelationId: req.CorrelationId, Body: []byte("pong")})
			rep := e.Recv(replies, "the reply")
			if string(rep.Body) != "pong" || rep.CorrelationId != "c1" || rep.RoutingKey != req.ReplyTo || rep.Exchange != "" {
				return fmt.Errorf("reply: body %q correlation %q exchange %q key %q; want pong, c1, \"\", %q",
					rep.Body, rep.CorrelationId, rep.Exchange, rep.RoutingKey, req.ReplyTo)
			}
			return nil
		},
	},
	{
		Name: "direct-reply-to/passive-declare-ok",
		Rule: "RabbitMQ docs/direct-reply-to.md: the pseudo-queue exists for a passive queue.declare (clients probe for the feature)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q, err := ch.QueueDeclarePassive(replyTo, false, false, false, false, nil)
			e.Must(err, "passive queue.declare amq.rabbitmq.reply-to")
			if q.Name != replyTo {
				return fmt.Errorf("declare-ok names %q, want %q", q.Name, replyTo)
			}
			return nil
		},
	},
	{
		Name: "direct-reply-to/consume-with-acks-406",
		Rule: "RabbitMQ rabbit_channel: the reply consumer must be no-ack (PRECONDITION_FAILED 'reply consumer cannot acknowledge')",
		Run: func(e *Env) error {
			ch := e.Channel()
			_, err := ch.Consume(replyTo, "", false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - reply consumer cannot acknowledge", "basic.consume amq.rabbitmq.reply-to with acks")
			return nil
		},
	},
	{
		Name: "direct-reply-to/publish-without-consumer-406",
		Rule: "RabbitMQ rabbit_channel: publishing with reply-to amq.rabbitmq.reply-to needs a reply consumer on the channel (PRECONDITION_FAILED 'fast reply consumer does not exist')",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Publish(ch, "", q, amqp.Publishing{ReplyTo: replyTo, Body: []byte("x")})
			e.WantChannelClosed(ch, amqp.PreconditionFailed, "PRECONDITION_FAILED - fast reply consumer does not exist", "basic.publish with reply-to and no reply consumer")
			return nil
		},
	},
	{
		Name: "direct-reply-to/mandatory-reply-to-gone-consumer-returned",
		Rule: "RabbitMQ docs/direct-reply-to.md: a mandatory reply treats the address as a queue; once its consumer is gone the reply is returned NO_ROUTE",
		Run: func(e *Env) error {
			client := e.Channel()
			_, err := client.Consume(replyTo, "", true, false, false, false, nil)
			e.Must(err, "basic.consume amq.rabbitmq.reply-to")
			server := e.Channel()
			q := e.DeclareQueue(server)
			requests, err := server.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume of the request queue")
			e.Publish(client, "", q, amqp.Publishing{ReplyTo: replyTo, Body: []byte("ping")})
			req := e.Recv(requests, "the request")
			e.Must(client.Close(), "close the requesting channel")
			returns := server.NotifyReturn(make(chan amqp.Return, 1))
			e.Must(server.PublishWithContext(e.ctx, "", req.ReplyTo, true, false, amqp.Publishing{Body: []byte("late")}), "mandatory reply")
			select {
			case r := <-returns:
				if r.ReplyCode != amqp.NoRoute {
					return fmt.Errorf("basic.return code %d, want 312 NO_ROUTE", r.ReplyCode)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no basic.return for a mandatory reply to a closed channel's address")
			}
			return nil
		},
	},
}
