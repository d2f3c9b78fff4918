package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// formatVersion names the on-disk layout of doc.go. Bump it on any
// incompatible change; Open refuses other versions. It is also Badger's
// ExternalMagic, so Badger's manifest carries it too.
const formatVersion = 1

const (
	formatFile   = "FORMAT" // "warren-store <version>\n", written once, atomically
	syncedFile   = "SYNCED" // commit watermark: counter64 crc32(counter64)
	formatPrefix = "warren-store "
)

// checkFormat reads dir's FORMAT file. A folder without one is initialised if
// it is empty and refused otherwise; nothing is written to a refused folder.
func checkFormat(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, formatFile))
	if errors.Is(err, os.ErrNotExist) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("store: read data folder: %w", err)
		}
		if len(entries) > 0 {
			return fmt.Errorf("%w: %s holds %d files but no %s file: not a warren data folder",
				ErrIncompatible, dir, len(entries), formatFile)
		}
		return writeFileAtomic(dir, formatFile, []byte(formatPrefix+strconv.Itoa(formatVersion)+"\n"))
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIncompatible, dir, err)
	}
	text, ok := strings.CutPrefix(string(data), formatPrefix)
	v, err := strconv.Atoi(strings.TrimSpace(text))
	if !ok || err != nil {
		return fmt.Errorf("%w: %s: %s says %q", ErrIncompatible, dir, formatFile, data)
	}
	if v != formatVersion {
		return fmt.Errorf("%w: %s: format %d, this warren reads format %d", ErrIncompatible, dir, v, formatVersion)
	}
	return nil
}

// writeFileAtomic writes name in dir via a synced temporary file and a rename,
// then syncs dir, so a crash leaves either no file or the whole file.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSynced returns the commit watermark of dir, 0 if there is none. A
// damaged watermark is reported, not ignored: it is written in one 12-byte
// pwrite and cannot tear on its own.
func readSynced(dir string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, syncedFile))
	if errors.Is(err, os.ErrNotExist) || err == nil && len(data) == 0 {
		return 0, nil // new folder, or a crash right after openSynced created it
	}
	if err != nil {
		return 0, fmt.Errorf("store: read %s: %w", syncedFile, err)
	}
	if len(data) != 12 || crc32.ChecksumIEEE(data[:8]) != binary.BigEndian.Uint32(data[8:]) {
		return 0, fmt.Errorf("%w: %s: %s holds %x", ErrCorrupt, dir, syncedFile, data)
	}
	return binary.BigEndian.Uint64(data), nil
}

func openSynced(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, syncedFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", syncedFile, err)
	}
	return f, nil
}

// encodeSynced returns the SYNCED record for counter n.
func encodeSynced(n uint64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 12), n)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// lockOwner returns the pid Badger wrote in dir/LOCK, or "unknown".
func lockOwner(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "LOCK"))
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return "unknown"
	}
	return string(bytes.TrimSpace(data))
}
