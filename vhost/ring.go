package vhost

// item is one message instance in a queue's ready list, or a run of messages kept on disk
// only (pager.go). A run has msg == nil and stands for the stored entries with seq in
// [seq, runEnd()], n of them: all of them when the run is dense (n == runEnd-seq+1);
// those of its rank when it is a priority queue's run (runByRank); otherwise (recovered
// from disk) whatever entries the store has in that range.
type item struct {
	msg         *Message // nil for a run
	seq         uint64   // enqueue sequence within the queue: the message's place in line
	expires     int64    // wall-clock Unix nanoseconds after which it expires; 0 = never. A run: its last seq
	n           uint32   // a run: how many messages it stands for
	redelivered bool     // a message: delivered before. A run: it is a priority queue's run (runByRank)
	rank        uint8    // a priority queue: 255 - the message's priority (lower goes first); 0 otherwise
	returns     uint16   // a quorum queue: times it came back unacknowledged (x-delivery-limit, quorum.go)
}

// before reports whether a goes before b in a ready list: by rank, then by seq.
func before(a, b *item) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.seq < b.seq)
}

// compareItems orders items as before does, for sorting.
func compareItems(a, b item) int {
	switch {
	case a.rank != b.rank:
		return int(a.rank) - int(b.rank)
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

func (it *item) isRun() bool    { return it.msg == nil }
func (it *item) runEnd() uint64 { return uint64(it.expires) }
func (it *item) runDense() bool { return !it.redelivered && uint64(it.n) == it.runEnd()-it.seq+1 }

// runByRank reports whether a run is a priority queue's: it stands for the stored entries
// in its range whose message has its rank (other ranks' entries are interleaved there).
func (it *item) runByRank() bool { return it.msg == nil && it.redelivered }

// lastSeq is the highest seq the element stands for.
func (it *item) lastSeq() uint64 {
	if it.isRun() {
		return it.runEnd()
	}
	return it.seq
}

// ring is a growable FIFO of items kept sorted by (rank, seq) (appends carry a higher seq
// than any element present; requeue inserts at the sorted position). Rank is 0 except in
// priority queues (priority.go), so the order is by seq. Power-of-two capacity so that
// indexing is a mask; popping never reallocates. Not safe for concurrent use: the owning
// Queue's mutex guards it.
type ring struct {
	buf   []item // len(buf) is 0 or a power of two
	head  int    // index of the first element
	n     int    // number of elements
	bytes int64  // body bytes of the in-memory messages (runs count 0): x-max-length-bytes
	// pagedBytes is the body bytes of the messages in runs appended at run time
	// (Queue.appendRunLocked); a recovered run's count once paged in.
	pagedBytes int64
	// memSeq is the last seq reserved for a stored message that stays in memory: a
	// priority queue's run extends only if no such message came after its last entry, so
	// that every entry of its rank in its range is its own (Queue.appendRunLocked).
	memSeq uint64
}

// size is the body size an element adds to ring.bytes.
func (it *item) size() int64 {
	if it.msg == nil {
		return 0
	}
	return int64(len(it.msg.Body))
}

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) *item { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *ring) grow() {
	size := 2 * len(r.buf)
	if size == 0 {
		size = 16
	}
	nb := make([]item, size)
	if r.n > 0 {
		k := copy(nb, r.buf[r.head:])
		if k < r.n {
			copy(nb[k:], r.buf[:r.n-k])
		}
	}
	r.buf, r.head = nb, 0
}

func (r *ring) pushBack(it item) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = it
	r.n++
	r.bytes += it.size()
}

func (r *ring) front() *item { return &r.buf[r.head] }

func (r *ring) back() *item { return r.at(r.n - 1) }

// insert adds it at its place by (rank, seq): at the back unless a later one is there
// already (a publish that reserved its seq before another one enqueued, or a priority
// queue's message of lower priority).
func (r *ring) insert(it item) {
	if r.n == 0 || r.back().rank < it.rank || (r.back().rank == it.rank && r.back().lastSeq() < it.seq) {
		r.pushBack(it)
		return
	}
	r.insertSorted(it)
}

