package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"
)

// Errors returned by the store. Each wrapping error names the folder.
var (
	ErrClosed       = errors.New("store: closed")
	ErrLocked       = errors.New("store: data folder is locked by another process")
	ErrIncompatible = errors.New("store: data folder has an incompatible or unreadable format")
	ErrCorrupt      = errors.New("store: data folder is corrupted")
	ErrBatchTooBig  = errors.New("store: batch exceeds one Badger transaction")
	ErrUnknownMsg   = errors.New("store: Enqueue of a message not put in the same batch")
	ErrBadArgument  = errors.New("store: invalid argument")
)

// Defaults for Options fields left zero.
const (
	// DefaultMemTableSize: one memtable (and its write-ahead log) holds this
	// much before it is flushed to a table. Badger's default, 64 MiB, costs an
	// 83 MB arena per memtable in memory (issue 6, scenario 6: with up to five
	// of them waiting for a flush, Badger held 250-500 MB however short the
	// queues), and the table builder that flushes one allocates twice its size.
	// 8 MiB still takes a group commit of 1.2 MB (Badger's transaction limit is
	// 15% of a memtable), a thousand 1 KiB messages, and a body just under the
	// 1 MiB value threshold. Scenario 6 drained a million-message queue at
	// 200-220k msgs/s with 8 MiB against 130-140k with 16 MiB; scenario 3's
	// rate was the same.
	DefaultMemTableSize = 8 << 20
	// DefaultValueThreshold: Badger puts values this large or larger in its
	// value log; the store keeps bodies below it inline and cuts larger ones
	// into pieces (doc.go, Space). It is Badger's maximum, 1 MiB.
	DefaultValueThreshold = 1 << 20
	// DefaultGCInterval is how often the value log is garbage-collected.
	DefaultGCInterval = 30 * time.Second
	// DefaultGCDiscardRatio: a value-log file is rewritten when at least this
	// share of it is garbage (Badger's recommended 0.5).
	DefaultGCDiscardRatio = 0.5
	// DefaultValueLogFileSize: value-log GC rewrites whole files and never
	// the one being written, so files much smaller than Badger's 1 GiB let
	// the folder shrink in steps a broker notices.
	DefaultValueLogFileSize = 128 << 20
	// DefaultBlockCacheSize bounds Badger's block cache (Badger's default is
	// 256 MiB, more than a broker needs: it reads a paged-out queue once, in
	// order, and keeps what it read in memory itself). The cache stays full
	// when the broker goes idle, so its size is memory a drained broker keeps:
	// 2 MiB against 16 MiB kept 8-30 MB less 3 s after scenario 6's drain
	// (issue 6) and drained as fast within the noise (4 interleaved runs,
	// medians 184k and 194k msgs/s).
	DefaultBlockCacheSize = 2 << 20
)

// Badger settings that are not Options.
const (
	// numMemtables is how many memtables Badger keeps, the one being written
	// and those waiting to be flushed (Badger's default is 5). Writes wait when
	// all are full, so a slow disk holds back publishers instead of growing
	// the broker's memory.
	numMemtables = 3
	// numCompactors is how many compactions run at once (Badger's default is
	// 4, its minimum 2); each holds a table builder's buffers.
	numCompactors = 2
	// numLevelZeroTables flushed memtables make Badger compact level 0 into
	// level 1 (its default is 5; writes stall at numLevelZeroTables+10), and
	// level 1 holds baseLevelSize before it spills into level 2 (Badger's
	// default is 10 MB). An ack is a deletion: while level 1 holds the queue's
	// entries, the deletion meets its entry there and both go, instead of
	// travelling down the levels. Scenario 6's drain of a million paged-out
	// messages (issue 6), 5 interleaved pairs: median 287k msgs/s at 5.4 µs of
	// broker CPU a message against 251k at 6.4 µs with Badger's defaults, and
	// 15-17 MB left on disk after it against 29-30 MB; scenario 3 unchanged
	// (140k against 135k confirmed/s, 3 pairs).
	numLevelZeroTables = 10
	baseLevelSize      = 64 << 20
)

