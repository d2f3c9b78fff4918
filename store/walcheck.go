package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Badger's write-ahead log (one per memtable, NNNNN.mem) as its v4 writes
// it: a 20-byte header (key id, IV), then records of meta byte, user-meta
// byte, uvarint key length, uvarint value length, uvarint expiry, key (with
// its 8-byte version), value, and a big-endian CRC-32C of all that. The
// entries of a transaction carry walTxn and end with a walFinTxn record.
const (
	walHeaderSize = 20
	walTxn        = 1 << 6
	walFinTxn     = 1 << 7
	walMaxKey     = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walRecord is one record of a write-ahead log, valid only during the
// callback that receives it.
type walRecord struct {
	meta       byte
	key, value []byte // key with Badger's version suffix
}

// scanWAL walks data, a whole .mem file, the way Badger replays it, calling
// fn for each record of every complete transaction. It returns the offset
// where Badger's replay stops (and would cut the file).
func scanWAL(data []byte, fn func(walRecord)) int {
	if len(data) < walHeaderSize {
		return 0
	}
	off, end := walHeaderSize, walHeaderSize
	var pending []walRecord
	var lastCommit uint64 // version of the open transaction, 0 if none
	for off < len(data) {
		r, n := readWALRecord(data[off:])
		if n == 0 || len(r.key) == 0 {
			break
		}
		off += n
		switch {
		case r.meta&walTxn != 0:
			ts := walVersion(r.key)
			if lastCommit == 0 {
				lastCommit = ts
			}
			if ts != lastCommit {
				return end
			}
			pending = append(pending, r)
		case r.meta&walFinTxn != 0:
			ts, err := strconv.ParseUint(string(r.value), 10, 64)
			if err != nil || ts != lastCommit {
				return end
			}
			if fn != nil {
				for _, p := range pending {
					fn(p)
				}
			}
			pending, lastCommit, end = pending[:0], 0, off
		default:
			if lastCommit != 0 {
				return end
			}
			if fn != nil {
				fn(r)
			}
			end = off
		}
	}
	return end
}

// walVersion is the version Badger appends to a key, as y.ParseTs reads it.
func walVersion(key []byte) uint64 {
	if len(key) <= 8 {
		return 0
	}
	return ^binary.BigEndian.Uint64(key[len(key)-8:])
}

// readWALRecord decodes the record at the start of b, returning its length,
// 0 if b does not start with a whole record whose checksum holds.
func readWALRecord(b []byte) (walRecord, int) {
	if len(b) < 2 {
		return walRecord{}, 0
	}
	r := walRecord{meta: b[0]}
	n := 2
	var lens [3]uint64
	for i := range lens {
		v, k := binary.Uvarint(b[n:])
		if k <= 0 {
			return walRecord{}, 0
		}
		lens[i], n = v, n+k
	}
	klen, vlen := lens[0], lens[1]
	if klen > walMaxKey || vlen > uint64(len(b)) || uint64(n)+klen+vlen+4 > uint64(len(b)) {
		return walRecord{}, 0
	}
	body := n + int(klen) + int(vlen)
	if crc32.Checksum(b[:body], castagnoli) != binary.BigEndian.Uint32(b[body:]) {
		return walRecord{}, 0
	}
	r.key, r.value = b[n:n+int(klen)], b[n+int(klen):body]
	return r, body + 4
}

// verifyMemtables checks dir's write-ahead logs before Badger replays them.
// Badger replays each log up to its first bad record and cuts it there,
// silently. A torn tail is normal in the newest log (a crash mid-write), and
// the SYNCED watermark catches a cut that loses acknowledged commits there
// (doc.go). An older log was complete when Badger moved on to the next one
// (it starts a new log only between transactions, and the store syncs every
// transaction before the next), so anything but zeros after the point where
// replay would stop is damage: without this check, commits in the middle of
// the history would vanish while the watermark still held.
func verifyMemtables(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: read data folder: %w", err)
	}
	type memFile struct {
		fid  uint64
		name string
	}
	var mems []memFile
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".mem") {
			continue
		}
		fid, err := strconv.ParseUint(strings.TrimSuffix(name, ".mem"), 10, 64)
		if err != nil {
			continue // Badger itself refuses the folder, with its own error
		}
		mems = append(mems, memFile{fid, name})
	}
	sort.Slice(mems, func(i, j int) bool { return mems[i].fid < mems[j].fid })
	for i := 0; i+1 < len(mems); i++ {
		data, err := os.ReadFile(filepath.Join(dir, mems[i].name))
		if err != nil {
			return fmt.Errorf("store: read %s: %w", mems[i].name, err)
		}
		end := scanWAL(data, nil)
		if end < walHeaderSize {
			end = len(data)
		}
		if k := nonZero(data[end:]); k >= 0 {
			return fmt.Errorf("%w: %s: write-ahead log %s is damaged at byte %d of %d "+
				"(a newer log follows it, so this is not the torn end of a crash)",
				ErrCorrupt, dir, mems[i].name, end, len(data))
		}
	}
	return nil
}

// nonZero returns the index of the first byte of b that is not zero, or -1.
func nonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return -1
}