// rankEnd returns the index of the first element whose rank is above rank (len if none):
// where a priority queue's element of that rank with the highest seq goes.
func (r *ring) rankEnd(rank uint8) int {
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).rank <= rank {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// firstRun returns the index of the first run, -1 if there is none.
func (r *ring) firstRun() int {
	for i := range r.n {
		if r.at(i).isRun() {
			return i
		}
	}
	return -1
}

// headBefore counts the messages before the first run, stopping at limit.
func (r *ring) headBefore(limit int) int {
	n := min(r.n, limit)
	for i := range n {
		if r.at(i).isRun() {
			return i
		}
	}
	return n
}

// removeAt deletes the element at index i, shifting the shorter side.
func (r *ring) removeAt(i int) {
	mask := len(r.buf) - 1
	r.bytes -= r.at(i).size()
	if i < r.n/2 {
		for j := i; j > 0; j-- {
			r.buf[(r.head+j)&mask] = r.buf[(r.head+j-1)&mask]
		}
		r.buf[r.head] = item{}
		r.head = (r.head + 1) & mask
	} else {
		for j := i; j < r.n-1; j++ {
			r.buf[(r.head+j)&mask] = r.buf[(r.head+j+1)&mask]
		}
		r.buf[(r.head+r.n-1)&mask] = item{}
	}
	r.n--
}

// each calls fn for every element in order.
func (r *ring) each(fn func(*item)) {
	for i := range r.n {
		fn(r.at(i))
	}
}

func (r *ring) popFront() item {
	it := r.buf[r.head]
	r.bytes -= it.size()
	r.buf[r.head] = item{} // drop the message reference for the GC
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return it
}

// insertSorted puts it at the position its seq dictates. Requeued messages usually go
// to the front (they were delivered before anything still ready), which is O(1).
func (r *ring) insertSorted(it item) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.bytes += it.size()
	mask := len(r.buf) - 1
	if r.n == 0 || before(&it, &r.buf[r.head]) {
		r.head = (r.head - 1) & mask
		r.buf[r.head] = it
		r.n++
		return
	}
	// Binary search for the first element that goes after it.
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if compareItems(*r.at(mid), it) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < r.n/2 {
		// Shift the head [0, lo) one slot forward (a priority queue's high-priority
		// message ahead of a long low-priority backlog).
		r.head = (r.head - 1) & mask
		for i := 0; i < lo; i++ {
			r.buf[(r.head+i)&mask] = r.buf[(r.head+i+1)&mask]
		}
	} else {
		// Shift the tail [lo, n) one slot back.
		for i := r.n; i > lo; i-- {
			r.buf[(r.head+i)&mask] = r.buf[(r.head+i-1)&mask]
		}
	}
	r.buf[(r.head+lo)&mask] = it
	r.n++
}

// insertAll inserts items, sorted by ascending seq, at their places. When they all precede
// the head (the usual requeue: everything delivered is older than everything still ready)
// they are pushed in front one by one; otherwise the two sorted runs are merged into a new
// buffer, O(n+k) instead of k shifts of the tail.
func (r *ring) insertAll(items []item) {
	if len(items) == 0 {
		return
	}
	if r.n == 0 || before(&items[len(items)-1], r.front()) {
		for i := len(items) - 1; i >= 0; i-- {
			r.insertSorted(items[i])
		}
		return
	}
	if len(items) == 1 {
		r.insertSorted(items[0])
		return
	}
	if r.insertBeforeTail(items) {
		return
	}
	size := max(len(r.buf), 16)
	for size < r.n+len(items) {
		size *= 2
	}
	nb := make([]item, size)
	for x := range items {
		r.bytes += items[x].size()
	}
	i, j, k := 0, 0, 0
	for i < r.n || j < len(items) {
		if j == len(items) || (i < r.n && compareItems(*r.at(i), items[j]) < 0) {
			nb[k] = *r.at(i)
			i++
		} else {
			nb[k] = items[j]
			j++
		}
		k++
	}
	r.buf, r.head, r.n = nb, 0, k
}

// insertTailMax bounds the elements insertBeforeTail moves.
const insertTailMax = 8

// insertBeforeTail inserts items (sorted) if they all go between the same two elements
// and at most insertTailMax elements go after them, as a page read from the store goes
// between a queue's in-memory head and its run: it moves those few and appends, where
// insertAll's merge would allocate and fill a new buffer per page (issue 6: 2% of the
// broker's CPU in a drain from disk). It reports whether it did.
func (r *ring) insertBeforeTail(items []item) bool {
	m := 0 // elements that go after items[0]
	for m < r.n && compareItems(*r.at(r.n - 1 - m), items[0]) > 0 {
		if m++; m > insertTailMax {
			return false
		}
	}
	if m > 0 && compareItems(items[len(items)-1], *r.at(r.n - m)) >= 0 {
		return false // items interleave with the elements at the back
	}
	var tail [insertTailMax]item
	for x := range m {
		tail[x] = *r.at(r.n - m + x)
		r.bytes -= tail[x].size() // pushBack counts them again
	}
	r.n -= m
	for _, it := range items {
		r.pushBack(it)
	}
	for x := range m {
		r.pushBack(tail[x])
	}
	return true
}

// clear drops every element and returns how many there were. Keeps the buffer unless it
// is large, so that a purged queue of a million messages gives its memory back.
func (r *ring) clear() int {
	n := r.n
	if len(r.buf) > 1024 {
		r.buf = nil
	} else {
		clear(r.buf)
	}
	r.head, r.n, r.bytes, r.pagedBytes = 0, 0, 0, 0
	return n
}
