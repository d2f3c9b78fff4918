package vhost

import (
	"regexp"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestQueueDeclare(t *testing.T) {
	v := newTestVHost(t)
	o1, o2 := NewOwner("c1"), NewOwner("c2")
	t.Run("server-named is amq.gen-<22 base64url>", func(t *testing.T) {
		info, err := v.DeclareQueue(o1, "", false, false, true, false, nil)
		must(t, err)
		if !regexp.MustCompile(`^amq\.gen-[A-Za-z0-9_-]{22}$`).MatchString(info.Name) {
			t.Fatalf("name %q", info.Name)
		}
		if v.Queue(info.Name) == nil {
			t.Fatal("not created")
		}
	})
	t.Run("passive missing is 404", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "nope", true, false, false, false, nil)
		wantErr(t, err, wire.NotFound, "no queue 'nope' in vhost '/'")
	})
	t.Run("reserved prefix amq. is 403", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "amq.mine", false, false, false, false, nil)
		wantErr(t, err, wire.AccessRefused, "queue name 'amq.mine' contains reserved prefix 'amq.*'")
	})
	t.Run("declare-ok counts ready messages and all consumers", func(t *testing.T) {
		declareQ(t, v, o1, "counts")
		for range 3 {
			publish(t, v, "", "counts", "m", nil)
		}
		c := newConsumer(1) // takes one, refuses the rest: still counted
		if _, _, err := v.Consume(o1, "counts", "", c, false, false, nil); err != nil {
			t.Fatal(err)
		}
		info, err := v.DeclareQueue(o2, "counts", true, false, false, false, nil)
		must(t, err)
		if info != (QueueInfo{Name: "counts", Messages: 2, Consumers: 1}) {
			t.Fatalf("passive: %+v", info)
		}
		info, err = v.DeclareQueue(o2, "counts", false, false, false, false, nil)
		must(t, err)
		if info != (QueueInfo{Name: "counts", Messages: 2, Consumers: 1}) {
			t.Fatalf("redeclare: %+v", info)
		}
	})
	t.Run("inequivalent durable is 406", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "counts", false, true, false, false, nil)
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'durable' for queue 'counts' in vhost '/': received 'true' but current is 'false'")
	})
	t.Run("inequivalent auto_delete is 406", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "counts", false, false, false, true, nil)
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'auto_delete' for queue 'counts' in vhost '/': received 'true' but current is 'false'")
	})
	t.Run("argument equivalence", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "args", false, false, false, false, wire.Table{"x-message-ttl": int32(1000), "x-custom": "a"})
		must(t, err)
		// Integer widths compare by value; unknown arguments are not compared;
		// x-queue-type absent means classic.
		_, err = v.DeclareQueue(o1, "args", false, false, false, false,
			wire.Table{"x-message-ttl": int64(1000), "x-custom": "b", "x-queue-type": "classic"})
		must(t, err)
		_, err = v.DeclareQueue(o1, "args", false, false, false, false, wire.Table{"x-message-ttl": int16(2000)})
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'x-message-ttl' for queue 'args' in vhost '/': received '2000' but current is '1000'")
		_, err = v.DeclareQueue(o1, "args", false, false, false, false, nil)
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'x-message-ttl' for queue 'args' in vhost '/': received none but current is the value '1000' of type 'signedint'")
		_, err = v.DeclareQueue(o1, "args", false, false, false, false, wire.Table{"x-message-ttl": 1000.0})
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'x-message-ttl' for queue 'args' in vhost '/': received '1.0e3' but current is '1000'")
		_, err = v.DeclareQueue(o1, "args", false, false, false, false, wire.Table{"x-message-ttl": int32(1000), "x-queue-type": "quorum"})
		wantErr(t, err, wire.PreconditionFailed,
			"inequivalent arg 'x-queue-type' for queue 'args' in vhost '/': received the value 'quorum' of type 'longstr' but current is none")
	})
	t.Run("exclusive queues", func(t *testing.T) {
		_, err := v.DeclareQueue(o1, "ex", false, true, true, false, nil)
		must(t, err)
		if v.Queue("ex").Durable() {
			t.Fatal("an exclusive queue is never durable")
		}
		// Same owner, same properties (durable=true is stored as false and compared so).
		_, err = v.DeclareQueue(o1, "ex", false, true, true, false, nil)
		must(t, err)
		locked := "cannot obtain exclusive access to locked queue 'ex' in vhost '/'. It could be originally " +
			"declared on another connection or the exclusive property value does not match that of the original declaration."
		_, err = v.DeclareQueue(o2, "ex", true, false, false, false, nil)
		wantErr(t, err, wire.ResourceLocked, locked)
		_, err = v.DeclareQueue(o2, "ex", false, false, true, false, nil)
		wantErr(t, err, wire.ResourceLocked, locked)
		_, err = v.DeclareQueue(o1, "ex", false, false, false, false, nil) // same owner, not exclusive
		wantErr(t, err, wire.ResourceLocked, locked)
		_, err = v.DeclareQueue(o1, "counts", false, false, true, false, nil) // exclusive over a shared queue
		wantErr(t, err, wire.ResourceLocked, "")
		_, _, _, err = v.Get(o2, "ex", true)
		wantErr(t, err, wire.ResourceLocked, locked)
		_, err = v.PurgeQueue(o2, "ex")
		wantErr(t, err, wire.ResourceLocked, locked)
		_, err = v.DeleteQueue(o2, "ex", false, false)
		wantErr(t, err, wire.ResourceLocked, locked)
		wantErr(t, v.BindQueue(o2, "ex", "amq.direct", "k", nil), wire.ResourceLocked, locked)
		_, _, err = v.Consume(o2, "ex", "", newConsumer(-1), false, false, nil)
		wantErr(t, err, wire.ResourceLocked, locked)
		must(t, v.BindQueue(o1, "ex", "amq.direct", "k", nil))
		wantErr(t, v.UnbindQueue(o2, "ex", "amq.direct", "k", nil), wire.ResourceLocked, locked)
		must(t, v.UnbindQueue(o2, "ex", "amq.direct", "not-bound", nil))
	})
	t.Run("exclusive queues go when their owner closes", func(t *testing.T) {
		o := NewOwner("c3")
		_, err := v.DeclareQueue(o, "ex3", false, false, true, false, nil)
		must(t, err)
		must(t, v.BindQueue(o, "ex3", "amq.fanout", "", nil))
		c := newConsumer(-1)
		if _, _, err := v.Consume(o, "ex3", "t1", c, false, false, nil); err != nil {
			t.Fatal(err)
		}
		v.OwnerClosed(o)
		if v.Queue("ex3") != nil {
			t.Fatal("exclusive queue survived its owner")
		}
		if got := c.cancels(); !equal(got, []string{"t1"}) {
			t.Fatalf("cancelled %v", got)
		}
		if publish(t, v, "amq.fanout", "", "m", nil) {
			t.Fatal("binding survived")
		}
		// A declare racing with the close creates nothing.
		info, err := v.DeclareQueue(o, "ex4", false, false, true, false, nil)
		must(t, err)
		if info.Name != "ex4" || v.Queue("ex4") != nil {
			t.Fatalf("declare after close: %+v, exists=%v", info, v.Queue("ex4") != nil)
		}
	})
}

