package amqp

import (
	"net"
	"sync"
	"time"
)

// failures slows down repeated authentication failures from one address: the connection
// that fails waits before it is answered, longer the more failures its address had
// recently, so a password guesser gets few tries per second. The wait happens on that
// connection's own goroutine; other connections, and the accept loop, are not delayed.
//
// RabbitMQ waits a fixed 3 s (SILENT_CLOSE_DELAY) before closing a connection that failed
// before connection.open without authentication_failure_close; warren answers the first
// failures at once (a typo should not cost seconds) and then doubles the wait.
type failures struct {
	mu struct {
		sync.Mutex
		byAddr map[string]*failRecord
	}
}

type failRecord struct {
	n    int       // failures since last, with gaps shorter than failWindow
	last time.Time // the latest failure
}

const (
	failFree   = 3 // failures answered without a wait
	failBase   = 250 * time.Millisecond
	failMax    = 5 * time.Second  // the longest wait
	failWindow = 60 * time.Second // a failure older than this is forgotten
	failTrack  = 10000            // addresses tracked at most
)

// fail records a failure from addr and returns how long to wait before answering, and the
// number of recent failures from that address.
func (f *failures) fail(addr net.Addr, now time.Time) (time.Duration, int) {
	key := hostOf(addr)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.byAddr == nil {
		f.mu.byAddr = make(map[string]*failRecord)
	}
	r := f.mu.byAddr[key]
	if r == nil || now.Sub(r.last) > failWindow {
		if len(f.mu.byAddr) >= failTrack {
			f.pruneLocked(now)
		}
		r = &failRecord{}
		f.mu.byAddr[key] = r
	}
	r.n++
	r.last = now
	return failDelay(r.n), r.n
}

// failDelay is the wait after the nth recent failure: none for the first failFree, then
// failBase doubling up to failMax.
func failDelay(n int) time.Duration {
	if n <= failFree {
		return 0
	}
	d := failBase
	for i := failFree + 1; i < n && d < failMax; i++ {
		d *= 2
	}
	return min(d, failMax)
}

// pruneLocked forgets old failures; if every address failed recently, it forgets all
// (the table must stay bounded even under a spread-out attack).
func (f *failures) pruneLocked(now time.Time) {
	for k, r := range f.mu.byAddr {
		if now.Sub(r.last) > failWindow {
			delete(f.mu.byAddr, k)
		}
	}
	if len(f.mu.byAddr) >= failTrack {
		clear(f.mu.byAddr)
	}
}

// hostOf is the IP of a TCP address, or the whole address otherwise.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}
