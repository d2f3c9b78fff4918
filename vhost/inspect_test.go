package vhost

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestInspectTopology(t *testing.T) {
	v := newTestVHost(t)
	o := NewOwner("conn")
	must(t, v.DeclareExchange("x", "topic", false, true, false, false, wire.Table{"alternate-exchange": "amq.fanout"}))
	declareQ(t, v, o, "q1")
	if _, err := v.DeclareQueue(o, "ex", false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	must(t, v.BindQueue(o, "q1", "x", "a.#", nil))
	must(t, v.BindExchange("amq.fanout", "x", "k", nil))

	xs := v.Exchanges()
	var names []string
	for _, x := range xs {
		names = append(names, x.Name)
	}
	want := []string{"", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.rabbitmq.trace", "amq.topic", "x"}
	if !equal(names, want) {
		t.Fatalf("exchanges %q, want %q", names, want)
	}
	x, ok := v.ExchangeStats("x")
	if !ok || x.Kind != "topic" || !x.Durable || x.Args["alternate-exchange"] != "amq.fanout" {
		t.Fatalf("ExchangeStats(x) = %+v, %v", x, ok)
	}
	if _, ok := v.ExchangeStats("nope"); ok {
		t.Fatal("ExchangeStats(nope) found something")
	}

	qs := v.Queues()
	if len(qs) != 2 || qs[0].Name != "ex" || !qs[0].Exclusive || qs[0].Owner != o || qs[1].Name != "q1" || qs[1].Exclusive {
		t.Fatalf("queues %+v", qs)
	}

	var got []string
	for _, b := range v.Bindings() {
		got = append(got, fmt.Sprintf("%s->%s(q=%v):%s", b.Source, b.Destination, b.ToQueue, b.Key))
	}
	want = []string{"->ex(q=true):ex", "->q1(q=true):q1", "x->amq.fanout(q=false):k", "x->q1(q=true):a.#"}
	if !equal(got, want) {
		t.Fatalf("bindings\n got %q\nwant %q", got, want)
	}
}

func TestListVHosts(t *testing.T) {
	b, err := New(Config{})
	must(t, err)
	t.Cleanup(func() { _ = b.Close() })
	must(t, b.AddVHost("b"))
	must(t, b.AddVHost("a"))
	var names []string
	for _, v := range b.ListVHosts() {
		names = append(names, v.Name())
	}
	if want := []string{"/", "a", "b"}; !equal(names, want) {
		t.Fatalf("vhosts %q, want %q", names, want)
	}
}

func TestInspectQueueCounts(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	for i := range 5 {
		m := msg(t, "", "q", fmt.Sprintf("m%d", i), nil)
		m.Persistent = i%2 == 0
		if _, err := v.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsumer(2)
	if _, _, err := v.Consume(nil, "q", "ctag", c, true, false, wire.Table{"x-priority": int32(3)}); err != nil {
		t.Fatal(err)
	}
	s, ok := v.QueueStats("q")
	if !ok {
		t.Fatal("no queue q")
	}
	if s.Ready != 3 || s.Unacked != 2 || s.Consumers != 1 || s.ReadyBytes != 6 || s.UnackedBytes != 4 ||
		s.Persistent != 3 || s.ExclusiveConsumer != "ctag" {
		t.Fatalf("stats %+v", s)
	}
	cs := v.Consumers()
	if len(cs) != 1 || cs[0].Queue != "q" || cs[0].Tag != "ctag" || cs[0].Consumer != Consumer(c) ||
		!cs[0].Exclusive || cs[0].NoAck || cs[0].Priority != 3 {
		t.Fatalf("consumers %+v", cs)
	}
	if d := v.QueueDepths(); len(d) != 1 || d[0] != (QueueDepth{Name: "q", Ready: 3, Unacked: 2, Consumers: 1, Counts: MessageCounts{Publish: 5, Deliver: 2}}) {
		t.Fatalf("depths %+v", d)
	}
	if _, ok := v.QueueStats("nope"); ok {
		t.Fatal("QueueStats(nope) found something")
	}
}

// Peek shows unacked deliveries then ready messages, and changes nothing: a consumer
// that arrives afterwards gets every ready message in order, none marked redelivered.
func TestPeekIsNonDestructive(t *testing.T) {
	v := newTestVHost(t)
	declareQ(t, v, nil, "q")
	for i := range 6 {
		publish(t, v, "", "q", fmt.Sprintf("m%d", i), nil)
	}
	d, ok, _, err := v.Get(nil, "q", false) // m0 unacked
	must(t, err)
	if !ok {
		t.Fatal("get: empty")
	}

	cases := []struct {
		name          string
		offset, limit int
		want          []string
	}{
		{"all", 0, 100, []string{"u:m0", "r:m1", "r:m2", "r:m3", "r:m4", "r:m5"}},
		{"limit", 0, 2, []string{"u:m0", "r:m1"}},
		{"offset past unacked", 2, 2, []string{"r:m2", "r:m3"}},
		{"offset at end", 6, 10, nil},
		{"zero limit", 0, 0, nil},
		{"negative", -3, 1, []string{"u:m0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Peek("q", tc.offset, tc.limit)
			must(t, err)
			var got []string
			for _, p := range r.Messages {
				state := "r:"
				if p.Unacked {
					state = "u:"
				}
				got = append(got, state+string(p.Msg.Body))
			}
			if !equal(got, tc.want) || r.Ready != 5 || r.Unacked != 1 {
				t.Fatalf("peek(%d,%d) = %q ready %d unacked %d, want %q", tc.offset, tc.limit, got, r.Ready, r.Unacked, tc.want)
			}
		})
	}
	q := v.Queue("q")
	q.Requeue(d.Entry)
	c := newConsumer(-1)
	if _, _, err := v.Consume(nil, "q", "", c, false, true, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := c.bodies(), []string{"m0", "m1", "m2", "m3", "m4", "m5"}; !equal(got, want) {
		t.Fatalf("after peeks the consumer got %q, want %q", got, want)
	}
	for _, d := range c.deliveries()[1:] {
		if d.Redelivered {
			t.Fatalf("%s marked redelivered after a peek", d.Msg.Body)
		}
	}
	if _, err := v.Peek("nope", 0, 1); err == nil {
		t.Fatal("peek of a missing queue succeeded")
	} else {
		wantErr(t, err, wire.NotFound, "no queue 'nope' in vhost '/'")
	}
}

// Peek shows the messages the pager keeps on disk only, read from the store in their
// places, and leaves the queue as it was: nothing paged in, nothing marked, and a
// consumer afterwards gets everything in order. After a restart the backlog is one sparse
// run, and the two messages delivered before it come back marked redelivered.
func TestPeekPagedOut(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		publishM(t, v, persistent(t, "", "q", fmt.Sprint(i), nil))
	}
	for range 2 { // two unacknowledged deliveries
		if _, ok, _, err := v.Get(nil, "q", false); err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
	}
	q := v.Queue("q")
	state := func() string {
		q.mu.Lock()
		defer q.mu.Unlock()
		return fmt.Sprintf("len %d runs %d paged %d unacked %d mem %d", q.mu.ready.len(), q.mu.runs, q.mu.paged,
			len(q.mu.unacked), d.b.pst.mem.Load())
	}
	before := state()
	if q.mu.paged < n/2 {
		t.Fatalf("only %d of %d messages paged out (%s)", q.mu.paged, n, before)
	}
	check := func(t *testing.T, offset, limit int, redelivered func(i int) bool) {
		t.Helper()
		r, err := v.Peek("q", offset, limit)
		must(t, err)
		want := min(limit, max(n-offset, 0))
		if len(r.Messages) != want || r.Ready+r.Unacked != n || r.PagedOut == 0 {
			t.Fatalf("peek(%d,%d): %d messages, ready %d unacked %d paged out %d", offset, limit, len(r.Messages), r.Ready, r.Unacked, r.PagedOut)
		}
		for i, p := range r.Messages {
			pos := offset + i
			if string(p.Msg.Body) != fmt.Sprint(pos) || p.Redelivered != redelivered(pos) || p.Unacked != (pos < r.Unacked) {
				t.Fatalf("peek(%d,%d)[%d] = %q redelivered=%v unacked=%v on disk=%v", offset, limit, i, p.Msg.Body, p.Redelivered, p.Unacked, p.OnDisk)
			}
		}
	}
	none := func(int) bool { return false }
	for _, c := range [][2]int{{0, 10}, {0, n + 5}, {n / 2, 30}, {n - 7, 20}, {n, 5}, {1500, 1}} {
		check(t, c[0], c[1], none)
	}
	var onDisk int
	r, _ := v.Peek("q", 0, n)
	for _, p := range r.Messages {
		if p.OnDisk {
			onDisk++
		}
	}
	if onDisk != r.PagedOut {
		t.Fatalf("%d messages read from disk, %d paged out", onDisk, r.PagedOut)
	}
	if after := state(); after != before {
		t.Fatalf("peek changed the queue: %s, then %s", before, after)
	}

	// After a restart the backlog is a sparse run, read from its start.
	v = d.restart()
	q = v.Queue("q")
	first2 := func(i int) bool { return i < 2 }
	for _, c := range [][2]int{{0, 10}, {1, 3}, {n / 2, 30}, {n - 7, 20}} {
		check(t, c[0], c[1], first2)
	}
	c := newConsumer(-1)
	if _, _, err := v.Consume(nil, "q", "c", c, false, true, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.deliveries()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ds := c.deliveries()
	if len(ds) != n {
		t.Fatalf("%d of %d delivered after the peeks", len(ds), n)
	}
	for i, dl := range ds {
		if string(dl.Msg.Body) != fmt.Sprint(i) || dl.Redelivered != first2(i) {
			t.Fatalf("delivery %d: %q redelivered=%v", i, dl.Msg.Body, dl.Redelivered)
		}
	}
}
