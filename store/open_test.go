package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// snapshot maps each file of dir to its size and content hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = "dir"
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%d:%x", len(data), sha256.Sum256(data))
	}
	return out
}

func assertUntouched(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("folder changed by a refused Open:\nbefore %v\nafter  %v", before, after)
	}
}

// assertKept checks that every file of before is still there, unchanged.
func assertKept(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s changed by a refused Open", name)
		}
	}
}

// filledDir returns a closed store folder holding some entities and messages.
func filledDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := openDir(t, dir)
	var b Batch
	for i := range uint64(500) {
		b.PutEntity(KindQueue, fmt.Sprint("q", i), []byte("durable"))
		b.PutMessage(i, []byte(strings.Repeat("m", 100)))
		b.Enqueue("q", i, i)
	}
	commit(t, s, &b)
	mustClose(t, s)
	return dir
}

func TestOpenRefusesOtherFormats(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string) error
	}{
		{"newer version", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, formatFile), []byte("warren-store 99\n"), 0o640)
		}},
		{"garbage", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, formatFile), []byte("\x00\x01zz"), 0o640)
		}},
		{"no FORMAT file", func(dir string) error {
			return os.Remove(filepath.Join(dir, formatFile))
		}},
		{"FORMAT unreadable", func(dir string) error {
			if err := os.Remove(filepath.Join(dir, formatFile)); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(dir, formatFile), 0o750) // read fails with EISDIR
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filledDir(t)
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			s, err := Open(dir, testOptions(t))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open = %v, want ErrIncompatible naming %s", err, dir)
			}
			assertUntouched(t, dir, before)
		})
	}
}

func TestOpenRefusesForeignFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o640); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	if _, err := Open(dir, testOptions(t)); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open = %v, want ErrIncompatible", err)
	}
	assertUntouched(t, dir, before)
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	_, err := Open(dir, testOptions(t))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, dir)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}
	mustClose(t, s)
	openDir(t, dir) // free again
}

func TestOpenCorrupted(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		// afterOpen: found only once Badger has opened the folder, which
		// may add its fresh empty log files but changes none that exist.
		afterOpen bool
	}{
		{"table checksum", func(t *testing.T, dir string) {
			flipMiddle(t, firstFile(t, dir, ".sst"))
		}, false},
		{"manifest", func(t *testing.T, dir string) {
			flipMiddle(t, filepath.Join(dir, "MANIFEST"))
		}, false},
		{"watermark ahead of data", func(t *testing.T, dir string) {
			s, err := readSynced(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, syncedFile), encodeSynced(s+1), 0o640); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"watermark damaged", func(t *testing.T, dir string) {
			flipMiddle(t, filepath.Join(dir, syncedFile))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filledDir(t)
			tc.corrupt(t, dir)
			before := snapshot(t, dir)
			s, err := Open(dir, testOptions(t))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, dir)
			}
			t.Logf("Open: %v", err)
			if tc.afterOpen {
				assertKept(t, dir, before)
			} else {
				assertUntouched(t, dir, before)
			}
		})
	}
}

func firstFile(t *testing.T, dir, ext string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	if len(m) == 0 {
		t.Fatalf("no %s file in %s", ext, dir)
	}
	return m[0]
}

// flipMiddle inverts one byte in the middle of file.
func flipMiddle(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(file, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestBuilderPoolFound: the store finds Badger's table-builder pool (store.go,
// findBuilderPool), and Badger takes its builders from it. If a Badger upgrade renames
// the fields, this fails instead of the broker silently holding hundreds of MB after a
// drain again.
func TestBuilderPoolFound(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MemTableSize: 1 << 20, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool, ok := findBuilderPool(s.db)
	if !ok {
		t.Fatal("Badger's builder pool (DB.allocPool: allocCh, numGets) not found")
	}
	body := bytes.Repeat([]byte("x"), 1000)
	var b Batch
	for id := uint64(1); id <= 5000; id++ { // 5 MB through 1 MiB memtables: flushes
		b.PutMessage(id, body)
		b.Enqueue("q", id, id)
		if b.Len() >= 200 {
			if err := s.CommitSync(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(pool.gets) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no builder taken from the pool after 5 MB of writes: Badger does not use it")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fakeBuilder struct{ released *atomic.Int32 }

func (f *fakeBuilder) Release() { f.released.Add(1) }

// TestPoolLoopReleasesWhenIdle: poolLoop leaves pooled builders alone while builders are
// being taken, and releases them all once none was taken for a sweep.
func TestPoolLoopReleasesWhenIdle(t *testing.T) {
	var released atomic.Int32
	var gets int64
	ch := make(chan *fakeBuilder, 8)
	for range 3 {
		ch <- &fakeBuilder{&released}
	}
	s := &Store{gcStop: make(chan struct{}), poolDone: make(chan struct{})}
	go s.poolLoop(builderPool{ch: reflect.ValueOf(ch), gets: &gets})
	defer func() { close(s.gcStop); <-s.poolDone }()
	for range 50 { // busy for 5 sweeps
		atomic.AddInt64(&gets, 1)
		time.Sleep(poolSweep / 10)
	}
	if n := released.Load(); n != 0 {
		t.Fatalf("%d builders released while the pool was busy", n)
	}
	deadline := time.Now().Add(10 * poolSweep)
	for released.Load() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 builders released %v after the pool went idle", released.Load(), 10*poolSweep)
		}
		time.Sleep(poolSweep / 10)
	}
	if len(ch) != 0 {
		t.Fatalf("%d builders left in the pool", len(ch))
	}
}
