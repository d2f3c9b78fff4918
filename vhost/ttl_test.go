package vhost

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// fakeClock replaces nowNano for one test.
func fakeClock(t *testing.T) *int64 {
	now := time.Now().UnixNano()
	saved := nowNano
	nowNano = func() int64 { return now }
	t.Cleanup(func() { nowNano = saved })
	return &now
}

func advance(now *int64, d time.Duration) { *now += int64(d) }

// msgExp builds a message with an expiration property (and optional headers).
func msgExp(t testing.TB, exchange, key, body, expiration string, headers wire.Table) *Message {
	t.Helper()
	p := wire.Properties{Expiration: expiration, Headers: headers}
	flags, props, err := p.Append(nil)
	must(t, err)
	return &Message{Exchange: exchange, RoutingKey: key, Body: []byte(body), Flags: flags, Props: props}
}

func ready(t testing.TB, v *VHost, name string) uint32 {
	t.Helper()
	info, err := v.DeclareQueue(nil, name, true, false, false, false, nil)
	must(t, err)
	return info.Messages
}

func TestMessageTTL(t *testing.T) {
	now := fakeClock(t)
	v := newTestVHost(t)
	t.Run("x-message-ttl expires messages", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "ttl", false, false, false, false, wire.Table{"x-message-ttl": int32(1000)})
		must(t, err)
		publish(t, v, "", "ttl", "1", nil)
		advance(now, 500*time.Millisecond)
		publish(t, v, "", "ttl", "2", nil)
		advance(now, 500*time.Millisecond)
		if n := ready(t, v, "ttl"); n != 2 {
			t.Fatalf("%d ready at the deadline, want 2 (expiry is strictly after it)", n)
		}
		advance(now, time.Millisecond)
		if got := drain(t, v, "ttl"); !equal(got, []string{"2"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("expiration property; the smaller TTL wins", func(t *testing.T) {
		_, err := v.Publish(msgExp(t, "", "ttl", "a", "100", nil)) // queue TTL 1000 > 100
		must(t, err)
		_, err = v.Publish(msgExp(t, "", "ttl", "b", "5000", nil)) // queue TTL 1000 < 5000
		must(t, err)
		advance(now, 101*time.Millisecond)
		if n := ready(t, v, "ttl"); n != 1 {
			t.Fatalf("%d ready, want 1", n)
		}
		advance(now, 900*time.Millisecond)
		if n := ready(t, v, "ttl"); n != 0 {
			t.Fatalf("%d ready, want 0", n)
		}
	})
	t.Run("only the head expires", func(t *testing.T) {
		declareQ(t, v, nil, "head")
		_, err := v.Publish(msgExp(t, "", "head", "long", "1000", nil))
		must(t, err)
		_, err = v.Publish(msgExp(t, "", "head", "short", "10", nil))
		must(t, err)
		advance(now, 20*time.Millisecond)
		if n := ready(t, v, "head"); n != 2 {
			t.Fatalf("%d ready: a message behind the head expired", n)
		}
		advance(now, time.Second)
		if n := ready(t, v, "head"); n != 0 {
			t.Fatalf("%d ready", n)
		}
	})
	t.Run("TTL 0 goes to a consumer that can take it, else expires", func(t *testing.T) {
		declareQ(t, v, nil, "zero")
		c := newConsumer(1)
		_, _, err := v.Consume(nil, "zero", "c", c, false, true, nil)
		must(t, err)
		_, err = v.Publish(msgExp(t, "", "zero", "taken", "0", nil))
		must(t, err)
		_, err = v.Publish(msgExp(t, "", "zero", "refused", "0", nil))
		must(t, err)
		advance(now, time.Nanosecond)
		if got := c.bodies(); !equal(got, []string{"taken"}) {
			t.Fatalf("consumer got %v", got)
		}
		if n := ready(t, v, "zero"); n != 0 {
			t.Fatalf("%d ready", n)
		}
	})
	t.Run("a requeued message keeps its expiry", func(t *testing.T) {
		publish(t, v, "", "ttl", "r", nil)
		d, ok, _, err := v.Get(nil, "ttl", false)
		must(t, err)
		if !ok {
			t.Fatal("empty")
		}
		advance(now, 2*time.Second)
		d.Queue.Requeue(d.Entry)
		if n := ready(t, v, "ttl"); n != 0 {
			t.Fatalf("%d ready: an expired message came back", n)
		}
	})
	t.Run("invalid expiration is ignored by the core", func(t *testing.T) {
		_, err := v.Publish(msgExp(t, "", "head", "x", "soon", nil))
		must(t, err)
		advance(now, 24*time.Hour)
		if n := ready(t, v, "head"); n != 1 {
			t.Fatalf("%d ready", n)
		}
	})
}

func TestExpiryTimer(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "fanout", false, false, false, false, nil))
	declareQ(t, v, nil, "dead")
	must(t, v.BindQueue(nil, "dead", "dlx", "", nil))
	_, err := v.DeclareQueue(nil, "delay", false, false, false, false,
		wire.Table{"x-message-ttl": int32(20), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	publish(t, v, "", "delay", "later", nil)
	// Nobody reads "delay": its timer must move the message on.
	deadline := time.Now().Add(10 * time.Second)
	for ready(t, v, "dead") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("message did not expire into the dead-letter queue")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := drain(t, v, "dead"); !equal(got, []string{"later"}) {
		t.Fatalf("got %v", got)
	}
}

func headersOf(t testing.TB, m *Message) wire.Table {
	t.Helper()
	var p wire.Properties
	must(t, p.Decode(m.Flags, m.Props))
	return p.Headers
}

func TestDeadLettering(t *testing.T) {
	now := fakeClock(t)
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "topic", false, false, false, false, nil))
	declareQ(t, v, nil, "dlq")
	must(t, v.BindQueue(nil, "dlq", "dlx", "#", nil))
	_, err := v.DeclareQueue(nil, "work", false, false, false, false, wire.Table{"x-dead-letter-exchange": "dlx"})
	must(t, err)
	must(t, v.BindQueue(nil, "work", "amq.direct", "k", nil))
	must(t, v.BindQueue(nil, "work", "amq.direct", "cc", nil))

	t.Run("reject without requeue dead-letters with x-death", func(t *testing.T) {
		_, err := v.Publish(msgExp(t, "amq.direct", "k", "m1", "60000", wire.Table{"CC": []any{"cc"}, "h": "v"}))
		must(t, err)
		d, ok, _, err := v.Get(nil, "work", false)
		must(t, err)
		if !ok {
			t.Fatal("empty")
		}
		d.Queue.Reject(false, d.Entry)
		dd, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok {
			t.Fatal("nothing dead-lettered")
		}
		m := dd.Msg
		if m.Exchange != "dlx" || m.RoutingKey != "k" || string(m.Body) != "m1" {
			t.Fatalf("dead letter %q/%q %q", m.Exchange, m.RoutingKey, m.Body)
		}
		var p wire.Properties
		must(t, p.Decode(m.Flags, m.Props))
		if p.Expiration != "" || p.Flags&wire.FlagExpiration != 0 {
			t.Fatal("expiration kept")
		}
		h := p.Headers
		if h["h"] != "v" || h["x-first-death-reason"] != "rejected" || h["x-first-death-queue"] != "work" ||
			h["x-first-death-exchange"] != "amq.direct" {
			t.Fatalf("headers %v", h)
		}
		deaths, ok := h["x-death"].([]any)
		if !ok || len(deaths) != 1 {
			t.Fatalf("x-death %#v", h["x-death"])
		}
		e := deaths[0].(wire.Table)
		if e["reason"] != "rejected" || e["queue"] != "work" || e["exchange"] != "amq.direct" ||
			e["count"] != int64(1) || e["original-expiration"] != "60000" {
			t.Fatalf("x-death entry %v", e)
		}
		if fmt.Sprint(e["routing-keys"]) != "[k cc]" {
			t.Fatalf("routing-keys %v", e["routing-keys"])
		}
		if _, ok := e["time"].(time.Time); !ok {
			t.Fatalf("time %T", e["time"])
		}
		// The CC key was kept for routing: the dead letter went to dlq once (dedup).
		if n := ready(t, v, "dlq"); n != 0 {
			t.Fatalf("%d more in dlq", n)
		}
	})
	t.Run("expired messages dead-letter with reason expired", func(t *testing.T) {
		_, err := v.Publish(msgExp(t, "amq.direct", "k", "m2", "10", nil))
		must(t, err)
		advance(now, 11*time.Millisecond)
		if n := ready(t, v, "work"); n != 0 { // reading the queue expires its head
			t.Fatalf("%d ready", n)
		}
		dd, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok {
			t.Fatal("nothing dead-lettered")
		}
		e := headersOf(t, dd.Msg)["x-death"].([]any)[0].(wire.Table)
		if e["reason"] != "expired" || e["original-expiration"] != "10" {
			t.Fatalf("x-death %v", e)
		}
	})
	t.Run("ack and requeue do not dead-letter", func(t *testing.T) {
		publish(t, v, "amq.direct", "k", "m3", nil)
		d, _, _, err := v.Get(nil, "work", false)
		must(t, err)
		d.Queue.Requeue(d.Entry)
		d, _, _, err = v.Get(nil, "work", false)
		must(t, err)
		d.Queue.Ack(d.Entry)
		if n := ready(t, v, "dlq"); n != 0 {
			t.Fatalf("%d dead-lettered", n)
		}
	})
	t.Run("x-dead-letter-routing-key replaces the keys and drops CC", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "work2", false, false, false, false,
			wire.Table{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead.key"})
		must(t, err)
		publish(t, v, "", "work2", "m4", wire.Table{"CC": []any{"other"}})
		d, _, _, err := v.Get(nil, "work2", false)
		must(t, err)
		d.Queue.Reject(false, d.Entry)
		dd, ok, _, err := v.Get(nil, "dlq", true)
		must(t, err)
		if !ok || dd.Msg.RoutingKey != "dead.key" {
			t.Fatalf("got %v %+v", ok, dd.Msg)
		}
		h := headersOf(t, dd.Msg)
		if _, ok := h["CC"]; ok {
			t.Fatal("CC kept")
		}
		e := h["x-death"].([]any)[0].(wire.Table)
		if fmt.Sprint(e["routing-keys"]) != "[work2 other]" || e["exchange"] != "" {
			t.Fatalf("x-death %v", e)
		}
	})
	t.Run("repeated rejects count up in one x-death entry", func(t *testing.T) {
		// loop: q3 rejects to dlx2 which routes back to q3.
		must(t, v.DeclareExchange("dlx2", "fanout", false, false, false, false, nil))
		_, err := v.DeclareQueue(nil, "q3", false, false, false, false, wire.Table{"x-dead-letter-exchange": "dlx2"})
		must(t, err)
		must(t, v.BindQueue(nil, "q3", "dlx2", "", nil))
		publish(t, v, "", "q3", "m5", nil)
		for range 3 {
			d, ok, _, err := v.Get(nil, "q3", false)
			must(t, err)
			if !ok {
				t.Fatal("rejected message did not come back")
			}
			d.Queue.Reject(false, d.Entry)
		}
		d, ok, _, err := v.Get(nil, "q3", true)
		must(t, err)
		if !ok {
			t.Fatal("gone")
		}
		deaths := headersOf(t, d.Msg)["x-death"].([]any)
		if len(deaths) != 1 || deaths[0].(wire.Table)["count"] != int64(3) {
			t.Fatalf("x-death %v", deaths)
		}
	})
	t.Run("an automatic cycle is dropped", func(t *testing.T) {
		// Expiring from q4 into dlx3, which routes back to q4: RabbitMQ drops it.
		must(t, v.DeclareExchange("dlx3", "fanout", false, false, false, false, nil))
		_, err := v.DeclareQueue(nil, "q4", false, false, false, false,
			wire.Table{"x-dead-letter-exchange": "dlx3", "x-message-ttl": int32(5)})
		must(t, err)
		must(t, v.BindQueue(nil, "q4", "dlx3", "", nil))
		declareQ(t, v, nil, "q4-copy")
		must(t, v.BindQueue(nil, "q4-copy", "dlx3", "", nil))
		publish(t, v, "", "q4", "m6", nil)
		advance(now, 6*time.Millisecond)
		if n := ready(t, v, "q4"); n != 0 {
			t.Fatalf("%d in q4: the cycle was not broken", n)
		}
		if n := ready(t, v, "q4-copy"); n != 1 {
			t.Fatalf("%d in q4-copy, want 1 (only the cycling queue is skipped)", n)
		}
	})
	t.Run("missing dead-letter exchange drops the message", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "q5", false, false, false, false, wire.Table{"x-dead-letter-exchange": "nope"})
		must(t, err)
		publish(t, v, "", "q5", "m7", nil)
		d, _, _, err := v.Get(nil, "q5", false)
		must(t, err)
		d.Queue.Reject(false, d.Entry)
		if n := ready(t, v, "q5"); n != 0 {
			t.Fatal("message stayed")
		}
	})
}

