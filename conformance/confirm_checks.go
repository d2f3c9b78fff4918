package conformance

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Method ids of the confirm class and basic.ack/nack (RabbitMQ's extension, docs/confirms.md).
var (
	mConfirmSelect   = methodID{85, 10}
	mConfirmSelectOk = methodID{85, 11}
	mBasicAck        = methodID{60, 80}
	mBasicNack       = methodID{60, 120}
)

// publishRaw sends basic.publish with an empty-property content header and the body in one frame
// (AMQP 0-9-1 §4.2.6: method, header, body frames).
func (r *rawConn) publishRaw(channel uint16, exchange, key string, body []byte) {
	var m, h enc
	m.u16(0).shortstr(exchange).shortstr(key).u8(0)
	h.u16(classBasic).u16(0).u64(uint64(len(body))).u16(0)
	out := methodFrame(channel, mBasicPublish, m.b)
	out = append(out, frame(frameHeader, channel, h.b)...)
	if len(body) > 0 {
		out = append(out, frame(frameBody, channel, body)...)
	}
	r.write(out)
}

var confirmChecks = []Check{
	{
		Name: "confirm.select/acks-every-publish-in-order",
		Rule: "RabbitMQ docs/confirms.md: after confirm.select every publish is confirmed, delivery tags count from 1",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Must(ch.Confirm(false), "confirm.select")
			const n = 50
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
			for range n {
				e.Publish(ch, "", q, Text("c"))
			}
			for i := range n {
				select {
				case c := <-confirms:
					if !c.Ack || c.DeliveryTag != uint64(i+1) {
						return fmt.Errorf("confirm %d: got tag %d ack=%v, want tag %d ack=true", i+1, c.DeliveryTag, c.Ack, i+1)
					}
				case <-e.within(closeWait):
					return fmt.Errorf("confirm %d of %d did not come", i+1, n)
				}
			}
			if got := e.Ready(q); got != n {
				return fmt.Errorf("after %d confirms: %d messages in the queue, want %d", n, got, n)
			}
			return nil
		},
	},
	{
		Name: "confirm.select/acks-ascend-and-multiple-covers-range",
		Rule: "RabbitMQ docs/confirms.md: basic.ack with multiple confirms every tag up to and including delivery-tag; each tag confirmed once",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			r := e.rawDial()
			r.handshake()
			r.openChannel(1)
			r.send(1, mConfirmSelect, []byte{0})
			r.expect(1, mConfirmSelectOk, "confirm.select")
			const n = 200
			for range n {
				r.publishRaw(1, "", q, []byte("x"))
			}
			var confirmed uint64
			for confirmed < n {
				m, err := r.next()
				e.Must(err, fmt.Sprintf("waiting for confirms (%d of %d so far)", confirmed, n))
				switch m.id {
				case mBasicAck:
				case mBasicNack:
					return fmt.Errorf("basic.nack for a publish to an existing queue, want basic.ack")
				default:
					return fmt.Errorf("got method %v while waiting for confirms", m.id)
				}
				d := newDec(m.args)
				tag, multiple := d.u64(), d.u8()&1 != 0
				switch {
				case tag <= confirmed || tag > n:
					return fmt.Errorf("basic.ack delivery-tag %d (multiple=%v) after tags up to %d were confirmed, want ascending tags in 1..%d", tag, multiple, confirmed, n)
				case !multiple && tag != confirmed+1:
					return fmt.Errorf("basic.ack delivery-tag %d without multiple after %d, leaving %d..%d unconfirmed", tag, confirmed, confirmed+1, tag-1)
				}
				confirmed = tag
			}
			return nil
		},
	},
	{
		Name: "confirm.select/unroutable-confirmed",
		Rule: "RabbitMQ docs/confirms.md: an unroutable message is confirmed once the exchange has found no queue",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			pub := e.Publisher()
			e.PublishConfirmed(pub, x, "nowhere", Text("unroutable"))
			return nil
		},
	},
	{
		Name: "confirm.select/mandatory-return-before-ack",
		Rule: "RabbitMQ docs/confirms.md: for an unroutable mandatory message basic.return is sent before basic.ack",
		Run: func(e *Env) error {
			ch := e.Channel()
			x := e.DeclareExchange(ch, "direct")
			e.Must(ch.Confirm(false), "confirm.select")
			returns := ch.NotifyReturn(make(chan amqp.Return, 1))
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
			e.Must(ch.PublishWithContext(e.ctx, x, "nowhere", true, false, Text("ret")), "basic.publish mandatory")
			// The client hands frames to these channels in arrival order, from one goroutine: when the
			// ack is received the return must already be waiting.
			select {
			case c := <-confirms:
				if !c.Ack {
					return fmt.Errorf("got basic.nack, want basic.ack for an unroutable mandatory message")
				}
			case <-e.within(closeWait):
				return fmt.Errorf("no confirm within %v", closeWait)
			}
			select {
			case r := <-returns:
				if r.ReplyCode != amqp.NoRoute {
					return fmt.Errorf("basic.return %d %q, want 312 NO_ROUTE", r.ReplyCode, r.ReplyText)
				}
			default:
				return fmt.Errorf("basic.ack arrived before basic.return, want the return first")
			}
			return nil
		},
	},
	{
		Name: "confirm.select/mandatory-routed-no-return",
		Rule: "AMQP 0-9-1 basic.publish mandatory: a routed message is not returned",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Must(ch.Confirm(false), "confirm.select")
			returns := ch.NotifyReturn(make(chan amqp.Return, 1))
			dc, err := ch.PublishWithDeferredConfirmWithContext(e.ctx, "", q, true, false, Text("kept"))
			e.Must(err, "basic.publish mandatory")
			ack, err := dc.WaitContext(e.ctx)
			e.Must(err, "waiting for the confirm")
			if !ack {
				return fmt.Errorf("got basic.nack, want basic.ack")
			}
			select {
			case r := <-returns:
				return fmt.Errorf("routed mandatory message returned: %d %q", r.ReplyCode, r.ReplyText)
			default:
			}
			return nil
		},
	},
	{
		Name: "confirm.select/refused-on-tx-channel-406",
		Rule: "RabbitMQ docs/confirms.md: confirms and transactions are mutually exclusive on a channel",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Tx(), "tx.select")
			err := ch.Confirm(false)
			e.WantChannelError(ch, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode", "confirm.select after tx.select")
			return nil
		},
	},
	{
		Name: "tx.select/refused-on-confirm-channel-406",
		Rule: "RabbitMQ docs/confirms.md: confirms and transactions are mutually exclusive on a channel",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Confirm(false), "confirm.select")
			err := ch.Tx()
			e.WantChannelError(ch, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode", "tx.select after confirm.select")
			return nil
		},
	},
}

