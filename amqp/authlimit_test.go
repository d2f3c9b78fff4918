package amqp

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
)

func TestFailDelaySchedule(t *testing.T) {
	want := []time.Duration{0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := failDelay(i + 1); got != w {
			t.Errorf("failure %d: %v, want %v", i+1, got, w)
		}
	}
	var f failures
	now := time.Now()
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
	b := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 2} // same host, other port
	for range 3 {
		f.fail(a, now)
	}
	if d, n := f.fail(b, now); d != failBase || n != 4 {
		t.Fatalf("4th failure from the host: %v %d", d, n)
	}
	if d, n := f.fail(a, now.Add(failWindow+time.Second)); d != 0 || n != 1 {
		t.Fatalf("after the window: %v %d", d, n)
	}
	for i := range failTrack + 10 {
		f.fail(&net.TCPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))}, now)
	}
	if n := len(f.mu.byAddr); n > failTrack {
		t.Fatalf("table grew to %d", n)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loginAs runs a PLAIN login with authentication_failure_close and returns the first
// method the server answers start-ok with, and how long that took.
func loginAs(t *testing.T, addr, user, pass string) (wire.Method, time.Duration) {
	rc := dialRaw(t, addr)
	rc.write(protocolHeader[:])
	rc.next() // connection.start
	start := time.Now()
	rc.send(0, &wire.ConnectionStartOk{
		ClientProperties: wire.Table{"capabilities": wire.Table{"authentication_failure_close": true}},
		Mechanism:        "PLAIN", Response: "\x00" + user + "\x00" + pass, Locale: "en_US",
	})
	m := rc.next()
	return m, time.Since(start)
}

// Repeated failures from one address are answered later and later, are logged with the
// address and user and never the password, and do not slow down other logins.
func TestRepeatedLoginFailuresAreSlowedDown(t *testing.T) {
	var logs syncBuffer
	_, addr := startServer(t, Config{Logger: zerolog.New(&logs).Level(zerolog.InfoLevel)})
	for i := range failFree {
		m, d := loginAs(t, addr, "guest", "wrong-pw")
		cl, ok := m.(*wire.ConnectionClose)
		if !ok || cl.ReplyCode != wire.AccessRefused || d > 200*time.Millisecond {
			t.Fatalf("failure %d: %#v after %v", i+1, m, d)
		}
	}
	slow := make(chan time.Duration, 1)
	go func() {
		_, d := loginAs(t, addr, "guest", "wrong-pw")
		slow <- d
	}()
	// The refusal is logged before the wait: once it is, the slow login is waiting.
	for i := 0; !strings.Contains(logs.String(), `"recent_failures":4`); i++ {
		if i == 500 {
			t.Fatal("the 4th failure was never logged")
		}
		time.Sleep(2 * time.Millisecond)
	}
	m, d := loginAs(t, addr, "guest", "guest")
	if _, ok := m.(*wire.ConnectionTune); !ok || d > 200*time.Millisecond {
		t.Fatalf("a good login during the wait: %#v after %v", m, d)
	}
	if d := <-slow; d < failBase {
		t.Fatalf("4th failure answered after %v, want at least %v", d, failBase)
	}
	out := logs.String()
	if !strings.Contains(out, `"user":"guest"`) || !strings.Contains(out, `"remote":"127.0.0.1:`) ||
		!strings.Contains(out, "invalid credentials") || strings.Contains(out, "wrong-pw") {
		t.Fatalf("log:\n%s", out)
	}
}
