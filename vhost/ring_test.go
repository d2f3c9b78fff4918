package vhost

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRingInsertAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var r ring
		var want []uint64
		// Ready: a random subset of 0..99, with the head moved so the buffer wraps.
		for s := range uint64(100) {
			if rng.IntN(2) == 0 {
				r.pushBack(item{seq: s})
				want = append(want, s)
			}
		}
		for range rng.IntN(len(want) + 1) {
			r.popFront()
			want = want[1:]
		}
		// Requeue: a random sorted subset of the seqs not present.
		var items []item
		for s := range uint64(100) {
			if !slices.Contains(want, s) && rng.IntN(3) == 0 {
				items = append(items, item{seq: s})
				want = append(want, s)
			}
		}
		r.insertAll(items)
		slices.Sort(want)
		if got := drainSeqs(&r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d: got %v\nwant %v", trial, got, want)
		}
	}
}

// TestRingInsertBeforeTail: a sorted block that goes before the last few elements (a
// page read from the store, before the queue's run) is inserted in place, in order and
// with its body bytes counted once; a block that interleaves with the back is merged.
func TestRingInsertBeforeTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	body := &Message{Body: []byte("abc")}
	for trial := range 200 {
		var r ring
		var want []uint64
		n, tail := rng.IntN(40), rng.IntN(insertTailMax+3)
		for s := range uint64(n) {
			r.pushBack(item{seq: s, msg: body})
			want = append(want, s)
		}
		for range rng.IntN(len(want) + 1) { // move the head so the buffer wraps
			r.popFront()
			want = want[1:]
		}
		for x := range uint64(tail) {
			r.pushBack(item{seq: 1000 + 10*x, msg: body})
			want = append(want, 1000+10*x)
		}
		var items []item
		lo, k := uint64(100), 1+rng.IntN(300)
		if tail > 0 && rng.IntN(4) == 0 {
			lo = 1005 // interleaves with the back: the merge path
		}
		for s := lo; s < lo+uint64(k); s++ {
			if lo == 1005 && s%10 == 0 {
				continue
			}
			items = append(items, item{seq: s, msg: body})
			want = append(want, s)
		}
		if lo == 100 && len(items) > 1 && r.n > 0 && !before(&items[len(items)-1], r.front()) {
			// Every element but the tail goes before the block: insertBeforeTail takes it
			// when the tail is short enough, and leaves the ring as it was otherwise.
			if got := r.insertBeforeTail(items); got != (tail <= insertTailMax) {
				t.Fatalf("trial %d: insertBeforeTail with a tail of %d: %v", trial, tail, got)
			} else if !got {
				r.insertAll(items)
			}
		} else {
			r.insertAll(items)
		}
		slices.Sort(want)
		if r.bytes != int64(3*len(want)) {
			t.Fatalf("trial %d: bytes %d, want %d", trial, r.bytes, 3*len(want))
		}
		if got := drainSeqs(&r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d: got %v\nwant %v", trial, got, want)
		}
	}
}

// BenchmarkRingPageIn: a page of 1024 messages read from the store goes between a
// queue's in-memory head (256 messages) and its run, as Queue.pageIn inserts it; the
// consumer then takes the page.
func BenchmarkRingPageIn(b *testing.B) {
	m := &Message{Body: make([]byte, 100)}
	var r ring
	for s := range uint64(256) {
		r.pushBack(item{seq: s, msg: m})
	}
	r.pushBack(item{seq: 1 << 40, expires: 1<<41 - 1, n: 1 << 20}) // the run
	page := make([]item, 1024)
	next := uint64(256)
	b.ReportAllocs()
	for b.Loop() {
		for i := range page {
			page[i] = item{seq: next, msg: m}
			next++
		}
		r.insertAll(page)
		for range len(page) {
			r.popFront()
		}
	}
}

// drainSeqs pops every element of r and returns their sequence numbers, in order.
func drainSeqs(r *ring) []uint64 {
	var got []uint64
	for r.len() > 0 {
		got = append(got, r.popFront().seq)
	}
	return got
}
