package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"
)

func testOptions(t testing.TB) Options {
	return Options{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
}

func openDir(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testOptions(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openMem(t testing.TB) *Store {
	t.Helper()
	s, err := OpenMemory(testOptions(t))
	if err != nil {
		t.Fatalf("OpenMemory: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func commit(t testing.TB, s *Store, b *Batch) {
	t.Helper()
	if err := s.CommitSync(b); err != nil {
		t.Fatalf("CommitSync: %v", err)
	}
}

func entities(t testing.TB, s *Store, kind Kind) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := s.Entities(kind, func(k string, v []byte) error {
		got[k] = string(v)
		return nil
	}); err != nil {
		t.Fatalf("Entities(%v): %v", kind, err)
	}
	return got
}

func messages(t testing.TB, s *Store, queue string) []Message {
	t.Helper()
	var got []Message
	if err := s.Messages(queue, 0, 0, func(m Message) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatalf("Messages(%q): %v", queue, err)
	}
	return got
}

// rawKeys counts the keys of s that start with prefix, bypassing the API.
func rawKeys(t testing.TB, s *Store, prefix byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEntitiesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	kinds := []Kind{KindVhost, KindUser, KindExchange, KindQueue, KindBinding}
	for i, k := range kinds {
		for j := range 3 {
			if err := s.PutEntity(k, fmt.Sprintf("/\x00%s-%d", k, j), []byte(fmt.Sprintf("v%d%d", i, j))); err != nil {
				t.Fatalf("PutEntity: %v", err)
			}
		}
	}
	if err := s.DeleteEntity(KindQueue, "/\x00queue-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEntity(KindExchange, "/\x00exchange-2", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = openDir(t, dir)
	for i, k := range kinds {
		got := entities(t, s, k)
		want := map[string]string{}
		for j := range 3 {
			want[fmt.Sprintf("/\x00%s-%d", k, j)] = fmt.Sprintf("v%d%d", i, j)
		}
		switch k {
		case KindQueue:
			delete(want, "/\x00queue-1")
		case KindExchange:
			want["/\x00exchange-2"] = "replaced"
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%v after reopen: got %q, want %q", k, got, want)
		}
	}
}

func TestEntityBadKind(t *testing.T) {
	s := openMem(t)
	if err := s.PutEntity(Kind(0), "k", nil); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("PutEntity(kind 0) = %v, want ErrBadArgument", err)
	}
	if err := s.Entities(Kind(0), func(string, []byte) error { return nil }); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("Entities(kind 0) = %v, want ErrBadArgument", err)
	}
}

// A message on one queue is stored inline, on several queues once under 'm'
// with a count; the last ack frees the body.
func TestMessageBodyStoredOnceAndFreed(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	var b Batch
	b.PutMessage(1, []byte("solo"))
	b.Enqueue("q1", 10, 1)
	b.PutMessage(2, []byte("fan-out"))
	b.Enqueue("q1", 11, 2)
	b.Enqueue("q2", 5, 2)
	b.Enqueue("q3", 7, 2)
	b.PutMessage(3, []byte("unrouted")) // no Enqueue: nothing stored
	commit(t, s, &b)
	if n := rawKeys(t, s, prefixMessage); n != 1 {
		t.Fatalf("%d shared bodies, want 1", n)
	}
	if got := s.LastMessageID(); got != 3 {
		t.Errorf("LastMessageID = %d, want 3", got)
	}
	mustClose(t, s)

	s = openDir(t, dir)
	if got := s.LastMessageID(); got != 3 {
		t.Errorf("LastMessageID after reopen = %d, want 3", got)
	}
	want := map[string][]Message{
		"q1": {{Seq: 10, ID: 1, Inline: true, Data: []byte("solo")}, {Seq: 11, ID: 2, Data: []byte("fan-out")}},
		"q2": {{Seq: 5, ID: 2, Data: []byte("fan-out")}},
		"q3": {{Seq: 7, ID: 2, Data: []byte("fan-out")}},
	}
	for q, w := range want {
		if got := messages(t, s, q); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: got %v, want %v", q, got, w)
		}
	}

	b.Reset()
	b.Ack("q1", 11)
	b.Ack("q2", 5)
	b.Ack("q2", 5) // duplicate: must not drop a second reference
	commit(t, s, &b)
	if got := messages(t, s, "q3"); len(got) != 1 || string(got[0].Data) != "fan-out" {
		t.Fatalf("q3 after two acks: %v", got)
	}
	b.Reset()
	b.Ack("q3", 7)
	b.Ack("q1", 10)
	commit(t, s, &b)
	for _, p := range []byte{prefixMessage, prefixRefs, prefixIndex} {
		if n := rawKeys(t, s, p); n != 0 {
			t.Errorf("%d keys with prefix %c left after all acks", n, p)
		}
	}
}

func TestRedeliveredSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	var b Batch
	for i := range uint64(6) {
		b.PutMessage(i+1, []byte{byte(i)})
		b.Enqueue("q", i+1, i+1)
	}
	commit(t, s, &b)
	b.Reset()
	b.MarkDelivered("q", 2)
	b.MarkDelivered("q", 5)
	b.MarkDelivered("q", 6)
	b.Ack("q", 6)
	b.MarkDelivered("q", 99) // no such entry: no orphan mark
	commit(t, s, &b)
	b.Reset()
	b.MarkDelivered("q", 6) // acked in an earlier commit
	commit(t, s, &b)
	mustClose(t, s)

	s = openDir(t, dir)
	var delivered []uint64
	for _, m := range messages(t, s, "q") {
		if m.Delivered {
			delivered = append(delivered, m.Seq)
		}
	}
	if !slices.Equal(delivered, []uint64{2, 5}) {
		t.Errorf("delivered after reopen: %v, want [2 5]", delivered)
	}
	if n, last, err := s.Count("q"); n != 5 || last != 5 || err != nil {
		t.Errorf("Count = %d, %d, %v; want 5, 5", n, last, err)
	}
	// 5 entries + 2 marks: the marks of 6 and 99 must not exist.
	if n := rawKeys(t, s, prefixIndex); n != 7 {
		t.Errorf("%d index keys, want 7", n)
	}
}

// Paging must give every entry once, in order, with its mark, wherever a
// page boundary falls.
func TestMessagesPaging(t *testing.T) {
	s := openMem(t)
	const n = 300
	var b Batch
	for i := range uint64(n) {
		b.PutMessage(i, []byte(fmt.Sprint(i)))
		b.Enqueue("q", 1000+i, i)
	}
	commit(t, s, &b)
	b.Reset()
	for i := uint64(0); i < n; i += 3 {
		b.MarkDelivered("q", 1000+i)
	}
	commit(t, s, &b)
	for _, page := range []int{1, 2, 7, 100, n, n + 1} {
		var got []Message
		from := uint64(0)
		for range n + 2 {
			before := len(got)
			err := s.Messages("q", from, page, func(m Message) error {
				got = append(got, m)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == before {
				break
			}
			if len(got)-before > page {
				t.Fatalf("page %d: got %d entries", page, len(got)-before)
			}
			from = got[len(got)-1].Seq + 1
		}
		if len(got) != n {
			t.Fatalf("page %d: %d entries, want %d", page, len(got), n)
		}
		for i, m := range got {
			if m.Seq != 1000+uint64(i) || string(m.Data) != fmt.Sprint(i) || m.Delivered != (i%3 == 0) {
				t.Fatalf("page %d: entry %d = %+v", page, i, m)
			}
		}
	}
}

func TestQueuesListsEachOnce(t *testing.T) {
	s := openMem(t)
	names := []string{"a", "ab", "a\x00", "b", "\xff\xff", ""}
	var b Batch
	for i, q := range names {
		for j := range uint64(3) {
			id := uint64(i*10) + j
			b.PutMessage(id, nil)
			b.Enqueue(q, j, id)
		}
	}
	commit(t, s, &b)
	var got []string
	if err := s.Queues(func(q string) error { got = append(got, q); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Fatalf("Queues: %q, want %q", got, names)
	}
	if n, _, _ := s.Count("a"); n != 3 {
		t.Errorf("Count(a) = %d, want 3 (no spill from ab or a\\x00)", n)
	}
}

func TestPurge(t *testing.T) {
	s := openMem(t)
	var b Batch
	const n = purgePage + 10
	for i := range uint64(n) {
		b.PutMessage(i, []byte("x"))
		b.Enqueue("p", i, i)
		if i%2 == 0 {
			b.Enqueue("keep", i, i) // shared with a queue that stays
		}
	}
	commit(t, s, &b)
	got, err := s.Purge("p")
	if err != nil || got != n {
		t.Fatalf("Purge = %d, %v; want %d", got, err, n)
	}
	if c, _, _ := s.Count("p"); c != 0 {
		t.Fatalf("%d entries left", c)
	}
	if m := messages(t, s, "keep"); len(m) != (n+1)/2 || string(m[0].Data) != "x" {
		t.Fatalf("keep: %d entries", len(m))
	}
	if k := rawKeys(t, s, prefixMessage); k != (n+1)/2 {
		t.Fatalf("%d bodies, want %d", k, (n+1)/2)
	}
}

func TestBatchErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *Batch)
		want  error
	}{
		{"enqueue unknown message", func(b *Batch) { b.Enqueue("q", 1, 42) }, ErrUnknownMsg},
		{"message put twice", func(b *Batch) { b.PutMessage(1, nil); b.PutMessage(1, nil) }, ErrBadArgument},
		{"bad entity kind", func(b *Batch) { b.PutEntity(Kind('z'), "k", nil) }, ErrBadArgument},
		{"queue name too long", func(b *Batch) { b.Ack(string(make([]byte, 1<<16)), 1) }, ErrBadArgument},
	}
	s := openMem(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			b.PutEntity(KindQueue, tc.name, []byte("must not be stored"))
			tc.build(&b)
			if err := s.CommitSync(&b); !errors.Is(err, tc.want) {
				t.Fatalf("CommitSync = %v, want %v", err, tc.want)
			}
			if got := entities(t, s, KindQueue); len(got) != 0 {
				t.Fatalf("failed batch left %v", got)
			}
		})
	}
}