// Options tune a Store. The zero value is valid: every zero field takes its default.
type Options struct {
	// Logger receives Badger's warnings and errors (its info and debug
	// messages are dropped). The zero Logger discards everything.
	Logger zerolog.Logger
	// MemTableSize is Badger's memtable size in bytes (DefaultMemTableSize).
	MemTableSize int64
	// ValueThreshold is Badger's value threshold (DefaultValueThreshold):
	// bodies this large are stored in pieces. At most 15% of MemTableSize.
	ValueThreshold int64
	// ValueLogFileSize is the size of one value-log file (DefaultValueLogFileSize).
	ValueLogFileSize int64
	// BlockCacheSize is Badger's block cache in bytes (DefaultBlockCacheSize).
	BlockCacheSize int64
	// GCInterval is the period of value-log GC (DefaultGCInterval); negative disables it.
	GCInterval time.Duration
	// GCDiscardRatio is passed to RunValueLogGC (DefaultGCDiscardRatio).
	GCDiscardRatio float64
}

func (o Options) withDefaults() Options {
	if o.MemTableSize <= 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.ValueThreshold <= 0 {
		o.ValueThreshold = DefaultValueThreshold
	}
	// Badger refuses a threshold above its transaction limit, 15% of a memtable.
	o.ValueThreshold = min(o.ValueThreshold, o.MemTableSize*15/100)
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = DefaultValueLogFileSize
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.GCInterval == 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1 {
		o.GCDiscardRatio = DefaultGCDiscardRatio
	}
	return o
}

// Store is warren's persistent state. Its methods are safe for concurrent use.
type Store struct {
	db   *badger.DB     // immutable after open
	dir  string         // data folder; "" in memory; immutable
	opts Options        // immutable
	log  zerolog.Logger // immutable

	synced *os.File // SYNCED watermark file, nil in memory; written only by commitLoop

	mu struct {
		sync.Mutex
		pending []request // queued for commitLoop
		closed  bool
	}
	wake chan struct{} // cap 1: pending has work or closed is set

	// Owned by commitLoop after open.
	commits uint64 // transactions committed and synced, ever (persisted in metaKey)
	broken  error  // first commit or sync failure: every later commit fails with it
	spare   []request
	slab    slab // keys and values of the round being committed (commit.go)

	maxID   atomic.Uint64 // highest message id ever committed; written by commitLoop
	syncs   atomic.Uint64 // transactions committed and synced since open; written by commitLoop
	batches atomic.Uint64 // batches committed since open; written by commitLoop

	loopDone  chan struct{} // closed when commitLoop returns
	gcStop    chan struct{} // closed by Close to stop gcLoop and poolLoop
	gcDone    chan struct{} // closed when gcLoop returns
	poolDone  chan struct{} // closed when poolLoop returns
	closeOnce sync.Once
	closeErr  error // result of the first Close
}

// request is one Commit: a batch and the callback owed for it.
type request struct {
	b    *Batch
	done func(error)
	err  error // set by commitLoop when this batch alone failed
}

