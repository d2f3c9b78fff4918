package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Bodies too large for the LSM tree (Options.ValueThreshold) are cut into
// pieces that are not, instead of going to Badger's value log, whose GC
// frees nothing until compaction has seen the deletes (store.go,
// DefaultValueThreshold). A large body is always stored apart, under 'm' with
// a reference count, even for one queue; its pieces are written in
// transactions of their own ahead of the batch's, so a body larger than a
// transaction still commits. Pieces whose batch never committed (a crash in
// between, or a failed batch) are found by sweepChunks on the next Open.

// chunked reports whether a body of n bytes is stored in pieces.
func (s *Store) chunked(n int) bool { return n+16 >= int(s.opts.ValueThreshold) }

// Inline reports whether a body of n bytes, put in a batch with a single
// Enqueue, is kept inside its index entry, so that AckInline may remove it.
func (s *Store) Inline(n int) bool { return !s.chunked(n) }

// pieceSize is the size of every piece but the last.
func (s *Store) pieceSize() int { return int(s.opts.ValueThreshold / 2) }

// writeChunks stores the pieces of b's large enqueued bodies, syncing after
// each transaction as commitTxn does.
func (s *Store) writeChunks(b *Batch) error {
	var txn *badger.Txn
	for id, r := range b.refs {
		if r.refs == 0 || !s.chunked(len(r.data)) {
			continue
		}
		size := s.pieceSize()
		for n, off := uint32(0), 0; off < len(r.data); n, off = n+1, off+size {
			piece := r.data[off:min(off+size, len(r.data))]
			if txn == nil {
				txn = s.db.NewTransaction(true)
			}
			err := txn.Set(chunkKey(id, n), piece)
			if errors.Is(err, badger.ErrTxnTooBig) {
				if err := s.commitPieces(txn); err != nil {
					return err
				}
				txn = s.db.NewTransaction(true)
				err = txn.Set(chunkKey(id, n), piece)
			}
			if err != nil {
				txn.Discard()
				return err
			}
		}
	}
	if txn == nil {
		return nil
	}
	return s.commitPieces(txn)
}

func (s *Store) commitPieces(txn *badger.Txn) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return err
	}
	s.syncs.Add(1)
	return nil
}

// putChunkedBody writes the head of a body whose pieces writeChunks stored.
func (s *Store) putChunkedBody(txn *badger.Txn, id uint64, r *bodyRef) error {
	size := s.pieceSize()
	pieces := (len(r.data) + size - 1) / size
	v := binary.BigEndian.AppendUint32(nil, uint32(pieces))
	v = binary.BigEndian.AppendUint64(v, uint64(len(r.data)))
	if err := txn.SetEntry(badger.NewEntry(idKey(nil, prefixMessage, id), v).WithMeta(metaChunked)); err != nil {
		return err
	}
	return txn.Set(idKey(nil, prefixRefs, id), binary.AppendUvarint(nil, uint64(r.refs)))
}

// readHead decodes the head of a chunked body.
func readHead(item *badger.Item) (pieces uint32, size uint64, err error) {
	err = item.Value(func(v []byte) error {
		if len(v) != 12 {
			return fmt.Errorf("%w: head of chunked body %q of %d bytes", ErrCorrupt, item.Key(), len(v))
		}
		pieces, size = binary.BigEndian.Uint32(v), binary.BigEndian.Uint64(v[4:])
		return nil
	})
	return pieces, size, err
}

// deleteBody deletes the shared body id, in pieces or not.
func deleteBody(txn *badger.Txn, id uint64) error {
	k := idKey(nil, prefixMessage, id)
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if item.UserMeta() == metaChunked {
		pieces, _, err := readHead(item)
		if err != nil {
			return err
		}
		for n := range pieces {
			if err := txn.Delete(chunkKey(id, n)); err != nil {
				return err
			}
		}
	}
	return txn.Delete(k)
}

// readBody loads the shared body id.
func readBody(txn *badger.Txn, id uint64) ([]byte, error) {
	item, err := txn.Get(idKey(nil, prefixMessage, id))
	if err != nil {
		return nil, err
	}
	if item.UserMeta() != metaChunked {
		return item.ValueCopy(nil)
	}
	pieces, size, err := readHead(item)
	if err != nil {
		return nil, err
	}
	body := make([]byte, 0, size)
	for n := range pieces {
		piece, err := txn.Get(chunkKey(id, n))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, fmt.Errorf("%w: message %d lacks piece %d of %d", ErrCorrupt, id, n, pieces)
		}
		if err != nil {
			return nil, err
		}
		if err := piece.Value(func(v []byte) error { body = append(body, v...); return nil }); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// sweepChunks deletes pieces whose body head is missing: their batch never
// committed. It runs in Open, before the committer starts.
func (s *Store) sweepChunks() (int, error) {
	var orphans [][]byte
	prefix := []byte{prefixChunk}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 1+8+4 {
				return fmt.Errorf("%w: piece key %q", ErrCorrupt, k)
			}
			_, err := txn.Get(idKey(nil, prefixMessage, binary.BigEndian.Uint64(k[1:])))
			if errors.Is(err, badger.ErrKeyNotFound) {
				orphans = append(orphans, it.Item().KeyCopy(nil))
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(orphans) == 0 {
		return 0, err
	}
	wb := s.db.NewWriteBatch()
	for _, k := range orphans {
		if err := wb.Delete(k); err != nil {
			wb.Cancel()
			return 0, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	return len(orphans), s.db.Sync()
}
