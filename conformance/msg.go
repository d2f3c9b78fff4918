package conformance

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Publisher opens a connection and a channel in confirm mode (confirm.select), for publishing with
// PublishConfirmed.
func (e *Env) Publisher() *Chan {
	ch := e.Channel()
	e.Must(ch.Confirm(false), "confirm.select")
	return ch
}

// Publish sends a message, or ends the check if the client cannot.
func (e *Env) Publish(ch *Chan, exchange, key string, p amqp.Publishing) {
	e.Must(ch.PublishWithContext(e.ctx, exchange, key, false, false, p), fmt.Sprintf("basic.publish to %q with key %q", exchange, key))
}

// PublishConfirmed publishes on a channel in confirm mode and waits for the broker's basic.ack: after
// it, the message is in every queue it was routed to (RabbitMQ confirms a transient message once all
// its queues have accepted it, docs/confirms.md).
func (e *Env) PublishConfirmed(ch *Chan, exchange, key string, p amqp.Publishing) {
	what := fmt.Sprintf("basic.publish to %q with key %q", exchange, key)
	dc, err := ch.PublishWithDeferredConfirmWithContext(e.ctx, exchange, key, false, false, p)
	e.Must(err, what)
	if dc == nil {
		e.Fatalf("%s: channel is not in confirm mode", what)
	}
	ack, err := dc.WaitContext(e.ctx)
	e.Must(err, what+": waiting for the confirm")
	if !ack {
		e.Fatalf("%s: got basic.nack, want basic.ack", what)
	}
}

// Sync makes a synchronous round trip on ch (a passive declare of amq.direct). A broker handles a
// channel's frames in order, so when it returns, the asynchronous methods sent before it (basic.ack,
// nack, reject, publish) have been processed, and another connection sees their effect.
func (e *Env) Sync(ch *Chan) {
	e.Must(ch.ExchangeDeclarePassive("amq.direct", "direct", true, false, false, false, nil), "synchronous round trip (passive exchange.declare amq.direct)")
}

// Text is a transient message with a text body.
func Text(body string) amqp.Publishing { return amqp.Publishing{Body: []byte(body)} }

// Recv waits for the next delivery on d.
func (e *Env) Recv(d <-chan amqp.Delivery, what string) amqp.Delivery {
	select {
	case m, ok := <-d:
		if !ok {
			e.Fatalf("%s: the consumer was cancelled, want a delivery", what)
		}
		return m
	case <-e.within(closeWait):
		e.Fatalf("%s: no delivery within %v", what, closeWait)
	}
	panic("unreachable")
}

// RecvN waits for n deliveries on d.
func (e *Env) RecvN(d <-chan amqp.Delivery, n int, what string) []amqp.Delivery {
	ms := make([]amqp.Delivery, 0, n)
	for i := range n {
		ms = append(ms, e.Recv(d, fmt.Sprintf("%s (delivery %d of %d)", what, i+1, n)))
	}
	return ms
}

// adminChan opens a channel on the check's inspection connection.
func (e *Env) adminChan() *Chan {
	e.mu.Lock()
	c := e.mu.admin
	e.mu.Unlock()
	if c == nil || c.IsClosed() {
		c = e.Dial()
		e.mu.Lock()
		e.mu.admin = c
		e.mu.Unlock()
	}
	return c.Open()
}

// Inspect returns queue.declare-ok for a passive declare of q (message and consumer counts), and whether
// the queue exists. It ends the check on any other error.
func (e *Env) Inspect(q string) (amqp.Queue, bool) {
	ch := e.adminChan()
	info, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return info, false
	}
	e.Must(err, fmt.Sprintf("queue.declare passive %q", q))
	_ = ch.Close()
	return info, true
}

// Ready returns the number of messages ready in q (queue.declare-ok message-count), ending the check if q
// does not exist.
func (e *Env) Ready(q string) int {
	info, ok := e.Inspect(q)
	if !ok {
		e.Fatalf("queue %q: not found, want it to exist", q)
	}
	return info.Messages
}

// ExchangeExists reports whether exchange x exists (passive exchange.declare).
func (e *Env) ExchangeExists(x string) bool {
	ch := e.adminChan()
	err := ch.ExchangeDeclarePassive(x, "", false, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false
	}
	e.Must(err, fmt.Sprintf("exchange.declare passive %q", x))
	_ = ch.Close()
	return true
}

// Drain takes every ready message out of q with basic.get (no-ack) and returns their bodies in order.
func (e *Env) Drain(q string) []string {
	ch := e.adminChan()
	defer func() { _ = ch.Close() }()
	var bodies []string
	for range 10_000 {
		m, ok, err := ch.Get(q, true)
		e.Must(err, fmt.Sprintf("basic.get %q", q))
		if !ok {
			return bodies
		}
		bodies = append(bodies, string(m.Body))
	}
	e.Fatalf("basic.get %q: more than 10000 messages", q)
	return nil
}

// DeclareQueue declares a fresh, non-durable, auto-delete-free queue on ch and returns its name.
func (e *Env) DeclareQueue(ch *Chan) string {
	q := e.Queue()
	_, err := ch.QueueDeclare(q, false, false, false, false, nil)
	e.Must(err, "queue.declare "+q)
	return q
}

// DeclareExchange declares a fresh non-durable exchange of kind on ch and returns its name.
func (e *Env) DeclareExchange(ch *Chan, kind string) string {
	x := e.Exchange()
	e.Must(ch.ExchangeDeclare(x, kind, false, false, false, false, nil), "exchange.declare "+x)
	return x
}

// Bind binds q to x with key and args.
func (e *Env) Bind(ch *Chan, q, key, x string, args amqp.Table) {
	e.Must(ch.QueueBind(q, key, x, false, args), fmt.Sprintf("queue.bind %q to %q with key %q", q, x, key))
}