// Open opens (creating if needed) the store in folder dir. A folder of
// another format, or not a warren folder, gives ErrIncompatible; one in use
// by another process ErrLocked; a damaged manifest, table or older
// write-ahead log ErrCorrupt; in all these cases nothing in it is changed.
// If Badger's recovery comes back without commits that were acknowledged,
// Open fails with ErrCorrupt too, after Badger has replayed its logs
// (doc.go).
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create data folder: %w", err)
	}
	if err := probeLock(dir); err != nil {
		return nil, err
	}
	if err := checkFormat(dir); err != nil {
		return nil, err
	}
	if err := verifyTables(dir); err != nil {
		return nil, err
	}
	watermark, err := readSynced(dir)
	if err != nil {
		return nil, err
	}
	if err := removeEmptyMemtables(dir); err != nil {
		return nil, err
	}
	if err := verifyMemtables(dir); err != nil {
		return nil, err
	}

	bo := badgerOptions(dir, opts).
		WithSyncWrites(false). // the committer syncs once per group (doc.go)
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithBlockCacheSize(opts.BlockCacheSize).
		// Tables were checked by verifyTables; Badger's own check on open
		// would skip a bad table instead of failing (verify.go).
		WithChecksumVerificationMode(options.NoVerification).
		WithVerifyValueChecksum(true).
		WithExternalMagic(formatVersion)
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "directory lock") { // lost a race with another process
			return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
		}
		return nil, fmt.Errorf("%w: %s: Badger cannot open it: %v", ErrCorrupt, dir, err)
	}
	s, err := newStore(db, dir, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	if s.commits < watermark {
		db.Close()
		return nil, fmt.Errorf("%w: %s: Badger recovered %d commits but %d were acknowledged, "+
			"so its write-ahead log lost data (Badger cuts a log at its first bad record); "+
			"if the folder was restored from a backup on purpose, delete its %s file",
			ErrCorrupt, dir, s.commits, watermark, syncedFile)
	}
	if s.synced, err = openSynced(dir); err != nil {
		db.Close()
		return nil, err
	}
	if n, err := s.sweepChunks(); err != nil {
		db.Close()
		s.synced.Close()
		return nil, fmt.Errorf("store: %s: sweep pieces of uncommitted bodies: %w", dir, err)
	} else if n > 0 {
		s.log.Info().Int("pieces", n).Str("dir", dir).Msg("deleted pieces of message bodies that never committed")
	}
	s.start()
	return s, nil
}

// OpenMemory opens a store that keeps everything in memory and touches no
// disk: commits succeed without syncing and nothing survives Close.
func OpenMemory(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	bo := badgerOptions("", opts).
		WithInMemory(true).
		WithCompression(options.None). // nothing to save on: no disk
		WithBlockCacheSize(0)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("store: open in memory: %w", err)
	}
	s, err := newStore(db, "", opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.start()
	return s, nil
}

// badgerOptions are the Badger settings a store on disk and one in memory share.
func badgerOptions(dir string, opts Options) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{opts.Logger}).
		WithMetricsEnabled(false).
		WithDetectConflicts(false). // one writer: the committer
		WithMemTableSize(opts.MemTableSize).
		WithValueThreshold(opts.ValueThreshold).
		WithNumMemtables(numMemtables).
		WithNumCompactors(numCompactors).
		WithNumLevelZeroTables(numLevelZeroTables).
		WithNumLevelZeroTablesStall(numLevelZeroTables + 10).
		WithBaseLevelSize(baseLevelSize)
}

func newStore(db *badger.DB, dir string, opts Options) (*Store, error) {
	s := &Store{
		db:       db,
		dir:      dir,
		opts:     opts,
		log:      opts.Logger,
		wake:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		gcStop:   make(chan struct{}),
		gcDone:   make(chan struct{}),
		poolDone: make(chan struct{}),
	}
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 16 {
				return fmt.Errorf("meta record of %d bytes, want 16", len(v))
			}
			s.commits = binary.BigEndian.Uint64(v)
			s.maxID.Store(binary.BigEndian.Uint64(v[8:]))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read meta: %v", ErrCorrupt, dir, err)
	}
	return s, nil
}

func (s *Store) start() {
	go s.commitLoop()
	if s.dir != "" && s.opts.GCInterval > 0 {
		go s.gcLoop()
	} else {
		close(s.gcDone)
	}
	if pool, ok := findBuilderPool(s.db); ok {
		go s.poolLoop(pool)
	} else {
		s.log.Warn().Msg("store: Badger's table-builder pool was not found: it keeps its buffers")
		close(s.poolDone)
	}
}

// Dir returns the data folder, or "" for an in-memory store.
func (s *Store) Dir() string { return s.dir }

