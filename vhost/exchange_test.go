package vhost

import (
	"errors"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestPredeclaredExchanges(t *testing.T) {
	v := newTestVHost(t)
	for _, tc := range []struct{ name, kind string }{
		{"amq.direct", "direct"}, {"amq.fanout", "fanout"}, {"amq.topic", "topic"},
		{"amq.headers", "headers"}, {"amq.match", "headers"}, {"amq.rabbitmq.trace", "topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, v.DeclareExchange(tc.name, "", true, false, false, false, nil))
			// Redeclaring an existing amq.* exchange with its own properties is allowed:
			// the reserved-prefix check applies only on creation.
			internal := tc.name == "amq.rabbitmq.trace"
			must(t, v.DeclareExchange(tc.name, tc.kind, false, true, false, internal, nil))
		})
	}
	t.Run("amq.rabbitmq.trace is internal", func(t *testing.T) {
		_, err := v.Publish(msg(t, "amq.rabbitmq.trace", "k", "", nil))
		wantErr(t, err, wire.AccessRefused, "cannot publish to internal exchange 'amq.rabbitmq.trace' in vhost '/'")
	})
}

func TestDefaultExchangeOperationsRefused(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	const text = "operation not permitted on the default exchange"
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"declare", v.DeclareExchange("", "direct", false, true, false, false, nil)},
		{"declare passive", v.DeclareExchange("", "", true, false, false, false, nil)},
		{"delete", v.DeleteExchange("", false)},
		{"exchange.bind destination", v.BindExchange("", "amq.direct", "k", nil)},
		{"exchange.bind source", v.BindExchange("amq.direct", "", "k", nil)},
		{"exchange.unbind", v.UnbindExchange("amq.direct", "", "k", nil)},
		{"queue.bind", v.BindQueue(nil, "q", "", "q", nil)},
		{"queue.unbind", v.UnbindQueue(nil, "q", "", "q", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.err, wire.AccessRefused, text) })
	}
	t.Run("publish routes to the queue named by the key", func(t *testing.T) {
		if !publish(t, v, "", "q", "m", nil) {
			t.Fatal("not routed")
		}
		if publish(t, v, "", "missing", "m", nil) {
			t.Fatal("routed to a missing queue")
		}
		if got := drain(t, v, "q"); !equal(got, []string{"m"}) {
			t.Fatalf("got %v", got)
		}
	})
}

