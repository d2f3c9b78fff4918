package conformance

import (
	"bytes"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

func unknownTag(tag uint64) string {
	return fmt.Sprintf("PRECONDITION_FAILED - unknown delivery tag %d", tag)
}

// getN takes n messages from q with basic.get (manual ack) on ch.
func getN(e *Env, ch *Chan, q string, n int) []amqp.Delivery {
	ms := make([]amqp.Delivery, 0, n)
	for i := range n {
		m, ok, err := ch.Get(q, false)
		e.Must(err, "basic.get")
		if !ok {
			e.Fatalf("basic.get #%d of %d: get-empty, want a message", i+1, n)
		}
		ms = append(ms, m)
	}
	return ms
}

// bodiesFlags renders deliveries as "m1 m2(r)": body, and (r) when redelivered.
func bodiesFlags(ms []amqp.Delivery) string {
	var parts []string
	for _, m := range ms {
		s := string(m.Body)
		if m.Redelivered {
			s += "(r)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// drainFlags takes every ready message from q with basic.get (no-ack) and renders them like bodiesFlags.
func drainFlags(e *Env, q string) string {
	ch := e.adminChan()
	defer func() { _ = ch.Close() }()
	var ms []amqp.Delivery
	for range 1000 {
		m, ok, err := ch.Get(q, true)
		e.Must(err, "basic.get "+q)
		if !ok {
			break
		}
		ms = append(ms, m)
	}
	return bodiesFlags(ms)
}

// wantQueue checks the ready messages of q, in order, with their redelivered flags ("m1(r) m2").
func wantQueue(e *Env, q, want, what string) {
	if got := drainFlags(e, q); got != want {
		e.Fatalf("%s: queue holds [%s], want [%s]", what, got, want)
	}
}

// wantRequeued waits until q holds as many ready messages as want names, then checks them like wantQueue
// (messages requeued by a close or a rollback come back asynchronously).
func wantRequeued(e *Env, q, want, what string) {
	n := len(strings.Fields(want))
	e.Eventually(fmt.Sprintf("%d messages ready in %s %s", n, q, what), func() bool { info, _ := e.Inspect(q); return info.Messages == n })
	wantQueue(e, q, want, what)
}

// consumeN starts a consumer (manual ack) on a fresh channel with prefetch and waits for n deliveries.
func consumer(e *Env, q string, prefetch int, global bool) (*Chan, <-chan amqp.Delivery) {
	ch := e.Channel()
	if prefetch > 0 {
		e.Must(ch.Qos(prefetch, 0, global), "basic.qos")
	}
	d, err := ch.Consume(q, "", false, false, false, false, nil)
	e.Must(err, "basic.consume")
	return ch, d
}

// secondConsumerRefused consumes a fresh queue on one connection, then on another, each exclusively as
// asked, and expects the second basic.consume refused with 403 ACCESS_REFUSED on its channel.
func secondConsumerRefused(e *Env, firstExclusive, secondExclusive bool) error {
	first := e.Channel()
	q := e.DeclareQueue(first)
	_, err := first.Consume(q, "", false, firstExclusive, false, false, nil)
	e.Must(err, fmt.Sprintf("first basic.consume (exclusive %v)", firstExclusive))
	second := e.Channel()
	_, err = second.Consume(q, "", false, secondExclusive, false, false, nil)
	e.WantChannelError(second, err, amqp.AccessRefused,
		fmt.Sprintf("ACCESS_REFUSED - queue '%s' in vhost '%s' in exclusive use", q, e.Vhost),
		fmt.Sprintf("second basic.consume (exclusive %v)", secondExclusive))
	return nil
}

var basicChecks = []Check{
	{
		Name: "basic.consume/server-generated-tag-amq-ctag",
		Rule: "AMQP 0-9-1 basic.consume consumer-tag (empty: the server generates one); RabbitMQ tags start \"amq.ctag-\"",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch) // declared through the client so that cleanup deletes it
			r := e.rawDial()
			r.handshake()
			r.openChannel(1)
			var w enc
			r.send(1, mBasicConsume, w.u16(0).shortstr(q).shortstr("").u8(0).table(nil).b)
			ok := r.expect(1, mBasicConsOk, "basic.consume with an empty consumer-tag")
			tag := newDec(ok.args).shortstr()
			if !strings.HasPrefix(tag, "amq.ctag-") || len(tag) <= len("amq.ctag-") {
				return fmt.Errorf("server-generated consumer tag: got %q, want \"amq.ctag-…\"", tag)
			}
			return nil
		},
	},
	{
		Name: "basic.consume/missing-queue-404",
		Rule: "AMQP 0-9-1 basic.consume queue: NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			_, err := ch.Consume(q, "", false, false, false, false, nil)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "basic.consume of a missing queue")
			return nil
		},
	},
	{
		Name: "basic.consume/exclusive-consumer-refuses-others-403",
		Rule: "AMQP 0-9-1 basic.consume exclusive: ACCESS_REFUSED for other consumers (RabbitMQ rabbit_amqqueue_process.erl)",
		Run:  func(e *Env) error { return secondConsumerRefused(e, true, false) },
	},
	{
		Name: "basic.consume/exclusive-refused-when-consumers-exist-403",
		Rule: "AMQP 0-9-1 basic.consume exclusive (rule: ACCESS_REFUSED if the queue has consumers)",
		Run:  func(e *Env) error { return secondConsumerRefused(e, false, true) },
	},
	{
		Name: "basic.consume/duplicate-tag-530",
		Rule: "AMQP 0-9-1 basic.consume consumer-tag (rule: a duplicate tag is NOT_ALLOWED, a connection exception)",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			_, err := ch.Consume(q, "dup", false, false, false, false, nil)
			e.Must(err, "first basic.consume")
			_, err = ch.Consume(q, "dup", false, false, false, false, nil)
			e.WantConnError(ch.Conn, err, amqp.NotAllowed, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", "second basic.consume with tag dup")
			return nil
		},
	},
	{
		Name: "basic.cancel/stops-deliveries",
		Rule: "AMQP 0-9-1 basic.cancel",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			d, err := ch.Consume(q, "c", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			e.Must(ch.Cancel("c", false), "basic.cancel")
			select {
			case m, ok := <-d:
				if ok {
					return fmt.Errorf("delivery %q after basic.cancel-ok", m.Body)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("consumer still open after basic.cancel")
			}
			fill(e, q, 1)
			if n := e.Ready(q); n != 1 {
				return fmt.Errorf("after cancel and a publish: %d ready, want 1", n)
			}
			if info, _ := e.Inspect(q); info.Consumers != 0 {
				return fmt.Errorf("after cancel: consumer-count %d, want 0", info.Consumers)
			}
			return nil
		},
	},
	{
		Name: "basic.cancel/server-sent-when-queue-deleted",
		Rule: "RabbitMQ docs/consumer-cancel.md (capability consumer_cancel_notify): basic.cancel when the consumed queue is deleted",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			cancels := ch.NotifyCancel(make(chan string, 1))
			_, err := ch.Consume(q, "watched", false, false, false, false, nil)
			e.Must(err, "basic.consume")
			other := e.Channel()
			_, err = other.QueueDelete(q, false, false, false)
			e.Must(err, "queue.delete from another connection")
			select {
			case tag := <-cancels:
				if tag != "watched" {
					return fmt.Errorf("server basic.cancel for tag %q, want \"watched\"", tag)
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no basic.cancel from the server within %v after the queue was deleted", closeWait)
			}
			e.WantConnAlive(ch.Conn, "after the server's basic.cancel")
			return nil
		},
	},
	{
		Name: "basic.get/ok-with-message-count-then-empty",
		Rule: "AMQP 0-9-1 basic.get, basic.get-ok message-count (messages left), basic.get-empty",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 3)
			for i, left := range []uint32{2, 1, 0} {
				m, ok, err := ch.Get(q, true)
				e.Must(err, "basic.get")
				want := fmt.Sprintf("m%d", i+1)
				if !ok || string(m.Body) != want || m.MessageCount != left || m.Redelivered || m.RoutingKey != q {
					return fmt.Errorf("basic.get #%d: got ok=%v body %q message-count %d redelivered %v key %q; want %q %d false %q",
						i+1, ok, m.Body, m.MessageCount, m.Redelivered, m.RoutingKey, want, left, q)
				}
			}
			if m, ok, err := ch.Get(q, true); err != nil || ok {
				return fmt.Errorf("basic.get of an empty queue: got ok=%v body %q err %s, want get-empty", ok, m.Body, describe(err))
			}
			return nil
		},
	},
	{
		Name: "basic.get/missing-queue-404",
		Rule: "AMQP 0-9-1 basic.get queue: NOT_FOUND",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.Name("q")
			_, _, err := ch.Get(q, false)
			e.WantChannelError(ch, err, amqp.NotFound, noQueue(e, q), "basic.get of a missing queue")
			return nil
		},
	},
	{
		Name: "basic.ack/single-and-multiple",
		Rule: "AMQP 0-9-1 basic.ack delivery-tag, multiple (up to and including the tag)",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 5)
			ms := getN(e, ch, q, 5)
			e.Must(ch.Ack(ms[2].DeliveryTag, true), "basic.ack multiple of the 3rd") // m1..m3
			e.Must(ch.Ack(ms[4].DeliveryTag, false), "basic.ack of the 5th")         // m5
			e.Must(ch.Close(), "channel.close")                                      // m4 requeued
			wantRequeued(e, q, "m4(r)", "after acking m1..m3 (multiple) and m5")
			return nil
		},
	},
	{
		Name: "basic.nack/multiple-requeue-keeps-order",
		Rule: "RabbitMQ docs/nack.md: basic.nack multiple requeue; requeued messages keep their place and are marked redelivered (docs/confirms.md)",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 3)
			ms := getN(e, ch, q, 3)
			e.Must(ch.Nack(ms[2].DeliveryTag, true, true), "basic.nack multiple requeue")
			e.Sync(ch)
			wantQueue(e, q, "m1(r) m2(r) m3(r)", "after nack multiple requeue")
			return nil
		},
	},
	{
		Name: "basic.nack/requeue-returns-to-original-place",
		Rule: "RabbitMQ docs/confirms.md: a requeued message goes back to its original position in the queue if possible",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 4)
			ms := getN(e, ch, q, 2)
			e.Must(ch.Nack(ms[1].DeliveryTag, false, true), "basic.nack m2 requeue")
			e.Must(ch.Nack(ms[0].DeliveryTag, false, true), "basic.nack m1 requeue")
			e.Sync(ch)
			wantQueue(e, q, "m1(r) m2(r) m3 m4", "after requeueing m2 then m1 with m3, m4 still queued")
			return nil
		},
	},
	{
		Name: "basic.nack/requeue-false-drops",
		Rule: "RabbitMQ docs/nack.md: basic.nack requeue=false discards (or dead-letters) the message",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 2)
			ms := getN(e, ch, q, 2)
			e.Must(ch.Nack(ms[1].DeliveryTag, true, false), "basic.nack multiple requeue=false")
			e.Must(ch.Close(), "channel.close")
			wantQueue(e, q, "", "after nack requeue=false of both")
			return nil
		},
	},
	{
		Name: "basic.reject/requeue-and-drop",
		Rule: "AMQP 0-9-1 basic.reject requeue",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 2)
			ms := getN(e, ch, q, 2)
			e.Must(ch.Reject(ms[0].DeliveryTag, false), "basic.reject m1 requeue=false")
			e.Must(ch.Reject(ms[1].DeliveryTag, true), "basic.reject m2 requeue=true")
			e.Sync(ch)
			wantQueue(e, q, "m2(r)", "after rejecting m1 (drop) and m2 (requeue)")
			return nil
		},
	},
	{
		Name: "basic.ack/unknown-delivery-tag-406",
		Rule: "AMQP 0-9-1 basic.ack delivery-tag (rule: an unknown tag is a PRECONDITION_FAILED channel exception)",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Ack(42, false), "basic.ack 42")
			e.WantChannelClosed(ch, amqp.PreconditionFailed, unknownTag(42), "basic.ack of an unknown delivery tag")
			return nil
		},
	},
	{
		Name: "basic.ack/double-ack-406",
		Rule: "AMQP 0-9-1 basic.ack (a tag acknowledged twice is unknown the second time)",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 1)
			m := getN(e, ch, q, 1)[0]
			e.Must(ch.Ack(m.DeliveryTag, false), "first basic.ack")
			e.Must(ch.Ack(m.DeliveryTag, false), "second basic.ack")
			e.WantChannelClosed(ch, amqp.PreconditionFailed, unknownTag(m.DeliveryTag), "second basic.ack of the same tag")
			return nil
		},
	},
	{
		Name: "basic.reject/unknown-delivery-tag-406",
		Rule: "AMQP 0-9-1 basic.reject delivery-tag",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Reject(7, true), "basic.reject 7")
			e.WantChannelClosed(ch, amqp.PreconditionFailed, unknownTag(7), "basic.reject of an unknown delivery tag")
			return nil
		},
	},
	{
		Name: "basic.nack/unknown-delivery-tag-406",
		Rule: "RabbitMQ docs/nack.md",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Nack(9, false, true), "basic.nack 9")
			e.WantChannelClosed(ch, amqp.PreconditionFailed, unknownTag(9), "basic.nack of an unknown delivery tag")
			return nil
		},
	},
	{
		Name: "basic.qos/prefetch-per-consumer-exact",
		Rule: "AMQP 0-9-1 basic.qos prefetch-count; RabbitMQ docs/consumer-prefetch.md: global=false limits each consumer",
		Run: func(e *Env) error {
			ch := e.Channel()
			q1, q2 := e.DeclareQueue(ch), e.DeclareQueue(ch)
			fill(e, q1, 5)
			fill(e, q2, 5)
			e.Must(ch.Qos(2, 0, false), "basic.qos 2 global=false")
			d1, err := ch.Consume(q1, "c1", false, false, false, false, nil)
			e.Must(err, "basic.consume q1")
			d2, err := ch.Consume(q2, "c2", false, false, false, false, nil)
			e.Must(err, "basic.consume q2")
			got1 := e.RecvN(d1, 2, "consumer 1")
			e.RecvN(d2, 2, "consumer 2")
			if n1, n2 := e.Ready(q1), e.Ready(q2); n1 != 3 || n2 != 3 {
				return fmt.Errorf("prefetch 2 per consumer: ready %d and %d, want 3 and 3 (each consumer holds exactly 2)", n1, n2)
			}
			e.Must(ch.Ack(got1[0].DeliveryTag, false), "basic.ack of one of consumer 1's")
			e.Recv(d1, "consumer 1 after an ack")
			if n := e.Ready(q1); n != 2 {
				return fmt.Errorf("after one ack: ready %d, want 2 (exactly one more delivered)", n)
			}
			return nil
		},
	},
	{
		Name: "basic.qos/prefetch-global-per-channel",
		Rule: "RabbitMQ docs/consumer-prefetch.md: global=true limits all consumers of the channel together",
		Run: func(e *Env) error {
			ch := e.Channel()
			q1, q2 := e.DeclareQueue(ch), e.DeclareQueue(ch)
			fill(e, q1, 5)
			fill(e, q2, 5)
			e.Must(ch.Qos(3, 0, true), "basic.qos 3 global=true")
			d1, err := ch.Consume(q1, "c1", false, false, false, false, nil)
			e.Must(err, "basic.consume q1")
			d2, err := ch.Consume(q2, "c2", false, false, false, false, nil)
			e.Must(err, "basic.consume q2")
			for i := range 3 {
				select {
				case <-d1:
				case <-d2:
				case <-e.within(closeWait):
					return fmt.Errorf("delivery %d of 3 did not come", i+1)
				}
			}
			if n1, n2 := e.Ready(q1), e.Ready(q2); n1+n2 != 7 {
				return fmt.Errorf("prefetch 3 global: ready %d + %d, want 7 in all (the channel holds exactly 3)", n1, n2)
			}
			return nil
		},
	},
	{
		Name: "basic.qos/prefetch-size-540",
		Rule: "RabbitMQ docs/specification.md: prefetch-size is not implemented (NOT_IMPLEMENTED)",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.Qos(0, 4096, false)
			e.WantConnError(ch.Conn, err, amqp.NotImplemented, "NOT_IMPLEMENTED - prefetch_size!=0 (4096)", "basic.qos prefetch-size 4096")
			return nil
		},
	},
	{
		Name: "basic.recover/requeue-true-redelivers",
		Rule: "AMQP 0-9-1 basic.recover requeue=true",
		Run: func(e *Env) error {
			_, q := filledQueue(e, 2)
			cons, d := consumer(e, q, 0, false)
			first := e.RecvN(d, 2, "before basic.recover")
			if got := bodiesFlags(first); got != "m1 m2" {
				return fmt.Errorf("before basic.recover: got [%s], want [m1 m2]", got)
			}
			e.Must(cons.Recover(true), "basic.recover requeue=true")
			again := e.RecvN(d, 2, "after basic.recover")
			if got := bodiesFlags(again); got != "m1(r) m2(r)" {
				return fmt.Errorf("after basic.recover requeue=true: got [%s], want [m1(r) m2(r)]", got)
			}
			e.Must(cons.Ack(again[1].DeliveryTag, true), "basic.ack of the redeliveries")
			e.Must(cons.Close(), "channel.close")
			wantQueue(e, q, "", "after acking the redeliveries")
			return nil
		},
	},
	{
		Name: "basic.recover/requeue-false-540",
		Rule: "RabbitMQ docs/specification.md: basic.recover requeue=false is not supported; amqp091-go TestIntegrationRecoverNotImplemented",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.Recover(false)
			e.WantConnError(ch.Conn, err, amqp.NotImplemented, "NOT_IMPLEMENTED - requeue=false", "basic.recover requeue=false")
			return nil
		},
	},
	{
		Name: "basic.consume/round-robin",
		Rule: "RabbitMQ docs/queues.md / consumers.md: messages are distributed round-robin among a queue's consumers",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			_, d1 := consumer(e, q, 0, false)
			_, d2 := consumer(e, q, 0, false)
			fill(e, q, 6)
			var n1, n2 int
			for i := range 6 {
				select {
				case <-d1:
					n1++
				case <-d2:
					n2++
				case <-e.within(closeWait):
					return fmt.Errorf("delivery %d of 6 did not come", i+1)
				}
			}
			if n1 != 3 || n2 != 3 {
				return fmt.Errorf("6 messages to 2 consumers: got %d and %d, want 3 and 3", n1, n2)
			}
			return nil
		},
	},
	{
		Name: "basic.consume/no-ack-removes-on-delivery",
		Rule: "AMQP 0-9-1 basic.consume no-ack",
		Run: func(e *Env) error {
			_, q := filledQueue(e, 2)
			cons := e.Channel()
			d, err := cons.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume no-ack")
			e.RecvN(d, 2, "no-ack consumer")
			e.Must(cons.Close(), "channel.close")
			wantQueue(e, q, "", "after a no-ack consumer got both and closed")
			return nil
		},
	},
	{
		Name: "basic.consume/unacked-requeued-on-channel-close",
		Rule: "AMQP 0-9-1 basic.ack / channel.close: messages not acknowledged when their channel closes are requeued",
		Run: func(e *Env) error {
			_, q := filledQueue(e, 2)
			cons, d := consumer(e, q, 0, false)
			e.RecvN(d, 2, "consumer")
			e.Must(cons.Close(), "channel.close")
			wantRequeued(e, q, "m1(r) m2(r)", "after the consumer's channel closed")
			return nil
		},
	},
	{
		Name: "basic.consume/unacked-requeued-on-connection-close",
		Rule: "AMQP 0-9-1 basic.ack / connection.close: messages not acknowledged when their connection closes are requeued",
		Run: func(e *Env) error {
			_, q := filledQueue(e, 2)
			cons, d := consumer(e, q, 0, false)
			e.RecvN(d, 2, "consumer")
			e.Must(cons.Conn.Close(), "connection.close")
			wantRequeued(e, q, "m1(r) m2(r)", "after the consumer's connection closed")
			return nil
		},
	},
	{
		Name:    "basic.publish/body-sizes-across-frames",
		Rule:    "AMQP 0-9-1 §4.2.6.2: content is split into body frames no larger than frame-max; an empty body has no body frame",
		Timeout: 30e9,
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			const framePayload = 131072 - 8 // frame-max minus frame overhead
			sizes := []int{0, 1, framePayload - 1, framePayload, framePayload + 1, 3*framePayload + 7, 4 << 20}
			pub := e.Publisher()
			bodies := make([][]byte, len(sizes))
			for i, n := range sizes {
				bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, n)
				for j := 0; j < n; j += 4093 {
					bodies[i][j] = byte(j) // not one repeated byte: a misplaced frame shows
				}
				e.PublishConfirmed(pub, "", q, amqp.Publishing{Body: bodies[i], MessageId: fmt.Sprint(n)})
			}
			d, err := ch.Consume(q, "", true, false, false, false, nil)
			e.Must(err, "basic.consume")
			for i, n := range sizes {
				m := e.Recv(d, fmt.Sprintf("body of %d bytes", n))
				if m.MessageId != fmt.Sprint(n) || !bytes.Equal(m.Body, bodies[i]) {
					return fmt.Errorf("body of %d bytes: got message %q with %d bytes (equal: %v), want it unchanged",
						n, m.MessageId, len(m.Body), bytes.Equal(m.Body, bodies[i]))
				}
			}
			return nil
		},
	},
}
