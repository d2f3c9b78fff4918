//go:build !(linux || darwin)

package store

import "errors"

// probeLock leaves the lock check to Badger, whose error Open maps to ErrLocked.
func probeLock(string) error { return nil }

// FreeBytes is not implemented on this platform.
func (s *Store) FreeBytes() (uint64, error) {
	if s.dir == "" {
		return ^uint64(0), nil
	}
	return 0, errors.New("store: FreeBytes: no statfs on this platform")
}