func TestQueueBind(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	t.Run("missing exchange is 404", func(t *testing.T) {
		wantErr(t, v.BindQueue(nil, "q", "nope", "k", nil), wire.NotFound, "no exchange 'nope' in vhost '/'")
	})
	t.Run("missing queue is 404", func(t *testing.T) {
		wantErr(t, v.BindQueue(nil, "nope", "amq.direct", "k", nil), wire.NotFound, "no queue 'nope' in vhost '/'")
	})
	t.Run("both missing names the exchange", func(t *testing.T) {
		wantErr(t, v.BindQueue(nil, "nope", "nope2", "k", nil), wire.NotFound, "no exchange 'nope2' in vhost '/'")
	})
	t.Run("binding twice routes once", func(t *testing.T) {
		must(t, v.BindQueue(nil, "q", "amq.topic", "a.*", nil))
		must(t, v.BindQueue(nil, "q", "amq.topic", "a.*", nil))
		must(t, v.BindQueue(nil, "q", "amq.topic", "#", nil))
		publish(t, v, "amq.topic", "a.b", "1", nil)
		if got := drain(t, v, "q"); !equal(got, []string{"1"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("unbind is idempotent", func(t *testing.T) {
		must(t, v.UnbindQueue(nil, "q", "amq.topic", "a.*", nil))
		must(t, v.UnbindQueue(nil, "q", "amq.topic", "a.*", nil))
		must(t, v.UnbindQueue(nil, "nope", "amq.topic", "a.*", nil))
		must(t, v.UnbindQueue(nil, "q", "nope", "a.*", nil))
		must(t, v.UnbindQueue(nil, "q", "amq.topic", "#", nil))
		if publish(t, v, "amq.topic", "a.b", "2", nil) {
			t.Fatal("routed after unbind")
		}
	})
}

func TestQueuePurge(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	for _, b := range []string{"1", "2", "3"} {
		publish(t, v, "", "q", b, nil)
	}
	d, ok, _, err := v.Get(nil, "q", false)
	must(t, err)
	if !ok {
		t.Fatal("empty")
	}
	n, err := v.PurgeQueue(nil, "q")
	must(t, err)
	if n != 2 {
		t.Fatalf("purged %d, want 2 (the unacked one stays)", n)
	}
	d.Queue.Requeue(d.Entry)
	if got := drain(t, v, "q"); !equal(got, []string{"1"}) {
		t.Fatalf("after purge and requeue: %v", got)
	}
	_, err = v.PurgeQueue(nil, "nope")
	wantErr(t, err, wire.NotFound, "no queue 'nope' in vhost '/'")
}

func TestQueueDelete(t *testing.T) {
	v := newTestVHost(t)
	t.Run("missing queue succeeds with 0", func(t *testing.T) {
		n, err := v.DeleteQueue(nil, "nope", true, true)
		if err != nil || n != 0 {
			t.Fatalf("%d, %v", n, err)
		}
	})
	t.Run("if-empty is 406", func(t *testing.T) {
		declareQ(t, v, nil, "q")
		publish(t, v, "", "q", "1", nil)
		_, err := v.DeleteQueue(nil, "q", false, true)
		wantErr(t, err, wire.PreconditionFailed, "queue 'q' in vhost '/' not empty")
	})
	t.Run("if-empty is checked before if-unused", func(t *testing.T) {
		c := newConsumer(0)
		if _, _, err := v.Consume(nil, "q", "c1", c, false, false, nil); err != nil {
			t.Fatal(err)
		}
		_, err := v.DeleteQueue(nil, "q", true, true)
		wantErr(t, err, wire.PreconditionFailed, "queue 'q' in vhost '/' not empty")
		_, err = v.DeleteQueue(nil, "q", true, false)
		wantErr(t, err, wire.PreconditionFailed, "queue 'q' in vhost '/' in use")
	})
	t.Run("returns the ready count and cancels consumers", func(t *testing.T) {
		publish(t, v, "", "q", "2", nil)
		q := v.Queue("q")
		c2 := newConsumer(1)
		if _, _, err := v.Consume(nil, "q", "c2", c2, false, false, nil); err != nil {
			t.Fatal(err)
		}
		must(t, v.BindQueue(nil, "q", "amq.fanout", "", nil))
		n, err := v.DeleteQueue(nil, "q", false, false)
		must(t, err)
		if n != 1 { // "1" went to c2 unacked, "2" was ready
			t.Fatalf("deleted %d, want 1", n)
		}
		if got := c2.cancels(); !equal(got, []string{"c2"}) {
			t.Fatalf("c2 cancelled %v", got)
		}
		if v.Queue("q") != nil {
			t.Fatal("still there")
		}
		if publish(t, v, "amq.fanout", "", "3", nil) {
			t.Fatal("binding survived")
		}
		// Settling deliveries of a deleted queue is a no-op.
		ds := c2.deliveries()
		q.Ack(ds[0].Entry)
		q.Requeue(ds[0].Entry)
		q.Kick()
		if q.Cancel(c2, "c2") {
			t.Fatal("cancel on a deleted queue found a consumer")
		}
	})
}