func TestExchangeDeclare(t *testing.T) {
	v := newTestVHost(t)
	t.Run("passive missing is 404", func(t *testing.T) {
		wantErr(t, v.DeclareExchange("nope", "", true, false, false, false, nil), wire.NotFound,
			"no exchange 'nope' in vhost '/'")
	})
	t.Run("passive ignores the type", func(t *testing.T) {
		must(t, v.DeclareExchange("amq.topic", "bogus", true, false, false, false, nil))
	})
	t.Run("unknown type is a 503 connection exception", func(t *testing.T) {
		for _, kind := range []string{"x-bogus", ""} {
			err := v.DeclareExchange("x", kind, false, false, false, false, nil)
			var ex *wire.Exception
			if !errors.As(err, &ex) || !ex.Hard || ex.Code != wire.CommandInvalid ||
				ex.Text != "unknown exchange type '"+kind+"'" {
				t.Fatalf("type %q: got %#v", kind, err)
			}
		}
	})
	t.Run("reserved prefix amq. is 403", func(t *testing.T) {
		wantErr(t, v.DeclareExchange("amq.mine", "direct", false, false, false, false, nil), wire.AccessRefused,
			"exchange name 'amq.mine' contains reserved prefix 'amq.*'")
	})
	t.Run("redeclare with the same properties succeeds", func(t *testing.T) {
		must(t, v.DeclareExchange("x1", "topic", false, true, false, false, wire.Table{"alternate-exchange": "ae", "other": int32(1)}))
		must(t, v.DeclareExchange("x1", "topic", false, true, false, false, wire.Table{"alternate-exchange": "ae", "other": "different"}))
	})
	for _, tc := range []struct {
		name                          string
		kind                          string
		durable, autoDelete, internal bool
		args                          wire.Table
		text                          string
	}{
		{"inequivalent type", "fanout", true, false, false, wire.Table{"alternate-exchange": "ae"},
			"inequivalent arg 'type' for exchange 'x1' in vhost '/': received 'fanout' but current is 'topic'"},
		{"inequivalent durable", "topic", false, false, false, wire.Table{"alternate-exchange": "ae"},
			"inequivalent arg 'durable' for exchange 'x1' in vhost '/': received 'false' but current is 'true'"},
		{"inequivalent auto_delete", "topic", true, true, false, wire.Table{"alternate-exchange": "ae"},
			"inequivalent arg 'auto_delete' for exchange 'x1' in vhost '/': received 'true' but current is 'false'"},
		{"inequivalent internal", "topic", true, false, true, wire.Table{"alternate-exchange": "ae"},
			"inequivalent arg 'internal' for exchange 'x1' in vhost '/': received 'true' but current is 'false'"},
		{"inequivalent alternate-exchange", "topic", true, false, false, wire.Table{"alternate-exchange": "other"},
			"inequivalent arg 'alternate-exchange' for exchange 'x1' in vhost '/': received 'other' but current is 'ae'"},
		{"missing alternate-exchange", "topic", true, false, false, nil,
			"inequivalent arg 'alternate-exchange' for exchange 'x1' in vhost '/': received none but current is the value 'ae' of type 'longstr'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, v.DeclareExchange("x1", tc.kind, false, tc.durable, tc.autoDelete, tc.internal, tc.args),
				wire.PreconditionFailed, tc.text)
		})
	}
	t.Run("alternate-exchange must be a string", func(t *testing.T) {
		wantErr(t, v.DeclareExchange("x2", "direct", false, false, false, false, wire.Table{"alternate-exchange": int32(5)}),
			wire.PreconditionFailed, "invalid type 'signedint' for arg 'alternate-exchange' in exchange 'x2' in vhost '/'")
	})
}

func TestExchangeDelete(t *testing.T) {
	v := newTestVHost(t)
	t.Run("missing exchange succeeds", func(t *testing.T) { must(t, v.DeleteExchange("nope", false)) })
	t.Run("system exchange is 403", func(t *testing.T) {
		wantErr(t, v.DeleteExchange("amq.direct", false), wire.AccessRefused,
			"deletion of system exchange 'amq.direct' in vhost '/' not allowed")
	})
	t.Run("if-unused with bindings is 406", func(t *testing.T) {
		must(t, v.DeclareExchange("src", "direct", false, false, false, false, nil))
		declareQ(t, v, nil, "q")
		must(t, v.BindQueue(nil, "q", "src", "k", nil))
		wantErr(t, v.DeleteExchange("src", true), wire.PreconditionFailed, "exchange 'src' in vhost '/' in use")
		must(t, v.UnbindQueue(nil, "q", "src", "k", nil))
		must(t, v.DeleteExchange("src", true))
	})
	t.Run("if-unused ignores bindings as destination", func(t *testing.T) {
		must(t, v.DeclareExchange("d", "fanout", false, false, false, false, nil))
		must(t, v.BindExchange("d", "amq.fanout", "", nil))
		must(t, v.DeleteExchange("d", true))
	})
	t.Run("delete removes bindings both ways", func(t *testing.T) {
		must(t, v.DeclareExchange("mid", "fanout", false, false, false, false, nil))
		declareQ(t, v, nil, "q2")
		must(t, v.BindExchange("mid", "amq.direct", "k2", nil))
		must(t, v.BindQueue(nil, "q2", "mid", "", nil))
		must(t, v.DeleteExchange("mid", false))
		if publish(t, v, "amq.direct", "k2", "m", nil) {
			t.Fatal("routed through a deleted exchange")
		}
		// Declaring it again starts without bindings.
		must(t, v.DeclareExchange("mid", "fanout", false, false, false, false, nil))
		if publish(t, v, "mid", "", "m", nil) {
			t.Fatal("a recreated exchange kept old bindings")
		}
	})
}

