package store

import "fmt"

// Batch is a list of changes that commit atomically: all or none. One
// goroutine builds it; after Commit it belongs to the store until done is
// called, and may then be Reset and reused.
//
// Byte slices passed in (entity values, message bodies) are not copied: they
// must stay unchanged until the commit is done.
type Batch struct {
	ops  []op                // in call order
	refs map[uint64]*bodyRef // messages put in this batch, by id
	err  error               // first invalid call; Commit fails with it
	max  uint64              // highest message id put
}

type opKind uint8

const (
	opPutEntity opKind = iota
	opDeleteEntity
	opPutMessage
	opEnqueue
	opAck
	opDelivered
	opDeliveredLive
)

// op is one change. Fields unused by a kind are zero.
type op struct {
	kind  opKind
	ekind Kind    // entity ops
	hint  AckHint // opAck
	key   string  // entity key or queue name
	seq   uint64  // index ops
	id    uint64  // message ops
	val   []byte  // entity value or message body
}

// bodyRef counts the Enqueues of one message put in the batch.
type bodyRef struct {
	data []byte
	refs int
}

// Len returns the number of changes in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
	clear(b.refs)
	b.err = nil
	b.max = 0
}

func (b *Batch) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// PutEntity stores val under (kind, key), replacing any earlier value.
func (b *Batch) PutEntity(kind Kind, key string, val []byte) {
	if !kind.valid() {
		b.fail(fmt.Errorf("%w: entity kind %v", ErrBadArgument, kind))
	}
	b.ops = append(b.ops, op{kind: opPutEntity, ekind: kind, key: key, val: val})
}

// DeleteEntity removes (kind, key); removing a missing entity is no error.
func (b *Batch) DeleteEntity(kind Kind, key string) {
	if !kind.valid() {
		b.fail(fmt.Errorf("%w: entity kind %v", ErrBadArgument, kind))
	}
	b.ops = append(b.ops, op{kind: opDeleteEntity, ekind: kind, key: key})
}

// PutMessage adds a message body under id, a number the caller never reuses
// (see Store.LastMessageID). The body is stored only if Enqueue names id
// in this batch: once, however many queues reference it.
func (b *Batch) PutMessage(id uint64, data []byte) {
	if b.refs == nil {
		b.refs = make(map[uint64]*bodyRef)
	}
	if _, dup := b.refs[id]; dup {
		b.fail(fmt.Errorf("%w: message %d put twice", ErrBadArgument, id))
		return
	}
	b.refs[id] = &bodyRef{data: data}
	b.max = max(b.max, id)
	b.ops = append(b.ops, op{kind: opPutMessage, id: id, val: data})
}

// Enqueue adds message id, put earlier in this batch, to queue at position
// seq. Sequence numbers order a queue; the caller picks them, increasing,
// and never reuses one still in the queue (the old entry would be replaced
// and a shared body it held never freed). After a restart, continue above
// Store.Count's last.
func (b *Batch) Enqueue(queue string, seq uint64, id uint64) {
	r, ok := b.refs[id]
	if !ok {
		b.fail(fmt.Errorf("%w: message %d on queue %q", ErrUnknownMsg, id, queue))
		return
	}
	if !b.checkQueue(queue) {
		return
	}
	r.refs++
	b.ops = append(b.ops, op{kind: opEnqueue, key: queue, seq: seq, id: id})
}

// Ack removes the entry at seq from queue, and the message body with it when
// no other queue references it. Acking a missing entry changes nothing.
func (b *Batch) Ack(queue string, seq uint64) {
	b.AckHinted(queue, seq, 0)
}

// AckInline is Ack for an entry the caller knows holds its body inline: the
// message was put in one batch with one Enqueue and Store.Inline said yes to
// its size, or Messages reported it Inline. It skips the read Ack needs to
// find a shared body. Wrongly used on a shared entry it leaves that body's
// reference count too high, so the body is never freed.
func (b *Batch) AckInline(queue string, seq uint64) {
	b.AckHinted(queue, seq, HintInline)
}

// AckHint is what the caller of AckHinted knows about an entry it acks.
type AckHint uint8

const (
	// HintInline: the entry holds its body inline (see AckInline).
	HintInline AckHint = 1 << iota
	// HintUnmarked: the entry has no delivered mark, neither committed nor in a batch
	// committed before this one (MarkDelivered was never called for it, or its batch
	// was never committed). The ack then deletes one key instead of two: acks are most
	// of what Badger writes while a backlog drains, and each delete stays in its tree
	// as a tombstone until compaction reaches the bottom level (issue 6, scenario 6).
	// Wrongly given, it leaves the mark behind: Messages skips such an orphan, but it
	// takes space until the queue's index is purged or dropped.
	HintUnmarked
)

// AckHinted is Ack with what the caller knows about the entry (AckHint); with no
// hint it is Ack, with HintInline AckInline.
func (b *Batch) AckHinted(queue string, seq uint64, h AckHint) {
	if !b.checkQueue(queue) {
		return
	}
	b.ops = append(b.ops, op{kind: opAck, key: queue, seq: seq, hint: h})
}

// MarkDelivered records that the entry at seq of queue was delivered, so that
// after a restart it comes back with redelivered set (AMQP 0-9-1 §1.8.3.9:
// redelivered "indicates that the message may have been previously delivered").
// Marking a missing entry changes nothing.
func (b *Batch) MarkDelivered(queue string, seq uint64) {
	if !b.checkQueue(queue) {
		return
	}
	b.ops = append(b.ops, op{kind: opDelivered, key: queue, seq: seq})
}

// MarkDeliveredLive is MarkDelivered for an entry the caller knows is in the store
// when this batch commits: its Enqueue committed in this or an earlier batch, and no
// ack of it (nor a purge of its queue) committed before. It skips the read
// MarkDelivered needs to leave no mark behind an acked entry: a mark is written for
// most deliveries that are not acked within a commit round, and that read was 12% of
// the broker's CPU in a drain of a backlog from disk (issue 6, scenario 6). Wrongly
// used, it leaves an orphan mark: Messages skips it, and it takes space until the
// queue's index is dropped.
func (b *Batch) MarkDeliveredLive(queue string, seq uint64) {
	if !b.checkQueue(queue) {
		return
	}
	b.ops = append(b.ops, op{kind: opDeliveredLive, key: queue, seq: seq})
}

func (b *Batch) checkQueue(queue string) bool {
	if len(queue) > maxQueueName {
		b.fail(fmt.Errorf("%w: queue name of %d bytes", ErrBadArgument, len(queue)))
		return false
	}
	return true
}
