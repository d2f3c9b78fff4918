package vhost

import (
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestQuorumQueue(t *testing.T) {
	v := newTestVHost(t)
	quorum := wire.Table{"x-queue-type": "quorum"}
	t.Run("properties quorum queues refuse", func(t *testing.T) {
		for _, tc := range []struct {
			durable, exclusive, autoDelete bool
			prop                           string
		}{
			{true, false, true, "auto-delete"},
			{true, true, false, "exclusive-owner"},
			{false, false, false, "non-durable"},
		} {
			_, err := v.DeclareQueue(NewOwner("c"), "qq", false, tc.durable, tc.exclusive, tc.autoDelete, quorum)
			wantErr(t, err, wire.PreconditionFailed, "invalid property '"+tc.prop+"' for queue 'qq' in vhost '/'")
		}
		for k, val := range map[string]any{"x-max-priority": int32(5), "x-queue-mode": "lazy"} {
			_, err := v.DeclareQueue(nil, "qq", false, true, false, false, wire.Table{"x-queue-type": "quorum", k: val})
			wantErr(t, err, wire.PreconditionFailed, "invalid arg '"+k+"' for queue 'qq' in vhost '/' of queue type rabbit_quorum_queue")
		}
	})
	t.Run("x-delivery-limit dead-letters with reason delivery_limit", func(t *testing.T) {
		declareQ(t, v, nil, "dlq")
		_, err := v.DeclareQueue(nil, "qq", false, true, false, false, wire.Table{
			"x-queue-type": "quorum", "x-delivery-limit": int32(1),
			"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq",
		})
		must(t, err)
		if !v.Queue("qq").Quorum() {
			t.Fatal("not a quorum queue")
		}
		publish(t, v, "", "qq", "m", nil)
		for i := range 2 { // delivered, returned once (count 1 = the limit), delivered again
			d, ok, _, err := v.Get(nil, "qq", false)
			must(t, err)
			if !ok || d.Redelivered != (i == 1) {
				t.Fatalf("get %d: ok=%v redelivered=%v", i, ok, d.Redelivered)
			}
			d.Queue.Requeue(d.Entry)
		}
		if n := ready(t, v, "qq"); n != 0 {
			t.Fatalf("%d ready after the second return, want 0", n)
		}
		d, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok {
			t.Fatal("not dead-lettered")
		}
		if e := headersOf(t, d.Msg)["x-death"].([]any)[0].(wire.Table); e["reason"] != "delivery_limit" || e["queue"] != "qq" {
			t.Fatalf("x-death %v", e)
		}
	})
	t.Run("x-delivery-count on redelivery only", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "qc", false, true, false, false, quorum)
		must(t, err)
		publish(t, v, "", "qc", "m", wire.Table{"app": "x"})
		for i := range 3 {
			d, ok, _, err := v.Get(nil, "qc", false)
			must(t, err)
			if !ok {
				t.Fatalf("get %d: empty", i)
			}
			h := headersOf(t, d.Msg)
			n, has := h["x-delivery-count"]
			if (i == 0 && has) || (i > 0 && n != int64(i)) || h["app"] != "x" {
				t.Fatalf("get %d: headers %v, want x-delivery-count %d (none for 0) next to app", i, h, i)
			}
			d.Queue.Requeue(d.Entry)
		}
		// A classic queue never adds it.
		declareQ(t, v, nil, "cq")
		publish(t, v, "", "cq", "m", nil)
		d, _, _, _ := v.Get(nil, "cq", false)
		d.Queue.Requeue(d.Entry)
		d, _, _, _ = v.Get(nil, "cq", false)
		if d.Msg == nil || !d.Redelivered || headersOf(t, d.Msg)["x-delivery-count"] != nil {
			t.Fatalf("classic redelivery: %+v", d)
		}
	})
}

// A quorum queue has no reject-publish-dlx: RabbitMQ 3.10.8 accepts x-overflow
// reject-publish-dlx at declare and then overflows with drop-head
// (rabbit_quorum_queue:overflow/3): with x-max-length 1, both publishes are taken (no
// nack), the first is dead-lettered with reason maxlen and the second stays (recorded on a
// 3.10.8 node).
func TestQuorumRejectPublishDLXIsDropHead(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "dlq")
	_, err := v.DeclareQueue(nil, "qq", false, true, false, false, wire.Table{"x-queue-type": "quorum",
		"x-overflow": "reject-publish-dlx", "x-max-length": int32(1), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
	must(t, err)
	p := v.NewPublisher()
	for _, b := range []string{"one", "two"} {
		if routed, err := p.Publish(msg(t, "", "qq", b, nil)); err != nil || !routed || p.Rejected() {
			t.Fatalf("publish %s: routed=%v rejected=%v err=%v", b, routed, p.Rejected(), err)
		}
	}
	if got := drain(t, v, "qq"); len(got) != 1 || got[0] != "two" {
		t.Fatalf("queue holds %q, want [two]", got)
	}
	if got := drain(t, v, "dlq"); len(got) != 1 || got[0] != "one" {
		t.Fatalf("dead letters %q, want [one]", got)
	}
}
