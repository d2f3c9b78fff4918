package vhost

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmq/warren/store"
)

var (
	benchRecoveryN = flag.Int("durable.recovery", 1_000_000, "messages queued for BenchmarkRecovery")
	rssN           = flag.Int("durable.rss", 0, "if > 0, TestResidentMemory queues this many 100-byte persistent messages (issue 4 asks for 10,000,000)")
)

// window is a Waiter that bounds the confirms outstanding, as a publisher with a confirm
// window does.
type window struct{ sem chan struct{} }

func (w *window) Stored(uint64, error) { <-w.sem }

// BenchmarkPersistentConfirm: confirmed persistent publishes of 1 KiB to a durable queue
// from one publisher with up to 1000 unconfirmed (issue 4), in process, with a no-ack
// consumer keeping the queue short. Each publish is on disk when its confirm arrives.
func BenchmarkPersistentConfirm(b *testing.B) {
	d := newDisk(b, Config{})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		b.Fatal(err)
	}
	c := &nopConsumer{}
	if _, _, err := v.Consume(nil, "q", "c", c, false, true, nil); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'x'}, 1024)
	w := &window{sem: make(chan struct{}, 1000)}
	p := v.NewPublisher()
	syncs0 := d.st.Stats().Syncs
	start := time.Now()
	b.SetBytes(1024)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		w.sem <- struct{}{}
		m := &Message{RoutingKey: "q", Body: body, Persistent: true}
		if _, pending, err := p.PublishFor(m, w, i); err != nil || !pending {
			b.Fatal(pending, err)
		}
		i++
	}
	for range cap(w.sem) { // wait for the last confirms
		w.sem <- struct{}{}
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(i)/el, "confirmed/s")
	b.ReportMetric(float64(d.st.Stats().Syncs-syncs0)/el, "syncs/s")
}

// BenchmarkDurableDeclare: durable queue declares, each returning once synced. "serial"
// is one client channel declaring one queue after another (what a framework does at
// start); "parallel" is 16 channels at once.
func BenchmarkDurableDeclare(b *testing.B) {
	for _, par := range []int{1, 16} {
		name := "serial"
		if par > 1 {
			name = fmt.Sprintf("parallel-%d", par)
		}
		b.Run(name, func(b *testing.B) {
			d := newDisk(b, Config{})
			v := d.v()
			args := map[string]any{"x-message-ttl": int64(60000), "x-dead-letter-exchange": "dlx"}
			var n atomic.Int64
			b.ReportAllocs()
			start := time.Now()
			var wg sync.WaitGroup
			for range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := v.DeclareQueue(nil, "queue-"+strconv.FormatInt(i, 10), false, true, false, false, args); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "declares/s")
		})
	}
}

// BenchmarkRecovery: start a broker on a folder holding -durable.recovery (1,000,000)
// queued 100-byte persistent messages in one durable queue, then consume them all.
// "recover" is New (what a restart waits for before it accepts connections); "drain"
// pages every message back and delivers it. The folder is filled through the store
// directly, which is quicker than publishing. Run alone: -bench Recovery -benchtime 1x.
func BenchmarkRecovery(b *testing.B) {
	n := *benchRecoveryN
	d := newDisk(b, Config{})
	if _, err := d.v().DeclareQueue(nil, "backlog", false, true, false, false, nil); err != nil {
		b.Fatal(err)
	}
	q := d.v().Queue("backlog")
	ix := q.mu.ix
	d.close()
	st, err := store.Open(d.dir, store.Options{GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{'m'}, 100)
	const batch = 10_000
	var wg sync.WaitGroup
	var failed atomic.Bool
	for i := 0; i < n; i += batch {
		var bt store.Batch
		for j := i; j < min(i+batch, n); j++ {
			m := &Message{RoutingKey: "backlog", Body: body, Persistent: true, ts: time.Now().UnixNano()}
			bt.PutMessage(uint64(j+1), appendMessage(nil, m))
			bt.Enqueue(ix, uint64(j+1), uint64(j+1))
		}
		wg.Add(1)
		st.Commit(&bt, func(err error) {
			if err != nil {
				failed.Store(true)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if failed.Load() {
		b.Fatal("fill failed")
	}
	st.Close()

	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		d.open()
		recovered := time.Since(start)
		v := d.v()
		c := &chanConsumer{ch: make(chan Delivery, 1<<20)}
		if _, _, err := v.Consume(nil, "backlog", "c", c, false, true, nil); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; got++ {
			select {
			case <-c.ch:
			case <-time.After(30 * time.Second):
				b.Fatalf("drained %d of %d", got, n)
			}
			if got%(1<<19) == 0 {
				v.Queue("backlog").Kick() // the channel was full at some point: offer again
			}
		}
		drained := time.Since(start)
		b.ReportMetric(recovered.Seconds(), "recover-s")
		b.ReportMetric(drained.Seconds(), "recover+drain-s")
		b.StopTimer()
		d.close()
		b.StartTimer()
	}
}

// TestResidentMemory queues -durable.rss 100-byte persistent messages in a durable queue
// through the broker (default budget, DefaultMemoryBudget) and reports the process's resident memory.
// Skipped unless the flag is set: go test -run ResidentMemory -durable.rss 10000000 ./vhost
func TestResidentMemory(t *testing.T) {
	n := *rssN
	if n <= 0 {
		t.Skip("set -durable.rss")
	}
	d := newDisk(t, Config{})
	v := d.v()
	if _, err := v.DeclareQueue(nil, "q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte{'r'}, 100)
	start := time.Now()
	const pubs = 8
	var wg sync.WaitGroup
	var next atomic.Int64
	for range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := v.NewPublisher()
			w := &window{sem: make(chan struct{}, 1000)}
			for next.Add(1) <= int64(n) {
				w.sem <- struct{}{}
				if _, _, err := p.PublishFor(&Message{RoutingKey: "q", Body: body, Persistent: true}, w, 0); err != nil {
					t.Error(err)
					return
				}
			}
			for range cap(w.sem) {
				w.sem <- struct{}{}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	info, _ := v.DeclareQueue(nil, "q", true, false, false, false, nil)
	t.Logf("%d messages queued in %v (%.0f/s); queue reports %d; %s",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), info.Messages, memReport(d))

	start = time.Now()
	v = d.restart()
	t.Logf("restarted in %v; %s", time.Since(start).Round(time.Millisecond), memReport(d))
	c := &chanConsumer{ch: make(chan Delivery, 4096)}
	if _, _, err := v.Consume(nil, "q", "c", c, false, false, nil); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for got := 0; got < n; got++ {
		select {
		case dl := <-c.ch:
			dl.Queue.Ack(dl.Entry)
			if got%1024 == 0 {
				dl.Queue.Kick()
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("drained %d of %d", got, n)
		}
	}
	t.Logf("drained and acked in %v; %s", time.Since(start).Round(time.Millisecond), memReport(d))
}

func memReport(d *disk) string {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("VmRSS %s, Go heap in use %d MiB, queued in memory (estimate) %d MiB",
		vmRSS(), ms.HeapInuse>>20, d.b.pst.mem.Load()>>20)
}

func vmRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}
