package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// verifyTables checks dir's Badger manifest and the checksums of every table
// it lists, reading only, before Badger opens the folder. Badger itself is no
// help here: with checksum verification on open it skips a table whose
// checksum fails ("Ignoring table", data silently gone) and a damaged table
// index panics in one of its goroutines, which no caller can recover.
func verifyTables(dir string) error {
	f, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new folder
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, dir, err)
	}
	defer f.Close()
	m, _, err := badger.ReplayManifestFile(f, formatVersion, badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		if strings.Contains(err.Error(), "magic") || strings.Contains(err.Error(), "unsupported version") {
			return fmt.Errorf("%w: %s: %v", ErrIncompatible, dir, err)
		}
		return fmt.Errorf("%w: %s: manifest: %v", ErrCorrupt, dir, err)
	}
	for id, tm := range m.Tables {
		if tm.KeyID != 0 {
			return fmt.Errorf("%w: %s: table %d is encrypted", ErrIncompatible, dir, id)
		}
		if err := verifyTable(table.NewFilename(id, dir), tm.Compression); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, dir, err)
		}
	}
	return nil
}

// verifyTable opens one table read-only and checks every block's checksum.
func verifyTable(name string, c options.CompressionType) (err error) {
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil { // Badger panics on some damaged tables
			err = fmt.Errorf("table %s is damaged (Badger panicked reading it: %v)", filepath.Base(name), firstLine(r))
			mf.Close(-1) // -1: do not truncate
		}
	}()
	opts := table.Options{ChkMode: options.OnTableRead, Compression: c, BlockSize: 4 << 10}
	if _, err := table.OpenTable(mf, opts); err != nil {
		// OpenTable closed mf on some errors but not others; leaking one
		// mapping of a refused folder beats unmapping twice.
		return fmt.Errorf("table %s: %v", filepath.Base(name), err)
	}
	// Not Table.DecrRef: dropping the last reference deletes the file.
	return mf.Close(-1)
}

func firstLine(v any) string {
	s := strings.TrimSpace(fmt.Sprint(v))
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}
