package conformance

import (
	"fmt"
	"slices"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// routeCase is one binding and the messages (by body) that must reach its queue, and only those.
type routeCase struct {
	name string     // names the binding in failures
	key  string     // binding key
	args amqp.Table // binding arguments
	want []string   // bodies expected in the queue, any order
}

// routeMsg is a message published in a routing table check; its body names it.
type routeMsg struct {
	body    string
	key     string
	headers amqp.Table
}

// checkRoutes binds one fresh queue per case to a fresh exchange of kind, publishes every message
// (confirmed), then checks that each queue holds exactly its case's messages, each once.
func checkRoutes(e *Env, kind string, cases []routeCase, msgs []routeMsg) error {
	ch := e.Channel()
	x := e.DeclareExchange(ch, kind)
	queues := make([]string, len(cases))
	for i, c := range cases {
		queues[i] = e.DeclareQueue(ch)
		e.Bind(ch, queues[i], c.key, x, c.args)
	}
	pub := e.Publisher()
	for _, m := range msgs {
		e.PublishConfirmed(pub, x, m.key, amqp.Publishing{Headers: m.headers, Body: []byte(m.body)})
	}
	var bad []string
	for i, c := range cases {
		got := e.Drain(queues[i])
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			bad = append(bad, fmt.Sprintf("binding %s: got %q, want %q", c.name, got, want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s exchange routed wrongly:\n%s", kind, strings.Join(bad, "\n"))
	}
	return nil
}

// topicKeys are the routing keys published in the topic check; each message's body is "k=<key>".
var topicKeys = []string{"a.b.c", "a.b", "a", "", "a..c", "b.c", "a.b.c.d", ".", "a.c"}

func topicCase(pattern string, keys ...string) routeCase {
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = "k=" + k
	}
	return routeCase{name: fmt.Sprintf("%q", pattern), key: pattern, want: want}
}

// Headers matched by the headers check's bindings, one message per line.
var headerMsgs = []routeMsg{
	{body: "a1-b2", headers: amqp.Table{"a": "1", "b": "2"}},
	{body: "a1", headers: amqp.Table{"a": "1"}},
	{body: "b2", headers: amqp.Table{"b": "2"}},
	{body: "xk-a1", headers: amqp.Table{"x-k": "v", "a": "1"}},
	{body: "xk-b9", headers: amqp.Table{"x-k": "v", "b": "9"}},
	{body: "none"},
	{body: "a-other", headers: amqp.Table{"a": "other"}},
	{body: "a1-b2-c3", headers: amqp.Table{"a": "1", "b": "2", "c": "3"}},
}

var routingChecks = []Check{
	{
		Name: "exchange.direct/routes-by-exact-key",
		Rule: "AMQP 0-9-1 §3.1.3.1 direct exchange: routing key equals binding key; every matching queue gets the message",
		Run: func(e *Env) error {
			return checkRoutes(e, "direct", []routeCase{
				{name: "k1", key: "k1", want: []string{"1"}},
				{name: "k1 (second queue)", key: "k1", want: []string{"1"}},
				{name: "k2", key: "k2", want: []string{"2"}},
				{name: "\"\"", key: "", want: []string{"empty"}},
			}, []routeMsg{{body: "1", key: "k1"}, {body: "2", key: "k2"}, {body: "empty", key: ""}, {body: "none", key: "K1"}})
		},
	},
	{
		Name: "exchange.fanout/routes-to-all-ignoring-key",
		Rule: "AMQP 0-9-1 §3.1.3.2 fanout exchange",
		Run: func(e *Env) error {
			return checkRoutes(e, "fanout", []routeCase{
				{name: "q1", key: "", want: []string{"x", "y"}},
				{name: "q2 (key k)", key: "k", want: []string{"x", "y"}},
			}, []routeMsg{{body: "x", key: "k"}, {body: "y", key: "other"}})
		},
	},
	{
		Name: "exchange.topic/wildcards-and-empty-words",
		Rule: "AMQP 0-9-1 §3.1.3.3 topic exchange (* one word, # zero or more); RabbitMQ rabbit_exchange_type_topic.erl (empty words are words)",
		Run: func(e *Env) error {
			all := topicKeys
			var allButEmpty []string
			for _, k := range all {
				if k != "" {
					allButEmpty = append(allButEmpty, k)
				}
			}
			cases := []routeCase{
				topicCase("a.*.c", "a.b.c", "a..c"),
				topicCase("a.#", "a.b.c", "a.b", "a", "a..c", "a.b.c.d", "a.c"),
				topicCase("#", all...),
				topicCase("*", "a"),
				topicCase("#.c", "a.b.c", "a..c", "b.c", "a.c"),
				topicCase("*.*", "a.b", "b.c", ".", "a.c"),
				topicCase("a.#.c", "a.b.c", "a..c", "a.c"),
				topicCase("", ""),
				topicCase("a..c", "a..c"),
				topicCase("*.#", allButEmpty...),
				topicCase("a.*", "a.b", "a.c"),
				topicCase("#.b.#", "a.b.c", "a.b", "a.b.c.d", "b.c"),
				topicCase("a.b.c", "a.b.c"),
			}
			var msgs []routeMsg
			for _, k := range topicKeys {
				msgs = append(msgs, routeMsg{body: "k=" + k, key: k})
			}
			return checkRoutes(e, "topic", cases, msgs)
		},
	},
	{
		Name: "exchange.topic/overlapping-bindings-deliver-once",
		Rule: "AMQP 0-9-1 §3.1.3.3 / basic.publish: a message routed to a queue by several bindings is delivered to it once",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "topic")
			q := e.DeclareQueue(ch)
			for _, k := range []string{"a.*", "#", "a.b", "*.b", "#.b", "a.#"} {
				e.Bind(ch, q, k, x, nil)
			}
			e.PublishConfirmed(e.Publisher(), x, "a.b", Text("once"))
			if got := e.Drain(q); !slices.Equal(got, []string{"once"}) {
				return fmt.Errorf("six bindings matching a.b: queue got %q, want [once]", got)
			}
			return nil
		},
	},
	{
		Name: "exchange.headers/x-match-all-any-with-x-and-void",
		Rule: "AMQP 0-9-1 §3.1.3.4 headers exchange; RabbitMQ rabbit_exchange_type_headers.erl (all-with-x, any-with-x, missing x-match = all, void matches on presence)",
		Run: func(e *Env) error {
			return checkRoutes(e, "headers", []routeCase{
				{name: "all a=1 b=2", args: amqp.Table{"x-match": "all", "a": "1", "b": "2"}, want: []string{"a1-b2", "a1-b2-c3"}},
				{name: "no x-match a=1 b=2", args: amqp.Table{"a": "1", "b": "2"}, want: []string{"a1-b2", "a1-b2-c3"}},
				{name: "any a=1 b=2", args: amqp.Table{"x-match": "any", "a": "1", "b": "2"}, want: []string{"a1-b2", "a1", "b2", "xk-a1", "a1-b2-c3"}},
				{name: "all x-k=v a=1 (x- ignored)", args: amqp.Table{"x-match": "all", "x-k": "v", "a": "1"}, want: []string{"a1-b2", "a1", "xk-a1", "a1-b2-c3"}},
				{name: "all-with-x x-k=v a=1", args: amqp.Table{"x-match": "all-with-x", "x-k": "v", "a": "1"}, want: []string{"xk-a1"}},
				{name: "any-with-x x-k=v b=9", args: amqp.Table{"x-match": "any-with-x", "x-k": "v", "b": "9"}, want: []string{"xk-a1", "xk-b9"}},
				{name: "all a=<void>", args: amqp.Table{"x-match": "all", "a": nil}, want: []string{"a1-b2", "a1", "xk-a1", "a-other", "a1-b2-c3"}},
				{name: "all with no keys", args: amqp.Table{"x-match": "all"}, want: []string{"a1-b2", "a1", "b2", "xk-a1", "xk-b9", "none", "a-other", "a1-b2-c3"}},
			}, headerMsgs)
		},
	},
	{
		Name: "basic.publish/cc-and-bcc-headers",
		Rule: "RabbitMQ docs/sender-selected.md: CC and BCC route to more keys; BCC is removed before delivery",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			q1, q2, q3 := e.DeclareQueue(ch), e.DeclareQueue(ch), e.DeclareQueue(ch)
			e.Bind(ch, q1, "k1", x, nil)
			e.Bind(ch, q2, "k2", x, nil)
			e.Bind(ch, q3, "k3", x, nil)
			e.PublishConfirmed(e.Publisher(), x, "k1", amqp.Publishing{
				Headers: amqp.Table{"CC": []any{"k2"}, "BCC": []any{"k3"}, "h": "kept"},
				Body:    []byte("cc"),
			})
			for _, q := range []string{q1, q2, q3} {
				m, ok, err := ch.Get(q, true)
				e.Must(err, "basic.get "+q)
				if !ok || string(m.Body) != "cc" {
					return fmt.Errorf("queue bound with %s: got ok=%v body %q, want the message", q, ok, m.Body)
				}
				if _, has := m.Headers["BCC"]; has {
					return fmt.Errorf("delivered headers %v contain BCC, want it stripped", m.Headers)
				}
				cc, _ := m.Headers["CC"].([]any)
				if len(cc) != 1 || cc[0] != "k2" || m.Headers["h"] != "kept" {
					return fmt.Errorf("delivered headers %v, want CC [k2] and h kept", m.Headers)
				}
				if m.RoutingKey != "k1" {
					return fmt.Errorf("delivered routing key %q, want the published k1", m.RoutingKey)
				}
			}
			return nil
		},
	},
	{
		Name: "basic.publish/mandatory-unroutable-returned-312",
		Rule: "AMQP 0-9-1 basic.publish mandatory: an unroutable message is returned with basic.return 312 NO_ROUTE",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			returns := ch.NotifyReturn(make(chan amqp.Return, 1))
			msg := amqp.Publishing{MessageId: "mid-1", ContentType: "text/plain", Headers: amqp.Table{"h": "v"}, Body: []byte("back")}
			e.Must(ch.PublishWithContext(e.ctx, x, "nowhere", true, false, msg), "basic.publish mandatory")
			select {
			case r := <-returns:
				if r.ReplyCode != amqp.NoRoute || r.ReplyText != "NO_ROUTE" || r.Exchange != x || r.RoutingKey != "nowhere" {
					return fmt.Errorf("basic.return: got %d %q exchange %q key %q, want 312 \"NO_ROUTE\" %q \"nowhere\"", r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, x)
				}
				if string(r.Body) != "back" || r.MessageId != "mid-1" || r.ContentType != "text/plain" || r.Headers["h"] != "v" {
					return fmt.Errorf("basic.return content: got body %q message-id %q content-type %q headers %v, want the published message", r.Body, r.MessageId, r.ContentType, r.Headers)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no basic.return within %v for an unroutable mandatory message", closeWait)
			}
			return nil
		},
	},
	{
		Name: "basic.publish/mandatory-to-default-exchange-missing-queue-returned",
		Rule: "AMQP 0-9-1 basic.publish mandatory; §3.1.3.1 default exchange",
		Run: func(e *Env) error {
			ch := e.Channel()
			returns := ch.NotifyReturn(make(chan amqp.Return, 1))
			q := e.Name("q")
			e.Must(ch.PublishWithContext(e.ctx, "", q, true, false, Text("x")), "basic.publish mandatory")
			select {
			case r := <-returns:
				if r.ReplyCode != amqp.NoRoute || r.RoutingKey != q {
					return fmt.Errorf("basic.return: got %d %q key %q, want 312 NO_ROUTE key %q", r.ReplyCode, r.ReplyText, r.RoutingKey, q)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no basic.return within %v", closeWait)
			}
			return nil
		},
	},
	{
		Name: "basic.publish/immediate-540",
		Rule: "RabbitMQ docs/specification.md: immediate is not supported (NOT_IMPLEMENTED connection exception); amqp091-go TestIntegrationPublishImmediate",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Must(ch.PublishWithContext(e.ctx, "", q, false, true, Text("now")), "basic.publish immediate")
			e.WantConnClosed(ch.Conn, amqp.NotImplemented, "NOT_IMPLEMENTED - immediate=true", "basic.publish immediate=true")
			return nil
		},
	},
	{
		Name: "basic.publish/missing-exchange-404",
		Rule: "AMQP 0-9-1 basic.publish exchange (rule 'must-exist'): NOT_FOUND channel exception",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.Name("x")
			e.Must(ch.PublishWithContext(e.ctx, x, "k", false, false, Text("lost")), "basic.publish")
			e.WantChannelClosed(ch, amqp.NotFound, noExchange(e, x), "basic.publish to a missing exchange")
			return nil
		},
	},
}
