package store

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcRunsPerTick bounds the value-log files rewritten per tick, so one tick
// cannot hold the disk for long; Badger's docs suggest looping until
// RunValueLogGC reports ErrNoRewrite.
const gcRunsPerTick = 16

// gcLoop garbage-collects Badger's value log every opts.GCInterval until
// Close, so acked message bodies stored there give their space back
// (issue 4: the data folder stays bounded when messages flow through).
func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
		}
		s.collect()
	}
}

// collect runs value-log GC until nothing is left to rewrite, the bound is
// hit or the store is closing; it returns the number of files rewritten.
func (s *Store) collect() int {
	for n := range gcRunsPerTick {
		select {
		case <-s.gcStop:
			return n
		default:
		}
		err := s.db.RunValueLogGC(s.opts.GCDiscardRatio)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn().Err(err).Str("dir", s.dir).Msg("value-log GC failed")
		}
		return n
	}
	return gcRunsPerTick
}
