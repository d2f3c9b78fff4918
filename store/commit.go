package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Commit queues b for the committer and returns at once. done is called
// exactly once: with nil when b is on disk (synced), or with the error that
// kept it out; then none of b was applied. Batches committed concurrently are
// written together with one sync (group commit); their done calls run in
// Commit order on the committer goroutine, so done must be quick and must
// not call CommitSync or anything else that waits for a commit. On a closed
// store done(ErrClosed) is called before Commit returns.
func (s *Store) Commit(b *Batch, done func(error)) {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		done(ErrClosed)
		return
	}
	s.mu.pending = append(s.mu.pending, request{b: b, done: done})
	s.mu.Unlock()
	s.signal()
}

// CommitSync commits b and waits until it is on disk.
func (s *Store) CommitSync(b *Batch) error {
	ch := make(chan error, 1)
	s.Commit(b, func(err error) { ch <- err })
	return <-ch
}

// PutEntity stores val under (kind, key) and returns once it is on disk.
func (s *Store) PutEntity(kind Kind, key string, val []byte) error {
	var b Batch
	b.PutEntity(kind, key, val)
	return s.CommitSync(&b)
}

// DeleteEntity removes (kind, key) and returns once that is on disk.
func (s *Store) DeleteEntity(kind Kind, key string) error {
	var b Batch
	b.DeleteEntity(kind, key)
	return s.CommitSync(&b)
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// commitLoop is the committer: the only goroutine that writes to Badger.
// After Close it drains what is queued and returns.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	for {
		s.mu.Lock()
		reqs, closed := s.mu.pending, s.mu.closed
		if len(reqs) > 0 {
			s.mu.pending = s.spare // reqs and spare swap arrays: no allocation
		}
		s.mu.Unlock()
		if len(reqs) > 0 {
			s.commitRound(reqs)
			clear(reqs)
			s.spare = reqs[:0]
			continue
		}
		if closed {
			return
		}
		<-s.wake
	}
}

// commitRound writes reqs in as few transactions as Badger allows, syncing
// after each, then reports to every caller in order. Syncing per transaction
// matters: DB.Sync syncs only the active memtable's log, and a later
// transaction may start a new memtable.
func (s *Store) commitRound(reqs []request) {
	s.slab = slab{} // the last round's keys may still be Badger's; start a new one
	var maxID uint64
	for i := range reqs {
		reqs[i].err = reqs[i].b.err
		maxID = max(maxID, reqs[i].b.max)
	}
	for i := range reqs {
		if reqs[i].err == nil && s.broken == nil {
			s.fail(s.writeChunks(reqs[i].b))
		}
	}
	committed := 0 // reqs[:committed] are on disk (or failed alone)
	for committed < len(reqs) && s.broken == nil {
		txn, n, err := s.fill(reqs[committed:], maxID)
		if err == nil {
			err = s.commitTxn(txn, maxID)
		} else {
			txn.Discard()
		}
		if s.fail(err) {
			break
		}
		committed += n
	}
	for i := range reqs {
		err := reqs[i].err
		if i >= committed {
			err = s.broken
		}
		if err == nil {
			s.batches.Add(1)
		}
		reqs[i].done(err)
	}
}

// fail makes a Badger write or sync failure sticky: after one, what is on
// disk is unknown (a failed fsync may have dropped dirty pages), so every
// later commit fails too. It reports whether err was a failure.
func (s *Store) fail(err error) bool {
	if err == nil {
		return false
	}
	s.broken = fmt.Errorf("store: commit failed, store is read-only until restarted: %w", err)
	s.log.Error().Err(err).Str("dir", s.dir).Msg("commit failed")
	return true
}

// fill starts a transaction and applies reqs to it until one does not fit.
// It returns the transaction and how many of reqs it dealt with (applied or
// failed alone). A batch that fails is taken out again by rebuilding the
// transaction without it, so each batch is all or nothing.
func (s *Store) fill(reqs []request, maxID uint64) (*badger.Txn, int, error) {
	txn, err := s.newTxn(maxID)
	if err != nil {
		return txn, 0, err
	}
	applied := 0
	for n := range reqs {
		r := &reqs[n]
		if r.err != nil {
			continue
		}
		failure := apply(txn, r.b, s)
		if failure == nil {
			applied++
			continue
		}
		txn.Discard()
		if txn, err = s.newTxn(maxID); err != nil {
			return txn, n, err
		}
		for i := range n {
			if reqs[i].err == nil {
				if err := apply(txn, reqs[i].b, s); err != nil {
					return txn, n, fmt.Errorf("reapply batch: %w", err)
				}
			}
		}
		if errors.Is(failure, badger.ErrTxnTooBig) {
			if applied > 0 {
				return txn, n, nil // r starts the next transaction
			}
			failure = ErrBatchTooBig
		}
		r.err = failure
	}
	return txn, len(reqs), nil
}

// newTxn starts a write transaction that advances the commit counter.
func (s *Store) newTxn(maxID uint64) (*badger.Txn, error) {
	txn := s.db.NewTransaction(true)
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), s.commits+1)
	v = binary.BigEndian.AppendUint64(v, max(maxID, s.maxID.Load()))
	return txn, txn.Set(metaKey, v)
}

// commitTxn commits txn, syncs, and advances the counter and its watermark.
func (s *Store) commitTxn(txn *badger.Txn, maxID uint64) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return err
	}
	s.commits++
	s.syncs.Add(1)
	s.maxID.Store(max(maxID, s.maxID.Load()))
	if s.synced != nil {
		// No fsync: this is written after the data it vouches for is durable,
		// so on disk it can only lag behind (doc.go).
		if _, err := s.synced.WriteAt(encodeSynced(s.commits), 0); err != nil {
			s.log.Warn().Err(err).Str("dir", s.dir).Msg("cannot write commit watermark")
		}
	}
	return nil
}

