package main

import (
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name     string
		live     uint64
		want     int
		headroom uint64
	}{
		{"empty heap", 0, 100, 64 * mb},
		{"small heap", 10 * mb, 100, 64 * mb},
		{"at the headroom", 64 * mb, 100, 64 * mb},
		{"twice the headroom", 128 * mb, 50, 64 * mb},
		{"in steps of 5", 100 * mb, 60, 64 * mb}, // 64%
		{"large heap", 300 * mb, 25, 64 * mb},    // 21% is below the floor
		{"huge heap", 10_000 * mb, 25, 64 * mb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercent(tc.live, tc.headroom); got != tc.want {
				t.Fatalf("gcPercent(%d MiB, %d MiB) = %d, want %d", tc.live/mb, tc.headroom/mb, got, tc.want)
			}
		})
	}
}

// TestIdleCollectorBackoff: a forced collection that finds a backlog live backs off;
// a collection the runtime runs while the backlog is still live keeps the backoff;
// one that finds the live heap shrunk (the backlog drained) starts it over, so the
// drained heap goes back a second later instead of up to a minute.
func TestIdleCollectorBackoff(t *testing.T) {
	const mb = 1 << 20
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ic := newIdleCollector(t0, 16*mb)
	if ic.due(at(500*time.Millisecond), 0, 100*mb, 100*mb) {
		t.Fatal("due before a second of quiet")
	}
	if !ic.due(at(1100*time.Millisecond), 0, 100*mb, 100*mb) {
		t.Fatal("not due after a second of quiet")
	}
	ic.forced(at(1200*time.Millisecond), 1, 100*mb, 98*mb, true) // a live backlog: back off to 2 s
	if ic.due(at(3*time.Second), 1, 98*mb, 98*mb) {
		t.Fatal("due 1.8 s after a collection that found the heap live")
	}
	// The runtime collects while the backlog is still there: the backoff stays.
	if ic.due(at(4*time.Second), 2, 97*mb, 99*mb) || ic.due(at(5500*time.Millisecond), 2, 97*mb, 99*mb) {
		t.Fatal("due within 2 s of a collection that found the backlog still live")
	}
	if !ic.due(at(6100*time.Millisecond), 2, 97*mb, 99*mb) {
		t.Fatal("not due 2.1 s after the last collection")
	}
	ic.forced(at(6200*time.Millisecond), 3, 99*mb, 97*mb, true) // back off to 4 s
	// The backlog drains; the runtime collects and finds 10 MB live.
	if ic.due(at(7*time.Second), 4, 10*mb, 90*mb) {
		t.Fatal("due at the runtime's own collection")
	}
	if !ic.due(at(8100*time.Millisecond), 4, 10*mb, 90*mb) {
		t.Fatal("not due 1.1 s after a collection that found the backlog gone: the backoff did not start over")
	}
	ic.forced(at(8200*time.Millisecond), 5, 90*mb, 10*mb, true) // freed much: 1 s again
	if !ic.due(at(9300*time.Millisecond), 5, 10*mb, 20*mb) {
		t.Fatal("not due a second after a collection that freed much")
	}
	if ic.due(at(20*time.Second), 5, 10*mb, 15*mb) {
		t.Fatal("due for a heap under the floor")
	}
}
