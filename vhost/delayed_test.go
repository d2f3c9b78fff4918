package vhost

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// waitReady polls until queue holds n ready messages, for at most 5 s.
func waitReady(t *testing.T, v *VHost, queue string, n uint32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ready(t, v, queue) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d ready after 5 s, want %d", queue, ready(t, v, queue), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestDelayedExchange(t *testing.T) {
	v := newTestVHost(t)
	t.Run("x-delayed-type is required and must be a known type", func(t *testing.T) {
		for _, args := range []wire.Table{nil, {"x-delayed-type": "nope"}, {"x-delayed-type": int32(1)}, {"x-delayed-type": "x-delayed-message"}} {
			err := v.DeclareExchange("bad", "x-delayed-message", false, false, false, false, args)
			wantErr(t, err, wire.PreconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type")
		}
	})
	must(t, v.DeclareExchange("delay", "x-delayed-message", false, true, false, false, wire.Table{"x-delayed-type": "direct"}))
	declareQ(t, v, nil, "dq")
	declareQ(t, v, nil, "other")
	must(t, v.BindQueue(nil, "dq", "delay", "k", nil))
	must(t, v.BindQueue(nil, "other", "delay", "o", nil))

	t.Run("without x-delay it routes at once, as its x-delayed-type", func(t *testing.T) {
		if !publish(t, v, "delay", "k", "now", nil) {
			t.Fatal("not routed")
		}
		if publish(t, v, "delay", "unbound", "x", nil) {
			t.Fatal("routed with an unbound key")
		}
		if got := drain(t, v, "dq"); !equal(got, []string{"now"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("x-delay holds the message, then routes it with its headers", func(t *testing.T) {
		start := time.Now()
		if !publish(t, v, "delay", "k", "later", wire.Table{"x-delay": int32(50), "h": "v"}) {
			t.Fatal("a held message counts as routed")
		}
		publish(t, v, "delay", "k", "zero", wire.Table{"x-delay": int64(0)})
		if got := drain(t, v, "dq"); !equal(got, []string{"zero"}) {
			t.Fatalf("got %v right after publishing", got)
		}
		waitReady(t, v, "dq", 1)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("delivered after %v", d)
		}
		d, ok, _, err := v.Get(nil, "dq", true)
		must(t, err)
		if !ok || string(d.Msg.Body) != "later" || d.Msg.Exchange != "delay" || d.Msg.RoutingKey != "k" {
			t.Fatalf("got %v", d.Msg)
		}
		if h := headersOf(t, d.Msg); h["h"] != "v" || h["x-delay"] != int32(50) {
			t.Fatalf("headers %v", h)
		}
	})
	t.Run("shorter delays come out first", func(t *testing.T) {
		publish(t, v, "delay", "k", "slow", wire.Table{"x-delay": int32(80)})
		publish(t, v, "delay", "k", "fast", wire.Table{"x-delay": int32(10)})
		waitReady(t, v, "dq", 2)
		if got := drain(t, v, "dq"); !equal(got, []string{"fast", "slow"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a deleted exchange drops what it held", func(t *testing.T) {
		must(t, v.DeclareExchange("gone", "x-delayed-message", false, false, false, false, wire.Table{"x-delayed-type": "fanout"}))
		must(t, v.BindQueue(nil, "other", "gone", "", nil))
		publish(t, v, "gone", "", "lost", wire.Table{"x-delay": int32(20)})
		must(t, v.DeleteExchange("gone", false))
		publish(t, v, "delay", "o", "marker", wire.Table{"x-delay": int32(60)})
		waitReady(t, v, "other", 1)
		if got := drain(t, v, "other"); !equal(got, []string{"marker"}) {
			t.Fatalf("got %v", got)
		}
	})
}

// The exchange is durable like any other: after a restart it still routes as its
// x-delayed-type and still delays.
func TestDelayedExchangeSurvivesRestart(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	must(t, v.DeclareExchange("dx", "x-delayed-message", false, true, false, false, wire.Table{"x-delayed-type": "topic"}))
	_, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil)
	must(t, err)
	must(t, v.BindQueue(nil, "dq", "dx", "a.*", nil))
	v = d.restart()
	publish(t, v, "dx", "a.b", "now", nil)
	publish(t, v, "dx", "a.c", "later", wire.Table{"x-delay": int32(20)})
	if got := drain(t, v, "dq"); !equal(got, []string{"now"}) {
		t.Fatalf("got %v", got)
	}
	waitReady(t, v, "dq", 1)
}

// Held persistent messages of a durable delayed exchange survive a restart: the one due
// during the downtime is routed at once, the other at its time; once routed they are not
// held again after another restart.
func TestDelayedMessagesSurviveRestart(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	must(t, v.DeclareExchange("dx", "x-delayed-message", false, true, false, false, wire.Table{"x-delayed-type": "fanout"}))
	_, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil)
	must(t, err)
	must(t, v.BindQueue(nil, "dq", "dx", "", nil))
	// The delay counts from the publish, so the clock starts before it: taken
	// after, it made a message on time look 2 ms early.
	start := time.Now()
	for _, tc := range []struct {
		body  string
		delay int32
	}{{"soon", 30}, {"later", 400}} {
		m := persistent(t, "dx", "", tc.body, &wire.Properties{Headers: wire.Table{"x-delay": tc.delay}})
		publishM(t, v, m)
	}
	d.close() // before either is due
	time.Sleep(50 * time.Millisecond)
	d.open()
	v = d.v()
	waitReady(t, v, "dq", 1)
	if got := bodiesOf(getAll(t, v, "dq", true)); !equal(got, []string{"soon"}) {
		t.Fatalf("got %v", got)
	}
	waitReady(t, v, "dq", 1)
	if time.Since(start) < 400*time.Millisecond {
		t.Fatalf("the 400 ms message came after %v", time.Since(start))
	}
	v = d.restart()
	if got := bodiesOf(getAll(t, v, "dq", true)); !equal(got, []string{"later"}) {
		t.Fatalf("after the second restart: %v", got)
	}
	v = d.restart()
	time.Sleep(50 * time.Millisecond)
	if got := bodiesOf(getAll(t, v, "dq", true)); len(got) != 0 {
		t.Fatalf("delivered again after a restart: %v", got)
	}
}

// A persistent message held by a durable delayed exchange is confirmed only once its
// stored copy is synced: PublishFor reports pending and Stored follows, once.
func TestDelayedPersistentPublishWaitsForTheStore(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	must(t, v.DeclareExchange("dx", "x-delayed-message", false, true, false, false, wire.Table{"x-delayed-type": "direct"}))
	_, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil)
	must(t, err)
	must(t, v.BindQueue(nil, "dq", "dx", "k", nil))
	p := v.NewPublisher()
	r := &recorder{done: make(chan struct{}), want: 1}
	delay := &wire.Properties{Headers: wire.Table{"x-delay": int32(60000)}}
	routed, pending, err := p.PublishFor(persistent(t, "dx", "k", "held", delay), r, 7)
	if err != nil || !routed || !pending {
		t.Fatalf("routed %v pending %v err %v; want a routed, pending publish", routed, pending, err)
	}
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no Stored for the held message")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tokens) != 1 || r.tokens[0] != 7 || r.errs[0] != nil {
		t.Fatalf("Stored calls %v %v, want one for token 7 without error", r.tokens, r.errs)
	}
	// Transient messages held in memory are not pending.
	flags, raw, err := (&wire.Properties{Headers: wire.Table{"x-delay": int32(60000)}}).Append(nil)
	must(t, err)
	_, pending, err = p.PublishFor(&Message{Exchange: "dx", RoutingKey: "k", Body: []byte("t"), Flags: flags, Props: raw}, r, 8)
	if err != nil || pending {
		t.Fatalf("transient held publish: pending %v err %v, want not pending", pending, err)
	}
}
