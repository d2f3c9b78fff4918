package amqp

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/vhost"
)

// channel is one AMQP channel of a connection.
type channel struct {
	c    *conn
	id   uint16
	view chanView // the management API's copy of confirm, tx and prefetch (inspect.go)
	// stats are this channel's message counters (inspect.go); folded into its
	// connection's when it closes.
	stats msgStats

	// owned by the connection's readLoop
	closing   bool // channel.close sent; waiting for close-ok, dropping all else
	pub       publishing
	confirm   bool
	publisher *vhost.Publisher // routes this channel's publishes; nil until the first
	dirty     bool             // in c.dirty
	tx        bool
	txPubs    []txPublish
	txAcks    []txAck
	lastQueue string // the queue last declared on this channel ("" names it)
	replyKey  string // this channel's direct reply-to address, when it consumes replies
	prefetch  uint16 // basic.qos global=false: for consumers created from now on
	kicks     []*vhost.Queue
	settle    []record
	entries   []vhost.Entry // scratch for settling a run of one queue's records
	permCache permCache     // the last publish allowed (access.go)

	mu sync.Mutex
	// guarded by mu: delivery state, touched by whichever goroutine a queue
	// dispatches on.
	closed         bool
	nextTag        uint64
	unacked        []record // ascending delivery tags; settled ones dropped from the front
	head           int      // unacked[:head] are gone
	unackedCount   int      // records not yet settled (consumer deliveries and gets)
	globalPrefetch uint16   // basic.qos global=true; 0: unlimited
	consumers      map[string]*consumer
	deliver        wire.BasicDeliver // scratch for encoding basic.deliver

	// Publisher confirms, guarded by mu: the store confirms on its own
	// goroutine (Stored).
	pubSeq   uint64   // sequence number of the last publish
	ackedTo  uint64   // confirms sent up to here
	waiting  []uint64 // publishes waiting for the disk, in order
	inFlight uint64   // the publish being routed (nothing from it on may be confirmed yet); 0 if none
	nacks    []uint64 // rejected publishes not yet nacked, in order
	// confirmAck is scratch for encoding a confirm's basic.ack without an
	// allocation.
	confirmAck wire.BasicAck

	// Consumer timeout (timeout.go).
	maxWait  int64                          // guarded by mu: the largest record.wait in unacked
	timedOut atomic.Pointer[wire.Exception] // set once by the server's checker: the channel is being closed
}

// testPanicQueue, when set by a test, makes queue.declare of that name panic.
var testPanicQueue atomic.Pointer[string]

// record is one unacknowledged delivery.
type record struct {
	tag     uint64
	q       *vhost.Queue
	entry   vhost.Entry
	co      *consumer // nil for basic.get
	settled bool
	txAcked bool  // acked inside an open transaction: settled at commit
	at      int64 // when it was delivered: the server's coarse clock, Unix ms (timeout.go)
	wait    int64 // how long it may stay unacknowledged, ms; 0: forever
}

type txPublish struct {
	m         *vhost.Message
	mandatory bool
}

type txAck struct {
	tag      uint64
	multiple bool
	requeue  bool
	nack     bool // nack or reject: requeue applies
}

func newChannel(c *conn, id uint16) *channel {
	return &channel{c: c, id: id, consumers: make(map[string]*consumer)}
}

// onMethod handles one method frame.
func (ch *channel) onMethod(m wire.Method) error {
	if ch.closing {
		switch m.(type) {
		case *wire.ChannelCloseOk:
			ch.c.removeChannel(ch)
		case *wire.ChannelClose:
			// rabbit_channel replies close-ok to a close crossing ours.
			ch.c.sendMethod(ch.id, &wire.ChannelCloseOk{})
		}
		return nil
	}
	if ch.pub.expect != expectMethod {
		return ch.pub.unexpected(wire.FrameMethod)
	}
	err := ch.handle(m)
	if err == nil {
		return nil
	}
	var ex *wire.Exception
	if errors.As(err, &ex) && ex.ClassID == 0 && ex.MethodID == 0 {
		ex.ClassID, ex.MethodID = m.ClassID(), m.MethodID()
	}
	return err
}

