package vhost

import (
	"github.com/warrenmq/warren/store"
)

// The janitor deletes, in the background, what a synced entity change left behind: the
// message index of a deleted or purged queue (dropIndex) and the binding records of a
// deleted exchange or queue (dropBindings). Nothing depends on it for correctness:
// recovery ignores bindings whose ends are gone and hands orphaned indexes back to it.

// dropIndex deletes a store message index (a queue's, named by indexName).
type dropIndex struct{ ix string }

// dropBindings deletes the binding records naming sid at either end.
type dropBindings struct {
	vhost string
	sid   uint64
}

// janitorPage is how many entries one janitor commit removes; between pages it checks
// whether the broker is closing (an unfinished job is redone after the next start).
const janitorPage = 4096

func (pst *persister) janitorLoop() {
	defer pst.wg.Done()
	var spare []any
	for {
		jobs := pst.janitor.take(pst.stop, spare)
		if jobs == nil {
			return
		}
		// Commits naming these indexes may have been issued and not be done yet; after a
		// barrier they are, and no new ones can come (the queue is gone or moved on).
		if err := pst.barrier(); err != nil {
			return
		}
		drop := map[string]map[uint64]bool{}
		for _, j := range jobs {
			switch j := j.(type) {
			case dropIndex:
				if !pst.dropIndex(j.ix) {
					return
				}
			case dropBindings:
				if drop[j.vhost] == nil {
					drop[j.vhost] = map[uint64]bool{}
				}
				drop[j.vhost][j.sid] = true
			}
		}
		if len(drop) > 0 {
			pst.dropBindings(drop)
		}
		clear(jobs)
		spare = jobs
	}
}

// dropIndex deletes every entry of index ix, a page per commit; false if the broker is
// closing or the store failed.
func (pst *persister) dropIndex(ix string) bool {
	pst.journal.forget(ix)
	for {
		select {
		case <-pst.stop:
			return false
		default:
		}
		n, err := pst.st.PurgeSome(ix, janitorPage)
		if err != nil {
			pst.log.Error().Err(err).Msg("cannot delete a queue's messages from the store")
			return false
		}
		if n < janitorPage {
			return true
		}
	}
}

// dropBindings deletes the binding records whose source or destination sid is in drop
// (per vhost).
func (pst *persister) dropBindings(drop map[string]map[uint64]bool) {
	var keys []string
	err := pst.st.Entities(store.KindBinding, func(key string, val []byte) error {
		vh, _, err := splitNameKey(key)
		if err != nil || drop[vh] == nil {
			return nil
		}
		r, err := decodeBinding(val)
		if err == nil && (drop[vh][r.srcSID] || drop[vh][r.dstSID]) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		pst.log.Error().Err(err).Msg("cannot read binding records")
		return
	}
	for len(keys) > 0 {
		var b store.Batch
		n := min(len(keys), janitorPage)
		for _, k := range keys[:n] {
			b.DeleteEntity(store.KindBinding, k)
		}
		keys = keys[n:]
		if err := pst.st.CommitSync(&b); err != nil {
			pst.log.Error().Err(err).Msg("cannot delete binding records")
			return
		}
	}
}
