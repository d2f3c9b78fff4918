package vhost

import (
	"errors"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp/wire"
)

func newTestVHost(t testing.TB) *VHost {
	t.Helper()
	b, err := New(Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	v := b.VHost("/")
	if v == nil {
		t.Fatal("no vhost /")
	}
	return v
}

// wantErr fails unless err is a soft *wire.Exception with code and (if text != "") text.
func wantErr(t testing.TB, err error, code uint16, text string) {
	t.Helper()
	var ex *wire.Exception
	if !errors.As(err, &ex) {
		t.Fatalf("got %v, want a %d exception", err, code)
	}
	if ex.Code != code || ex.Hard {
		t.Fatalf("got code %d hard=%v (%q), want soft %d", ex.Code, ex.Hard, ex.Text, code)
	}
	if text != "" && ex.Text != text {
		t.Fatalf("text:\n got %q\nwant %q", ex.Text, text)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func declareQ(t testing.TB, v *VHost, o *Owner, name string) *Queue {
	t.Helper()
	if _, err := v.DeclareQueue(o, name, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return v.Queue(name)
}

// testConsumer records deliveries; credit < 0 means unlimited.
type testConsumer struct {
	mu        sync.Mutex
	credit    int
	got       []Delivery
	started   []string
	cancelled []string
	events    []string // "start:<tag>", "deliver:<tag>" in call order
}

func newConsumer(credit int) *testConsumer { return &testConsumer{credit: credit} }

func (c *testConsumer) Deliver(d Delivery) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.credit == 0 {
		return false
	}
	if c.credit > 0 {
		c.credit--
	}
	c.got = append(c.got, d)
	c.events = append(c.events, "deliver:"+d.Tag)
	return true
}

func (c *testConsumer) Cancelled(q *Queue, tag string) {
	c.mu.Lock()
	c.cancelled = append(c.cancelled, tag)
	c.mu.Unlock()
}

func (c *testConsumer) Started(q *Queue, tag string) {
	c.mu.Lock()
	c.started = append(c.started, tag)
	c.events = append(c.events, "start:"+tag)
	c.mu.Unlock()
}

func (c *testConsumer) setCredit(n int) {
	c.mu.Lock()
	c.credit = n
	c.mu.Unlock()
}

func (c *testConsumer) deliveries() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Delivery(nil), c.got...)
}

func (c *testConsumer) bodies() []string {
	var s []string
	for _, d := range c.deliveries() {
		s = append(s, string(d.Msg.Body))
	}
	return s
}

func (c *testConsumer) cancels() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cancelled...)
}

// msg builds a message; headers may be nil.
func msg(t testing.TB, exchange, key, body string, headers wire.Table) *Message {
	t.Helper()
	m := &Message{Exchange: exchange, RoutingKey: key, Body: []byte(body)}
	if headers != nil {
		p := wire.Properties{Headers: headers}
		flags, props, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Flags, m.Props = flags, props
	}
	return m
}

func publish(t testing.TB, v *VHost, exchange, key, body string, headers wire.Table) bool {
	t.Helper()
	routed, err := v.Publish(msg(t, exchange, key, body, headers))
	if err != nil {
		t.Fatal(err)
	}
	return routed
}

// drain takes every ready message of queue with basic.get no-ack and returns the bodies.
func drain(t testing.TB, v *VHost, queue string) []string {
	t.Helper()
	var out []string
	for range 10000 {
		d, ok, _, err := v.Get(nil, queue, true)
		must(t, err)
		if !ok {
			return out
		}
		out = append(out, string(d.Msg.Body))
	}
	t.Fatal("drain: too many messages")
	return nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
