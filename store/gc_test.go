//go:build linux || darwin

package store

import (
	"bytes"
	"flag"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var gcMB = flag.Int("store.gcmb", 200, "megabytes pushed through the store in TestGCKeepsFolderBounded")

// diskUsage returns the bytes dir's files occupy on disk (not their
// apparent size: Badger preallocates sparse files).
func diskUsage(t testing.TB, dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file removed under us by compaction or GC
		}
		var st syscall.Stat_t
		if syscall.Stat(path, &st) == nil {
			total += st.Blocks * 512
		}
		return nil
	})
	return total
}

// Messages put and acked at once must not pile up on disk: value-log GC and
// compaction give the space back while the store runs (issue 4).
func TestGCKeepsFolderBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes hundreds of megabytes")
	}
	for _, tc := range []struct {
		name  string
		size  int   // body bytes: above or below the value threshold
		bound int64 // bytes the folder may occupy at any time
	}{
		{"inline 64KiB", 64 << 10, 120 << 20},
		{"inline 1KiB", 1 << 10, 120 << 20},
		{"in pieces 2MiB", 2 << 20, 120 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(t)
			opts.GCInterval = 100 * time.Millisecond
			opts.ValueLogFileSize = 16 << 20
			opts.MemTableSize = 16 << 20
			s, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			total := int64(*gcMB) << 20
			if raceEnabled {
				total /= 10
			}
			perBatch := max(1, (256<<10)/tc.size)
			body := bytes.Repeat([]byte{'g'}, tc.size)
			var (
				next, pushed atomic.Int64
				wg           sync.WaitGroup
				failed       atomic.Value
			)
			start := time.Now()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for pushed.Load() < total && time.Since(start) < 60*time.Second {
						var b, a Batch
						for range perBatch {
							id := uint64(next.Add(1))
							b.PutMessage(id, body)
							b.Enqueue("gc", id, id)
							a.MarkDelivered("gc", id)
							a.Ack("gc", id)
						}
						if err := s.CommitSync(&b); err != nil {
							failed.Store(err)
							return
						}
						if err := s.CommitSync(&a); err != nil {
							failed.Store(err)
							return
						}
						pushed.Add(int64(perBatch * tc.size))
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			var peak int64
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		sample:
			for {
				select {
				case <-done:
					break sample
				case <-tick.C:
					peak = max(peak, diskUsage(t, dir))
				}
			}
			if err := failed.Load(); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			if pushed.Load() < total {
				t.Fatalf("pushed only %d MB in %v", pushed.Load()>>20, elapsed)
			}
			if n, _, _ := s.Count("gc"); n != 0 {
				t.Fatalf("%d entries left", n)
			}
			t.Logf("pushed %d MB in %v (%.0f MB/s), peak folder %d MB, now %d MB, %d syncs",
				pushed.Load()>>20, elapsed.Round(time.Millisecond), float64(pushed.Load()>>20)/elapsed.Seconds(),
				peak>>20, diskUsage(t, dir)>>20, s.Stats().Syncs)
			if peak > tc.bound {
				t.Errorf("folder peaked at %d MB, bound %d MB", peak>>20, tc.bound>>20)
			}
		})
	}
}
