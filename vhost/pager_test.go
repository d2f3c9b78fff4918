package vhost

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// pagedState returns q's ready count, in-memory count and number of runs.
func pagedState(q *Queue) (ready, inMem, runs int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readyLocked(), q.mu.ready.len() - q.mu.runs, q.mu.runs
}

// waitFor polls cond every millisecond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Length-limited queues page like other queues when memory is tight, and keep their limits
// exact: drop-head keeps the newest messages (dead-lettering the rest), reject-publish
// counts the bytes kept on disk.
func TestPagingLengthLimited(t *testing.T) {
	const n, limit = 3000, 1000
	t.Run("x-max-length drop-head with a dead-letter queue", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "dlq", false, true, false, false, nil)
		must(t, err)
		_, err = v.DeclareQueue(nil, "q", false, true, false, false, wire.Table{
			"x-max-length": int32(limit), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
		must(t, err)
		q := v.Queue("q")
		sawRuns := false
		for i := range n {
			publishM(t, v, persistent(t, "", "q", fmt.Sprint(i), nil))
			if _, _, runs := pagedState(q); runs > 0 {
				sawRuns = true
			}
		}
		if !sawRuns {
			t.Fatal("the limited queue never paged out")
		}
		waitFor(t, "the queue at its limit", func() bool { r, _, _ := pagedState(q); return r == limit })
		waitFor(t, "the rest dead-lettered", func() bool { r, _, _ := pagedState(v.Queue("dlq")); return r == n-limit })
		for i, dl := range getAll(t, v, "q", true) {
			if want := fmt.Sprint(n - limit + i); string(dl.Msg.Body) != want {
				t.Fatalf("message %d is %q, want %s (the newest stay)", i, dl.Msg.Body, want)
			}
		}
		dead := getAll(t, v, "dlq", true)
		for i, dl := range dead {
			if want := fmt.Sprint(i); string(dl.Msg.Body) != want {
				t.Fatalf("dead letter %d is %q, want %s (oldest first)", i, dl.Msg.Body, want)
			}
		}
		if len(dead) > 0 {
			if e := headersOf(t, dead[0].Msg)["x-death"].([]any)[0].(wire.Table); e["reason"] != "maxlen" {
				t.Fatalf("x-death %v, want reason maxlen", e)
			}
		}
		if mem := d.b.pst.mem.Load(); mem != 0 {
			t.Fatalf("%d bytes still accounted after everything left", mem)
		}
	})
	t.Run("x-max-length-bytes drop-head counts bytes on disk", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "q", false, true, false, false, wire.Table{"x-max-length-bytes": int32(limit * 10)})
		must(t, err)
		q := v.Queue("q")
		sawRuns := false
		for i := range n {
			publishM(t, v, persistent(t, "", "q", fmt.Sprintf("%010d", i), nil)) // 10 bytes each
			if _, _, runs := pagedState(q); runs > 0 {
				sawRuns = true
			}
		}
		if !sawRuns {
			t.Fatal("the limited queue never paged out")
		}
		waitFor(t, "the queue at its byte limit", func() bool { r, _, _ := pagedState(q); return r == limit })
		got := getAll(t, v, "q", true)
		if len(got) != limit || string(got[0].Msg.Body) != fmt.Sprintf("%010d", n-limit) {
			t.Fatalf("%d messages, first %q", len(got), got[0].Msg.Body)
		}
		q.mu.Lock()
		b := q.readyBytesLocked()
		q.mu.Unlock()
		if b != 0 {
			t.Fatalf("%d ready bytes accounted for an empty queue", b)
		}
	})
	t.Run("x-overflow reject-publish counts bytes on disk", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "q", false, true, false, false, wire.Table{
			"x-max-length-bytes": int32(limit * 10), "x-overflow": "reject-publish"})
		must(t, err)
		p := v.NewPublisher()
		rejected := 0
		for i := range n {
			if _, err := p.Publish(persistent(t, "", "q", fmt.Sprintf("%010d", i), nil)); err != nil {
				t.Fatal(err)
			}
			if p.Rejected() {
				rejected++
			}
		}
		ready, _, runs := pagedState(v.Queue("q"))
		if ready != limit || rejected != n-limit || runs == 0 {
			t.Fatalf("ready %d, rejected %d, runs %d: want %d, %d and some on disk", ready, rejected, runs, limit, n-limit)
		}
		if got := getAll(t, v, "q", true); len(got) != limit || string(got[limit-1].Msg.Body) != fmt.Sprintf("%010d", limit-1) {
			t.Fatalf("%d messages", len(got))
		}
	})
}

// wantPriorityOrder checks that bodies (fmt.Sprint(i), priority i%4) come highest
// priority first, FIFO within a priority, each of 0..n-1 once.
func wantPriorityOrder(t *testing.T, bodies []string, n int) {
	t.Helper()
	if len(bodies) != n {
		t.Fatalf("%d messages, want %d", len(bodies), n)
	}
	k := 0
	for prio := 3; prio >= 0; prio-- {
		for i := prio; i < n; i += 4 {
			if bodies[k] != fmt.Sprint(i) {
				t.Fatalf("message %d is %q, want %d (priority %d)", k, bodies[k], i, prio)
			}
			k++
		}
	}
}

