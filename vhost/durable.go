package vhost

import (
	"fmt"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
)

// The durability seam for entities. Every creation and deletion of an exchange, queue or
// binding passes through exactly one of the three functions below, with VHost.mu held for
// writing. With a store they add the change to a batch (VHost.mu.pend); the operation then
// calls unlockCommit, which issues the batch (store.Commit only queues it: no Badger I/O
// under the lock), releases VHost.mu and waits for the sync. So a declare-ok, bind-ok or
// delete-ok is sent only once the change survives kill -9 (issue 4), and concurrent
// operations share syncs (the store's group commit). Batches are issued in VHost.mu order,
// which is the order the store applies them in.
//
// Durable means: exchanges and queues declared durable (exclusive queues never are), and
// bindings whose source and destination are both durable (rabbit_binding:binding_type/2).
// Predeclared exchanges are not written: every vhost gets them at creation.

// entityWait is one issued entity batch.
type entityWait struct {
	done chan struct{}
	err  error // set before done is closed
}

func (w *entityWait) wait() error {
	if w == nil {
		return nil
	}
	<-w.done
	return w.err
}

// batchLocked returns the batch collecting this operation's entity changes.
func (v *VHost) batchLocked() *store.Batch {
	if v.mu.pend == nil {
		v.mu.pend = new(store.Batch)
	}
	return v.mu.pend
}

// unlockCommit issues the entity changes made under VHost.mu, releases it and waits for
// them to be synced. err is the operation's own result, returned unless the store failed.
func (v *VHost) unlockCommit(err error) error {
	w := v.issueLocked()
	v.mu.Unlock()
	if serr := w.wait(); serr != nil {
		return errStore(serr)
	}
	return err
}

// unlockSynced releases VHost.mu after an operation that found its durable entity
// already there, and waits for the last entity batch issued: the one that created it may
// not be synced yet, and its declare-ok must not overtake it.
func (v *VHost) unlockSynced(err error) error {
	w := v.mu.last
	v.mu.Unlock()
	if serr := w.wait(); serr != nil && err == nil {
		return errStore(serr)
	}
	return err
}

// issueLocked hands the collected batch to the store; nil if there was nothing.
func (v *VHost) issueLocked() *entityWait {
	b, jobs, perr := v.mu.pend, v.mu.jobs, v.mu.perr
	v.mu.pend, v.mu.jobs, v.mu.perr = nil, nil, nil
	if perr != nil {
		w := &entityWait{done: make(chan struct{}), err: perr}
		close(w.done)
		return w
	}
	if b == nil {
		return nil
	}
	w := &entityWait{done: make(chan struct{})}
	pst := v.pst
	pst.st.Commit(b, func(err error) {
		w.err = err
		close(w.done)
		if err == nil {
			// Clean-ups that may only start once the entity is gone on disk.
			for _, j := range jobs {
				pst.janitor.add(j)
			}
		}
	})
	v.mu.last = w
	return w
}

func errStore(err error) error {
	return wire.Hard(wire.InternalError, "cannot write to the data folder: %v", err)
}

// durableAddedLocked is called after x (*Exchange) or q (*Queue) was created.
func (v *VHost) durableAddedLocked(entity any) {
	if v.pst == nil {
		return
	}
	switch e := entity.(type) {
	case *Exchange:
		if !e.durable {
			return
		}
		val, err := encodeExchange(e)
		if err != nil {
			v.mu.perr = fmt.Errorf("exchange '%s' has arguments the store cannot encode: %w", e.name, err)
			return
		}
		v.batchLocked().PutEntity(store.KindExchange, nameKey(v.name, e.name), val)
	case *Queue:
		if !e.durable {
			return
		}
		ix, _ := parseIndexName(e.mu.ix) // not yet visible to anyone: no lock needed
		val, err := encodeQueue(e, ix)
		if err != nil {
			v.mu.perr = fmt.Errorf("queue '%s' has arguments the store cannot encode: %w", e.name, err)
			return
		}
		v.batchLocked().PutEntity(store.KindQueue, nameKey(v.name, e.name), val)
	}
}

// durableRemovedLocked is called after an exchange or queue was deleted. Its bindings'
// records and a queue's message index are removed in the background once the deletion is
// synced (janitor.go); recovery ignores bindings of entities that are gone.
func (v *VHost) durableRemovedLocked(entity any) {
	if v.pst == nil {
		return
	}
	switch e := entity.(type) {
	case *Exchange:
		if !e.durable {
			return
		}
		v.batchLocked().DeleteEntity(store.KindExchange, nameKey(v.name, e.name))
		v.mu.jobs = append(v.mu.jobs, dropBindings{vhost: v.name, sid: e.sid})
	case *Queue:
		if !e.durable {
			return
		}
		e.mu.Lock()
		ix := e.mu.ix
		e.mu.Unlock()
		v.batchLocked().DeleteEntity(store.KindQueue, nameKey(v.name, e.name))
		v.mu.jobs = append(v.mu.jobs, dropIndex{ix: ix}, dropBindings{vhost: v.name, sid: e.sid})
	}
}

// durableBindingLocked is called after a binding was added (added=true) or removed.
// Bindings removed because their source or destination was deleted are not reported one
// by one: deleting the entity implies them.
func (v *VHost) durableBindingLocked(src *Exchange, d dest, key string, args wire.Table, added bool) {
	if v.pst == nil || !src.durable {
		return
	}
	r := bindingRecord{src: src.name, srcSID: src.sid, key: key, args: args}
	switch {
	case d.q != nil && d.q.durable:
		r.toQueue, r.dst, r.dstSID = true, d.q.name, d.q.sid
	case d.x != nil && d.x.durable:
		r.dst, r.dstSID = d.x.name, d.x.sid
	default:
		return
	}
	k, val, err := encodeBinding(v.name, r)
	if err != nil {
		v.mu.perr = fmt.Errorf("binding of '%s' has arguments the store cannot encode: %w", r.dst, err)
		return
	}
	if added {
		v.batchLocked().PutEntity(store.KindBinding, k, val)
	} else {
		v.batchLocked().DeleteEntity(store.KindBinding, k)
	}
}

// bindingDurable reports whether a binding from src to d is written to the store.
func (v *VHost) bindingDurable(src *Exchange, d dest) bool {
	if v.pst == nil || !src.durable {
		return false
	}
	if d.q != nil {
		return d.q.durable
	}
	return d.x.durable
}
