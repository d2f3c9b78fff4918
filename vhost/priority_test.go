package vhost

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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

// Message TTL in a priority queue expires at the head of the whole queue only, as
// rabbit_priority_queue:dropwhile/2 does (it walks the levels from the highest and stops at
// the first whose head is alive): an expired low-priority message behind a live
// high-priority one stays, and counts, until it reaches the head. Checked on RabbitMQ
// 3.10.8 by conformance's x-max-priority/ttl-expires-at-the-head-only.
func TestPriorityTTLAtTheHeadOnly(t *testing.T) {
	now := fakeClock(t)
	v := newTestVHost(t)
	_, err := v.DeclareQueue(nil, "pq", false, false, false, false, wire.Table{"x-max-priority": int32(5)})
	must(t, err)
	pub := func(body string, prio uint8, exp string) {
		t.Helper()
		p := wire.Properties{Priority: prio, Expiration: exp}
		flags, props, err := p.Append(nil)
		must(t, err)
		publishM(t, v, &Message{RoutingKey: "pq", Body: []byte(body), Flags: flags, Props: props, Priority: prio})
	}
	pub("live5", 5, "")
	pub("dies1", 1, "10")
	pub("dies3", 3, "10")
	pub("live0", 0, "")
	advance(now, 20*time.Millisecond)
	if n := ready(t, v, "pq"); n != 4 {
		t.Fatalf("%d ready, want 4: nothing expires behind the live head", n)
	}
	// Once "live5" is gone, the expired heads of levels 3 and 1 go, down to "live0".
	if got := drain(t, v, "pq"); !equal(got, []string{"live5", "live0"}) {
		t.Fatalf("got %v, want [live5 live0]", got)
	}
	// With an expired head, expiry crosses levels until a live head.
	pub("dies5", 5, "10")
	pub("dies2", 2, "10")
	pub("live1", 1, "")
	advance(now, 20*time.Millisecond)
	if n := ready(t, v, "pq"); n != 1 {
		t.Fatalf("%d ready, want 1 (live1)", n)
	}
}
