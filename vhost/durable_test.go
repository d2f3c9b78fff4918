package vhost

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
)

// disk is a broker on a store in a temporary folder that a test can restart.
type disk struct {
	t   testing.TB
	dir string
	cfg Config
	st  *store.Store
	b   *Broker
}

func newDisk(t testing.TB, cfg Config) *disk {
	t.Helper()
	d := &disk{t: t, dir: t.TempDir(), cfg: cfg}
	d.open()
	t.Cleanup(d.close)
	return d
}

func (d *disk) open() {
	d.t.Helper()
	st, err := store.Open(d.dir, store.Options{GCInterval: -1})
	if err != nil {
		d.t.Fatal(err)
	}
	cfg := d.cfg
	cfg.Store = st
	if cfg.Logger.GetLevel() == zerolog.TraceLevel {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(d.t)).Level(zerolog.WarnLevel)
	}
	b, err := New(cfg)
	if err != nil {
		st.Close()
		d.t.Fatal(err)
	}
	d.st, d.b = st, b
}

func (d *disk) close() {
	if d.b != nil {
		d.b.Close()
		d.b = nil
	}
	if d.st != nil {
		if err := d.st.Close(); err != nil {
			d.t.Error(err)
		}
		d.st = nil
	}
}

// restart closes broker and store cleanly and opens them again.
func (d *disk) restart() *VHost {
	d.t.Helper()
	d.close()
	d.open()
	return d.v()
}

// crash abandons broker and store as kill -9 would, as far as a test can: nothing is
// flushed or closed in an orderly way that the store's acknowledged commits depend on.
// (The store's own kill -9 tests and cmd/warren's crash test cover a real kill.)
func (d *disk) v() *VHost {
	d.t.Helper()
	v := d.b.VHost("/")
	if v == nil {
		d.t.Fatal("no vhost /")
	}
	return v
}

func persistent(t testing.TB, exchange, key, body string, props *wire.Properties) *Message {
	t.Helper()
	if props == nil {
		props = &wire.Properties{}
	}
	props.DeliveryMode = 2
	flags, raw, err := props.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Message{Exchange: exchange, RoutingKey: key, Flags: flags, Props: raw, Body: []byte(body), Persistent: true, Priority: props.Priority}
}

func publishM(t testing.TB, v *VHost, m *Message) {
	t.Helper()
	if routed, err := v.Publish(m); err != nil || !routed {
		t.Fatalf("publish %q: routed=%v err=%v", m.Body, routed, err)
	}
}

// getAll takes every ready message with basic.get (ack mode) and returns the deliveries.
func getAll(t testing.TB, v *VHost, queue string, noAck bool) []Delivery {
	t.Helper()
	var out []Delivery
	for range 100000 {
		d, ok, _, err := v.Get(nil, queue, noAck)
		must(t, err)
		if !ok {
			return out
		}
		out = append(out, d)
	}
	t.Fatal("getAll: too many messages")
	return nil
}

func bodiesOf(ds []Delivery) []string {
	var s []string
	for _, d := range ds {
		s = append(s, string(d.Msg.Body))
	}
	return s
}

