package vhost

import (
	"fmt"
	"sync"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// x-overflow reject-publish is exact for persistent messages published concurrently to a
// durable queue: a message reserved in memory by one publisher (Publisher.reserve) and not
// enqueued yet counts for the limit seen by the next, so two publishers never both take
// the last place. A getter keeps the queue near its limit; everyone watches its depth.
func TestRejectPublishExactUnderConcurrentPersistentPublishes(t *testing.T) {
	const limit = 3
	d := newDisk(t, Config{})
	v := d.v()
	_, err := v.DeclareQueue(nil, "q", false, true, false, false, wire.Table{"x-max-length": int32(limit), "x-overflow": "reject-publish"})
	must(t, err)
	q := v.Queue("q")
	var (
		mu   sync.Mutex
		most int
	)
	watch := func() int {
		r, _, _ := pagedState(q)
		mu.Lock()
		most = max(most, r)
		mu.Unlock()
		return r
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if watch() >= limit {
				for range limit {
					if _, _, _, err := v.Get(nil, "q", true); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := v.NewPublisher()
			for i := range 8000 {
				if _, err := p.Publish(persistent(t, "", "q", fmt.Sprint(g, "-", i), nil)); err != nil {
					t.Error(err)
					return
				}
				watch()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-stopped
	if most > limit {
		t.Fatalf("the queue held %d ready messages; x-max-length is %d", most, limit)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.reserved != 0 || q.mu.reservedBytes != 0 {
		t.Fatalf("reservations left: %d, %d bytes", q.mu.reserved, q.mu.reservedBytes)
	}
}