// apply adds b's changes to txn. It reads through txn, so it sees the
// batches applied before it in the same transaction.
func apply(txn *badger.Txn, b *Batch, s *Store) error {
	for _, o := range b.ops {
		var err error
		switch o.kind {
		case opPutEntity:
			err = txn.Set(entityKey(nil, o.ekind, o.key), o.val)
		case opDeleteEntity:
			err = txn.Delete(entityKey(nil, o.ekind, o.key))
		case opPutMessage:
			if r := b.refs[o.id]; r.refs > 0 && s.chunked(len(r.data)) {
				err = s.putChunkedBody(txn, o.id, r)
			} else if r.refs >= 2 {
				if err = txn.Set(idKey(nil, prefixMessage, o.id), o.val); err == nil {
					err = txn.Set(idKey(nil, prefixRefs, o.id), binary.AppendUvarint(nil, uint64(r.refs)))
				}
			}
		case opEnqueue:
			k := s.indexKey(o.key, o.seq, suffixEntry)
			r := b.refs[o.id]
			if r.refs == 1 && !s.chunked(len(r.data)) {
				v := binary.BigEndian.AppendUint64(s.slab.take(8+len(r.data)), o.id)
				err = txn.SetEntry(badger.NewEntry(k, append(v, r.data...)).WithMeta(metaInline))
			} else {
				v := binary.BigEndian.AppendUint64(s.slab.take(8), o.id)
				err = txn.SetEntry(badger.NewEntry(k, v).WithMeta(metaShared))
			}
		case opAck:
			err = ack(txn, o.key, o.seq, o.hint, s)
		case opDelivered:
			k := s.indexKey(o.key, o.seq, suffixEntry)
			if _, err = txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
				continue // acked already: leave no orphan mark
			}
			if err == nil {
				err = txn.Set(s.indexKey(o.key, o.seq, suffixDelivered), nil)
			}
		case opDeliveredLive:
			err = txn.Set(s.indexKey(o.key, o.seq, suffixDelivered), nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ack deletes one index entry and its mark (unless h says it has none), and
// drops a reference to a shared body, deleting the body with the last one. An
// entry h says holds its body inline is deleted blind, without reading it.
func ack(txn *badger.Txn, queue string, seq uint64, h AckHint, s *Store) error {
	k := s.indexKey(queue, seq, suffixEntry)
	if h&HintInline != 0 {
		return deleteEntry(txn, k, queue, seq, h, s)
	}
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	shared := item.UserMeta() == metaShared
	var id uint64
	if shared {
		if err := item.Value(func(v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("%w: index entry %q of %d bytes", ErrCorrupt, k, len(v))
			}
			id = binary.BigEndian.Uint64(v)
			return nil
		}); err != nil {
			return err
		}
	}
	if err := deleteEntry(txn, k, queue, seq, h, s); err != nil || !shared {
		return err
	}
	rk := idKey(nil, prefixRefs, id)
	item, err = txn.Get(rk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		s.log.Warn().Uint64("msg", id).Str("queue", queue).Msg("shared message without a reference count")
		return nil
	}
	if err != nil {
		return err
	}
	var n uint64
	if err := item.Value(func(v []byte) error {
		var w int
		if n, w = binary.Uvarint(v); w <= 0 || n == 0 {
			return fmt.Errorf("%w: reference count %x of message %d", ErrCorrupt, v, id)
		}
		return nil
	}); err != nil {
		return err
	}
	if n--; n > 0 {
		return txn.Set(rk, binary.AppendUvarint(nil, n))
	}
	if err := txn.Delete(rk); err != nil {
		return err
	}
	return deleteBody(txn, id)
}

// slab hands out the keys and values of one commit round from a few large
// allocations instead of one or two per key (issue 6: 9 of the ~40 allocations
// of a persistent publish and its ack were index keys). Badger keeps a
// transaction's slices until Commit returns, so a slab is never reused: each
// round starts a new one and the old one goes when Badger lets go of it.
// Owned by commitLoop.
type slab struct {
	buf  []byte
	next int // size of the next allocation
}

const (
	slabMin = 4 << 10 // first allocation of a round: a few messages
	slabMax = 1 << 20 // largest allocation: a round of a thousand 1 KiB messages
)

// take returns an empty slice with room for n bytes that no other take shares.
func (sl *slab) take(n int) []byte {
	if cap(sl.buf)-len(sl.buf) < n {
		if sl.next == 0 {
			sl.next = slabMin
		}
		sl.buf = make([]byte, 0, max(n, sl.next))
		sl.next = min(2*sl.next, slabMax)
	}
	i := len(sl.buf)
	sl.buf = sl.buf[:i+n]
	return sl.buf[i : i : i+n]
}

// indexKey is indexKey from the round's slab.
func (s *Store) indexKey(queue string, seq uint64, suffix byte) []byte {
	return indexKey(s.slab.take(1+2+len(queue)+8+1), queue, seq, suffix)
}

// deleteEntry deletes index entry k (entry seq of queue) and, unless h says it
// has none, its delivered mark.
func deleteEntry(txn *badger.Txn, k []byte, queue string, seq uint64, h AckHint, s *Store) error {
	if err := txn.Delete(k); err != nil || h&HintUnmarked != 0 {
		return err
	}
	return txn.Delete(s.indexKey(queue, seq, suffixDelivered))
}