func TestRestartKeepsDurableEntitiesOnly(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	o := NewOwner("c1")
	aeArgs := wire.Table{"alternate-exchange": "ae", "x-custom": int64(7)}
	must(t, v.DeclareExchange("ae", "fanout", false, true, false, false, nil))
	must(t, v.DeclareExchange("dx", "topic", false, true, false, false, aeArgs))
	must(t, v.DeclareExchange("hx", "headers", false, true, true, false, nil))
	must(t, v.DeclareExchange("ix", "direct", false, true, false, true, nil))
	must(t, v.DeclareExchange("tx", "direct", false, false, false, false, nil))
	qArgs := wire.Table{"x-message-ttl": int64(60000), "x-dead-letter-exchange": "ae", "x-max-length": int64(10)}
	for _, q := range []struct {
		name                        string
		durable, exclusive, autoDel bool
		args                        wire.Table
	}{
		{"dq", true, false, false, qArgs},
		{"dq-auto", true, false, true, nil},
		{"aeq", true, false, false, nil},
		{"tq", false, false, false, nil},
		{"xq", true, true, false, nil},
	} {
		if _, err := v.DeclareQueue(o, q.name, false, q.durable, q.exclusive, q.autoDel, q.args); err != nil {
			t.Fatal(err)
		}
	}
	hdrArgs := wire.Table{"x-match": "any", "a": "1"}
	must(t, v.BindQueue(o, "dq", "dx", "a.*", nil))
	must(t, v.BindQueue(o, "dq", "hx", "", hdrArgs))
	must(t, v.BindQueue(o, "aeq", "ae", "", nil))
	must(t, v.BindQueue(o, "dq", "amq.direct", "k", nil))
	must(t, v.BindQueue(o, "tq", "dx", "t.*", nil))    // to a transient queue: not durable
	must(t, v.BindQueue(o, "dq", "tx", "k", nil))      // from a transient exchange: not durable
	must(t, v.BindExchange("hx", "dx", "h.#", nil))    // e2e between durable exchanges
	must(t, v.BindQueue(o, "dq-auto", "dx", "b", nil)) // removed again below
	must(t, v.UnbindQueue(o, "dq-auto", "dx", "b", nil))

	v = d.restart()
	o = NewOwner("c2")
	for _, name := range []string{"ae", "dx", "hx", "ix"} {
		if err := v.DeclareExchange(name, "", true, false, false, false, nil); err != nil {
			t.Errorf("exchange %s after restart: %v", name, err)
		}
	}
	wantErr(t, v.DeclareExchange("tx", "", true, false, false, false, nil), wire.NotFound, "")
	// Same properties and arguments: equivalent. Others: 406, so they were kept.
	must(t, v.DeclareExchange("dx", "topic", false, true, false, false, aeArgs))
	wantErr(t, v.DeclareExchange("dx", "topic", false, true, false, false, nil), wire.PreconditionFailed, "")
	must(t, v.DeclareExchange("hx", "headers", false, true, true, false, nil))
	must(t, v.DeclareExchange("ix", "direct", false, true, false, true, nil))
	wantErr(t, v.DeclareExchange("ix", "direct", false, true, false, false, nil), wire.PreconditionFailed, "")

	if _, err := v.DeclareQueue(o, "dq", false, true, false, false, qArgs); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeclareQueue(o, "dq", false, true, false, false, nil); err == nil {
		t.Fatal("dq redeclared without its arguments: they were lost")
	}
	if _, err := v.DeclareQueue(o, "dq-auto", false, true, false, true, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tq", "xq"} {
		_, err := v.DeclareQueue(o, name, true, false, false, false, nil)
		wantErr(t, err, wire.NotFound, "")
	}
	q := v.Queue("dq")
	if q.opts.ttl != 60000 || q.opts.dlx != "ae" {
		t.Fatalf("dq options after restart: %+v", q.opts)
	}

	// Routing works through every recovered binding, and only those.
	publishM(t, v, persistent(t, "dx", "a.x", "topic", nil))
	publishM(t, v, persistent(t, "dx", "h.y", "e2e", &wire.Properties{Headers: wire.Table{"a": "1"}}))
	publishM(t, v, persistent(t, "amq.direct", "k", "amq", nil))
	publishM(t, v, persistent(t, "dx", "zzz", "alternate", nil))
	if got := bodiesOf(getAll(t, v, "dq", true)); !equal(got, []string{"topic", "e2e", "amq"}) {
		t.Fatalf("dq got %q", got)
	}
	if got := bodiesOf(getAll(t, v, "aeq", true)); !equal(got, []string{"alternate"}) {
		t.Fatalf("aeq got %q", got)
	}
	if got := bodiesOf(getAll(t, v, "dq-auto", true)); len(got) != 0 {
		t.Fatalf("dq-auto got %q through an unbound binding", got)
	}
}

