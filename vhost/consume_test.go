package vhost

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestConsume(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	t.Run("server-generated tag is amq.ctag-<22 base64url>", func(t *testing.T) {
		c := newConsumer(-1)
		tag, q, err := v.Consume(nil, "q", "", c, false, false, nil)
		must(t, err)
		if !regexp.MustCompile(`^amq\.ctag-[A-Za-z0-9_-]{22}$`).MatchString(tag) {
			t.Fatalf("tag %q", tag)
		}
		if !q.Cancel(c, tag) {
			t.Fatal("cancel failed")
		}
		if q.Cancel(c, tag) {
			t.Fatal("second cancel found it")
		}
	})
	t.Run("missing queue is 404", func(t *testing.T) {
		_, _, err := v.Consume(nil, "nope", "", newConsumer(-1), false, false, nil)
		wantErr(t, err, wire.NotFound, "no queue 'nope' in vhost '/'")
	})
	t.Run("exclusive consumer needs a queue without consumers", func(t *testing.T) {
		c1 := newConsumer(-1)
		_, q, err := v.Consume(nil, "q", "c1", c1, false, false, nil)
		must(t, err)
		_, _, err = v.Consume(nil, "q", "c2", newConsumer(-1), true, false, nil)
		wantErr(t, err, wire.AccessRefused, "queue 'q' in vhost '/' in exclusive use")
		q.Cancel(c1, "c1")
	})
	t.Run("an exclusive consumer keeps others out", func(t *testing.T) {
		c1 := newConsumer(-1)
		_, q, err := v.Consume(nil, "q", "c1", c1, true, false, nil)
		must(t, err)
		_, _, err = v.Consume(nil, "q", "c2", newConsumer(-1), false, false, nil)
		wantErr(t, err, wire.AccessRefused, "queue 'q' in vhost '/' in exclusive use")
		q.Cancel(c1, "c1")
		_, _, err = v.Consume(nil, "q", "c2", newConsumer(-1), false, false, nil)
		must(t, err)
	})
	t.Run("same tag on two channels are two consumers", func(t *testing.T) {
		declareQ(t, v, nil, "same")
		a, b := newConsumer(-1), newConsumer(-1)
		_, q, err := v.Consume(nil, "same", "t", a, false, true, nil)
		must(t, err)
		_, _, err = v.Consume(nil, "same", "t", b, false, true, nil)
		must(t, err)
		if !q.Cancel(a, "t") || q.info().Consumers != 1 {
			t.Fatal("cancel removed the wrong consumer")
		}
		publish(t, v, "", "same", "m", nil)
		if len(a.deliveries()) != 0 || len(b.deliveries()) != 1 {
			t.Fatal("delivered to a cancelled consumer")
		}
	})
}

