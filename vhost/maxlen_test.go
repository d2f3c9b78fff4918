package vhost

import (
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestMaxLength(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "fanout", false, false, false, false, nil))
	declareQ(t, v, nil, "dlq")
	must(t, v.BindQueue(nil, "dlq", "dlx", "", nil))
	declare := func(t *testing.T, name string, args wire.Table) {
		t.Helper()
		_, err := v.DeclareQueue(nil, name, false, false, false, false, args)
		must(t, err)
	}
	pub := func(p *Publisher, key, body string) (routed, rejected bool) {
		t.Helper()
		routed, err := p.Publish(msg(t, "", key, body, nil))
		must(t, err)
		return routed, p.Rejected()
	}
	p := v.NewPublisher()

	t.Run("drop-head drops the oldest", func(t *testing.T) {
		declare(t, "dh", wire.Table{"x-max-length": int32(2)})
		for _, b := range []string{"1", "2", "3", "4"} {
			if routed, rejected := pub(p, "dh", b); !routed || rejected {
				t.Fatalf("publish %s: routed=%v rejected=%v", b, routed, rejected)
			}
		}
		if got := drain(t, v, "dh"); !equal(got, []string{"3", "4"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("drop-head dead-letters with reason maxlen", func(t *testing.T) {
		declare(t, "dhd", wire.Table{"x-max-length": int64(1), "x-dead-letter-exchange": "dlx"})
		pub(p, "dhd", "a")
		pub(p, "dhd", "b")
		d, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok || string(d.Msg.Body) != "a" {
			t.Fatalf("dead letter ok=%v %v", ok, d.Msg)
		}
		h := headersOf(t, d.Msg)
		if e := h["x-death"].([]any)[0].(wire.Table); e["reason"] != "maxlen" || e["queue"] != "dhd" || h["x-first-death-reason"] != "maxlen" {
			t.Fatalf("headers %v", h)
		}
		if got := drain(t, v, "dhd"); !equal(got, []string{"b"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("unacked messages do not count", func(t *testing.T) {
		declare(t, "ua", wire.Table{"x-max-length": int32(1)})
		pub(p, "ua", "1")
		d, ok, _, err := v.Get(nil, "ua", false)
		must(t, err)
		if !ok {
			t.Fatal("empty")
		}
		pub(p, "ua", "2")
		d.Queue.Requeue(d.Entry) // 1 comes back before 2: drop-head drops it again
		if got := drain(t, v, "ua"); !equal(got, []string{"2"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("max-length-bytes counts bodies", func(t *testing.T) {
		declare(t, "by", wire.Table{"x-max-length-bytes": int32(5)})
		pub(p, "by", "123")
		pub(p, "by", "45")
		pub(p, "by", "6")
		if got := drain(t, v, "by"); !equal(got, []string{"45", "6"}) {
			t.Fatalf("got %v", got)
		}
		pub(p, "by", "too long") // drops everything, itself included
		if got := drain(t, v, "by"); len(got) != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("max-length 0 still delivers to a waiting consumer", func(t *testing.T) {
		declare(t, "zero", wire.Table{"x-max-length": int32(0)})
		c := newConsumer(-1)
		_, _, err := v.Consume(nil, "zero", "", c, false, true, nil)
		must(t, err)
		pub(p, "zero", "x")
		if got := c.bodies(); !equal(got, []string{"x"}) {
			t.Fatalf("consumer got %v", got)
		}
	})
	t.Run("reject-publish refuses new messages", func(t *testing.T) {
		declare(t, "rp", wire.Table{"x-max-length": int32(2), "x-overflow": "reject-publish", "x-dead-letter-exchange": "dlx"})
		declare(t, "other", nil)
		must(t, v.BindQueue(nil, "rp", "amq.fanout", "", nil))
		must(t, v.BindQueue(nil, "other", "amq.fanout", "", nil))
		for i, b := range []string{"1", "2", "3"} {
			routed, err := p.Publish(msg(t, "amq.fanout", "", b, nil))
			must(t, err)
			if !routed || p.Rejected() != (i == 2) {
				t.Fatalf("publish %s: routed=%v rejected=%v", b, routed, p.Rejected())
			}
		}
		if got := drain(t, v, "rp"); !equal(got, []string{"1", "2"}) {
			t.Fatalf("rp got %v", got)
		}
		if got := drain(t, v, "other"); !equal(got, []string{"1", "2", "3"}) {
			t.Fatalf("other got %v", got)
		}
		if got := drain(t, v, "dlq"); len(got) != 0 {
			t.Fatalf("reject-publish dead-lettered %v", got)
		}
	})
	t.Run("reject-publish-dlx refuses and dead-letters", func(t *testing.T) {
		declare(t, "rpd", wire.Table{"x-max-length-bytes": int32(3), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx"})
		if _, rejected := pub(p, "rpd", "abc"); rejected {
			t.Fatal("rejected within the limit")
		}
		if _, rejected := pub(p, "rpd", "d"); !rejected {
			t.Fatal("not rejected past the limit")
		}
		d, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok || string(d.Msg.Body) != "d" {
			t.Fatalf("dead letter ok=%v", ok)
		}
		if e := headersOf(t, d.Msg)["x-death"].([]any)[0].(wire.Table); e["reason"] != "maxlen" || e["queue"] != "rpd" {
			t.Fatalf("x-death %v", e)
		}
	})
	t.Run("x-overflow validation", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "bad", false, false, false, false, wire.Table{"x-overflow": "drop-tail"})
		wantErr(t, err, wire.PreconditionFailed, "invalid arg 'x-overflow' for queue 'bad' in vhost '/': invalid_overflow")
		_, err = v.DeclareQueue(nil, "bad", false, false, false, false, wire.Table{"x-overflow": int32(1)})
		wantErr(t, err, wire.PreconditionFailed, "invalid arg 'x-overflow' for queue 'bad' in vhost '/': {unacceptable_type,signedint}")
	})
}

// A durable length-limited queue with persistent messages: the reserve path enforces the
// limit too, and rejected messages never reach the store.
func TestMaxLengthDurable(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1}) // paging would start at once, but not for limited queues
	v := d.v()
	_, err := v.DeclareQueue(nil, "rp", false, true, false, false, wire.Table{"x-max-length": int32(3), "x-overflow": "reject-publish"})
	must(t, err)
	_, err = v.DeclareQueue(nil, "dh", false, true, false, false, wire.Table{"x-max-length": int32(3)})
	must(t, err)
	p := v.NewPublisher()
	for i := range 300 {
		for _, q := range []string{"rp", "dh"} {
			routed, err := p.Publish(persistent(t, "", q, string(rune('a'+i%26)), nil))
			must(t, err)
			if !routed || p.Rejected() != (q == "rp" && i >= 3) {
				t.Fatalf("%s publish %d: routed=%v rejected=%v", q, i, routed, p.Rejected())
			}
		}
	}
	v = d.restart()
	if got := bodiesOf(getAll(t, v, "rp", true)); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("rp after restart %v", got)
	}
	if got := bodiesOf(getAll(t, v, "dh", true)); !equal(got, []string{"l", "m", "n"}) { // 297..299
		t.Fatalf("dh after restart %v", got)
	}
}
