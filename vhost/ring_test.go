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
		var got []uint64
		for r.len() > 0 {
			got = append(got, r.popFront().seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d: got %v\nwant %v", trial, got, want)
		}
	}
}
