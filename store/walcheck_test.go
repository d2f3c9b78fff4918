package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// crashImage commits n entity batches to a store in a new folder and, with
// the store still open, copies the folder: what a kill -9 would leave. It
// returns the copy and the name of its newest write-ahead log.
func crashImage(t *testing.T, n int) (dir, newest string) {
	t.Helper()
	live := t.TempDir()
	s := openDir(t, live)
	for i := range n {
		var b Batch
		b.PutEntity(KindQueue, fmt.Sprintf("q%03d", i), bytes.Repeat([]byte{byte(i)}, 100))
		if err := s.CommitSync(&b); err != nil {
			t.Fatal(err)
		}
	}
	dir = t.TempDir()
	copyDir(t, live, dir)
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	if len(mems) == 0 {
		t.Fatal("the open store has no write-ahead log")
	}
	slices.Sort(mems)
	return dir, filepath.Base(mems[len(mems)-1])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScanWALReadsBadgerLogs checks scanWAL against a log Badger wrote: it
// finds every commit counter, in order, and nothing but zeros follows the
// point where it stops.
func TestScanWALReadsBadgerLogs(t *testing.T) {
	dir, newest := crashImage(t, 20)
	data, err := os.ReadFile(filepath.Join(dir, newest))
	if err != nil {
		t.Fatal(err)
	}
	var counters []uint64
	end := scanWAL(data, func(r walRecord) {
		if bytes.Equal(r.key[:len(r.key)-8], metaKey) {
			counters = append(counters, binary.BigEndian.Uint64(r.value))
		}
	})
	if len(counters) != 20 {
		t.Fatalf("found %d commit counters, want 20: %v", len(counters), counters)
	}
	for i, c := range counters {
		if c != uint64(i+1) {
			t.Fatalf("counter %d is %d, want %d", i, c, i+1)
		}
	}
	if k := nonZero(data[end:]); k >= 0 {
		t.Fatalf("byte %d after the end %d of the log is %#x", end+k, end, data[end+k])
	}
}

// TestDamagedOlderLogIsRefused damages a write-ahead log that a newer one
// follows: the SYNCED watermark cannot see that loss (the newer log holds
// the latest counter), so Open must read the older log itself.
func TestDamagedOlderLogIsRefused(t *testing.T) {
	dir, newest := crashImage(t, 20)
	var fid int
	if _, err := fmt.Sscanf(newest, "%05d.mem", &fid); err != nil {
		t.Fatal(err)
	}
	// The newest log becomes the older of two identical ones; replaying
	// both gives the same entries at the same versions.
	copyFile(t, filepath.Join(dir, newest), filepath.Join(dir, fmt.Sprintf("%05d.mem", fid+1)))

	intact := t.TempDir()
	copyDir(t, dir, intact)
	s, err := Open(intact, testOptions(t))
	if err != nil {
		t.Fatalf("Open with an older complete log: %v", err)
	}
	n := 0
	s.Entities(KindQueue, func(string, []byte) error { n++; return nil })
	s.Close()
	if n != 20 {
		t.Fatalf("%d queues after reopening, want 20", n)
	}

	data, err := os.ReadFile(filepath.Join(dir, newest))
	if err != nil {
		t.Fatal(err)
	}
	end := scanWAL(data, nil)
	for _, c := range []struct {
		name string
		at   int
	}{
		{"first record", walHeaderSize},
		{"middle record", (walHeaderSize + end) / 2},
		{"last record's checksum", end - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			bad := bytes.Clone(data)
			bad[c.at] ^= 0x5a
			if err := os.WriteFile(filepath.Join(d, newest), bad, 0o640); err != nil {
				t.Fatal(err)
			}
			s, err := Open(d, testOptions(t))
			if err == nil {
				s.Close()
				t.Fatalf("Open after damaging byte %d of %s succeeded", c.at, newest)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), newest) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, newest)
			}
			// Refused before Badger replayed anything: the log is as damaged.
			after, err := os.ReadFile(filepath.Join(d, newest))
			if err != nil || !bytes.Equal(after, bad) {
				t.Fatalf("the damaged log changed on a refused open (err %v)", err)
			}
		})
	}
}

// copyDir copies the files of from into to, but Badger's directory lock.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() && e.Name() != "LOCK" {
			copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
		}
	}
}

func FuzzScanWAL(f *testing.F) {
	var rec []byte
	rec = append(rec, walTxn, 0, 13, 16, 0)
	rec = append(rec, metaKey...)
	rec = binary.BigEndian.AppendUint64(rec, ^uint64(7))
	rec = binary.BigEndian.AppendUint64(rec, 1)
	rec = binary.BigEndian.AppendUint64(rec, 9)
	f.Add(append(make([]byte, walHeaderSize), rec...))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		end := scanWAL(data, func(r walRecord) {
			if len(r.key) == 0 {
				t.Fatal("a record without a key")
			}
		})
		if end < 0 || end > len(data) || len(data) >= walHeaderSize && end < walHeaderSize {
			t.Fatalf("end %d of %d bytes", end, len(data))
		}
	})
}
