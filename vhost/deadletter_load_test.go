package vhost

import (
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// Publishers that drop heads of a length-limited queue faster than one goroutine can
// republish the dead letters do not pile them up on the queue (where their memory is not
// counted) behind the goroutine that happens to be flushing: past deadHelpAt waiting, the
// caller publishes them itself.
func TestDeadLettersStayBoundedUnderConcurrentDrops(t *testing.T) {
	v := newTestVHost(t)
	must(t, v.DeclareExchange("dlx", "fanout", false, false, false, false, nil))
	for _, n := range []string{"d1", "d2", "d3", "d4"} { // dead-lettering costs more than a publish
		_, err := v.DeclareQueue(nil, n, false, false, false, false, wire.Table{"x-max-length": int32(100)})
		must(t, err)
		must(t, v.BindQueue(nil, n, "dlx", "", nil))
	}
	_, err := v.DeclareQueue(nil, "q", false, false, false, false, wire.Table{"x-max-length": int32(10), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	q := v.Queue("q")

	stop, sampled := make(chan struct{}), make(chan int)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				sampled <- most
				return
			default:
			}
			q.mu.Lock()
			most = max(most, len(q.mu.dead))
			q.mu.Unlock()
			time.Sleep(20 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := v.NewPublisher()
			m := msg(t, "", "q", "body", wire.Table{"h": "v"})
			for range 20000 {
				c := *m
				if _, err := p.Publish(&c); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if most := <-sampled; most > 2*deadHelpAt {
		t.Fatalf("%d dead letters waited on the queue at once; want at most about %d", most, deadHelpAt)
	}
	q.mu.Lock()
	left := len(q.mu.dead)
	q.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d dead letters left unpublished", left)
	}
}
