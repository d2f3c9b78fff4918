package vhost

import (
	"bytes"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// The dead-letter headers' wire order (conformance's x-death/bytes-* checks compare it with
// RabbitMQ's bytes): headers sorted by key, x-last-death-* next to x-first-death-*, each
// x-death entry in mc_amqpl:death_table/7's order, a repeated (queue, reason) counted and
// moved to the front with its first time; x-dead-letter-routing-key drops CC.
func TestDeadLetterHeaderOrder(t *testing.T) {
	now := fakeClock(t)
	v := newTestVHost(t)
	declareQ(t, v, nil, "end")
	_, err := v.DeclareQueue(nil, "q1", false, false, false, false, wire.Table{
		"x-message-ttl": int32(10), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "q2"})
	must(t, err)
	_, err = v.DeclareQueue(nil, "q2", false, false, false, false, wire.Table{
		"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "q1"})
	must(t, err)
	publishM(t, v, msgExp(t, "", "q1", "m", "5", wire.Table{"zz": "1", "CC": []any{"end"}}))
	advance(now, 20*time.Millisecond)
	v.Queue("q1").expireTick()
	d, ok, _, err := v.Get(nil, "q2", false)
	must(t, err)
	if !ok {
		t.Fatal("not dead-lettered to q2")
	}
	d.Queue.Reject(false, d.Entry) // back to q1
	advance(now, 20*time.Millisecond)
	v.Queue("q1").expireTick()
	d, ok, _, err = v.Get(nil, "q2", true)
	must(t, err)
	if !ok {
		t.Fatal("not dead-lettered to q2 again")
	}
	raw := d.Msg.Props
	inOrder := func(what string, keys ...string) {
		t.Helper()
		at := -1
		for _, k := range keys {
			i := bytes.Index(raw[max(at, 0):], append([]byte{byte(len(k))}, k...))
			if i < 0 {
				t.Fatalf("%s: %q missing or out of order in %q", what, k, raw)
			}
			at = max(at, 0) + i + 1 + len(k)
		}
	}
	inOrder("headers", "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
		"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "zz")
	inOrder("x-death entries", "original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys", // q1, expired
		"count", "reason", "queue", "time", "exchange", "routing-keys") // q2, rejected
	h := headersOf(t, d.Msg)
	deaths := h["x-death"].([]any)
	first := deaths[0].(wire.Table)
	if len(deaths) != 2 || first["queue"] != "q1" || first["count"] != int64(2) || first["original-expiration"] != "5" {
		t.Fatalf("x-death %v", deaths)
	}
	if h["CC"] != nil || h["x-first-death-queue"] != "q1" || h["x-last-death-queue"] != "q1" || h["x-last-death-reason"] != "expired" {
		t.Fatalf("headers %v", h)
	}
}

// BenchmarkDeadLetterHeaders: encoding a dead-lettered message's properties with x-death
// in wire order (appendDeadProps) against wire's sorted encoding of the same table.
func BenchmarkDeadLetterHeaders(b *testing.B) {
	props := func() wire.Properties {
		h := wire.Table{"app": "x"}
		for _, q := range []string{"q1", "q2", "q1"} {
			updateXDeath(h, wire.Table{"reason": "expired", "queue": q, "time": time.Unix(1e9, 0).UTC(),
				"exchange": "", "routing-keys": []any{q}}, q, "expired", "")
		}
		return wire.Properties{ContentType: "text/plain", Headers: h, DeliveryMode: 2}
	}
	b.Run("appendDeadProps", func(b *testing.B) {
		p := props()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := appendDeadProps(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire.Properties.Append", func(b *testing.B) {
		p := props()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := p.Append(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
