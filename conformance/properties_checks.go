package conformance

import (
	"fmt"
	"reflect"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// allFieldTypes holds one header value of every field type amqp091-go writes (AMQP 0-9-1 §4.2.5.5 with
// RabbitMQ's errata: b B s u I i l f d D S x A T F t V).
func allFieldTypes() amqp.Table {
	return amqp.Table{
		"bool":    true,
		"int8":    int8(-8),
		"uint8":   uint8(8),
		"int16":   int16(-16),
		"uint16":  uint16(16),
		"int32":   int32(-32),
		"uint32":  uint32(32),
		"int64":   int64(-64),
		"float32": float32(3.5),
		"float64": float64(-6.25),
		"decimal": amqp.Decimal{Scale: 2, Value: 12345},
		"string":  "text ✓",
		"bytes":   []byte{0, 1, 0xCE},
		"array":   []any{"a", int32(1), true, []any{"nested"}},
		"time":    time.Unix(1_700_000_000, 0),
		"table":   amqp.Table{"inner": "v", "deeper": amqp.Table{"n": int64(1)}},
		"void":    nil,
	}
}

var propertiesChecks = []Check{
	{
		Name: "basic.publish/properties-round-trip",
		Rule: "AMQP 0-9-1 §4.2.6.1 (the 14 basic properties) and §4.2.5.5 (field tables): a broker delivers them unchanged",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			sent := amqp.Publishing{
				Headers:         allFieldTypes(),
				ContentType:     "application/json",
				ContentEncoding: "gzip",
				DeliveryMode:    amqp.Persistent,
				Priority:        7,
				CorrelationId:   "corr-1",
				ReplyTo:         "reply.queue",
				Expiration:      "600000",
				MessageId:       "msg-1",
				Timestamp:       time.Unix(1_600_000_000, 0),
				Type:            "order.created",
				UserId:          e.uri.Username, // RabbitMQ validates user-id against the connection's user
				AppId:           "conformance",
				Body:            []byte(`{"ok":true}`),
			}
			e.PublishConfirmed(e.Publisher(), "", q, sent)
			d, err := ch.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume")
			m := e.Recv(d, "the published message")
			got := amqp.Publishing{Headers: m.Headers, ContentType: m.ContentType, ContentEncoding: m.ContentEncoding,
				DeliveryMode: m.DeliveryMode, Priority: m.Priority, CorrelationId: m.CorrelationId, ReplyTo: m.ReplyTo,
				Expiration: m.Expiration, MessageId: m.MessageId, Timestamp: m.Timestamp, Type: m.Type, UserId: m.UserId,
				AppId: m.AppId, Body: m.Body}
			if !reflect.DeepEqual(got.Headers, sent.Headers) {
				for k, v := range sent.Headers {
					if !reflect.DeepEqual(got.Headers[k], v) {
						return fmt.Errorf("header %q: got %#v, want %#v", k, got.Headers[k], v)
					}
				}
				return fmt.Errorf("headers: got %#v, want %#v", got.Headers, sent.Headers)
			}
			got.Headers, sent.Headers = nil, nil
			got.Timestamp, sent.Timestamp = got.Timestamp.UTC(), sent.Timestamp.UTC()
			if !reflect.DeepEqual(got, sent) {
				return fmt.Errorf("properties: got %+v, want %+v", got, sent)
			}
			return nil
		},
	},
	{
		Name: "basic.publish/no-properties-round-trip",
		Rule: "AMQP 0-9-1 §4.2.6.1: property flags 0 means no properties",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.PublishConfirmed(e.Publisher(), "", q, amqp.Publishing{Body: []byte("bare")})
			m, ok, err := ch.Get(q, true)
			e.Must(err, "basic.get")
			if !ok || string(m.Body) != "bare" || m.Headers != nil || m.ContentType != "" || m.DeliveryMode != 0 ||
				m.MessageId != "" || !m.Timestamp.IsZero() {
				return fmt.Errorf("message without properties: got ok=%v %+v, want the body and no properties", ok, m)
			}
			return nil
		},
	},
	{
		Name: "basic.publish/user-id-must-match-406",
		Rule: "RabbitMQ docs/validated-user-id.md: a user-id property other than the connection's user is PRECONDITION_FAILED",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Publish(ch, "", q, amqp.Publishing{UserId: "not-" + e.uri.Username, Body: []byte("x")})
			e.WantChannelClosed(ch, amqp.PreconditionFailed,
				fmt.Sprintf("PRECONDITION_FAILED - user_id property set to 'not-%s' but authenticated user was '%s'", e.uri.Username, e.uri.Username),
				"basic.publish with another user's user-id")
			return nil
		},
	},
	{
		Name: "basic.deliver/fields-and-delivery-tags",
		Rule: "AMQP 0-9-1 basic.deliver (consumer-tag, delivery-tag, redelivered, exchange, routing-key); delivery tags count from 1 per channel",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "topic")
			q := e.DeclareQueue(ch)
			e.Bind(ch, q, "t.#", x, nil)
			pub := e.Publisher()
			e.PublishConfirmed(pub, x, "t.one", Text("1"))
			e.PublishConfirmed(pub, x, "t.two", Text("2"))
			cons := e.Channel()
			m0, ok, err := cons.Get(q, false) // basic.get-ok shares the channel's delivery-tag sequence
			e.Must(err, "basic.get")
			if !ok || m0.DeliveryTag != 1 || m0.Exchange != x || m0.RoutingKey != "t.one" {
				return fmt.Errorf("basic.get-ok: got ok=%v tag %d exchange %q key %q, want tag 1 %q \"t.one\"", ok, m0.DeliveryTag, m0.Exchange, m0.RoutingKey, x)
			}
			d, err := cons.Consume(q, "the-tag", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			m := e.Recv(d, "delivery")
			if m.ConsumerTag != "the-tag" || m.DeliveryTag != 2 || m.Redelivered || m.Exchange != x || m.RoutingKey != "t.two" {
				return fmt.Errorf("basic.deliver: got consumer-tag %q delivery-tag %d redelivered %v exchange %q key %q; want \"the-tag\" 2 false %q \"t.two\"",
					m.ConsumerTag, m.DeliveryTag, m.Redelivered, m.Exchange, m.RoutingKey, x)
			}
			return nil
		},
	},
}
