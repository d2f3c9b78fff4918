package vhost

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ackingConsumer acks through a channel drained by another goroutine, as the amqp channel's
// read loop would (Deliver must not call back into the queue).
type ackingConsumer struct {
	acks chan Delivery
	got  atomic.Int64
}

func (c *ackingConsumer) Deliver(d Delivery) bool {
	select {
	case c.acks <- d:
		c.got.Add(1)
		return true
	default:
		return false // "output buffer full"
	}
}

func (c *ackingConsumer) Cancelled(*Queue, string) {}

// TestConcurrentPublishConsumeDelete runs publishers, acking consumers, topology churn and
// queue deletion at once: under -race it checks the locking, and it must end (no deadlock)
// within its deadline.
func TestConcurrentPublishConsumeDelete(t *testing.T) {
	v := newTestVHost(t)
	const queues, publishers, perPublisher = 4, 4, 2000
	must(t, v.DeclareExchange("fan", "fanout", false, false, false, false, nil))
	must(t, v.DeclareExchange("top", "topic", false, false, false, false, nil))
	must(t, v.BindExchange("top", "fan", "", nil))
	for i := range queues {
		name := fmt.Sprint("q", i)
		declareQ(t, v, nil, name)
		must(t, v.BindQueue(nil, name, "top", "#", nil))
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var consumers []*ackingConsumer
	for i := range queues {
		c := &ackingConsumer{acks: make(chan Delivery, 64)}
		consumers = append(consumers, c)
		_, q, err := v.Consume(nil, fmt.Sprint("q", i), "c", c, false, false, nil)
		must(t, err)
		wg.Add(1)
		go func() { // the consumer's "read loop": ack, requeue now and then, kick
			defer wg.Done()
			n := 0
			for {
				select {
				case d := <-c.acks:
					n++
					if n%17 == 0 {
						d.Queue.Requeue(d.Entry)
					} else {
						d.Queue.Ack(d.Entry)
					}
					q.Kick()
				case <-stop:
					return
				}
			}
		}()
	}
	var published atomic.Int64
	var pubWG sync.WaitGroup
	for p := range publishers {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			pub := v.NewPublisher()
			for i := range perPublisher {
				if _, err := pub.Publish(&Message{Exchange: "fan", RoutingKey: "a.b", Body: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
				published.Add(1)
				if p == 0 && i%100 == 0 {
					// Topology churn on the publisher's path.
					name := fmt.Sprint("tmp", i)
					if _, err := v.DeclareQueue(nil, name, false, false, false, false, nil); err != nil {
						t.Error(err)
						return
					}
					_ = v.BindQueue(nil, name, "fan", "", nil)
					_, _ = v.DeleteQueue(nil, name, false, false)
				}
			}
		}()
	}
	// Meanwhile delete and re-create one of the consumed queues a few times.
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		for range 20 {
			_, _ = v.DeleteQueue(nil, "q0", false, false)
			_, _ = v.DeclareQueue(nil, "q0", false, false, false, false, nil)
			_ = v.BindQueue(nil, "q0", "top", "#", nil)
			_, _, _, _ = v.Get(nil, "q0", true)
		}
	}()

	done := make(chan struct{})
	go func() { pubWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishers did not finish: deadlock?")
	}

	// Every message in the surviving queues q1..q3 reaches its consumer eventually.
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; i < queues; i++ {
		q := v.Queue(fmt.Sprint("q", i))
		for {
			q.Kick()
			q.mu.Lock()
			ready, unacked := q.mu.ready.len(), len(q.mu.unacked)
			q.mu.Unlock()
			if ready == 0 && unacked == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("q%d: %d ready, %d unacked left", i, ready, unacked)
			}
			time.Sleep(time.Millisecond)
		}
		if got := consumers[i].got.Load(); got < publishers*perPublisher {
			t.Fatalf("q%d consumer got %d deliveries, want ≥ %d", i, got, publishers*perPublisher)
		}
	}
	close(stop)
	wg.Wait()
	if published.Load() != publishers*perPublisher {
		t.Fatalf("published %d", published.Load())
	}
}

