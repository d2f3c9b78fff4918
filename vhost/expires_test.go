package vhost

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// The expiry timers are an hour long, so that only the test's direct idleTick calls act,
// against the fake clock.
func TestQueueExpires(t *testing.T) {
	now := fakeClock(t)
	v := newTestVHost(t)
	const hour = int32(3_600_000)
	declare := func(t *testing.T, name string) *Queue {
		t.Helper()
		_, err := v.DeclareQueue(nil, name, false, false, false, false, wire.Table{"x-expires": hour})
		must(t, err)
		return v.Queue(name)
	}
	expireIfDue := func(q *Queue) bool {
		q.idleTick()
		return v.Queue(q.name) == nil
	}

	t.Run("deleted once unused for the period", func(t *testing.T) {
		q := declare(t, "idle")
		publish(t, v, "", "idle", "publishing is no use", nil)
		advance(now, time.Hour-time.Millisecond)
		if expireIfDue(q) {
			t.Fatal("deleted before the deadline")
		}
		advance(now, time.Millisecond)
		if !expireIfDue(q) {
			t.Fatal("not deleted after the period")
		}
	})
	t.Run("declare and get are uses", func(t *testing.T) {
		q := declare(t, "used")
		advance(now, 50*time.Minute)
		_, err := v.DeclareQueue(nil, "used", true, false, false, false, nil) // passive
		must(t, err)
		advance(now, 50*time.Minute)
		_, _, _, err = v.Get(nil, "used", true)
		must(t, err)
		advance(now, 50*time.Minute)
		declare(t, "used") // redeclare
		advance(now, 50*time.Minute)
		if expireIfDue(q) {
			t.Fatal("deleted although used within the period")
		}
		advance(now, 11*time.Minute)
		if !expireIfDue(q) {
			t.Fatal("not deleted an hour after its last use")
		}
	})
	t.Run("a consumer keeps it; the period starts when the last one leaves", func(t *testing.T) {
		q := declare(t, "consumed")
		c := newConsumer(-1)
		_, _, err := v.Consume(nil, "consumed", "t", c, false, true, nil)
		must(t, err)
		advance(now, 2*time.Hour)
		if expireIfDue(q) {
			t.Fatal("deleted with a consumer")
		}
		advance(now, time.Hour)
		q.Cancel(c, "t")
		advance(now, 30*time.Minute)
		if expireIfDue(q) {
			t.Fatal("deleted 30 minutes after its consumer left")
		}
		advance(now, 31*time.Minute)
		if !expireIfDue(q) {
			t.Fatal("not deleted an hour after its consumer left")
		}
		if len(c.cancels()) != 0 {
			t.Fatal("cancelled consumer told of the deletion")
		}
	})
	t.Run("no x-expires, no timer", func(t *testing.T) {
		q := declareQ(t, v, nil, "plain")
		q.mu.Lock()
		armed := q.mu.idleTimer != nil
		q.mu.Unlock()
		if armed {
			t.Fatal("expiry timer armed without x-expires")
		}
	})
}

// Real time: a queue with a 20 ms x-expires goes away by itself.
func TestQueueExpiresByItself(t *testing.T) {
	v := newTestVHost(t)
	_, err := v.DeclareQueue(nil, "short", false, false, false, false, wire.Table{"x-expires": int32(20)})
	must(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for v.Queue("short") != nil {
		if time.Now().After(deadline) {
			t.Fatal("queue with x-expires 20 ms still there after 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A durable queue with x-expires that expires is gone after a restart, and one recovered
// gets a fresh period.
func TestQueueExpiresDurable(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	_, err := v.DeclareQueue(nil, "gone", false, true, false, false, wire.Table{"x-expires": int32(20)})
	must(t, err)
	_, err = v.DeclareQueue(nil, "kept", false, true, false, false, wire.Table{"x-expires": int32(3_600_000)})
	must(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for v.Queue("gone") != nil {
		if time.Now().After(deadline) {
			t.Fatal("not expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	v = d.restart()
	if v.Queue("gone") != nil || v.Queue("kept") == nil {
		t.Fatalf("after restart: gone=%v kept=%v", v.Queue("gone") != nil, v.Queue("kept") != nil)
	}
	q := v.Queue("kept")
	q.mu.Lock()
	armed := q.mu.idleTimer != nil
	q.mu.Unlock()
	if !armed {
		t.Fatal("recovered queue has no expiry timer")
	}
}
