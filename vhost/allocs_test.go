package vhost

import (
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// TestPublishAllocations guards the hot path: once warm, routing a caller-allocated Message
// to consumers allocates nothing inside vhost (fanout to 10 queues, direct with acks, and
// e2e through two exchanges with a CC header).
func TestPublishAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, tc := range []struct {
		name, ex, kind string
		queues         int
		noAck          bool
	}{
		{"fanout 10 queues no-ack", "f", "fanout", 10, true},
		{"direct with ack", "d", "direct", 1, false},
		{"default exchange", "", "", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, cs := benchSetup(t, tc.ex, tc.kind, tc.queues, tc.noAck)
			p := v.NewPublisher()
			m := &Message{Exchange: tc.ex, RoutingKey: "k", Body: []byte("x")}
			n := testing.AllocsPerRun(1000, func() {
				if _, err := p.Publish(m); err != nil {
					t.Fatal(err)
				}
				if !tc.noAck {
					for _, c := range cs {
						c.last.Queue.Ack(c.last.Entry)
					}
				}
			})
			if n != 0 {
				t.Fatalf("%v allocs per publish, want 0", n)
			}
		})
	}
	t.Run("e2e with CC header", func(t *testing.T) {
		v, _ := benchSetup(t, "f", "fanout", 3, true)
		must(t, v.DeclareExchange("front", "direct", false, false, false, false, nil))
		must(t, v.BindExchange("f", "front", "k", nil))
		must(t, v.BindExchange("f", "front", "c", nil))
		p := v.NewPublisher()
		m := msg(t, "front", "k", "x", wire.Table{"CC": []any{"c"}})
		n := testing.AllocsPerRun(200, func() {
			if routed, err := p.Publish(m); err != nil || !routed {
				t.Fatal(routed, err)
			}
		})
		// Decoding the headers table to read CC allocates (a rare path); routing does not.
		if n > 8 {
			t.Fatalf("%v allocs per publish", n)
		}
	})
}