// TestConcurrentOwnersAndAutoDelete churns connections (owners) that declare exclusive and
// auto-delete queues, bind them, consume and cancel, and close, while publishers route to
// them through a fanout: under -race, and bounded in count and time.
func TestConcurrentOwnersAndAutoDelete(t *testing.T) {
	v := newTestVHost(t)
	const owners, rounds = 4, 50
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	for range 2 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			p := v.NewPublisher()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Publish(&Message{Exchange: "amq.fanout", Body: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				o := NewOwner(fmt.Sprint("conn", w, "-", r))
				ex, err := v.DeclareQueue(o, "", false, false, true, false, nil)
				if err != nil {
					t.Error(err)
					return
				}
				ad := fmt.Sprint("ad", w)
				if _, err := v.DeclareQueue(o, ad, false, false, false, true, nil); err != nil {
					t.Error(err)
					return
				}
				for _, q := range []string{ex.Name, ad} {
					_ = v.BindQueue(o, q, "amq.fanout", "", nil) // ad may be gone already
				}
				c := &ackingConsumer{acks: make(chan Delivery, 8)}
				var qs []*Queue
				for _, name := range []string{ex.Name, ad} {
					if _, q, err := v.Consume(o, name, "c", c, false, false, nil); err == nil {
						qs = append(qs, q)
					}
				}
			drain:
				for {
					select {
					case d := <-c.acks:
						d.Queue.Ack(d.Entry)
					default:
						break drain
					}
				}
				for _, q := range qs {
					q.Kick()
					q.Cancel(c, "c") // the auto-delete queue goes here
				}
				v.OwnerClosed(o)
				if v.Queue(ex.Name) != nil {
					t.Errorf("exclusive queue %s survived its owner", ex.Name)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("owners did not finish: deadlock?")
	}
	close(stop)
	pubs.Wait()
	v.mu.RLock()
	defer v.mu.RUnlock()
	for name, q := range v.mu.queues {
		if q.owner != nil {
			t.Errorf("exclusive queue %s left after every owner closed", name)
		}
		if n := q.info().Consumers; n != 0 {
			t.Errorf("queue %s has %d consumers after all were cancelled", name, n)
		}
	}
}

// flakyConsumer refuses now and then (a full buffer) and hands deliveries to its "read
// loop" goroutine through a channel.
type flakyConsumer struct {
	mu    sync.Mutex
	n     int
	queue chan Delivery
}

func (c *flakyConsumer) Deliver(d Delivery) bool {
	c.mu.Lock()
	c.n++
	refuse := c.n%7 == 0
	c.mu.Unlock()
	if refuse {
		return false
	}
	select {
	case c.queue <- d:
		return true
	default:
		return false
	}
}

func (c *flakyConsumer) Cancelled(*Queue, string) {}

// TestEveryMessageAckedOnce publishes numbered messages from several goroutines into one
// queue with several consumers that refuse, requeue and reject-with-requeue at random, and
// checks that each message is acked exactly once and nothing is left.
func TestEveryMessageAckedOnce(t *testing.T) {
	v := newTestVHost(t)
	q := declareQ(t, v, nil, "q")
	const publishers, perPublisher, consumers = 3, 3000, 4
	total := publishers * perPublisher
	var mu sync.Mutex
	acked := make(map[string]int, total)
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	for i := range consumers {
		c := &flakyConsumer{queue: make(chan Delivery, 16)}
		if _, _, err := v.Consume(nil, "q", fmt.Sprint("c", i), c, false, false, nil); err != nil {
			t.Fatal(err)
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			n := 0
			for {
				select {
				case d := <-c.queue:
					n++
					switch {
					case n%11 == 0:
						q.Requeue(d.Entry)
					case n%13 == 0:
						q.Reject(true, d.Entry)
					default:
						q.Ack(d.Entry)
						mu.Lock()
						acked[string(d.Msg.Body)]++
						mu.Unlock()
					}
					q.Kick()
				case <-stop:
					return
				}
			}
		}()
	}
	var pwg sync.WaitGroup
	for p := range publishers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			pub := v.NewPublisher()
			for i := range perPublisher {
				if _, err := pub.Publish(&Message{RoutingKey: "q", Body: []byte(fmt.Sprint(p, "-", i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	pwg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		q.Kick()
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages acked", n, total)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	cwg.Wait()
	for body, k := range acked {
		if k != 1 {
			t.Fatalf("message %s acked %d times", body, k)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.ready.len() != 0 || len(q.mu.unacked) != 0 {
		t.Fatalf("left: %d ready, %d unacked", q.mu.ready.len(), len(q.mu.unacked))
	}
}