func TestConsumeStartedBeforeFirstDelivery(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	publish(t, v, "", "q", "backlog", nil)
	c := newConsumer(-1)
	tag, _, err := v.Consume(nil, "q", "tag", c, false, true, nil)
	must(t, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if want := []string{"start:" + tag, "deliver:" + tag}; !equal(c.events, want) {
		t.Fatalf("events %v, want %v", c.events, want)
	}
}

func TestRoundRobin(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	cs := []*testConsumer{newConsumer(-1), newConsumer(-1), newConsumer(-1)}
	for i, c := range cs {
		if _, _, err := v.Consume(nil, "q", fmt.Sprint(i), c, false, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 9 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	for i, c := range cs {
		want := []string{fmt.Sprint(i), fmt.Sprint(i + 3), fmt.Sprint(i + 6)}
		if got := c.bodies(); !equal(got, want) {
			t.Fatalf("consumer %d got %v, want %v", i, got, want)
		}
	}
	t.Run("a refusing consumer is skipped", func(t *testing.T) {
		cs[1].setCredit(0)
		for i := range 4 {
			publish(t, v, "", "q", fmt.Sprint("r", i), nil)
		}
		if n := len(cs[1].deliveries()); n != 3 {
			t.Fatalf("refusing consumer got %d deliveries", n)
		}
		if n := len(cs[0].deliveries()) + len(cs[2].deliveries()); n != 10 {
			t.Fatalf("others got %d, want 10", n)
		}
	})
}

func TestKickDeliversAfterCredit(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	c := newConsumer(1)
	_, q, err := v.Consume(nil, "q", "c", c, false, false, nil)
	must(t, err)
	for i := range 3 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	if got := c.bodies(); !equal(got, []string{"0"}) {
		t.Fatalf("got %v with prefetch 1", got)
	}
	q.Ack(c.deliveries()[0].Entry)
	if len(c.deliveries()) != 1 {
		t.Fatal("ack dispatched by itself")
	}
	c.setCredit(1)
	q.Kick()
	if got := c.bodies(); !equal(got, []string{"0", "1"}) {
		t.Fatalf("after kick: %v", got)
	}
	if info := q.info(); info.Messages != 1 {
		t.Fatalf("ready %d, want 1", info.Messages)
	}
}

func TestNoAckSettlesAtDelivery(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	c := newConsumer(-1)
	_, q, err := v.Consume(nil, "q", "c", c, false, true, nil)
	must(t, err)
	publish(t, v, "", "q", "1", nil)
	q.mu.Lock()
	n := len(q.mu.unacked)
	q.mu.Unlock()
	if n != 0 || c.deliveries()[0].Entry != (Entry{}) {
		t.Fatalf("no-ack delivery left %d unacked", n)
	}
}

func TestAutoDeleteQueue(t *testing.T) {
	v := newTestVHost(t)
	t.Run("deleted when the last consumer goes", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "ad", false, false, false, true, nil)
		must(t, err)
		a, b := newConsumer(-1), newConsumer(-1)
		_, q, err := v.Consume(nil, "ad", "a", a, false, false, nil)
		must(t, err)
		_, _, err = v.Consume(nil, "ad", "b", b, false, false, nil)
		must(t, err)
		publish(t, v, "", "ad", "m", nil)
		q.Cancel(a, "a")
		if v.Queue("ad") == nil {
			t.Fatal("deleted with a consumer left")
		}
		q.Cancel(b, "b")
		if v.Queue("ad") != nil {
			t.Fatal("not deleted after its last consumer")
		}
		if len(a.cancels())+len(b.cancels()) != 0 {
			t.Fatal("cancelled consumers were told they were cancelled")
		}
	})
	t.Run("never consumed stays", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "ad2", false, false, false, true, nil)
		must(t, err)
		publish(t, v, "", "ad2", "m", nil)
		drain(t, v, "ad2") // basic.get is not a consumer
		if v.Queue("ad2") == nil {
			t.Fatal("deleted without ever having a consumer")
		}
	})
}

func TestGet(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	_, ok, n, err := v.Get(nil, "q", false)
	must(t, err)
	if ok || n != 0 {
		t.Fatal("get on an empty queue")
	}
	for i := range 3 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	d, ok, n, err := v.Get(nil, "q", false)
	must(t, err)
	if !ok || n != 2 || string(d.Msg.Body) != "0" || d.Redelivered || d.Tag != "" {
		t.Fatalf("get: ok=%v remaining=%d %+v", ok, n, d)
	}
	d.Queue.Ack(d.Entry)
	d.Queue.Requeue(d.Entry) // already acked: no-op
	if got := drain(t, v, "q"); !equal(got, []string{"1", "2"}) {
		t.Fatalf("got %v", got)
	}
	_, _, _, err = v.Get(nil, "nope", false)
	wantErr(t, err, wire.NotFound, "no queue 'nope' in vhost '/'")
}

func TestRequeueKeepsOriginalOrder(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	for i := range 8 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	var ds []Delivery
	for range 6 { // take 0..5, leave 6, 7 ready
		d, ok, _, err := v.Get(nil, "q", false)
		must(t, err)
		if !ok {
			t.Fatal("empty")
		}
		ds = append(ds, d)
	}
	q := ds[0].Queue
	q.Ack(ds[2].Entry)
	q.Requeue(ds[4].Entry, ds[1].Entry)              // out of order
	q.Reject(true, ds[5].Entry)                      // nack with requeue
	q.Requeue(ds[3].Entry, ds[0].Entry, ds[0].Entry) // a duplicate entry is ignored
	var got []string
	var redelivered []bool
	for range 10 {
		d, ok, _, err := v.Get(nil, "q", true)
		must(t, err)
		if !ok {
			break
		}
		got = append(got, string(d.Msg.Body))
		redelivered = append(redelivered, d.Redelivered)
	}
	if want := []string{"0", "1", "3", "4", "5", "6", "7"}; !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i, r := range redelivered {
		if r != (i < 5) {
			t.Fatalf("redelivered %v", redelivered)
		}
	}
	t.Run("reject without requeue drops", func(t *testing.T) {
		publish(t, v, "", "q", "x", nil)
		d, _, _, err := v.Get(nil, "q", false)
		must(t, err)
		q.Reject(false, d.Entry)
		q.Requeue(d.Entry)
		if got := drain(t, v, "q"); len(got) != 0 {
			t.Fatalf("rejected message came back: %v", got)
		}
	})
	t.Run("requeued messages go to consumers", func(t *testing.T) {
		publish(t, v, "", "q", "y", nil)
		d, _, _, err := v.Get(nil, "q", false)
		must(t, err)
		c := newConsumer(-1)
		_, _, err = v.Consume(nil, "q", "c", c, false, false, nil)
		must(t, err)
		q.Requeue(d.Entry)
		ds := c.deliveries()
		if len(ds) != 1 || !ds[0].Redelivered || string(ds[0].Msg.Body) != "y" {
			t.Fatalf("got %+v", ds)
		}
		// A stale entry from the first delivery must not settle the second one.
		q.Ack(d.Entry)
		q.mu.Lock()
		n := len(q.mu.unacked)
		q.mu.Unlock()
		if n != 1 {
			t.Fatalf("stale ack settled a redelivery (unacked %d)", n)
		}
	})
}