// holdCommitter blocks the committer inside a done callback until the
// returned func is called, so that later Commits queue up into one round.
func holdCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	inDone, hold := make(chan struct{}), make(chan struct{})
	var b Batch
	b.PutEntity(KindUser, "holder", nil)
	s.Commit(&b, func(err error) {
		close(inDone)
		<-hold
	})
	<-inDone
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return release
}

// A round mixing good batches, a failing one and batches too big to share a
// transaction: each batch is all or nothing and done calls come in order.
func TestCommitRoundSplitsAndIsolates(t *testing.T) {
	opts := testOptions(t)
	opts.MemTableSize = 1 << 20 // Badger's transaction limit is 15% of this
	s, err := OpenMemory(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := holdCommitter(t, s)

	body := bytes.Repeat([]byte("b"), 2000)
	var (
		mu    sync.Mutex
		order []int
		errs  = map[int]error{}
		wg    sync.WaitGroup
	)
	const nBatches = 12
	for i := range nBatches {
		var b Batch
		switch i {
		case 3: // fails at commit time, after applying part of itself
			b.PutEntity(KindQueue, "half", nil)
			b.PutMessage(1, nil)
			b.Enqueue("q", 1, 1)
			b.PutEntity(Kind(0), "bad", nil)
		case 7: // alone larger than a transaction
			for j := range uint64(200) {
				b.PutMessage(1e6+j, body)
				b.Enqueue("huge", j, 1e6+j)
			}
		default: // 40 KB each: several fit in one transaction, not all
			for j := range uint64(20) {
				id := uint64(i)*100 + j
				b.PutMessage(id, body)
				b.Enqueue(fmt.Sprint("q", i), j, id)
			}
		}
		wg.Add(1)
		s.Commit(&b, func(err error) {
			mu.Lock()
			order = append(order, i)
			errs[i] = err
			mu.Unlock()
			wg.Done()
		})
	}
	syncsBefore := s.Stats().Syncs
	release()
	wg.Wait()
	if !slices.IsSorted(order) || len(order) != nBatches {
		t.Fatalf("done order %v", order)
	}
	for i := range nBatches {
		var want error
		switch i {
		case 3:
			want = ErrBadArgument
		case 7:
			want = ErrBatchTooBig
		}
		if !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil) {
			t.Errorf("batch %d: %v, want %v", i, errs[i], want)
		}
	}
	for i := range nBatches {
		n, _, _ := s.Count(fmt.Sprint("q", i))
		if want := map[bool]int{true: 20, false: 0}[i != 3 && i != 7]; n != want {
			t.Errorf("q%d holds %d entries, want %d", i, n, want)
		}
	}
	if n, _, _ := s.Count("huge"); n != 0 {
		t.Errorf("too-big batch left %d entries", n)
	}
	if e := entities(t, s, KindQueue); len(e) != 0 {
		t.Errorf("failed batch left entities %v", e)
	}
	// 10 batches of ~40 KB in transactions of < 150 KB: more than one sync,
	// far fewer than one per batch.
	if syncs := s.Stats().Syncs - syncsBefore; syncs < 2 || syncs > 6 {
		t.Errorf("%d syncs for the round, want 2..6", syncs)
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	s := openDir(t, t.TempDir())
	const workers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- s.PutEntity(KindQueue, fmt.Sprintf("q-%d-%d", w, i), []byte("args"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Batches != workers*each {
		t.Fatalf("Stats.Batches = %d, want %d", st.Batches, workers*each)
	}
	if st.Syncs*4 > st.Batches {
		t.Errorf("%d syncs for %d concurrent declares: group commit is not grouping", st.Syncs, st.Batches)
	}
	if n := len(entities(t, s, KindQueue)); n != workers*each {
		t.Errorf("%d queues stored, want %d", n, workers*each)
	}
}

func TestCloseDrainsAndRejects(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var calls [n + 1]int
	var mu sync.Mutex
	var errs []error
	for i := range n {
		var b Batch
		b.PutEntity(KindExchange, fmt.Sprint(i), nil)
		s.Commit(&b, func(err error) {
			mu.Lock()
			calls[i]++
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var b Batch
	s.Commit(&b, func(err error) {
		calls[n]++
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Commit after Close: %v, want ErrClosed", err)
		}
	})
	for i, c := range calls {
		if c != 1 {
			t.Fatalf("done of commit %d called %d times", i, c)
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatalf("commit queued before Close: %v", err)
		}
	}
	s = openDir(t, dir)
	if got := len(entities(t, s, KindExchange)); got != n {
		t.Fatalf("%d exchanges after reopen, want %d", got, n)
	}
}

func TestFreeBytes(t *testing.T) {
	s := openDir(t, t.TempDir())
	free, err := s.FreeBytes()
	if err != nil || free == 0 {
		t.Fatalf("FreeBytes = %d, %v", free, err)
	}
	m := openMem(t)
	if free, err := m.FreeBytes(); err != nil || free != ^uint64(0) {
		t.Fatalf("in-memory FreeBytes = %d, %v", free, err)
	}
}

// Bodies at or above the value threshold are kept in pieces, also when a
// body is larger than a transaction, and their pieces go with the last ack.
func TestLargeBodiesInPieces(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t)
	opts.MemTableSize = 1 << 20 // threshold and transaction limit: 157 KB
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	big := func(n int, c byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = c + byte(i%7)
		}
		return b
	}
	bodies := map[uint64][]byte{1: big(1<<20+3, 'a'), 2: big(400<<10, 'k'), 3: []byte("small")}
	var b Batch
	b.PutMessage(1, bodies[1]) // larger than a transaction, one queue
	b.Enqueue("q1", 1, 1)
	b.PutMessage(2, bodies[2]) // fanned out
	b.Enqueue("q1", 2, 2)
	b.Enqueue("q2", 2, 2)
	b.PutMessage(3, bodies[3])
	b.Enqueue("q2", 3, 3)
	commit(t, s, &b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkRefs(t, s)
	for q, ids := range map[string][]uint64{"q1": {1, 2}, "q2": {2, 3}} {
		got := messages(t, s, q)
		if len(got) != len(ids) {
			t.Fatalf("%s: %d messages", q, len(got))
		}
		for i, m := range got {
			if m.ID != ids[i] || !bytes.Equal(m.Data, bodies[ids[i]]) {
				t.Errorf("%s: message %d (%d bytes) differs from body %d", q, m.ID, len(m.Data), ids[i])
			}
		}
	}
	b.Reset()
	b.Ack("q1", 1)
	b.Ack("q1", 2)
	commit(t, s, &b)
	if got := messages(t, s, "q2"); len(got) != 2 || !bytes.Equal(got[0].Data, bodies[2]) {
		t.Fatalf("q2 after acks on q1: %d messages", len(got))
	}
	b.Reset()
	b.Ack("q2", 2)
	b.Ack("q2", 3)
	commit(t, s, &b)
	for _, p := range []byte{prefixChunk, prefixMessage, prefixRefs, prefixIndex} {
		if n := rawKeys(t, s, p); n != 0 {
			t.Errorf("%d keys with prefix %c left after all acks", n, p)
		}
	}
}

// Pieces written for a batch that then failed are deleted on the next Open.
func TestPiecesOfFailedBatchSwept(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t)
	opts.MemTableSize = 1 << 20 // transaction limit 157 KB
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.PutMessage(1, make([]byte, 500<<10)) // in pieces, written ahead of the batch
	b.Enqueue("q", 1, 1)
	for i := range uint64(200) { // 400 KB inline: the batch cannot fit a transaction
		b.PutMessage(100+i, make([]byte, 2000))
		b.Enqueue("q", 100+i, 100+i)
	}
	if err := s.CommitSync(&b); !errors.Is(err, ErrBatchTooBig) {
		t.Fatalf("CommitSync = %v, want ErrBatchTooBig", err)
	}
	if n := rawKeys(t, s, prefixChunk); n == 0 {
		t.Fatal("no pieces were written: the test tests nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := rawKeys(t, s, prefixChunk); n != 0 {
		t.Errorf("%d pieces survived the sweep", n)
	}
	if n, _, _ := s.Count("q"); n != 0 {
		t.Errorf("failed batch left %d entries", n)
	}
}

// After a failed Badger write every later commit fails too: what reached
// the disk is unknown.
func TestWriteFailureIsSticky(t *testing.T) {
	s := openMem(t)
	if err := s.db.Close(); err != nil { // Badger fails under the committer
		t.Fatal(err)
	}
	first := s.PutEntity(KindQueue, "a", nil)
	if first == nil {
		t.Fatal("PutEntity on a closed Badger succeeded")
	}
	var b Batch
	b.PutMessage(1, []byte("m"))
	b.Enqueue("q", 1, 1)
	second := s.CommitSync(&b)
	if second == nil || second.Error() != first.Error() {
		t.Fatalf("second commit: %v, want the first failure %v", second, first)
	}
}

func TestPurgeSomeInSteps(t *testing.T) {
	s := openMem(t)
	var b Batch
	for i := range uint64(10) {
		b.PutMessage(i+1, []byte("m"))
		b.Enqueue("q", i+1, i+1)
		b.MarkDelivered("q", i+1)
	}
	if err := s.CommitSync(&b); err != nil {
		t.Fatal(err)
	}
	var steps []int
	for range 5 {
		n, err := s.PurgeSome("q", 4)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, n)
		if n < 4 {
			break
		}
	}
	if fmt.Sprint(steps) != "[4 4 2]" {
		t.Fatalf("steps %v, want [4 4 2]", steps)
	}
	if n, _, err := s.Count("q"); err != nil || n != 0 {
		t.Fatalf("count %d %v", n, err)
	}
	if err := s.Queues(func(q string) error { return fmt.Errorf("queue %q left (delivered marks?)", q) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeSome("q", 0); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("max 0: %v", err)
	}
}

func TestAckInline(t *testing.T) {
	s := openMem(t)
	if !s.Inline(100) || s.Inline(4<<20) {
		t.Fatalf("Inline(100)=%v Inline(4MiB)=%v", s.Inline(100), s.Inline(4<<20))
	}
	var b Batch
	b.PutMessage(1, []byte("one"))
	b.Enqueue("q", 1, 1)
	b.MarkDelivered("q", 1)
	b.PutMessage(2, []byte("two"))
	b.Enqueue("q", 2, 2)
	b.Enqueue("r", 1, 2) // shared
	if err := s.CommitSync(&b); err != nil {
		t.Fatal(err)
	}
	var got []Message
	if err := s.Messages("q", 0, 0, func(m Message) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Inline || !got[0].Delivered || got[1].Inline {
		t.Fatalf("messages %+v: want the first inline and delivered, the second shared", got)
	}
	b.Reset()
	b.AckInline("q", 1)
	if err := s.CommitSync(&b); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Count("q"); n != 1 {
		t.Fatalf("%d entries left in q, want 1", n)
	}
	got = got[:0]
	s.Messages("q", 0, 0, func(m Message) error { got = append(got, m); return nil })
	if len(got) != 1 || got[0].Seq != 2 || string(got[0].Data) != "two" {
		t.Fatalf("left %+v", got)
	}
}

// TestAckHints: HintUnmarked deletes the entry but not a mark (so a wrong hint shows as
// an orphan mark); without it the mark goes too; a shared body goes with its last
// reference either way.
func TestAckHints(t *testing.T) {
	s := openMem(t)
	var b Batch
	for id := uint64(1); id <= 3; id++ {
		b.PutMessage(id, []byte{byte(id)})
		b.Enqueue("q", id, id)
		b.MarkDelivered("q", id)
	}
	b.PutMessage(4, []byte("shared"))
	b.Enqueue("q", 4, 4)
	b.Enqueue("r", 1, 4)
	commit(t, s, &b)
	if n := rawKeys(t, s, prefixIndex); n != 3*2+2 {
		t.Fatalf("%d index keys, want 8", n)
	}
	b.Reset()
	b.AckHinted("q", 1, HintInline)              // entry and mark
	b.AckHinted("q", 2, HintInline|HintUnmarked) // entry only: its mark stays, an orphan
	b.AckHinted("q", 4, HintUnmarked)            // shared, unmarked
	b.AckHinted("r", 1, 0)
	commit(t, s, &b)
	if n := rawKeys(t, s, prefixIndex); n != 3 { // q 2's orphan mark, q 3 and its mark
		t.Fatalf("%d index keys left, want 3", n)
	}
	if got := messages(t, s, "q"); len(got) != 1 || got[0].Seq != 3 || !got[0].Delivered {
		t.Fatalf("q holds %+v, want entry 3, delivered", got)
	}
	if m, r := rawKeys(t, s, prefixMessage), rawKeys(t, s, prefixRefs); m != 0 || r != 0 {
		t.Fatalf("%d bodies and %d counts left, want none", m, r)
	}
}

// TestMaxSettlesFitsOneTransaction: a batch of MaxSettles acks that each write the most
// keys an ack can (entry, mark, last reference of a shared body: its count and body)
// commits, and four times as many keys do not fit: the bound is not far from Badger's.
func TestMaxSettlesFitsOneTransaction(t *testing.T) {
	s := openMem(t)
	const q, r = "q0000001", "r0000001" // 8 bytes, as vhost names its indexes
	n := s.MaxSettles(len(q))
	if n < 1000 {
		t.Fatalf("MaxSettles(8) = %d: too small to be useful", n)
	}
	var b Batch
	for id := uint64(1); id <= uint64(n); id++ {
		b.PutMessage(id, []byte("body"))
		b.Enqueue(q, id, id)
		b.Enqueue(r, id, id)
		b.MarkDelivered(q, id)
		if b.Len() >= n || id == uint64(n) {
			commit(t, s, &b)
			b.Reset()
		}
	}
	for id := uint64(1); id <= uint64(n); id++ {
		b.AckHinted(r, id, HintUnmarked)
		if b.Len() >= n || id == uint64(n) {
			commit(t, s, &b)
			b.Reset()
		}
	}
	for id := uint64(1); id <= uint64(n); id++ {
		b.Ack(q, id) // entry, mark, count, body
	}
	commit(t, s, &b)
	if k := rawKeys(t, s, prefixIndex) + rawKeys(t, s, prefixMessage) + rawKeys(t, s, prefixRefs); k != 0 {
		t.Fatalf("%d keys left", k)
	}
	b.Reset()
	for seq := range uint64(4 * n) {
		b.AckInline(q, seq) // two blind deletes
	}
	if err := s.CommitSync(&b); !errors.Is(err, ErrBatchTooBig) {
		t.Fatalf("a batch of %d acks: %v, want ErrBatchTooBig", 4*n, err)
	}
}

// TestMarkDeliveredLive: the mark is written as MarkDelivered writes it, without the
// read that keeps MarkDelivered from marking an acked entry: used wrongly, it leaves an
// orphan mark, which Messages skips.
func TestMarkDeliveredLive(t *testing.T) {
	s := openMem(t)
	var b Batch
	b.PutMessage(1, []byte("one"))
	b.Enqueue("q", 1, 1)
	b.MarkDeliveredLive("q", 1)
	commit(t, s, &b)
	if got := messages(t, s, "q"); len(got) != 1 || !got[0].Delivered {
		t.Fatalf("q holds %+v, want entry 1 delivered", got)
	}
	b.Reset()
	b.AckInline("q", 1)
	b.MarkDelivered("q", 1)     // acked: nothing written
	b.MarkDeliveredLive("q", 2) // no such entry: an orphan
	commit(t, s, &b)
	if n := rawKeys(t, s, prefixIndex); n != 1 {
		t.Fatalf("%d index keys, want 1 (the orphan mark of 2)", n)
	}
	if got := messages(t, s, "q"); len(got) != 0 {
		t.Fatalf("q holds %+v, want nothing", got)
	}
}
