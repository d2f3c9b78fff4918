package amqp

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// countingConn counts the bytes a test client writes and reads.
type countingConn struct {
	net.Conn
	read, written atomic.Uint64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(uint64(n))
	return n, err
}

// The connection's recv_oct and send_oct are exactly the bytes that crossed the
// socket: what the client wrote and what it read.
func TestConnectionOctets(t *testing.T) {
	srv, addr := startServer(t, Config{})
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	cc := &countingConn{Conn: nc}
	rc := &rawClient{t: t, nc: cc, r: wire.NewFrameReader(cc, 1<<20)}
	rc.open()
	rc.openChannel(1)
	rc.send(1, &wire.QueueDeclare{Queue: "octets"})
	if _, ok := rc.next().(*wire.QueueDeclareOk); !ok {
		t.Fatal("want queue.declare-ok")
	}

	var info ConnInfo
	waitForCond(t, "the counters to catch up", func() bool {
		cs := srv.Connections()
		if len(cs) != 1 {
			return false
		}
		info = cs[0]
		return info.RecvOct == cc.written.Load() && info.SendOct == cc.read.Load()
	})
	if info.RecvOct < 100 || info.SendOct < 100 {
		t.Fatalf("recv_oct %d, send_oct %d: too few for a handshake", info.RecvOct, info.SendOct)
	}
	if info.RecvRate != 0 || info.SendRate != 0 {
		t.Fatalf("rates %v/%v before %v has passed, want 0", info.RecvRate, info.SendRate, octetInterval)
	}

	// Pretend the last sample is 10 s old and held nothing: the rates are a tenth
	// of the counts.
	c := srv.openConns()[0]
	c.insp.mu.Lock()
	c.insp.mu.octets = octetSample{at: time.Now().Add(-10 * time.Second)}
	c.insp.mu.Unlock()
	got := c.snapshot()
	for _, r := range []struct {
		name       string
		rate, want float64
	}{{"recv", got.RecvRate, float64(got.RecvOct) / 10}, {"send", got.SendRate, float64(got.SendOct) / 10}} {
		if r.rate < r.want*0.99 || r.rate > r.want*1.01 {
			t.Errorf("%s rate %v, want about %v", r.name, r.rate, r.want)
		}
	}
}

// waitForCond polls cond every 10 ms for up to 5 s.
func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