func TestRingInsertSorted(t *testing.T) {
	var r ring
	for _, s := range []uint64{10, 20, 30, 40} {
		r.pushBack(item{seq: s})
	}
	r.popFront() // head moves, so inserts wrap
	for _, s := range []uint64{5, 25, 45, 35, 1} {
		r.insertSorted(item{seq: s})
	}
	for i := range 40 { // force growth with a wrapped head
		r.pushBack(item{seq: uint64(100 + i)})
	}
	var got []uint64
	for r.len() > 0 {
		got = append(got, r.popFront().seq)
	}
	want := []uint64{1, 5, 20, 25, 30, 35, 40, 45}
	for i := range 40 {
		want = append(want, uint64(100+i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestConsumerPriorities(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	low, hi1, hi2 := newConsumer(-1), newConsumer(2), newConsumer(2)
	for _, c := range []struct {
		tag  string
		c    *testConsumer
		prio any
	}{{"low", low, nil}, {"hi1", hi1, int32(10)}, {"hi2", hi2, int8(10)}} {
		var args wire.Table
		if c.prio != nil {
			args = wire.Table{"x-priority": c.prio}
		}
		if _, _, err := v.Consume(nil, "q", c.tag, c.c, false, true, args); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	if got, want := hi1.bodies(), []string{"0", "2"}; !equal(got, want) {
		t.Fatalf("hi1 got %v, want %v (round-robin within the top priority)", got, want)
	}
	if got, want := hi2.bodies(), []string{"1", "3"}; !equal(got, want) {
		t.Fatalf("hi2 got %v, want %v", got, want)
	}
	if got, want := low.bodies(), []string{"4", "5"}; !equal(got, want) {
		t.Fatalf("low got %v, want %v (only what the higher priority refused)", got, want)
	}
	t.Run("non-integer x-priority is 406", func(t *testing.T) {
		_, _, err := v.Consume(nil, "q", "bad", newConsumer(-1), false, true, wire.Table{"x-priority": "high"})
		wantErr(t, err, wire.PreconditionFailed,
			`invalid arg 'x-priority' for queue 'q' in vhost '/': "expected integer, got longstr"`)
	})
}

// countingConsumer refuses everything and counts the offers.
type countingConsumer struct{ offers int }

func (c *countingConsumer) Deliver(Delivery) bool    { c.offers++; return false }
func (c *countingConsumer) Cancelled(*Queue, string) {}

func TestRefusingConsumerAskedOncePerRound(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	for i := range 100 {
		publish(t, v, "", "q", fmt.Sprint(i), nil)
	}
	blocked := &countingConsumer{}
	_, q, err := v.Consume(nil, "q", "b", blocked, false, false, nil)
	must(t, err)
	taker := newConsumer(-1)
	_, _, err = v.Consume(nil, "q", "t", taker, false, true, nil)
	must(t, err)
	if n := len(taker.deliveries()); n != 100 {
		t.Fatalf("taker got %d", n)
	}
	if blocked.offers > 2 { // once when it subscribed, once in the taker's round
		t.Fatalf("a refusing consumer was offered %d times", blocked.offers)
	}
	q.Kick()
	if blocked.offers > 2 {
		t.Fatal("kick on an empty queue offered something")
	}
}
