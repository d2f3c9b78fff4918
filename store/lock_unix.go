//go:build linux || darwin

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// probeLock fails with ErrLocked if another process holds Badger's lock on
// dir (an exclusive flock on the folder itself). It takes and at once drops
// the same lock: a flock held on a second descriptor of this process would
// make Badger's own attempt fail.
func probeLock(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: open data folder: %w", err)
	}
	defer d.Close()
	err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%w: %s (pid %s)", ErrLocked, dir, lockOwner(dir))
	}
	if err != nil {
		return fmt.Errorf("store: lock data folder %s: %w", dir, err)
	}
	return syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
}

// FreeBytes returns the bytes available to this process on the file system
// of the data folder, for the broker's disk alarm. An in-memory store has
// no disk to fill and reports the largest uint64.
func (s *Store) FreeBytes() (uint64, error) {
	if s.dir == "" {
		return ^uint64(0), nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, fmt.Errorf("store: statfs %s: %w", s.dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
