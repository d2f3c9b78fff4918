package vhost

import (
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// The scenario RabbitMQ 3.10.8 was observed with (management plugin, /api/queues and
// /api/exchanges): a fanout exchange to two queues, three publishes; one queue consumed
// with acks, the other read with basic.get (no-ack, ack, reject with requeue and get
// again); an unroutable publish; a dead-lettered message.
func TestMessageCounts(t *testing.T) {
	v := newTestVHost(t)
	o := NewOwner("conn")
	must(t, v.DeclareExchange("px", "fanout", false, false, false, false, nil))
	must(t, v.DeclareExchange("pnone", "fanout", false, false, false, false, nil))
	declareQ(t, v, o, "pq1")
	declareQ(t, v, o, "pq2")
	declareQ(t, v, o, "idle")
	declareQ(t, v, o, "dlq")
	if _, err := v.DeclareQueue(o, "src", false, false, false, false, wire.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}); err != nil {
		t.Fatal(err)
	}
	must(t, v.BindQueue(o, "pq1", "px", "", nil))
	must(t, v.BindQueue(o, "pq2", "px", "", nil))
	for range 3 {
		publish(t, v, "px", "", "m", nil)
	}
	publish(t, v, "pnone", "", "m", nil)

	c := newConsumer(-1)
	_, q1, err := v.Consume(o, "pq1", "c1", c, false, false, nil)
	must(t, err)
	for _, d := range c.deliveries() {
		q1.Ack(d.Entry)
	}

	if _, ok, _, err := v.Get(o, "pq2", true); !ok || err != nil {
		t.Fatalf("get no-ack: %v %v", ok, err)
	}
	d, ok, _, err := v.Get(o, "pq2", false)
	if !ok || err != nil {
		t.Fatalf("get: %v %v", ok, err)
	}
	d.Queue.Reject(true, d.Entry)
	d, _, _, _ = v.Get(o, "pq2", false)
	if !d.Redelivered {
		t.Fatal("second get not redelivered")
	}
	d.Queue.Ack(d.Entry)
	d, _, _, _ = v.Get(o, "pq2", false)
	d.Queue.Reject(false, d.Entry) // no dead-letter exchange: dropped, not an ack
	if _, ok, _, _ := v.Get(o, "pq2", false); ok {
		t.Fatal("pq2 not empty")
	}

	publish(t, v, "", "src", "d", nil)
	d, _, _, _ = v.Get(o, "src", false)
	d.Queue.Reject(false, d.Entry) // dead-lettered to dlq: not a publish there

	counts := map[string]MessageCounts{}
	for _, q := range v.Queues() {
		counts[q.Name] = q.Counts
	}
	for _, q := range v.QueueDepths() {
		if q.Counts != counts[q.Name] {
			t.Errorf("%s: QueueDepths %+v, Queues %+v", q.Name, q.Counts, counts[q.Name])
		}
	}
	want := map[string]MessageCounts{
		"pq1":  {Publish: 3, Deliver: 3, Ack: 3},
		"pq2":  {Publish: 3, Get: 3, GetNoAck: 1, GetEmpty: 1, Redeliver: 1, Ack: 1},
		"idle": {},
		"dlq":  {},
		"src":  {Publish: 1, Get: 1},
	}
	for name, w := range want {
		if counts[name] != w {
			t.Errorf("%s: %+v, want %+v", name, counts[name], w)
		}
	}
	if got := counts["pq2"].DeliverGet(); got != 4 {
		t.Errorf("pq2 deliver_get %d, want 4", got)
	}
	if n, ok, _, _ := v.Get(o, "dlq", true); !ok || string(n.Msg.Body) != "d" {
		t.Fatal("dlq did not get the dead letter")
	}

	xs := map[string]MessageCounts{}
	for _, x := range v.Exchanges() {
		xs[x.Name] = x.Counts
	}
	wantX := map[string]MessageCounts{
		"px":    {PublishIn: 3, PublishOut: 6},
		"pnone": {PublishIn: 1},
		"":      {PublishIn: 1, PublishOut: 1},
	}
	for name, w := range wantX {
		if xs[name] != w {
			t.Errorf("exchange %q: %+v, want %+v", name, xs[name], w)
		}
	}
	if x, _ := v.ExchangeStats("px"); x.Counts != wantX["px"] {
		t.Errorf("ExchangeStats(px) %+v", x.Counts)
	}

	// Through an exchange-to-exchange binding the publish counts for the exchange it was
	// published to; the one behind it counts nothing (RabbitMQ 3.10.8 likewise).
	must(t, v.DeclareExchange("front", "fanout", false, false, false, false, nil))
	must(t, v.DeclareExchange("back", "fanout", false, false, false, false, nil))
	must(t, v.BindExchange("back", "front", "", nil))
	declareQ(t, v, o, "e2e")
	must(t, v.BindQueue(o, "e2e", "back", "", nil))
	publish(t, v, "front", "", "m", nil)
	for name, w := range map[string]MessageCounts{"front": {PublishIn: 1, PublishOut: 1}, "back": {}} {
		if x, _ := v.ExchangeStats(name); x.Counts != w {
			t.Errorf("exchange %s: %+v, want %+v", name, x.Counts, w)
		}
	}
	if q, _ := v.QueueStats("e2e"); q.Counts != (MessageCounts{Publish: 1}) {
		t.Errorf("e2e queue: %+v", q.Counts)
	}
}
