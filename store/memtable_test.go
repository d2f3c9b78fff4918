package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// A kill -9 while Badger deletes a flushed memtable's log leaves it empty; Open
// removes it and opens the folder with its data.
func TestOpenRemovesEmptyMemtableLog(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutEntity(KindQueue, "q", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "00099.mem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("open with an empty memtable log: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("empty memtable log still there: %v", err)
	}
	n := 0
	if err := s.Entities(KindQueue, func(key string, val []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d queues after reopening, want 1", n)
	}
}