// LastMessageID returns the highest message id ever committed (0 if none),
// so a restarted broker can continue above it.
func (s *Store) LastMessageID() uint64 { return s.maxID.Load() }

// Stats counts the store's work since Open.
type Stats struct {
	Syncs   uint64 // Badger transactions committed, each followed by one sync
	Batches uint64 // batches committed (Commit, CommitSync, PutEntity, ...)
}

// Stats returns the counters since Open; Batches/Syncs is the group-commit factor.
func (s *Store) Stats() Stats {
	return Stats{Syncs: s.syncs.Load(), Batches: s.batches.Load()}
}

// MaxSettles is how many Ack, AckInline, AckHinted and MarkDelivered calls on queues
// whose names have at most nameLen bytes one batch may hold and still fit one Badger
// transaction, when none of the bodies acked is in pieces: each writes at most four keys
// (index entry, mark, reference count, body). A batch past Badger's limits fails alone
// with ErrBatchTooBig, and its changes are lost.
func (s *Store) MaxSettles(nameLen int) int {
	// Badger counts an entry as its key, value and two meta bytes, plus 10 (Txn.modify);
	// the commit's meta record takes one entry and a few dozen bytes.
	perKey := int64(1+2+nameLen+8+1) + 2 + 10
	n := min((s.db.MaxBatchCount()-2)/4, (s.db.MaxBatchSize()-64)/(4*perKey))
	return int(max(n, 1))
}

