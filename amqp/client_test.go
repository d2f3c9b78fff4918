package amqp_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/conformance/warrentest"
)

// A new user's first steps with the official client: connect, open 100
// channels, close them and the connection cleanly.
func TestClientOpensAndClosesHundredChannels(t *testing.T) {
	url := warrentest.Start(t)
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	props := conn.Properties
	if props["product"] != "RabbitMQ" || props["version"] != amqp.RabbitMQVersion {
		t.Errorf("product/version = %v/%v, want RabbitMQ/%s", props["product"], props["version"], amqp.RabbitMQVersion)
	}
	if conn.Config.ChannelMax != 2047 || conn.Config.FrameSize != 131072 {
		t.Errorf("negotiated channel-max %d frame-max %d, want 2047 and 131072", conn.Config.ChannelMax, conn.Config.FrameSize)
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	var chans []*amqp091.Channel
	for i := range 100 {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("channel %d: %v", i, err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		if err := ch.Close(); err != nil {
			t.Fatalf("close channel %d: %v", i, err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err, ok := <-closed; ok && err != nil {
		t.Fatalf("connection closed with %v, want a clean close", err)
	}
}

func TestReportWarren(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{ReportWarren: true})
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.Properties["product"] != "warren" || conn.Properties["version"] != amqp.Version {
		t.Fatalf("product/version = %v/%v, want warren/%s", conn.Properties["product"], conn.Properties["version"], amqp.Version)
	}
}

// A connection with a 1 s heartbeat stays up while idle for 10 s.
func TestHeartbeatKeepsIdleConnectionOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s idle period")
	}
	t.Parallel()
	url := warrentest.Start(t)
	conn, err := amqp091.DialConfig(url, amqp091.Config{Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	select {
	case err := <-closed:
		t.Fatalf("idle connection closed: %v", err)
	case <-time.After(10 * time.Second):
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("after 10 s idle: %v", err)
	}
	ch.Close()
}

// A client that stops sending is closed by warren within 3 s when the
// heartbeat is 1 s, and warren itself sends heartbeats meanwhile.
func TestHeartbeatMissedClosesConnection(t *testing.T) {
	t.Parallel()
	b := warrentest.StartWith(t, warrentest.Options{})
	nc, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := wire.NewFrameReader(nc, 1<<20)
	next := func() (wire.Frame, wire.Method) {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if f.Type != wire.FrameMethod {
			return f, nil
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return f, m
	}
	write := func(m wire.Method) {
		if _, err := nc.Write(wire.AppendMethodFrame(nil, 0, m)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Write([]byte("AMQP\x00\x00\x09\x01"))
	next()
	write(&wire.ConnectionStartOk{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	next()
	write(&wire.ConnectionTuneOk{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 1})
	write(&wire.ConnectionOpen{VirtualHost: "/"})
	if _, m := next(); m == nil {
		t.Fatal("want open-ok")
	}
	start := time.Now()
	heartbeats := 0
	for {
		f, err := r.Next()
		if err != nil {
			break // closed by the server
		}
		if f.Type == wire.FrameHeartbeat {
			heartbeats++
		}
	}
	took := time.Since(start)
	if took > 3*time.Second || took < 1500*time.Millisecond {
		t.Fatalf("silent client closed after %v, want between 1.5 s and 3 s", took)
	}
	if heartbeats == 0 {
		t.Fatal("server sent no heartbeats")
	}
}

// Shutdown closes every client with 320 CONNECTION_FORCED.
func TestShutdownSendsConnectionForced(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{})
	var notes []chan *amqp091.Error
	for range 3 {
		c, err := amqp091.Dial(b.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		notes = append(notes, c.NotifyClose(make(chan *amqp091.Error, 1)))
	}
	done := make(chan error, 1)
	go func() { done <- shutdown(b.Server) }()
	for i, n := range notes {
		select {
		case err := <-n:
			if err == nil || err.Code != amqp091.ConnectionForced {
				t.Fatalf("connection %d closed with %v, want 320", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d not closed", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func shutdown(s *amqp.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// While a resource alarm is set, clients that advertise connection.blocked
// hear it, publishing connections stop being read, and both resume when the
// alarm clears; consumers are served throughout.
func TestAlarmBlocksPublishers(t *testing.T) {
	b := warrentest.StartWith(t, warrentest.Options{})
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: clear the alarm, then close.
	t.Cleanup(func() { conn.Close() })
	t.Cleanup(func() { b.Core.SetAlarm("disk", false) })
	blocked := conn.NotifyBlocked(make(chan amqp091.Blocking, 4))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	b.Core.SetAlarm("disk", true)
	select {
	case bl := <-blocked:
		if !bl.Active || bl.Reason != "low on disk" {
			t.Fatalf("got %+v, want active 'low on disk'", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.blocked")
	}
	// The first publish completes, then the connection stops being read.
	for i := range 2 {
		if err := ch.Publish("", q.Name, false, false, amqp091.Publishing{Body: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case d := <-deliveries:
		if d.Body[0] != 0 {
			t.Fatalf("first delivery %v", d.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the publish before the block was not delivered")
	}
	select {
	case d := <-deliveries:
		t.Fatalf("delivered %v while blocked", d.Body)
	case <-time.After(300 * time.Millisecond):
	}

	b.Core.SetAlarm("disk", false)
	select {
	case bl := <-blocked:
		if bl.Active {
			t.Fatalf("got %+v, want unblocked", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.unblocked")
	}
	select {
	case d := <-deliveries:
		if d.Body[0] != 1 {
			t.Fatalf("second delivery %v", d.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish not resumed after the alarm cleared")
	}
}

// A consumer that reads slowly makes its connection's outbox pass the
// high-water mark: queues stop delivering to it, and resume when the writer
// drains, so every message arrives once and in order.
func TestSlowConsumerGetsEverything(t *testing.T) {
	url := warrentest.Start(t)
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	body := make([]byte, 1024) // 6 MiB in all: several times the outbox high-water mark
	pubConn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pubConn.Close()
	pub, err := pubConn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		body[0], body[1] = byte(i>>8), byte(i)
		if err := pub.Publish("", q.Name, false, false, amqp091.Publishing{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for i := range n {
		select {
		case d := <-deliveries:
			if got := int(d.Body[0])<<8 | int(d.Body[1]); got != i {
				t.Fatalf("delivery %d carries message %d", i, got)
			}
			if i%1000 == 0 {
				time.Sleep(20 * time.Millisecond) // let the broker's outbox fill up
			}
		case <-deadline:
			t.Fatalf("got %d of %d messages", i, n)
		}
	}
}
