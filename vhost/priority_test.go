package vhost

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// msgPrio builds a message with a priority property.
func msgPrio(t testing.TB, key, body string, prio uint8) *Message {
	t.Helper()
	p := wire.Properties{Priority: prio}
	flags, props, err := p.Append(nil)
	must(t, err)
	return &Message{RoutingKey: key, Body: []byte(body), Flags: flags, Props: props, Priority: prio}
}

func TestPriorityQueue(t *testing.T) {
	v := newTestVHost(t)
	_, err := v.DeclareQueue(nil, "pq", false, false, false, false, wire.Table{"x-max-priority": int32(5)})
	must(t, err)
	pub := func(body string, prio uint8) {
		t.Helper()
		_, err := v.Publish(msgPrio(t, "pq", body, prio))
		must(t, err)
	}
	t.Run("higher priority first, FIFO within one, capped at the maximum", func(t *testing.T) {
		pub("a0", 0)
		pub("b3", 3)
		pub("c9", 9) // counts as 5
		pub("d0", 0)
		pub("e5", 5)
		pub("f3", 3)
		if got := drain(t, v, "pq"); !equal(got, []string{"c9", "e5", "b3", "f3", "a0", "d0"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a requeued message goes back within its priority", func(t *testing.T) {
		pub("low", 1)
		pub("high", 4)
		d, ok, _, err := v.Get(nil, "pq", false)
		must(t, err)
		if !ok || string(d.Msg.Body) != "high" {
			t.Fatalf("got %v", d.Msg)
		}
		pub("high2", 4)
		d.Queue.Requeue(d.Entry)
		if got := drain(t, v, "pq"); !equal(got, []string{"high", "high2", "low"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("consumer gets the backlog by priority", func(t *testing.T) {
		for i := range 10 {
			pub(fmt.Sprint(i), uint8(i%3))
		}
		c := newConsumer(-1)
		_, _, err := v.Consume(nil, "pq", "", c, false, true, nil)
		must(t, err)
		want := []string{"2", "5", "8", "1", "4", "7", "0", "3", "6", "9"}
		if got := c.bodies(); !equal(got, want) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a plain queue ignores priorities", func(t *testing.T) {
		declareQ(t, v, nil, "plain")
		for i, p := range []uint8{0, 9, 3} {
			_, err := v.Publish(msgPrio(t, "plain", fmt.Sprint(i), p))
			must(t, err)
		}
		if got := drain(t, v, "plain"); !equal(got, []string{"0", "1", "2"}) {
			t.Fatalf("got %v", got)
		}
	})
}

// The ring keeps (rank, seq) order under random inserts, from both ends.
func TestRingRankedInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		var r ring
		var want []item
		for seq := range uint64(200) {
			it := item{msg: &Message{}, seq: seq + 1, rank: uint8(rng.IntN(4))}
			if rng.IntN(3) == 0 && r.len() > 0 {
				r.popFront()
				want = want[1:]
			}
			r.insert(it)
			want = append(want, it)
			slices.SortFunc(want, compareItems)
		}
		var got []item
		for r.len() > 0 {
			got = append(got, r.popFront())
		}
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d items, want %d", trial, len(got), len(want))
		}
		for i := range got {
			if got[i].seq != want[i].seq {
				t.Fatalf("trial %d: position %d has seq %d, want %d", trial, i, got[i].seq, want[i].seq)
			}
		}
	}
}