var txChecks = []Check{
	{
		Name: "tx.commit/publishes-held-until-commit",
		Rule: "AMQP 0-9-1 tx.select/tx.commit: publishes in a transaction take effect at commit",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Must(ch.Tx(), "tx.select")
			e.Publish(ch, "", q, Text("t1"))
			e.Publish(ch, "", q, Text("t2"))
			// A synchronous method on the same channel: the publishes have been processed by its reply.
			_, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			e.Must(err, "passive queue.declare on the tx channel")
			if n := e.Ready(q); n != 0 {
				return fmt.Errorf("before tx.commit: %d messages in the queue, want 0", n)
			}
			e.Must(ch.TxCommit(), "tx.commit")
			wantQueue(e, q, "t1 t2", "after tx.commit")
			return nil
		},
	},
	{
		Name: "tx.rollback/discards-publishes",
		Rule: "AMQP 0-9-1 tx.rollback: publishes in the transaction are discarded; a new transaction starts",
		Run: func(e *Env) error {
			ch := e.Channel()
			q := e.DeclareQueue(ch)
			e.Must(ch.Tx(), "tx.select")
			e.Publish(ch, "", q, Text("dropped"))
			e.Must(ch.TxRollback(), "tx.rollback")
			e.Publish(ch, "", q, Text("kept"))
			e.Must(ch.TxCommit(), "tx.commit")
			wantQueue(e, q, "kept", "after rollback, publish, commit")
			return nil
		},
	},
	{
		Name: "tx.rollback/discards-acks",
		Rule: "AMQP 0-9-1 tx class; RabbitMQ docs/semantics.md: transactions cover acks and rejects",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 2)
			e.Must(ch.Tx(), "tx.select")
			ms := getN(e, ch, q, 2)
			e.Must(ch.Ack(ms[0].DeliveryTag, false), "basic.ack m1")
			e.Must(ch.Reject(ms[1].DeliveryTag, false), "basic.reject m2 requeue=false")
			e.Must(ch.TxRollback(), "tx.rollback")
			e.Must(ch.Close(), "channel.close")
			wantRequeued(e, q, "m1(r) m2(r)", "after rolling back an ack and a reject and closing the channel")
			return nil
		},
	},
	{
		Name: "tx.commit/applies-acks",
		Rule: "AMQP 0-9-1 tx.commit; RabbitMQ docs/semantics.md",
		Run: func(e *Env) error {
			ch, q := filledQueue(e, 3)
			e.Must(ch.Tx(), "tx.select")
			ms := getN(e, ch, q, 3)
			e.Must(ch.Ack(ms[1].DeliveryTag, true), "basic.ack multiple m1..m2")
			e.Must(ch.TxCommit(), "tx.commit")
			e.Must(ch.Close(), "channel.close")
			wantRequeued(e, q, "m3(r)", "after committing the ack of m1..m2 and closing the channel")
			return nil
		},
	},
	{
		Name: "tx.commit/without-select-406",
		Rule: "AMQP 0-9-1 tx.commit (rule: PRECONDITION_FAILED on a channel that is not transactional)",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.TxCommit()
			e.WantChannelError(ch, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional", "tx.commit without tx.select")
			return nil
		},
	},
	{
		Name: "tx.rollback/without-select-406",
		Rule: "AMQP 0-9-1 tx.rollback (rule: PRECONDITION_FAILED on a channel that is not transactional)",
		Run: func(e *Env) error {
			ch := e.Channel()
			err := ch.TxRollback()
			e.WantChannelError(ch, err, amqp.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional", "tx.rollback without tx.select")
			return nil
		},
	},
	{
		Name: "tx.select/twice-ok",
		Rule: "AMQP 0-9-1 tx.select (selecting again is harmless in RabbitMQ)",
		Run: func(e *Env) error {
			ch := e.Channel()
			e.Must(ch.Tx(), "tx.select")
			e.WantOK(ch.Tx(), "second tx.select")
			e.WantOK(ch.TxCommit(), "tx.commit of an empty transaction")
			return nil
		},
	},
}
