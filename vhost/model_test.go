package vhost

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQueueModel drives one queue with random publishes, gets, acks, requeues, rejects and
// purges, and checks it against a reference model: the ready messages are always the
// not-yet-taken ones in publish order, requeued ones back at their original places with
// redelivered set.
func TestQueueModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			v := newTestVHost(t)
			q := declareQ(t, v, nil, "q")
			type ref struct {
				n           int
				redelivered bool
			}
			var ready []ref               // the model's ready list, by n
			unacked := map[int]Delivery{} // n → delivery
			next := 0
			for range 2000 {
				switch op := rng.IntN(10); {
				case op < 4: // publish
					publish(t, v, "", "q", fmt.Sprint(next), nil)
					ready = append(ready, ref{n: next})
					next++
				case op < 6: // get
					d, ok, remaining, err := v.Get(nil, "q", rng.IntN(4) == 0)
					must(t, err)
					if ok != (len(ready) > 0) {
						t.Fatalf("get ok=%v with %d ready in the model", ok, len(ready))
					}
					if !ok {
						continue
					}
					want := ready[0]
					ready = ready[1:]
					var n int
					fmt.Sscan(string(d.Msg.Body), &n)
					if n != want.n || d.Redelivered != want.redelivered || int(remaining) != len(ready) {
						t.Fatalf("got %d redelivered=%v remaining=%d, want %+v remaining=%d", n, d.Redelivered, remaining, want, len(ready))
					}
					if d.Entry != (Entry{}) {
						unacked[n] = d
					}
				case op < 9: // settle a random subset of unacked: ack, requeue or reject
					var es []Entry
					var ns []int
					for n, d := range unacked {
						if rng.IntN(3) == 0 {
							es = append(es, d.Entry)
							ns = append(ns, n)
							delete(unacked, n)
						}
					}
					switch rng.IntN(3) {
					case 0:
						q.Ack(es...)
					case 1:
						q.Reject(false, es...)
					default:
						q.Requeue(es...)
						for _, n := range ns {
							ready = append(ready, ref{n: n, redelivered: true})
						}
						slices.SortFunc(ready, func(a, b ref) int { return a.n - b.n })
					}
				default: // purge
					got, err := v.PurgeQueue(nil, "q")
					must(t, err)
					if int(got) != len(ready) {
						t.Fatalf("purged %d, model has %d ready", got, len(ready))
					}
					ready = ready[:0]
				}
				if info := q.info(); int(info.Messages) != len(ready) {
					t.Fatalf("queue has %d ready, model %d", info.Messages, len(ready))
				}
			}
		})
	}
}
