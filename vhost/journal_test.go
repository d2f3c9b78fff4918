package vhost

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
)

// TestJournalRoundLargerThanATransaction: acks collected while a round is in flight go
// out in batches that each fit one Badger transaction. With a fixed 8192 changes per
// batch and 8 MiB memtables, such a round failed whole (store.ErrBatchTooBig) and its
// acked messages stayed in the store, to come back after a restart.
func TestJournalRoundLargerThanATransaction(t *testing.T) {
	st := openJournalStore(t)
	ix := indexName(1)
	const n = 20000 // two deletes each: more than Badger's 13,107 entries per transaction
	var b store.Batch
	for seq := uint64(1); seq <= n; seq++ {
		b.PutMessage(seq, []byte("m"))
		b.Enqueue(ix, seq, seq)
		if seq%2000 == 0 {
			if err := st.CommitSync(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	j := newJournal(st, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	hold(j)
	for seq := uint64(1); seq <= n; seq++ {
		j.ack(ix, seq, true, true)
	}
	out := release(j)
	j.issue(out)
	j.flush()
	if j.mu.failed {
		t.Fatal("a journal commit failed")
	}
	if left, _, err := st.Count(ix); err != nil || left != 0 {
		t.Fatalf("%d entries left after acking all %d (%v)", left, n, err)
	}
}

// TestJournalAckSkipsUnwrittenMark: an ack whose entry's mark is still collecting drops
// the mark and deletes only the entry; an entry whose mark reached the store loses both.
func TestJournalAckSkipsUnwrittenMark(t *testing.T) {
	st := openJournalStore(t)
	ix := indexName(1)
	var b store.Batch
	for seq := uint64(1); seq <= 2; seq++ {
		b.PutMessage(seq, []byte("m"))
		b.Enqueue(ix, seq, seq)
	}
	b.MarkDelivered(ix, 2) // committed: the ack must delete it
	if err := st.CommitSync(&b); err != nil {
		t.Fatal(err)
	}
	j := newJournal(st, zerolog.Nop())
	hold(j)
	j.mark(ix, 1)
	j.ack(ix, 1, true, true)
	j.ack(ix, 2, true, true)
	j.mu.Lock()
	for _, o := range j.mu.ops {
		if o.ack && o.marked != (o.seq == 2) {
			j.mu.Unlock()
			t.Fatalf("ack of %d with marked=%v: only 2's mark reached the store", o.seq, o.marked)
		}
	}
	j.mu.Unlock()
	out := release(j)
	if len(out) != 1 || out[0].Len() != 2 {
		t.Fatalf("batches %v, want one of two acks (the mark dropped)", out)
	}
	j.issue(out)
	j.flush()
	var left int
	if err := st.Queues(func(string) error { left++; return nil }); err != nil || left != 0 {
		t.Fatalf("%d indexes with keys left (%v): a mark was not deleted", left, err)
	}
}

// TestJournalForgetDropsMarks: marks still collecting for an index being dropped are not
// written (they would outlive the index's entries); other indexes' marks are.
func TestJournalForgetDropsMarks(t *testing.T) {
	st := openJournalStore(t)
	a, b := indexName(1), indexName(2)
	var sb store.Batch
	for seq := uint64(1); seq <= 2; seq++ {
		sb.PutMessage(seq, []byte("m"))
		sb.Enqueue(a, seq, seq)
		sb.PutMessage(10+seq, []byte("m"))
		sb.Enqueue(b, seq, 10+seq)
	}
	if err := st.CommitSync(&sb); err != nil {
		t.Fatal(err)
	}
	j := newJournal(st, zerolog.Nop())
	hold(j)
	j.mark(a, 1)
	j.mark(b, 1)
	j.mark(a, 2)
	j.forget(a)
	out := release(j)
	if len(out) != 1 || out[0].Len() != 1 {
		t.Fatalf("batches %v, want one with b's mark only", out)
	}
	j.issue(out)
	j.flush()
	delivered := func(ix string) (n int) {
		st.Messages(ix, 0, 0, func(m store.Message) error {
			if m.Delivered {
				n++
			}
			return nil
		})
		return n
	}
	if da, db := delivered(a), delivered(b); da != 0 || db != 1 {
		t.Fatalf("marked entries: %d in a, %d in b; want 0 and 1", da, db)
	}
}

// hold makes j collect what it is given, as while a round of its batches is in flight.
func hold(j *journal) {
	j.mu.Lock()
	j.mu.inflight = append(j.mu.inflight, new(store.Batch))
	j.mu.Unlock()
}

// release ends the round hold began and returns the batches j would commit now.
func release(j *journal) []*store.Batch {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.mu.inflight = j.mu.inflight[:0]
	return j.takeLocked()
}

// openJournalStore opens a store in a new folder, closed when the test ends.
func openJournalStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	})
	return st
}