func TestExchangeAutoDelete(t *testing.T) {
	v := newTestVHost(t)
	exists := func(name string) bool { return v.DeclareExchange(name, "", true, false, false, false, nil) == nil }
	t.Run("never bound stays", func(t *testing.T) {
		must(t, v.DeclareExchange("ad0", "direct", false, false, true, false, nil))
		if !exists("ad0") {
			t.Fatal("auto-delete exchange without bindings was deleted")
		}
	})
	t.Run("last queue unbind deletes it", func(t *testing.T) {
		must(t, v.DeclareExchange("ad1", "direct", false, false, true, false, nil))
		declareQ(t, v, nil, "q1")
		must(t, v.BindQueue(nil, "q1", "ad1", "a", nil))
		must(t, v.BindQueue(nil, "q1", "ad1", "b", nil))
		must(t, v.UnbindQueue(nil, "q1", "ad1", "a", nil))
		if !exists("ad1") {
			t.Fatal("deleted with a binding left")
		}
		must(t, v.UnbindQueue(nil, "q1", "ad1", "b", nil))
		if exists("ad1") {
			t.Fatal("not deleted after its last binding")
		}
	})
	t.Run("queue delete deletes it", func(t *testing.T) {
		must(t, v.DeclareExchange("ad2", "fanout", false, false, true, false, nil))
		declareQ(t, v, nil, "q2")
		must(t, v.BindQueue(nil, "q2", "ad2", "", nil))
		if _, err := v.DeleteQueue(nil, "q2", false, false); err != nil {
			t.Fatal(err)
		}
		if exists("ad2") {
			t.Fatal("not deleted with its last destination")
		}
	})
	t.Run("destination exchange delete cascades", func(t *testing.T) {
		must(t, v.DeclareExchange("ad3", "fanout", false, false, true, false, nil))
		must(t, v.DeclareExchange("ad4", "fanout", false, false, true, false, nil))
		must(t, v.DeclareExchange("end", "fanout", false, false, false, false, nil))
		must(t, v.BindExchange("ad4", "ad3", "", nil)) // ad3 → ad4 → end
		must(t, v.BindExchange("end", "ad4", "", nil))
		must(t, v.DeleteExchange("end", false))
		if exists("ad4") || exists("ad3") {
			t.Fatal("auto-delete did not cascade")
		}
	})
}

func TestExchangeToExchangeBindings(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("a", "fanout", false, false, false, false, nil))
	must(t, v.DeclareExchange("b", "topic", false, false, false, false, nil))
	declareQ(t, v, nil, "qa")
	declareQ(t, v, nil, "qb")
	t.Run("missing source is 404", func(t *testing.T) {
		wantErr(t, v.BindExchange("a", "nope", "", nil), wire.NotFound, "no exchange 'nope' in vhost '/'")
	})
	t.Run("missing destination is 404", func(t *testing.T) {
		wantErr(t, v.BindExchange("nope", "a", "", nil), wire.NotFound, "no exchange 'nope' in vhost '/'")
	})
	t.Run("both missing names the source", func(t *testing.T) {
		wantErr(t, v.BindExchange("nope1", "nope2", "", nil), wire.NotFound, "no exchange 'nope2' in vhost '/'")
	})
	t.Run("routes through the chain", func(t *testing.T) {
		must(t, v.BindExchange("b", "a", "", nil))
		must(t, v.BindQueue(nil, "qb", "b", "x.*", nil))
		if !publish(t, v, "a", "x.y", "1", nil) {
			t.Fatal("not routed")
		}
		if publish(t, v, "a", "z", "2", nil) {
			t.Fatal("routed a non-matching key")
		}
		if got := drain(t, v, "qb"); !equal(got, []string{"1"}) {
			t.Fatalf("qb got %v", got)
		}
	})
	t.Run("a cycle delivers once and terminates", func(t *testing.T) {
		must(t, v.BindExchange("a", "b", "#", nil)) // a → b → a
		must(t, v.BindQueue(nil, "qa", "a", "", nil))
		if !publish(t, v, "a", "x.y", "3", nil) {
			t.Fatal("not routed")
		}
		if !publish(t, v, "b", "x.y", "4", nil) {
			t.Fatal("not routed")
		}
		if got := drain(t, v, "qa"); !equal(got, []string{"3", "4"}) {
			t.Fatalf("qa got %v", got)
		}
		if got := drain(t, v, "qb"); !equal(got, []string{"3", "4"}) {
			t.Fatalf("qb got %v", got)
		}
	})
	t.Run("unbind of a missing binding or exchange succeeds", func(t *testing.T) {
		must(t, v.UnbindExchange("a", "b", "no-such-key", nil))
		must(t, v.UnbindExchange("nope", "a", "", nil))
		must(t, v.UnbindExchange("a", "nope", "", nil))
	})
	t.Run("unbind stops routing", func(t *testing.T) {
		must(t, v.UnbindExchange("b", "a", "", nil))
		if publish(t, v, "a", "x.y", "5", nil) != true { // qa is still bound to a
			t.Fatal("qa lost its binding")
		}
		if got := drain(t, v, "qb"); len(got) != 0 {
			t.Fatalf("qb got %v after unbind", got)
		}
		drain(t, v, "qa")
	})
}