func (ch *channel) handle(m wire.Method) error {
	switch m := m.(type) {
	case *wire.BasicPublish:
		return ch.onPublish(m)
	case *wire.BasicAck:
		return ch.onAck(m.DeliveryTag, m.Multiple, false, false)
	case *wire.BasicNack:
		return ch.onAck(m.DeliveryTag, m.Multiple, true, m.Requeue)
	case *wire.BasicReject:
		return ch.onAck(m.DeliveryTag, false, true, m.Requeue)
	case *wire.BasicConsume:
		return ch.onConsume(m)
	case *wire.BasicCancel:
		return ch.onCancel(m)
	case *wire.BasicGet:
		return ch.onGet(m)
	case *wire.BasicQos:
		return ch.onQos(m)
	case *wire.BasicRecover:
		if err := ch.recover(m.Requeue); err != nil {
			return err
		}
		ch.send(&wire.BasicRecoverOk{})
		return nil
	case *wire.BasicRecoverAsync:
		return ch.recover(m.Requeue)

	case *wire.ExchangeDeclare:
		if err := ch.checkExchangeDeclare(m); err != nil {
			return err
		}
		err := ch.c.vhost.DeclareExchange(m.Exchange, m.Type, m.Passive, m.Durable, m.AutoDelete, m.Internal, m.Arguments)
		return ch.reply(err, m.NoWait, &wire.ExchangeDeclareOk{})
	case *wire.ExchangeDelete:
		if err := ch.checkExchangeDelete(m.Exchange); err != nil {
			return err
		}
		err := ch.c.vhost.DeleteExchange(m.Exchange, m.IfUnused)
		return ch.reply(err, m.NoWait, &wire.ExchangeDeleteOk{})
	case *wire.ExchangeBind:
		if err := ch.checkBind(false, m.Destination, m.Source, m.RoutingKey); err != nil {
			return err
		}
		err := ch.c.vhost.BindExchange(m.Destination, m.Source, m.RoutingKey, m.Arguments)
		return ch.reply(err, m.NoWait, &wire.ExchangeBindOk{})
	case *wire.ExchangeUnbind:
		if err := ch.checkBind(false, m.Destination, m.Source, m.RoutingKey); err != nil {
			return err
		}
		err := ch.c.vhost.UnbindExchange(m.Destination, m.Source, m.RoutingKey, m.Arguments)
		return ch.reply(err, m.NoWait, &wire.ExchangeUnbindOk{})

	case *wire.QueueDeclare:
		if p := testPanicQueue.Load(); p != nil && *p == m.Queue {
			panic("amqp: test panic on queue.declare " + m.Queue)
		}
		if m.Passive && m.Queue == replyQueue {
			// The pseudo-queue exists (clients probe for direct reply-to).
			return ch.reply(nil, m.NoWait, &wire.QueueDeclareOk{Queue: replyQueue})
		}
		info, err := ch.declareQueue(m)
		if err != nil {
			return err
		}
		ch.lastQueue = info.Name
		if !m.NoWait {
			ch.send(&wire.QueueDeclareOk{Queue: info.Name, MessageCount: info.Messages, ConsumerCount: info.Consumers})
		}
		return nil
	case *wire.QueueBind:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		if err := ch.checkBind(true, q, m.Exchange, m.RoutingKey); err != nil {
			return err
		}
		err = ch.c.vhost.BindQueue(ch.c.owner, q, m.Exchange, m.RoutingKey, m.Arguments)
		return ch.reply(err, m.NoWait, &wire.QueueBindOk{})
	case *wire.QueueUnbind:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		if err := ch.checkBind(true, q, m.Exchange, m.RoutingKey); err != nil {
			return err
		}
		err = ch.c.vhost.UnbindQueue(ch.c.owner, q, m.Exchange, m.RoutingKey, m.Arguments)
		return ch.reply(err, false, &wire.QueueUnbindOk{})
	case *wire.QueuePurge:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		if err := ch.acc().Check(vhost.Read, vhost.KindQueue, q); err != nil {
			return err
		}
		n, err := ch.c.vhost.PurgeQueue(ch.c.owner, q)
		return ch.reply(err, m.NoWait, &wire.QueuePurgeOk{MessageCount: n})
	case *wire.QueueDelete:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		if err := ch.acc().Check(vhost.Configure, vhost.KindQueue, q); err != nil {
			return err
		}
		n, err := ch.c.vhost.DeleteQueue(ch.c.owner, q, m.IfUnused, m.IfEmpty)
		return ch.reply(err, m.NoWait, &wire.QueueDeleteOk{MessageCount: n})

	case *wire.ConfirmSelect:
		if ch.tx {
			return wire.Soft(wire.PreconditionFailed, "cannot switch from tx to confirm mode")
		}
		ch.confirm = true
		ch.view.mode.Or(viewConfirm)
		if !m.NoWait {
			ch.send(&wire.ConfirmSelectOk{})
		}
		return nil
	case *wire.TxSelect:
		if ch.confirm {
			return wire.Soft(wire.PreconditionFailed, "cannot switch from confirm to tx mode")
		}
		ch.tx = true
		ch.view.mode.Or(viewTx)
		ch.send(&wire.TxSelectOk{})
		return nil
	case *wire.TxCommit:
		if !ch.tx {
			return wire.Soft(wire.PreconditionFailed, "channel is not transactional")
		}
		if err := ch.commit(); err != nil {
			return err
		}
		ch.send(&wire.TxCommitOk{})
		return nil
	case *wire.TxRollback:
		if !ch.tx {
			return wire.Soft(wire.PreconditionFailed, "channel is not transactional")
		}
		ch.rollback()
		ch.send(&wire.TxRollbackOk{})
		return nil

	case *wire.ChannelOpen:
		return wire.Hard(wire.ChannelError, "second 'channel.open' seen")
	case *wire.ChannelFlow:
		if !m.Active {
			// RabbitMQ: "active=false is not supported by the server".
			return wire.Hard(wire.NotImplemented, "active=false")
		}
		ch.send(&wire.ChannelFlowOk{Active: true})
		return nil
	case *wire.ChannelFlowOk:
		return nil
	case *wire.ChannelClose:
		ch.teardown()
		ch.c.sendMethod(ch.id, &wire.ChannelCloseOk{})
		ch.c.removeChannel(ch)
		return nil
	case *wire.ChannelCloseOk:
		return nil
	}
	// A method the server does not accept from a client (connection.* on a
	// channel, basic.deliver, ...).
	return wire.Hard(wire.CommandInvalid, "unexpected method %s on channel %d", m.Name(), ch.id)
}

