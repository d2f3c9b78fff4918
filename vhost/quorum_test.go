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
}