func TestQueueArgumentValidation(t *testing.T) {
	v := newTestVHost(t)
	for _, tc := range []struct {
		name string
		args wire.Table
		text string
	}{
		{"negative ttl", wire.Table{"x-message-ttl": int32(-1)},
			"invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}"},
		{"string ttl", wire.Table{"x-message-ttl": "10"},
			`invalid arg 'x-message-ttl' for queue 'q' in vhost '/': "expected integer, got longstr"`},
		{"ttl too large", wire.Table{"x-message-ttl": int64(315_360_000_001)},
			"invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_too_large,315360000001}"},
		{"zero expires", wire.Table{"x-expires": int32(0)},
			"invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"},
		{"dlx not a string", wire.Table{"x-dead-letter-exchange": int32(1)},
			"invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"},
		{"routing key without dlx", wire.Table{"x-dead-letter-routing-key": "k"},
			"invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': routing_key_but_no_dlx_defined"},
		{"negative max-length", wire.Table{"x-max-length": int16(-3)},
			"invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-3}"},
		{"max-priority too large", wire.Table{"x-max-priority": int32(256)},
			"invalid arg 'x-max-priority' for queue 'q' in vhost '/': {max_value_exceeded,256}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.DeclareQueue(nil, "q", false, false, false, false, tc.args)
			wantErr(t, err, wire.PreconditionFailed, tc.text)
			if v.Queue("q") != nil {
				t.Fatal("created anyway")
			}
		})
	}
	t.Run("unknown arguments are accepted", func(t *testing.T) {
		_, err := v.DeclareQueue(nil, "q", false, false, false, false, wire.Table{"x-whatever": "x", "plain": int8(1)})
		must(t, err)
	})
}

func TestCheckExpiration(t *testing.T) {
	for _, tc := range []struct{ in, text string }{
		{"abc", "invalid expiration 'abc': no_integer"},
		{"", "invalid expiration '': no_integer"},
		{"12a", `invalid expiration '12a': {leftover_string,"a"}`},
		{"-5", "invalid expiration '-5': {value_negative,-5}"},
		{"315360000001", "invalid expiration '315360000001': {value_too_large,315360000001}"},
	} {
		wantErr(t, CheckExpiration([]byte(tc.in)), wire.PreconditionFailed, tc.text)
	}
	for _, ok := range []string{"0", "60000", "+5", "007"} {
		must(t, CheckExpiration([]byte(ok)))
	}
	must(t, CheckExpiration(nil))
}