// reply sends ok unless err or nowait.
func (ch *channel) reply(err error, noWait bool, ok wire.Method) error {
	if err != nil {
		return err
	}
	if !noWait {
		ch.send(ok)
	}
	return nil
}

func (ch *channel) send(m wire.Method) { ch.c.sendMethod(ch.id, m) }

// queueName resolves the empty queue name to the channel's last declared
// queue, as RabbitMQ does.
func (ch *channel) queueName(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if ch.lastQueue == "" {
		return "", wire.Soft(wire.NotFound, "no previously declared queue")
	}
	return ch.lastQueue, nil
}

// fail closes the channel with a channel exception.
func (ch *channel) fail(ex *wire.Exception) {
	ch.c.log.Debug().Uint16("channel", ch.id).Uint16("code", ex.Code).Str("reason", ex.Text).Msg("channel exception")
	ch.teardown()
	ch.closing = true
	ch.pub = publishing{}
	ch.send(&wire.ChannelClose{
		ReplyCode:       ex.Code,
		ReplyText:       closeText(ex),
		FailingClassID:  ex.ClassID,
		FailingMethodID: ex.MethodID,
	})
}

// teardown releases what the channel holds: its consumers are cancelled and
// its unacknowledged messages go back to their queues. Called on the
// connection's readLoop.
func (ch *channel) teardown() {
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return
	}
	ch.closed = true
	consumers := make([]*consumer, 0, len(ch.consumers))
	for _, co := range ch.consumers {
		consumers = append(consumers, co)
	}
	clear(ch.consumers)
	recs := ch.takeUnackedLocked()
	ch.mu.Unlock()

	for _, co := range consumers {
		if co.q != nil {
			co.q.Cancel(co, co.tag)
		}
	}
	ch.dropReply()
	requeue(recs)
	ch.txPubs, ch.txAcks = nil, nil
}

// takeUnackedLocked removes and returns every unsettled record.
func (ch *channel) takeUnackedLocked() []record {
	var recs []record
	for _, r := range ch.unacked[ch.head:] {
		if !r.settled {
			recs = append(recs, r)
		}
	}
	ch.unacked, ch.head, ch.unackedCount = nil, 0, 0
	for _, co := range ch.consumers {
		co.unacked = 0
	}
	return recs
}

// requeue returns records to their queues, grouped per queue so each queue
// restores the original order once.
func requeue(recs []record) {
	for len(recs) > 0 {
		q := recs[0].q
		var entries []vhost.Entry
		rest := recs[:0]
		for _, r := range recs {
			if r.q == q {
				entries = append(entries, r.entry)
			} else {
				rest = append(rest, r)
			}
		}
		q.Requeue(entries...)
		recs = rest
	}
}