// A priority queue pages too: a run per priority (runByRank), read back past the other
// priorities' entries, in priority order.
func TestPagingPriority(t *testing.T) {
	const n = 4000
	publishAll := func(t *testing.T, v *VHost) {
		for i := range n {
			publishM(t, v, persistent(t, "", "pq", fmt.Sprint(i), &wire.Properties{Priority: uint8(i % 4)}))
		}
	}
	t.Run("basic.get", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "pq", false, true, false, false, wire.Table{"x-max-priority": int32(3)})
		must(t, err)
		publishAll(t, v)
		ready, inMem, runs := pagedState(v.Queue("pq"))
		if ready != n || runs == 0 || inMem > n/2 {
			t.Fatalf("ready %d, in memory %d, runs %d: want %d ready, most on disk", ready, inMem, runs, n)
		}
		// Peek reads runs from the store: the first page is the highest priority's.
		pr, err := v.Peek("pq", 0, 50)
		must(t, err)
		for k, p := range pr.Messages {
			if want := fmt.Sprint(3 + 4*k); string(p.Msg.Body) != want {
				t.Fatalf("peek %d: %q, want %s", k, p.Msg.Body, want)
			}
		}
		var bodies []string
		for _, dl := range getAll(t, v, "pq", true) {
			bodies = append(bodies, string(dl.Msg.Body))
		}
		wantPriorityOrder(t, bodies, n)
		if mem := d.b.pst.mem.Load(); mem != 0 {
			t.Fatalf("%d bytes still accounted after everything left", mem)
		}
	})
	t.Run("consumer", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "pq", false, true, false, false, wire.Table{"x-max-priority": int32(3)})
		must(t, err)
		publishAll(t, v)
		c := newConsumer(-1)
		_, _, err = v.Consume(nil, "pq", "c", c, false, false, nil)
		must(t, err)
		waitFor(t, "every message delivered", func() bool { return len(c.deliveries()) >= n })
		var bodies []string
		for _, dl := range c.deliveries() {
			bodies = append(bodies, string(dl.Msg.Body))
			dl.Queue.Ack(dl.Entry)
		}
		wantPriorityOrder(t, bodies, n)
	})
	t.Run("publishing while consuming, memory around the budget", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 32 << 10})
		v := d.v()
		_, err := v.DeclareQueue(nil, "pq", false, true, false, false, wire.Table{"x-max-priority": int32(3)})
		must(t, err)
		pub := func(i int) error {
			_, err := v.Publish(persistent(t, "", "pq", fmt.Sprintf("%d:%0200d", i, i), &wire.Properties{Priority: uint8(i % 4)}))
			return err
		}
		for i := range n / 2 { // a backlog past the budget first
			must(t, pub(i))
		}
		_, _, runs := pagedState(v.Queue("pq"))
		sawRuns := runs > 0
		c := newConsumer(-1)
		_, _, err = v.Consume(nil, "pq", "c", c, false, false, nil)
		must(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := n / 2; i < n; i++ {
				if err := pub(i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		acked := 0
		deadline := time.Now().Add(20 * time.Second)
		for acked < n && time.Now().Before(deadline) {
			if _, _, runs := pagedState(v.Queue("pq")); runs > 0 {
				sawRuns = true
			}
			ds := c.deliveries()
			for _, dl := range ds[acked:] {
				dl.Queue.Ack(dl.Entry)
			}
			acked = len(ds)
			time.Sleep(200 * time.Microsecond)
		}
		<-done
		ds := c.deliveries()
		last := map[int]int{0: -1, 1: -1, 2: -1, 3: -1}
		seen := map[int]bool{}
		for k, dl := range ds {
			var i int
			if _, err := fmt.Sscanf(string(dl.Msg.Body), "%d:", &i); err != nil {
				t.Fatal(err)
			}
			if seen[i] || i <= last[i%4] {
				t.Fatalf("delivery %d is message %d: repeated or out of FIFO order within its priority (last %d)", k, i, last[i%4])
			}
			seen[i], last[i%4] = true, i
		}
		if len(ds) != n {
			t.Fatalf("%d of %d delivered (paged out at some point: %v)", len(ds), n, sawRuns)
		}
		t.Logf("paged out at some point: %v", sawRuns)
	})
	t.Run("restart", func(t *testing.T) {
		d := newDisk(t, Config{MemoryBudget: 1})
		v := d.v()
		_, err := v.DeclareQueue(nil, "pq", false, true, false, false, wire.Table{"x-max-priority": int32(3)})
		must(t, err)
		publishAll(t, v)
		v = d.restart()
		seen := map[string]bool{}
		for _, dl := range getAll(t, v, "pq", true) {
			if seen[string(dl.Msg.Body)] {
				t.Fatalf("%q twice after a restart", dl.Msg.Body)
			}
			seen[string(dl.Msg.Body)] = true
		}
		if len(seen) != n {
			t.Fatalf("%d of %d after a restart", len(seen), n)
		}
	})
}
