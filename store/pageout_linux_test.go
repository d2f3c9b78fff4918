package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// mappedRss sums the resident kB of this process's mappings of files in dir
// (/proc/self/smaps).
func mappedRss(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	kb, inDir := 0, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			inDir = len(f) >= 6 && strings.HasPrefix(f[5], dir+"/")
		case inDir && len(f) >= 2 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			kb += n
		}
	}
	return kb
}

// TestPageOutReleasesMappings checks that pageOut takes the pages of Badger's
// mapped files out of the process's resident memory, and that the store reads
// them back afterwards.
func TestPageOutReleasesMappings(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	for i := range 200 {
		var b Batch
		b.PutEntity(KindQueue, fmt.Sprintf("q%04d", i), bytes.Repeat([]byte{'x'}, 4000))
		if err := s.CommitSync(&b); err != nil {
			t.Fatal(err)
		}
	}
	before := mappedRss(t, dir)
	if before < 400 {
		t.Fatalf("only %d kB of the store's files are resident after writing 800 kB", before)
	}
	advised, ok := pageOut(dir)
	if !ok {
		t.Skip("this kernel has no MADV_PAGEOUT")
	}
	if advised == 0 {
		t.Fatalf("pageOut found no mapping of the store's files in %s", dir)
	}
	after := mappedRss(t, dir)
	t.Logf("resident mappings: %d kB before, %d kB after advising %d kB", before, after, advised>>10)
	if after > before/4 {
		t.Fatalf("%d kB of the store's files still resident after pageOut (was %d kB)", after, before)
	}
	n := 0
	if err := s.Entities(KindQueue, func(_ string, v []byte) error {
		if len(v) != 4000 || v[0] != 'x' {
			return fmt.Errorf("entity of %d bytes", len(v))
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 200 {
		t.Fatalf("read back %d entities, want 200", n)
	}
}