func TestRestartForgetsDeletedEntities(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	must(t, v.DeclareExchange("x", "direct", false, true, false, false, nil))
	must(t, v.DeclareExchange("gone", "direct", false, true, false, false, nil))
	for _, q := range []string{"q", "q2"} {
		if _, err := v.DeclareQueue(nil, q, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	must(t, v.BindQueue(nil, "q", "x", "old", nil))
	must(t, v.BindQueue(nil, "q2", "gone", "k", nil))
	publishM(t, v, persistent(t, "", "q2", "m", nil))
	// Delete and re-create with the same names: the old bindings must not come back.
	must(t, v.DeleteExchange("x", false))
	must(t, v.DeclareExchange("x", "direct", false, true, false, false, nil))
	if _, err := v.DeleteQueue(nil, "q2", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeclareQueue(nil, "q2", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	must(t, v.DeleteExchange("gone", false))

	v = d.restart()
	wantErr(t, v.DeclareExchange("gone", "", true, false, false, false, nil), wire.NotFound, "")
	if info, err := v.DeclareQueue(nil, "q2", true, false, false, false, nil); err != nil || info.Messages != 0 {
		t.Fatalf("re-created q2: %+v %v (the deleted queue's messages came back?)", info, err)
	}
	if routed, _ := v.Publish(persistent(t, "x", "old", "m", nil)); routed {
		t.Fatal("a binding of the deleted exchange x came back")
	}
}

func TestRestartKeepsPersistentMessagesInDurableQueues(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	for _, q := range []struct {
		name    string
		durable bool
	}{{"dq", true}, {"tq", false}, {"fan1", true}, {"fan2", true}} {
		if _, err := v.DeclareQueue(nil, q.name, false, q.durable, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	must(t, v.DeclareExchange("f", "fanout", false, true, false, false, nil))
	must(t, v.BindQueue(nil, "fan1", "f", "", nil))
	must(t, v.BindQueue(nil, "fan2", "f", "", nil))

	props := &wire.Properties{ContentType: "text/plain", Headers: wire.Table{"h": "v"}, Priority: 3, MessageID: "id-1"}
	want := persistent(t, "", "dq", "p1", props)
	publishM(t, v, want)
	publishM(t, v, &Message{RoutingKey: "dq", Body: []byte("transient")})
	publishM(t, v, persistent(t, "", "dq", "p2", nil))
	publishM(t, v, persistent(t, "", "tq", "p-in-transient-queue", nil))
	publishM(t, v, persistent(t, "f", "", "fanned", nil))

	v = d.restart()
	ds := getAll(t, v, "dq", false)
	if got := bodiesOf(ds); !equal(got, []string{"p1", "p2"}) {
		t.Fatalf("dq after restart: %q", got)
	}
	m := ds[0].Msg
	if m.Exchange != "" || m.RoutingKey != "dq" || m.Flags != want.Flags || string(m.Props) != string(want.Props) ||
		!m.Persistent || m.Priority != 3 || ds[0].Redelivered {
		t.Fatalf("recovered message %+v, want %+v", m, want)
	}
	if _, _, _, err := v.Get(nil, "tq", true); err == nil {
		t.Fatal("transient queue tq survived the restart")
	}
	for _, q := range []string{"fan1", "fan2"} {
		if got := bodiesOf(getAll(t, v, q, true)); !equal(got, []string{"fanned"}) {
			t.Fatalf("%s after restart: %q", q, got)
		}
	}
	// The gets above delivered p1 and p2 without an ack: they come back redelivered.
	v = d.restart()
	ds = getAll(t, v, "dq", true)
	if got := bodiesOf(ds); !equal(got, []string{"p1", "p2"}) || !ds[0].Redelivered || !ds[1].Redelivered {
		t.Fatalf("dq after second restart: %q redelivered=%v", got, []bool{ds[0].Redelivered, len(ds) > 1 && ds[1].Redelivered})
	}
	// Delivered without ack (no-ack): gone.
	v = d.restart()
	if got := bodiesOf(getAll(t, v, "dq", true)); len(got) != 0 {
		t.Fatalf("dq after no-ack gets and a restart: %q", got)
	}
}

func TestRestartRedeliveredFlags(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		publishM(t, v, persistent(t, "", "q", fmt.Sprint("m", i), nil))
	}
	c := newConsumer(3)
	if _, _, err := v.Consume(nil, "q", "c", c, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ds := c.deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d deliveries", len(ds))
	}
	ds[0].Queue.Ack(ds[0].Entry)           // m0 acked: gone
	ds[1].Queue.Reject(false, ds[1].Entry) // m1 rejected: gone
	ds[2].Queue.Requeue(ds[2].Entry)       // m2 requeued: stays, redelivered
	v = d.restart()
	got := getAll(t, v, "q", true)
	var flags []bool
	for _, g := range got {
		flags = append(flags, g.Redelivered)
	}
	if !equal(bodiesOf(got), []string{"m2", "m3", "m4"}) || !slices.Equal(flags, []bool{true, false, false}) {
		t.Fatalf("after restart: %q redelivered %v", bodiesOf(got), flags)
	}
}

func TestRestartAfterPurgeAndDeadLetter(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	must(t, v.DeclareExchange("dlx", "fanout", false, true, false, false, nil))
	for _, q := range []struct {
		name string
		args wire.Table
	}{{"src", wire.Table{"x-dead-letter-exchange": "dlx"}}, {"dlq", nil}, {"p", nil}} {
		if _, err := v.DeclareQueue(nil, q.name, false, true, false, false, q.args); err != nil {
			t.Fatal(err)
		}
	}
	must(t, v.BindQueue(nil, "dlq", "dlx", "", nil))
	publishM(t, v, persistent(t, "", "src", "dead", nil))
	d1, ok, _, err := v.Get(nil, "src", false)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	d1.Queue.Reject(false, d1.Entry)

	for i := range 4 {
		publishM(t, v, persistent(t, "", "p", fmt.Sprint("p", i), nil))
	}
	held, _, _, _ := v.Get(nil, "p", false) // p0 unacked across the purge
	if n, err := v.PurgeQueue(nil, "p"); err != nil || n != 3 {
		t.Fatalf("purge: %d %v", n, err)
	}
	publishM(t, v, persistent(t, "", "p", "after", nil))
	_ = held

	v = d.restart()
	if got := bodiesOf(getAll(t, v, "src", true)); len(got) != 0 {
		t.Fatalf("src after restart: %q", got)
	}
	if got := getAll(t, v, "dlq", true); !equal(bodiesOf(got), []string{"dead"}) {
		t.Fatalf("dlq after restart: %q", bodiesOf(got))
	} else if _, ok := got[0].Msg.headers()["x-death"]; !ok {
		t.Fatal("dead letter lost its x-death header")
	}
	got := getAll(t, v, "p", true)
	if !equal(bodiesOf(got), []string{"p0", "after"}) || !got[0].Redelivered {
		t.Fatalf("p after purge and restart: %q", bodiesOf(got))
	}
}

func (m *Message) headers() wire.Table { return decodeHeaders(headersRaw(m)) }

// recorder is a Waiter.
type recorder struct {
	mu     sync.Mutex
	tokens []uint64
	errs   []error
	done   chan struct{}
	want   int
}

func (r *recorder) Stored(token uint64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, token)
	r.errs = append(r.errs, err)
	if len(r.tokens) == r.want {
		close(r.done)
	}
}

func TestPublishForConfirmsAfterSync(t *testing.T) {
	d := newDisk(t, Config{})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeclareQueue(nil, "tq", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	p := v.NewPublisher()
	const n = 500
	r := &recorder{done: make(chan struct{}), want: n}
	var pendingTokens []uint64
	for i := range uint64(2 * n) {
		var m *Message
		switch i % 4 {
		case 0, 2:
			m = persistent(t, "", "dq", fmt.Sprint(i), nil)
		case 1:
			m = &Message{RoutingKey: "dq", Body: []byte("transient")}
		case 3:
			m = persistent(t, "", "tq", "to a transient queue", nil)
		}
		routed, pending, err := p.PublishFor(m, r, i)
		if err != nil || !routed {
			t.Fatal(routed, err)
		}
		if pending != (i%4 == 0 || i%4 == 2) {
			t.Fatalf("publish %d: pending=%v", i, pending)
		}
		if pending {
			pendingTokens = append(pendingTokens, i)
		}
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("not every pending publish was reported")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.tokens, pendingTokens) {
		t.Fatalf("Stored calls out of order or wrong: got %d tokens", len(r.tokens))
	}
	for _, err := range r.errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := d.st.Stats(); st.Syncs >= uint64(n) {
		t.Logf("%d syncs for %d publishes (no grouping from one goroutine is possible only if the disk is very slow)", st.Syncs, n)
	}
}

func TestPagingKeepsBacklogOnDisk(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		publishM(t, v, persistent(t, "", "q", fmt.Sprint(i), nil))
	}
	pst := d.b.pst
	q := v.Queue("q")
	q.mu.Lock()
	inMem, runs, ready := q.mu.ready.len()-q.mu.runs, q.mu.runs, q.readyLocked()
	q.mu.Unlock()
	if ready != n || inMem > pageLow || runs == 0 {
		t.Fatalf("ready %d, in memory %d, runs %d: want %d ready, most on disk", ready, inMem, runs, n)
	}
	if mem := pst.mem.Load(); mem > int64(pageLow)*(msgOverhead+64) {
		t.Fatalf("%d bytes in memory for the backlog", mem)
	}
	c := newConsumer(-1)
	if _, _, err := v.Consume(nil, "q", "c", c, false, false, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.deliveries()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ds := c.deliveries()
	for i, dl := range ds {
		if string(dl.Msg.Body) != fmt.Sprint(i) {
			t.Fatalf("delivery %d is %q", i, dl.Msg.Body)
		}
		dl.Queue.Ack(dl.Entry)
	}
	if len(ds) != n {
		t.Fatalf("%d of %d delivered", len(ds), n)
	}
	if mem := pst.mem.Load(); mem != 0 {
		t.Fatalf("%d bytes still accounted after everything was acked", mem)
	}
	v = d.restart()
	if info, err := v.DeclareQueue(nil, "q", true, false, false, false, nil); err != nil || info.Messages != 0 {
		t.Fatalf("after acking all and a restart: %+v %v", info, err)
	}
}

func TestPagingRecoveredBacklogAndGet(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const n = 2500
	for i := range n {
		publishM(t, v, persistent(t, "", "q", fmt.Sprint(i), nil))
		if i%3 == 0 {
			publishM(t, v, &Message{RoutingKey: "q", Body: []byte("t")}) // transient: lost at restart
		}
	}
	v = d.restart()
	info, err := v.DeclareQueue(nil, "q", true, false, false, false, nil)
	if err != nil || info.Messages != n {
		t.Fatalf("after restart: %+v %v", info, err)
	}
	got := getAll(t, v, "q", true)
	if len(got) != n {
		t.Fatalf("%d of %d", len(got), n)
	}
	for i, g := range got {
		if string(g.Msg.Body) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, g.Msg.Body)
		}
	}
}

func TestDiskAlarm(t *testing.T) {
	d := newDisk(t, Config{DiskFreeLimit: 1 << 62, DiskCheckInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if reason, on := d.b.Alarmed(); on {
			if reason != "low on disk" {
				t.Fatalf("reason %q", reason)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no disk alarm with a limit above any disk's size")
}

func TestAddVHostSurvivesRestart(t *testing.T) {
	d := newDisk(t, Config{})
	must(t, d.b.AddVHost("other"))
	v := d.b.VHost("other")
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	d.restart()
	if v := d.b.VHost("other"); v == nil || v.Queue("q") == nil {
		t.Fatal("vhost other or its queue lost")
	}
	must(t, d.b.DeleteVHost("other"))
	d.restart()
	if d.b.VHost("other") != nil {
		t.Fatal("deleted vhost came back")
	}
}

// chanConsumer hands deliveries to a goroutine (Deliver must not block or call vhost).
type chanConsumer struct{ ch chan Delivery }

func (c *chanConsumer) Deliver(d Delivery) bool {
	select {
	case c.ch <- d:
		return true
	default:
		return false
	}
}
func (c *chanConsumer) Cancelled(*Queue, string) {}

// TestDurableConcurrencyLeavesNothingBehind: publishers, acking and requeueing consumers
// and paging (tiny budget; the consumers start late, so a backlog builds) run concurrently; once every message is acked, a
// restart finds every queue empty: no store entry outlived its message (an ack applied
// before its enqueue would leave one), and every publish was confirmed in order.
func TestDurableConcurrencyLeavesNothingBehind(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 64 << 10})
	v := d.v()
	must(t, v.DeclareExchange("f", "fanout", false, true, false, false, nil))
	const queues, publishers = 3, 4
	perPub := 1500
	if raceEnabled {
		perPub = 400
	}
	for i := range queues {
		name := fmt.Sprint("q", i)
		if _, err := v.DeclareQueue(nil, name, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		must(t, v.BindQueue(nil, name, "f", "", nil))
	}
	total := publishers * perPub // per queue
	var acked sync.WaitGroup
	acked.Add(queues * total)
	stop, gate := make(chan struct{}), make(chan struct{})
	var workers sync.WaitGroup
	for i := range queues {
		c := &chanConsumer{ch: make(chan Delivery, 512)}
		if _, _, err := v.Consume(nil, fmt.Sprint("q", i), "c", c, false, false, nil); err != nil {
			t.Fatal(err)
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			<-gate
			n := 0
			for {
				select {
				case dl := <-c.ch:
					n++
					if n%7 == 0 && !dl.Redelivered {
						dl.Queue.Requeue(dl.Entry)
					} else {
						dl.Queue.Ack(dl.Entry)
						acked.Done()
					}
					dl.Queue.Kick()
				case <-stop:
					return
				}
			}
		}()
	}
	recs := make([]*recorder, publishers)
	var pubs sync.WaitGroup
	for p := range publishers {
		recs[p] = &recorder{done: make(chan struct{}), want: perPub / 2}
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			pub := v.NewPublisher()
			for i := range perPub {
				var m *Message
				if i%2 == 0 {
					m = persistent(t, "f", "", fmt.Sprint(p, "-", i), nil)
				} else {
					m = &Message{Exchange: "f", Body: []byte("t")}
				}
				if _, _, err := pub.PublishFor(m, recs[p], uint64(i)); err != nil {
					t.Error(err)
					return
				}
				if p == 0 && i == perPub/2 {
					close(gate)
				}
			}
		}()
	}
	pubs.Wait()
	paged := 0
	for i := range queues {
		q := v.Queue(fmt.Sprint("q", i))
		q.mu.Lock()
		paged += q.mu.paged
		q.mu.Unlock()
	}
	t.Logf("%d messages on disk only when the publishers finished", paged)
	waitDone := make(chan struct{})
	go func() { acked.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatal("not every message was delivered and acked")
	}
	close(stop)
	workers.Wait()
	for p, r := range recs {
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("publisher %d: not every persistent publish was confirmed", p)
		}
		for i, tok := range r.tokens {
			if tok != uint64(2*i) || r.errs[i] != nil {
				t.Fatalf("publisher %d: Stored #%d for token %d (%v)", p, i, tok, r.errs[i])
			}
		}
	}
	if mem := d.b.pst.mem.Load(); mem != 0 {
		t.Fatalf("%d bytes still accounted in memory", mem)
	}
	v = d.restart()
	for i := range queues {
		if info, err := v.DeclareQueue(nil, fmt.Sprint("q", i), true, false, false, false, nil); err != nil || info.Messages != 0 {
			t.Fatalf("q%d after restart: %+v %v", i, info, err)
		}
	}
	err := d.st.Queues(func(ix string) error { return fmt.Errorf("index %x still has entries", ix) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestPagedMessagesExpire: messages of a TTL queue that went to disk (budget exceeded)
// still expire and are dead-lettered without a consumer, as in memory; also after a
// restart, measured from their publish time.
func TestPagedMessagesExpire(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	must(t, v.DeclareExchange("dlx", "fanout", false, true, false, false, nil))
	if _, err := v.DeclareQueue(nil, "dlq", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	must(t, v.BindQueue(nil, "dlq", "dlx", "", nil))
	args := wire.Table{"x-message-ttl": int64(300), "x-dead-letter-exchange": "dlx"}
	if _, err := v.DeclareQueue(nil, "ttl", false, true, false, false, args); err != nil {
		t.Fatal(err)
	}
	const n = pageLow + 300 // some of them on disk
	for i := range n {
		publishM(t, v, persistent(t, "", "ttl", fmt.Sprint(i), nil))
	}
	q := v.Queue("ttl")
	q.mu.Lock()
	paged := q.mu.paged
	q.mu.Unlock()
	if paged == 0 {
		t.Fatal("nothing went to disk")
	}
	v = d.restart()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := v.DeclareQueue(nil, "dlq", true, false, false, false, nil)
		must(t, err)
		if info.Messages == n {
			left, _ := v.DeclareQueue(nil, "ttl", true, false, false, false, nil)
			if left.Messages != 0 {
				t.Fatalf("%d left in the TTL queue", left.Messages)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, _ := v.DeclareQueue(nil, "dlq", true, false, false, false, nil)
	t.Fatalf("%d of %d dead-lettered after their TTL", info.Messages, n)
}

// TestDeleteAndPurgeFreeTheStore: purging a queue with a paged backlog and deleting a
// queue and an exchange leave nothing in the store once the janitor is done, and a
// restart in between changes nothing.
func TestDeleteAndPurgeFreeTheStore(t *testing.T) {
	d := newDisk(t, Config{MemoryBudget: 1})
	v := d.v()
	must(t, v.DeclareExchange("x", "fanout", false, true, false, false, nil))
	for _, q := range []string{"a", "b"} {
		if _, err := v.DeclareQueue(nil, q, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		must(t, v.BindQueue(nil, q, "x", "", nil))
	}
	const n = 2000
	for i := range n {
		publishM(t, v, persistent(t, "x", "", fmt.Sprint(i), nil)) // stored once, shared by a and b
	}
	if got, err := v.PurgeQueue(nil, "a"); err != nil || got != n {
		t.Fatalf("purge: %d %v", got, err)
	}
	if got, err := v.DeleteQueue(nil, "b", false, false); err != nil || got != n {
		t.Fatalf("delete: %d %v", got, err)
	}
	must(t, v.DeleteExchange("x", false))
	emptyStore := func() error {
		var left []string
		err := d.st.Queues(func(ix string) error {
			k, _, _ := d.st.Count(ix)
			left = append(left, fmt.Sprintf("%x:%d", ix, k))
			return nil
		})
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("indexes left: %v", left)
		}
		bindings := 0
		d.st.Entities(store.KindBinding, func(string, []byte) error { bindings++; return nil })
		if err == nil && bindings > 0 {
			err = fmt.Errorf("%d binding records left", bindings)
		}
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := emptyStore(); err != nil; err = emptyStore() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v = d.restart()
	if info, err := v.DeclareQueue(nil, "a", true, false, false, false, nil); err != nil || info.Messages != 0 {
		t.Fatalf("a after restart: %+v %v", info, err)
	}
	if err := emptyStore(); err != nil {
		t.Fatal(err)
	}
}

// TestTransientPublishWithStoreAllocatesNothing: with a store, transient messages (also to
// durable queues) keep the in-memory publish path: no store work and no allocation.
func TestTransientPublishWithStoreAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d := newDisk(t, Config{})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "dq", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	c := &nopConsumer{}
	if _, _, err := v.Consume(nil, "dq", "c", c, false, false, nil); err != nil {
		t.Fatal(err)
	}
	p := v.NewPublisher()
	m := &Message{RoutingKey: "dq", Body: []byte("x")}
	batches := d.st.Stats().Batches
	n := testing.AllocsPerRun(1000, func() {
		if _, err := p.Publish(m); err != nil {
			t.Fatal(err)
		}
		c.last.Queue.Ack(c.last.Entry)
	})
	if n != 0 {
		t.Fatalf("%v allocs per transient publish", n)
	}
	if got := d.st.Stats().Batches; got != batches {
		t.Fatalf("%d store batches for transient messages", got-batches)
	}
}