// Close commits every batch already passed to Commit, stops the store's
// goroutines and closes Badger. Later commits fail with ErrClosed. Close is
// idempotent: every call returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.mu.closed = true
		s.mu.Unlock()
		s.signal()
		<-s.loopDone
		close(s.gcStop)
		<-s.gcDone
		<-s.poolDone
		err := s.db.Close()
		if s.synced != nil {
			err = errors.Join(err, s.synced.Close())
		}
		if err != nil {
			s.closeErr = fmt.Errorf("store: close %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

// badgerLogger routes Badger's log to zerolog: errors and warnings only.
type badgerLogger struct{ log zerolog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	if e := l.log.Error(); e.Enabled() {
		e.Str("from", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

func (l badgerLogger) Warningf(f string, a ...any) {
	if e := l.log.Warn(); e.Enabled() {
		e.Str("from", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// Badger pools its table builders' buffers (DB.allocPool, ristretto's z.AllocatorPool,
// up to 8 of them): a pooled builder keeps the largest buffers it ever grew to, and the
// pool lets go of one per 2 s, and only once nothing took one for 2 s. A builder holds
// a table's blocks uncompressed and compressed (at s2's worst-case size), and a table is
// cut by its compressed size: a memtable flush takes about 2.2 × the memtable (8 MiB)
// and a compaction's builder, for a 2 MiB table of messages that compress well, 25-35
// MB. In issue 6's scenario 6 (1M 100-byte messages queued, then drained) the pool held
// 60-90 MB when the queue was full and 175-280 MB 2 s after the drain, while Badger
// compacted the acks. Badger has no option for it, so poolLoop empties the pool once no
// builder was taken from it for poolSweep. Emptying it at every sweep instead, busy or
// not, cost the drain 10-15% more CPU: each builder then allocates its buffers afresh,
// and the collections that brings mark a heap full of queued messages.
const poolSweep = 200 * time.Millisecond

// builderPool is Badger's builder pool: its channel (DB.allocPool.allocCh) and its count
// of builders taken (numGets, which Badger updates atomically). Both fields are set in
// badger.Open and never written again, so reading them afterwards is safe; the channel
// and the atomic count are Badger's own synchronization.
type builderPool struct {
	ch   reflect.Value // chan *z.Allocator
	gets *int64
}

// findBuilderPool returns db's builder pool; ok is false if this Badger version has none.
func findBuilderPool(db *badger.DB) (p builderPool, ok bool) {
	f := reflect.ValueOf(db).Elem().FieldByName("allocPool")
	if !f.IsValid() || f.Kind() != reflect.Pointer {
		return p, false
	}
	pool := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	if pool.IsNil() {
		return p, false
	}
	ch, gets := pool.Elem().FieldByName("allocCh"), pool.Elem().FieldByName("numGets")
	if !ch.IsValid() || ch.Kind() != reflect.Chan || ch.Type().ChanDir() != reflect.BothDir ||
		!gets.IsValid() || gets.Kind() != reflect.Int64 {
		return p, false
	}
	p.ch = reflect.NewAt(ch.Type(), unsafe.Pointer(ch.UnsafeAddr())).Elem()
	p.gets = (*int64)(unsafe.Pointer(gets.UnsafeAddr()))
	return p, true
}

// release releases every builder waiting in the pool and returns how many there were
// and the bytes they held.
func (p builderPool) release() (n int, bytes uint64) {
	for {
		x, ok := p.ch.TryRecv()
		if !ok || x.IsNil() { // empty, or closed by DB.Close
			return n, bytes
		}
		if a, ok := x.Interface().(interface{ Allocated() uint64 }); ok {
			bytes += a.Allocated()
		}
		if a, ok := x.Interface().(interface{ Release() }); ok {
			a.Release()
		}
		n++
	}
}

// Once poolLoop released at least poolFreeMin bytes of builders, it returns free memory
// to the operating system at once (debug.FreeOSMemory: a collection, then all free
// pages), at most every poolFreeEvery. Otherwise the released buffers wait for the next
// collection, which an idle broker may not run for a long time, and then for the
// runtime's scavenger, which returns a few MB per second: after a burst of writes the
// broker would keep 100-150 MB for seconds (issue 6, scenario 6, measured 2 s after the
// last confirm). The collection costs a mark of the live heap, once per burst.
const (
	poolFreeMin   = 32 << 20
	poolFreeEvery = time.Second
)

// pageOutQuiet is how many poolSweeps without a commit or a table build make the store
// quiet: then poolLoop pages out Badger's file mappings once (pageOut), until the next
// commit or build.
const pageOutQuiet = 5

// poolLoop empties Badger's builder pool whenever no builder was taken from it for a
// poolSweep, and pages out Badger's file mappings once the store is quiet, until Close.
func (s *Store) poolLoop(p builderPool) {
	defer close(s.poolDone)
	t := time.NewTicker(poolSweep)
	defer t.Stop()
	last := atomic.LoadInt64(p.gets)
	var freed time.Time
	lastSyncs, quiet := s.syncs.Load(), 0
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
		}
		if syncs := s.syncs.Load(); syncs != lastSyncs {
			lastSyncs, quiet = syncs, 0
		} else if quiet++; quiet == pageOutQuiet && s.dir != "" {
			n, _ := pageOut(s.dir)
			s.log.Debug().Uint64("bytes", n).Msg("store: quiet; paged out Badger's file mappings")
		}
		if gets := atomic.LoadInt64(p.gets); gets != last {
			last, quiet = gets, 0
			continue
		}
		if _, bytes := p.release(); bytes >= poolFreeMin && time.Since(freed) >= poolFreeEvery {
			debug.FreeOSMemory()
			freed = time.Now()
		}
	}
}

// removeEmptyMemtables deletes empty memtable logs (*.mem) before Badger opens
// the folder. Badger deletes the log of a memtable it has flushed to a table by
// truncating it to zero bytes and then removing it; a kill -9 between the two
// leaves an empty file, which Badger's Open then refuses ("while opening fid:
// N err: Create a new file"). An empty log holds nothing: Badger writes a
// header before any entry, and a flushed memtable's entries are in a table. The
// commit watermark (SYNCED) still checks that no acknowledged commit is lost.
// The smaller memtables of issue 6 flush four times as often, which made the
// kill -9 test (crash_test.go) hit this.
func removeEmptyMemtables(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: read data folder: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("store: %s: %w", e.Name(), err)
		}
		if fi.Size() == 0 {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("store: remove empty memtable log: %w", err)
			}
		}
	}
	return nil
}
