//go:build !linux

package store

// pageOut does nothing outside Linux (pageout_linux.go).
func pageOut(string) (advised uint64, ok bool) { return 0, false }
