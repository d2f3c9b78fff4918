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

// A priority queue keeps its messages in memory (pager.go: a run stands for consecutive
// enqueue sequences), even past the budget.
func TestPagingPriorityStaysInMemory(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	_, err := v.DeclareQueue(nil, "pq", false, true, false, false, wire.Table{"x-max-priority": int32(3)})
	must(t, err)
	for i := range 1000 {
		publishM(t, v, persistent(t, "", "pq", fmt.Sprint(i), &wire.Properties{Priority: uint8(i % 4)}))
	}
	if ready, inMem, runs := pagedState(v.Queue("pq")); ready != 1000 || inMem != 1000 || runs != 0 {
		t.Fatalf("ready %d, in memory %d, runs %d", ready, inMem, runs)
	}
	got := getAll(t, v, "pq", true)
	if string(got[0].Msg.Body) != "3" || string(got[len(got)-1].Msg.Body) != "996" {
		t.Fatalf("first %q last %q: not in priority order", got[0].Msg.Body, got[len(got)-1].Msg.Body)
	}
}
