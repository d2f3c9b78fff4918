package amqp_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/amqp"
	"github.com/warrenmq/warren/store"
	"github.com/warrenmq/warren/vhost"
)

// startDurable runs a server whose broker keeps durable state in a store in a temporary folder.
func startDurable(t *testing.T) string {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	core, err := vhost.New(vhost.Config{Logger: zerolog.Nop(), Store: st})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := amqp.NewServer(amqp.Config{Broker: core, Logger: zerolog.Nop()})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, amqp.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		core.Close()
		st.Close()
	})
	return "amqp://guest:guest@" + ln.Addr().String() + "/"
}

// Persistent messages fanned out to a durable queue (its confirm waits for the disk) and to a
// durable queue with x-overflow reject-publish: once that one is full, the publish is nacked even
// though the store confirms the other copy, and confirms stay in order.
func TestRejectPublishNacksAmongStoredConfirms(t *testing.T) {
	conn, err := amqp091.Dial(startDurable(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("all", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("two", true, false, false, false, amqp091.Table{"x-max-length": int32(2), "x-overflow": "reject-publish"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"all", "two"} {
		if err := ch.QueueBind(q, "", "amq.fanout", false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	const n = 50
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, n))
	for range n {
		if err := ch.Publish("amq.fanout", "", false, false, amqp091.Publishing{DeliveryMode: 2, Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case c := <-confirms:
			if c.DeliveryTag != uint64(i+1) || c.Ack != (i < 2) {
				t.Fatalf("confirm %d: tag %d ack=%v", i+1, c.DeliveryTag, c.Ack)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("confirm %d of %d did not come", i+1, n)
		}
	}
	for q, want := range map[string]int{"all": n, "two": 2} {
		info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil || info.Messages != want {
			t.Fatalf("%s: %d messages (%v), want %d", q, info.Messages, err, want)
		}
	}
}
