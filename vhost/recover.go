package vhost

import (
	"fmt"
	"time"

	"github.com/warrenmq/warren/store"
)

// recover loads the store into b, in dependency order: vhosts, exchanges, queues with
// their message counts, bindings. Messages stay on disk: each queue gets one run for its
// stored entries (pager.go), so recovery reads keys only and its time grows with the
// number of messages but not with their size. It logs one line with what it found.
// Records it cannot use (a binding whose ends were deleted before a crash, entities of
// a vhost that is gone) are deleted; message indexes of no queue go to the janitor.
func (b *Broker) recover() error {
	start := time.Now()
	pst := b.pst
	st := pst.st
	var maxID uint64
	var stale []struct {
		kind store.Kind
		key  string
	}
	dropRecord := func(kind store.Kind, key string, why string) {
		b.log.Warn().Str("kind", kind.String()).Str("record", fmt.Sprintf("%q", key)).Str("why", why).Msg("dropping a store record")
		stale = append(stale, struct {
			kind store.Kind
			key  string
		}{kind, key})
	}

	err := st.Entities(store.KindVhost, func(name string, val []byte) error {
		if len(val) < 1 || val[0] != recordV1 {
			return fmt.Errorf("%w: vhost %q record version", errRecord, name)
		}
		b.mu.vhosts[name] = newVHost(name, b.log, pst)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover vhosts: %w", err)
	}
	if len(b.mu.vhosts) == 0 {
		// A new folder: RabbitMQ's blank-node default vhost, written once.
		if err := st.PutEntity(store.KindVhost, "/", []byte{recordV1}); err != nil {
			return fmt.Errorf("write vhost /: %w", err)
		}
		b.mu.vhosts["/"] = newVHost("/", b.log, pst)
	}

	nx := 0
	err = st.Entities(store.KindExchange, func(key string, val []byte) error {
		vh, name, err := splitNameKey(key)
		if err != nil {
			return err
		}
		v := b.mu.vhosts[vh]
		if v == nil {
			dropRecord(store.KindExchange, key, "its vhost is gone")
			return nil
		}
		r, err := decodeExchange(val)
		if err != nil {
			return fmt.Errorf("exchange %q: %w", name, err)
		}
		x, err := newExchange(name, r.kind, true, r.autoDelete, r.internal, r.args)
		if err != nil {
			return fmt.Errorf("exchange %q: %w", name, err)
		}
		x.sid = r.sid
		maxID = max(maxID, r.sid)
		v.mu.exchanges[name] = x
		nx++
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover exchanges: %w", err)
	}

	delayedBySID := map[uint64]struct {
		v *VHost
		x *Exchange
	}{}
	for _, v := range b.mu.vhosts {
		for _, x := range v.mu.exchanges {
			if x.kind == delayedKind && x.sid != 0 {
				delayedBySID[x.sid] = struct {
					v *VHost
					x *Exchange
				}{v, x}
			}
		}
	}
	byIx := map[uint64]*Queue{}
	err = st.Entities(store.KindQueue, func(key string, val []byte) error {
		vh, name, err := splitNameKey(key)
		if err != nil {
			return err
		}
		v := b.mu.vhosts[vh]
		if v == nil {
			dropRecord(store.KindQueue, key, "its vhost is gone")
			return nil
		}
		r, err := decodeQueue(val)
		if err != nil {
			return fmt.Errorf("queue %q: %w", name, err)
		}
		opts, err := validateQueueArgs(vh, name, r.args)
		if err != nil {
			// Arguments accepted when it was declared; a later version may check more.
			b.log.Warn().Err(err).Str("queue", name).Msg("recovered queue has arguments this version refuses; ignoring them")
			opts = noQueueOpts()
		}
		q := &Queue{
			id: nextID.Add(1), sid: r.sid, name: name, vhost: v,
			durable: true, autoDelete: r.autoDelete, args: r.args, opts: opts,
			sources: make(map[*Exchange]int),
		}
		q.mu.unacked = make(map[uint64]pending)
		q.mu.consumers.single = opts.single
		q.mu.ix = indexName(r.ix)
		maxID = max(maxID, r.sid, r.ix)
		v.mu.queues[name] = q
		byIx[r.ix] = q
		q.mu.Lock()
		q.touchLocked() // x-expires counts from the restart, as in RabbitMQ
		q.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover queues: %w", err)
	}

	messages := 0
	var orphans []string
	err = st.Queues(func(ixName string) error {
		ix, ok := parseIndexName(ixName)
		if !ok {
			b.log.Warn().Str("index", fmt.Sprintf("%q", ixName)).Msg("store holds a message index warren did not name; leaving it")
			return nil
		}
		maxID = max(maxID, ix)
		q := byIx[ix]
		if d, ok := delayedBySID[ix]; ok && q == nil {
			n, err := pst.recoverHeld(d.v, d.x, ixName)
			messages += n
			return err
		}
		if q == nil {
			orphans = append(orphans, ixName)
			return nil
		}
		n, last, err := st.Count(ixName)
		if err != nil {
			return err
		}
		q.mu.seq = last
		if n > 0 {
			// One sparse run [0, last]: the stored entries, with gaps where acks were.
			q.mu.ready.pushBack(item{seq: 0, expires: int64(last), n: uint32(min(n, 1<<32-1))})
			q.mu.runs, q.mu.paged = 1, n
			messages += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover messages: %w", err)
	}

	nb := 0
	err = st.Entities(store.KindBinding, func(key string, val []byte) error {
		vh, _, err := splitNameKey(key)
		if err != nil {
			return err
		}
		v := b.mu.vhosts[vh]
		if v == nil {
			dropRecord(store.KindBinding, key, "its vhost is gone")
			return nil
		}
		r, err := decodeBinding(val)
		if err != nil {
			return fmt.Errorf("binding: %w", err)
		}
		src := v.mu.exchanges[r.src]
		var d dest
		if r.toQueue {
			if q := v.mu.queues[r.dst]; q != nil && q.sid == r.dstSID {
				d.q = q
			}
		} else if x := v.mu.exchanges[r.dst]; x != nil && x.sid == r.dstSID {
			d.x = x
		}
		if src == nil || src.sid != r.srcSID || (d.q == nil && d.x == nil) {
			dropRecord(store.KindBinding, key, "its source or destination was deleted")
			return nil
		}
		if _, err := v.bindLocked(src, d, r.key, r.args); err != nil {
			return fmt.Errorf("binding %q → %q: %w", r.src, r.dst, err)
		}
		nb++
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover bindings: %w", err)
	}
	for _, v := range b.mu.vhosts {
		// bindLocked wrote the bindings into a batch again: they are stored already.
		v.mu.pend, v.mu.jobs, v.mu.perr = nil, nil, nil
	}

	if len(stale) > 0 {
		var batch store.Batch
		for _, s := range stale {
			batch.DeleteEntity(s.kind, s.key)
		}
		if err := st.CommitSync(&batch); err != nil {
			return fmt.Errorf("delete stale records: %w", err)
		}
	}
	for _, ix := range orphans {
		pst.janitor.add(dropIndex{ix: ix})
	}
	pst.nextID.Store(maxID)
	pst.nextMsg.Store(st.LastMessageID())

	nq := 0
	for _, v := range b.mu.vhosts {
		nq += len(v.mu.queues)
		for _, q := range v.mu.queues {
			// A queue with a TTL pages its head in now, so that it expires without a
			// consumer; the others when a consumer or basic.get comes (wantPageLocked).
			q.mu.Lock()
			q.wantPageLocked()
			q.mu.Unlock()
		}
	}
	b.log.Info().Int("vhosts", len(b.mu.vhosts)).Int("exchanges", nx).Int("queues", nq).Int("bindings", nb).
		Int("messages", messages).Dur("took", time.Since(start)).Str("dir", st.Dir()).
		Msg("recovered durable state")
	return nil
}

// AddVHost creates virtual host name with its predeclared exchanges; with a store it is
// durable, and AddVHost returns once that is synced. Adding an existing vhost is a no-op.
func (b *Broker) AddVHost(name string) error {
	b.mu.Lock()
	if b.mu.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.mu.vhosts[name] != nil {
		b.mu.Unlock()
		return nil
	}
	var wait func() error
	if b.pst != nil {
		var batch store.Batch
		batch.PutEntity(store.KindVhost, name, []byte{recordV1})
		done := make(chan error, 1)
		b.pst.st.Commit(&batch, func(err error) { done <- err })
		wait = func() error { return <-done }
	}
	b.mu.vhosts[name] = newVHost(name, b.log, b.pst)
	b.mu.Unlock()
	if wait != nil {
		if err := wait(); err != nil {
			return errStore(err)
		}
	}
	return nil
}

// DeleteVHost deletes virtual host name with everything in it: its queues (consumers are
// cancelled) and exchanges. Deleting a missing vhost is a no-op.
func (b *Broker) DeleteVHost(name string) error {
	b.mu.Lock()
	v := b.mu.vhosts[name]
	delete(b.mu.vhosts, name)
	var wait func() error
	if v != nil && b.pst != nil {
		var batch store.Batch
		batch.DeleteEntity(store.KindVhost, name)
		done := make(chan error, 1)
		b.pst.st.Commit(&batch, func(err error) { done <- err })
		wait = func() error { return <-done }
	}
	b.mu.Unlock()
	if v == nil {
		return nil
	}
	// Its permissions go and its connections are closed with 320 (session.go).
	aerr := b.vhostDeleted(name)
	// Recovery drops the records of a vhost that is gone, so the vhost record's deletion
	// alone makes the rest durable; deleting the entities frees their space now.
	var firstErr error
	if wait != nil {
		if err := wait(); err != nil {
			firstErr = errStore(err)
		}
	}
	qs := v.queueList(false)
	for _, q := range qs {
		if _, err := v.deleteQueue(q, false, false, true); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	v.pol.mu.Lock() // a concurrent SetPolicy stores before this or not at all
	v.pol.gone = true
	v.mu.Lock()
	for n, x := range v.mu.exchanges {
		if n != "" && x.sid != 0 {
			v.removeExchangeLocked(x)
		}
	}
	v.dropPoliciesLocked()
	err := v.unlockCommit(nil)
	v.pol.mu.Unlock()
	if firstErr == nil {
		firstErr = err
	}
	if firstErr == nil {
		firstErr = aerr
	}
	v.close()
	return firstErr
}