func TestAlternateExchange(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("ae", "fanout", false, false, false, false, nil))
	must(t, v.DeclareExchange("main", "direct", false, false, false, false, wire.Table{"alternate-exchange": "ae"}))
	declareQ(t, v, nil, "routed")
	declareQ(t, v, nil, "unrouted")
	must(t, v.BindQueue(nil, "routed", "main", "k", nil))
	must(t, v.BindQueue(nil, "unrouted", "ae", "", nil))
	t.Run("unroutable goes to the alternate", func(t *testing.T) {
		if !publish(t, v, "main", "other", "1", nil) {
			t.Fatal("not routed via the alternate exchange")
		}
		if got := drain(t, v, "unrouted"); !equal(got, []string{"1"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("routable does not use the alternate", func(t *testing.T) {
		publish(t, v, "main", "k", "2", nil)
		if got := drain(t, v, "unrouted"); len(got) != 0 {
			t.Fatalf("alternate got %v", got)
		}
		if got := drain(t, v, "routed"); !equal(got, []string{"2"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("missing alternate is unroutable", func(t *testing.T) {
		must(t, v.DeclareExchange("lonely", "direct", false, false, false, false, wire.Table{"alternate-exchange": "nope"}))
		if publish(t, v, "lonely", "k", "3", nil) {
			t.Fatal("routed")
		}
	})
	t.Run("alternate loop terminates", func(t *testing.T) {
		must(t, v.DeclareExchange("l1", "direct", false, false, false, false, wire.Table{"alternate-exchange": "l2"}))
		must(t, v.DeclareExchange("l2", "direct", false, false, false, false, wire.Table{"alternate-exchange": "l1"}))
		if publish(t, v, "l1", "k", "4", nil) {
			t.Fatal("routed")
		}
	})
}

func TestPublishErrors(t *testing.T) {
	v := newTestVHost(t)
	t.Run("missing exchange is 404", func(t *testing.T) {
		_, err := v.Publish(msg(t, "nope", "k", "", nil))
		wantErr(t, err, wire.NotFound, "no exchange 'nope' in vhost '/'")
	})
	t.Run("internal exchange is 403", func(t *testing.T) {
		must(t, v.DeclareExchange("int", "fanout", false, false, false, true, nil))
		_, err := v.Publish(msg(t, "int", "k", "", nil))
		wantErr(t, err, wire.AccessRefused, "cannot publish to internal exchange 'int' in vhost '/'")
	})
	t.Run("internal exchange routes e2e", func(t *testing.T) {
		declareQ(t, v, nil, "qi")
		must(t, v.BindQueue(nil, "qi", "int", "", nil))
		must(t, v.BindExchange("int", "amq.fanout", "", nil))
		if !publish(t, v, "amq.fanout", "", "m", nil) {
			t.Fatal("not routed through the internal exchange")
		}
	})
}

func TestCCAndBCC(t *testing.T) {
	v := newTestVHost(t)
	for _, n := range []string{"main", "cc1", "cc2", "bcc"} {
		declareQ(t, v, nil, n)
		must(t, v.BindQueue(nil, n, "amq.direct", n, nil))
	}
	t.Run("CC adds routing keys", func(t *testing.T) {
		publish(t, v, "amq.direct", "main", "1", wire.Table{"CC": []any{"cc1", "cc2", "main"}})
		for _, n := range []string{"main", "cc1", "cc2"} {
			if got := drain(t, v, n); !equal(got, []string{"1"}) {
				t.Fatalf("%s got %v, want exactly one", n, got)
			}
		}
	})
	t.Run("BCC routes and is stripped", func(t *testing.T) {
		c := newConsumer(-1)
		if _, _, err := v.Consume(nil, "bcc", "", c, false, true, nil); err != nil {
			t.Fatal(err)
		}
		publish(t, v, "amq.direct", "main", "2", wire.Table{"BCC": []any{"bcc"}, "CC": []any{"cc1"}, "x": "y"})
		ds := c.deliveries()
		if len(ds) != 1 {
			t.Fatalf("bcc got %d deliveries", len(ds))
		}
		var p wire.Properties
		must(t, p.Decode(ds[0].Msg.Flags, ds[0].Msg.Props))
		if _, ok := p.Headers["BCC"]; ok {
			t.Fatal("BCC header was delivered")
		}
		if p.Headers["x"] != "y" || p.Headers["CC"] == nil {
			t.Fatalf("other headers lost: %v", p.Headers)
		}
		for _, n := range []string{"main", "cc1"} {
			if got := drain(t, v, n); !equal(got, []string{"2"}) {
				t.Fatalf("%s got %v", n, got)
			}
		}
	})
	t.Run("BCC is stripped from an unroutable message too", func(t *testing.T) {
		m := msg(t, "amq.direct", "nobody", "r", wire.Table{"BCC": []any{"nobody-either"}})
		routed, err := v.Publish(m)
		if err != nil || routed {
			t.Fatal(routed, err)
		}
		var p wire.Properties
		must(t, p.Decode(m.Flags, m.Props))
		if _, ok := p.Headers["BCC"]; ok {
			t.Fatal("BCC left in a returned message")
		}
	})
	t.Run("CC on the default exchange", func(t *testing.T) {
		publish(t, v, "", "cc1", "3", wire.Table{"CC": []any{"cc2", "cc1"}})
		for _, n := range []string{"cc1", "cc2"} {
			if got := drain(t, v, n); !equal(got, []string{"3"}) {
				t.Fatalf("%s got %v", n, got)
			}
		}
	})
	t.Run("non-array CC is ignored", func(t *testing.T) {
		publish(t, v, "amq.direct", "main", "4", wire.Table{"CC": "cc1"})
		if got := drain(t, v, "cc1"); len(got) != 0 {
			t.Fatalf("cc1 got %v", got)
		}
		drain(t, v, "main")
	})
}

func TestHeadersExchangeRouting(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "h")
	must(t, v.BindQueue(nil, "h", "amq.headers", "", wire.Table{"x-match": "any", "a": "1", "b": "2"}))
	must(t, v.BindQueue(nil, "h", "amq.headers", "", wire.Table{"x-match": "all", "a": "1"})) // args are part of identity: a second binding
	t.Run("bad x-match is 406", func(t *testing.T) {
		err := v.BindQueue(nil, "h", "amq.headers", "", wire.Table{"x-match": "some"})
		wantErr(t, err, wire.PreconditionFailed,
			`Invalid x-match field value <<"some">>; expected all, any, all-with-x, or any-with-x`)
	})
	t.Run("matching headers route once", func(t *testing.T) {
		if !publish(t, v, "amq.headers", "", "1", wire.Table{"a": "1"}) {
			t.Fatal("not routed")
		}
		if publish(t, v, "amq.headers", "", "2", wire.Table{"c": "1"}) {
			t.Fatal("routed")
		}
		if got := drain(t, v, "h"); !equal(got, []string{"1"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("unbinding one binding keeps the other", func(t *testing.T) {
		must(t, v.UnbindQueue(nil, "h", "amq.headers", "", wire.Table{"x-match": "all", "a": "1"}))
		if !publish(t, v, "amq.headers", "", "3", wire.Table{"b": "2"}) {
			t.Fatal("x-match any binding lost")
		}
		if !publish(t, v, "amq.headers", "", "4", wire.Table{"a": "1"}) {
			t.Fatal("x-match any binding lost")
		}
	})
}
