package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Message is one entry of a queue as read back from disk.
type Message struct {
	Seq       uint64 // position in the queue
	ID        uint64 // message id given to PutMessage
	Delivered bool   // MarkDelivered was committed: deliver with redelivered set
	Inline    bool   // the entry holds the body: it may be removed with AckInline
	Data      []byte // the body given to PutMessage; owned by the caller
}

// Entities calls fn for every entity of kind, in key order, until fn
// returns an error, which Entities returns. val is owned by the caller.
func (s *Store) Entities(kind Kind, fn func(key string, val []byte) error) error {
	if !kind.valid() {
		return fmt.Errorf("%w: entity kind %v", ErrBadArgument, kind)
	}
	prefix := entityKey(nil, kind, "")
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.Valid(); it.Next() {
			item := it.Item()
			val, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(string(item.Key()[len(prefix):]), val); err != nil {
				return err
			}
		}
		return nil
	})
}

// Queues calls fn once for every queue that has at least one entry, in name
// order. It reads keys only and skips over each queue's entries.
func (s *Store) Queues(fn func(queue string) error) error {
	prefix := []byte{prefixIndex}
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.Valid(); {
			q, _, _, ok := parseIndexKey(it.Item().Key())
			if !ok {
				return fmt.Errorf("%w: index key %q", ErrCorrupt, it.Item().Key())
			}
			queue := string(q)
			if err := fn(queue); err != nil {
				return err
			}
			next := prefixEnd(queuePrefix(nil, queue))
			if next == nil {
				return nil
			}
			it.Seek(next)
		}
		return nil
	})
}

// Messages calls fn for up to limit entries of queue (all if limit <= 0)
// with Seq >= from, in Seq order, loading each body. A backlog larger than
// memory is read in pages: from = last Seq + 1.
func (s *Store) Messages(queue string, from uint64, limit int, fn func(Message) error) error {
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	prefix := queuePrefix(nil, queue)
	return s.db.View(func(txn *badger.Txn) error {
		// No prefetching: Badger's prefetch copies each value once more
		// (readEntry copies it anyway) through its own goroutine; without it
		// a drain of a paged-out queue (issue 6, scenario 6) cost 6.6-8.3
		// µs of broker CPU per message instead of 8.4-9.4.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		var (
			m       Message
			pending bool // m is read and waits for a possible delivered mark
			emitted int
		)
		emit := func() error {
			pending = false
			emitted++
			return fn(m)
		}
		for it.Seek(indexKey(nil, queue, from, suffixEntry)); it.Valid() && emitted < limit; it.Next() {
			item := it.Item()
			_, seq, suffix, ok := parseIndexKey(item.Key())
			if !ok {
				return fmt.Errorf("%w: index key %q", ErrCorrupt, item.Key())
			}
			if suffix == suffixDelivered {
				if pending && m.Seq == seq {
					m.Delivered = true
					if err := emit(); err != nil {
						return err
					}
				}
				continue // an orphan mark (its entry is gone) is skipped
			}
			if pending {
				if err := emit(); err != nil {
					return err
				}
				if emitted == limit {
					return nil
				}
			}
			var err error
			if m, err = readEntry(txn, item, seq); err != nil {
				return err
			}
			pending = true
		}
		if pending && emitted < limit {
			return emit()
		}
		return nil
	})
}

// readEntry decodes one index entry and loads its body.
func readEntry(txn *badger.Txn, item *badger.Item, seq uint64) (Message, error) {
	m := Message{Seq: seq}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return m, err
	}
	if len(v) < 8 {
		return m, fmt.Errorf("%w: index entry %q of %d bytes", ErrCorrupt, item.Key(), len(v))
	}
	m.ID = binary.BigEndian.Uint64(v)
	switch item.UserMeta() {
	case metaInline:
		m.Data, m.Inline = v[8:], true
	case metaShared:
		m.Data, err = readBody(txn, m.ID)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return m, fmt.Errorf("%w: message %d of index entry %q has no body", ErrCorrupt, m.ID, item.Key())
		}
		if err != nil {
			return m, err
		}
	default:
		return m, fmt.Errorf("%w: index entry %q has meta %d", ErrCorrupt, item.Key(), item.UserMeta())
	}
	return m, nil
}

// Count returns the number of entries of queue and the highest Seq among
// them (0 if none), reading keys only.
func (s *Store) Count(queue string) (n int, last uint64, err error) {
	prefix := queuePrefix(nil, queue)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.Valid(); it.Next() {
			k := it.Item().Key()
			if k[len(k)-1] == suffixEntry {
				n++
				last = binary.BigEndian.Uint64(k[len(prefix):])
			}
		}
		return nil
	})
	return n, last, err
}

// purgePage is how many entries Purge removes per commit.
const purgePage = 4096

// Purge removes every entry of queue (and bodies no other queue holds), in
// commits of purgePage entries so other writers are not held up for long,
// and returns how many entries it removed.
func (s *Store) Purge(queue string) (int, error) {
	total := 0
	for {
		n, err := s.PurgeSome(queue, purgePage)
		total += n
		if err != nil || n < purgePage {
			return total, err
		}
	}
}

// PurgeSome removes up to max entries from the start of queue in one commit
// and returns how many it removed: fewer than max means the queue is empty
// now (unless someone enqueued meanwhile). It lets a caller delete a long
// queue in steps and stop in between.
func (s *Store) PurgeSome(queue string, max int) (int, error) {
	if max <= 0 {
		return 0, fmt.Errorf("%w: PurgeSome max %d", ErrBadArgument, max)
	}
	prefix := queuePrefix(nil, queue)
	var b Batch
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.Valid() && b.Len() < max; it.Next() {
			k := it.Item().Key()
			if k[len(k)-1] != suffixEntry {
				continue
			}
			b.Ack(queue, binary.BigEndian.Uint64(k[len(prefix):]))
		}
		return nil
	})
	if err != nil || b.Len() == 0 {
		return 0, err
	}
	if err := s.CommitSync(&b); err != nil {
		return 0, err
	}
	return b.Len(), nil
}
