// Package store is warren's persistence on Badger (github.com/dgraph-io/badger/v4).
//
// It owns the data folder: durable entities (vhosts, users, exchanges, queues,
// bindings, kept as opaque records the caller encodes), persistent messages and
// the per-queue indexes that point at them. It imports only the standard
// library, Badger and zerolog; nothing from this module (see STYLE.md §1).
//
// # Durability
//
// Badger runs with SyncWrites=false; the store syncs itself. Every write goes
// through one committer goroutine (commit.go) that takes all batches queued
// since its last round, applies them in one Badger transaction (more only when
// the round exceeds Badger's transaction limit), calls DB.Sync once per
// transaction and only then reports success to each caller, in Commit order.
// So a nil result from CommitSync or PutEntity, or done(nil) from Commit, means
// the change is on disk and survives kill -9 and power loss (issue 4: "a
// declare-ok means it survives a kill from that moment on"), while many
// concurrent callers share one sync (group commit).
//
// # Keys
//
// The first byte of every key names its kind (keys.go):
//
//	'e' kind key                   entity record, value = caller's bytes
//	'q' len16 queue seq64 0x00     queue index entry, value = msgID64 [+ body]
//	'q' len16 queue seq64 0x01     "delivered" mark of that entry, empty value
//	'm' msgID64                    body shared by two or more index entries
//	'r' msgID64                    number of index entries that share 'm' msgID64
//	'c' msgID64 piece32            one piece of a body too large for one value
//	'x' "meta"                     commit counter and highest message id
//
// A message enqueued on one queue keeps its body inside its index entry
// ("inline", Badger user-meta metaInline), so the common case writes one key
// and an ack deletes one; a caller that knows an entry is inline (Store.Inline,
// Message.Inline) acks it with Batch.AckInline, which skips reading it. A message enqueued on N ≥ 2 queues in one batch is
// stored once under 'm' with a reference count N under 'r'; each index entry
// holds only the id (metaShared), and the ack that drops the count to zero
// deletes body and count. The count lives on disk and changes only in the
// committer, which reads it inside its transaction, so no recovery scan is
// needed and a duplicate ack (no index entry) changes nothing.
//
// # Safety checks on open
//
// A file FORMAT in the folder names the on-disk format; it is read before
// Badger opens anything, so a folder of another version (or not a warren
// folder at all) is left untouched with ErrIncompatible. Badger's directory
// lock is probed first, so a second process gets ErrLocked naming the folder
// and the holder's pid. verifyTables then replays Badger's manifest and checks
// the checksum of every table it lists, read-only (verify.go): Badger's own
// check on open would skip a damaged table and carry on without its data.
// Badger v4 has no option to refuse truncating a write-ahead log at its
// first bad record (v2's Truncate option is gone): that is how it drops the
// torn tail of a crash, and it cannot tell that from damage in the middle.
// So after each successful sync the store writes its commit counter to a
// side file SYNCED (no fsync needed: it is written only after the data it
// vouches for is durable, so on disk it can only lag). If Badger comes back
// with an older counter, acknowledged commits were lost: Open fails with
// ErrCorrupt instead of starting without them. That check runs after Badger
// has replayed (and cut) its log, so in that one case the folder has been
// changed; the error says so. The counter only sees the newest log, so the
// logs before it (memtables not yet flushed to tables) are read before Badger
// opens: each was complete when Badger moved on, and anything after the
// point where replay would stop is damage (walcheck.go).
//
// # Space
//
// Acks must give space back while the broker runs (issue 4). Badger frees a
// deleted value in its LSM tree at compaction, which starts when memtables
// fill; a value in its value log leaves only a ~100-byte pointer in the
// memtable, so value-log GC (which needs compaction's discard statistics)
// would free nothing for a long time. The store therefore keeps every value
// below Badger's value threshold: bodies up to 1 MiB inline, larger ones in
// pieces of half the threshold ('c' msgID64 piece32, chunk.go) under a head
// 'm' msgID64 with user-meta metaChunked. gcLoop still runs Badger's
// value-log GC, as a safety net for anything that lands there.
//
// # Memory
//
// Badger's memory is bounded by its options (store.go): three memtables of 8 MiB, a
// 2 MiB block cache, two compactors. Its pool of table builders' buffers is emptied
// once it was idle for 200 ms (poolLoop): a pooled builder keeps the largest buffers it
// ever needed, hundreds of MB after a burst of writes, which Badger gives back only
// seconds after the writes stop (issue 6). Badger maps every file it reads, and the
// pages it touched count in the process's memory until the kernel needs them: once a
// second passes without a commit or a table build, poolLoop advises the kernel to take
// them back (pageOut, MADV_PAGEOUT).
//
// # Goroutines and locks
//
// A Store owns three goroutines, commitLoop, gcLoop and poolLoop; Close stops
// and waits for them. Lock order: Store.mu only (held briefly to queue a batch or read
// the closed flag; never across Badger I/O). Committer state (the open
// transaction, the counters) is owned by commitLoop.
package store
