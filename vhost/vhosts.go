package vhost

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/exchange"
	"github.com/warrenmq/warren/store"
)

// VHostLimits are a vhost's limits (rabbitmqctl set_vhost_limits); NoLimit means none.
type VHostLimits struct {
	MaxConnections int64 // "max-connections"
	MaxQueues      int64 // "max-queues"
}

// NoVHostLimits is VHostLimits with no limit set.
var NoVHostLimits = VHostLimits{MaxConnections: NoLimit, MaxQueues: NoLimit}

// VHostInfo describes a vhost for listing.
type VHostInfo struct {
	Name        string
	Limits      VHostLimits
	Queues      int
	Connections int
}

// Limits returns the vhost's limits.
func (v *VHost) Limits() VHostLimits {
	if l := v.limits.Load(); l != nil {
		return *l
	}
	return NoVHostLimits
}

// checkQueueLimitLocked refuses a new queue in a vhost at its max-queues limit with
// RabbitMQ's 406 (rabbit_queue_type:check_vhost_queue_limit/1; rabbit_channel in 3.10).
// VHost.mu is held.
func (v *VHost) checkQueueLimitLocked(name string) error {
	if l := v.limits.Load(); l != nil && l.MaxQueues >= 0 && int64(len(v.mu.queues)) >= l.MaxQueues {
		return wire.Soft(wire.PreconditionFailed, "cannot declare queue '%s': queue limit in vhost '%s' (%d) is reached",
			name, v.name, l.MaxQueues)
	}
	return nil
}

// SetVHostLimits replaces a vhost's limits. Connections and queues over a new limit stay;
// only new ones are refused, as in RabbitMQ.
func (b *Broker) SetVHostLimits(name string, l VHostLimits) error {
	b.mu.Lock()
	v := b.mu.vhosts[name]
	if v == nil {
		b.mu.Unlock()
		return errNoVHost(name)
	}
	v.limits.Store(&l)
	var wait func() error = func() error { return nil }
	if b.pst != nil {
		var batch store.Batch
		batch.PutEntity(store.KindVhost, name, encodeVHost(l))
		done := make(chan error, 1)
		b.pst.st.Commit(&batch, func(err error) { done <- err })
		wait = func() error {
			if err := <-done; err != nil {
				return errStore(err)
			}
			return nil
		}
	}
	b.mu.Unlock()
	return wait()
}

// VHosts lists the vhosts sorted by name.
func (b *Broker) VHosts() []VHostInfo {
	b.mu.RLock()
	vs := make([]*VHost, 0, len(b.mu.vhosts))
	for _, v := range b.mu.vhosts {
		vs = append(vs, v)
	}
	b.mu.RUnlock()
	out := make([]VHostInfo, 0, len(vs))
	for _, v := range vs {
		v.mu.RLock()
		n := len(v.mu.queues)
		v.mu.RUnlock()
		out = append(out, VHostInfo{Name: v.name, Limits: v.Limits(), Queues: n, Connections: b.Connections(v.name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Exchange returns the named exchange, nil if there is none.
func (v *VHost) Exchange(name string) *Exchange {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.mu.exchanges[name]
}

// Internal reports whether the exchange is internal (no publishing to it).
func (x *Exchange) Internal() bool { return x.internal }

// NewQueueName returns a server-generated queue name "amq.gen-…", for callers that check
// permissions on the name before DeclareServerNamed.
func NewQueueName() string { return genName("amq.gen") }

// Records. A vhost record is recordV1 followed, when limits were set, by
// uvarint(max-connections+1) uvarint(max-queues+1) (0 = no limit). A user record:
//
//	recordV1, lp hashing algorithm, lp hash, uvarint n, n × lp tag,
//	uvarint(max-connections+1), uvarint(max-channels+1),
//	uvarint n, n × (lp vhost, lp configure, lp write, lp read),
//	uvarint n, n × (lp vhost, lp exchange, lp write, lp read)

func limitOut(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n) + 1
}

func limitIn(u uint64) int64 {
	if u == 0 || u > 1<<62 {
		return NoLimit
	}
	return int64(u - 1)
}

func encodeVHost(l VHostLimits) []byte {
	b := []byte{recordV1}
	b = binary.AppendUvarint(b, limitOut(l.MaxConnections))
	return binary.AppendUvarint(b, limitOut(l.MaxQueues))
}

func decodeVHostLimits(val []byte) (VHostLimits, error) {
	d := recordReader{b: val}
	if d.byte() != recordV1 {
		return NoVHostLimits, fmt.Errorf("%w: vhost record version", errRecord)
	}
	if len(d.b) == 0 {
		return NoVHostLimits, nil
	}
	l := VHostLimits{MaxConnections: limitIn(d.uvarint()), MaxQueues: limitIn(d.uvarint())}
	return l, d.err
}

func encodeUser(e *userEntry) []byte {
	b := appendLP([]byte{recordV1}, string(e.alg))
	b = appendLP(b, string(e.hash))
	b = binary.AppendUvarint(b, uint64(len(e.user.Tags)))
	for _, t := range e.user.Tags {
		b = appendLP(b, t)
	}
	b = binary.AppendUvarint(b, limitOut(e.limits.MaxConnections))
	b = binary.AppendUvarint(b, limitOut(e.limits.MaxChannels))
	vhosts := make([]string, 0, len(e.perms))
	for vh := range e.perms {
		vhosts = append(vhosts, vh)
	}
	sort.Strings(vhosts)
	b = binary.AppendUvarint(b, uint64(len(vhosts)))
	for _, vh := range vhosts {
		p := e.perms[vh]
		b = appendLP(appendLP(appendLP(appendLP(b, vh), p.Configure), p.Write), p.Read)
	}
	var tps []*TopicPermission
	var tvh []string
	for vh, m := range e.topics {
		for _, tp := range m {
			tps, tvh = append(tps, tp), append(tvh, vh)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(tps)))
	for i, tp := range tps {
		b = appendLP(appendLP(appendLP(appendLP(b, tvh[i]), tp.Exchange), tp.Write), tp.Read)
	}
	return b
}

func (a *acl) decodeUser(name string, val []byte) (*userEntry, error) {
	d := recordReader{b: val}
	if d.byte() != recordV1 {
		return nil, fmt.Errorf("%w: user %q record version", errRecord, name)
	}
	e := &userEntry{perms: map[string]*Permission{}, topics: map[string]map[string]*TopicPermission{}}
	e.alg = HashAlg(d.str())
	if h := d.bytes(); len(h) > 0 {
		e.hash = append([]byte(nil), h...)
	}
	n := d.uvarint()
	var tags []string
	for i := uint64(0); i < n && d.err == nil; i++ {
		tags = append(tags, d.str())
	}
	e.user = a.newUser(name, tags)
	e.limits = UserLimits{MaxConnections: limitIn(d.uvarint()), MaxChannels: limitIn(d.uvarint())}
	n = d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		vh, c, w, r := d.str(), d.str(), d.str(), d.str()
		p, err := NewPermission(c, w, r)
		if err != nil {
			return nil, fmt.Errorf("user %q on vhost %q: %w", name, vh, err)
		}
		e.perms[vh] = p
	}
	n = d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		vh, x, w, r := d.str(), d.str(), d.str(), d.str()
		if e.topics[vh] == nil {
			e.topics[vh] = map[string]*TopicPermission{}
		}
		e.topics[vh][x] = &TopicPermission{Exchange: x, Write: w, Read: r}
	}
	if d.err != nil {
		return nil, fmt.Errorf("user %q: %w", name, d.err)
	}
	return e, nil
}

// recoverUsers loads users and vhost limits from the store after recover; on a folder whose
// users were never initialised it creates the default user (initUsers).
func (b *Broker) recoverUsers(cfg Config) error {
	if b.pst == nil {
		return b.initUsers(cfg)
	}
	st := b.pst.st
	err := st.Entities(store.KindVhost, func(name string, val []byte) error {
		l, err := decodeVHostLimits(val)
		if err != nil {
			return err
		}
		if v := b.mu.vhosts[name]; v != nil && l != NoVHostLimits {
			v.limits.Store(&l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover vhost limits: %w", err)
	}
	initialised := false
	b.acl.mu.Lock()
	err = st.Entities(store.KindUser, func(name string, val []byte) error {
		if name == "" {
			initialised = true
			return nil
		}
		e, err := b.acl.decodeUser(name, val)
		if err != nil {
			return err
		}
		for vh := range e.perms {
			if b.mu.vhosts[vh] == nil {
				delete(e.perms, vh) // the vhost was deleted before the user's record was rewritten
			}
		}
		b.acl.mu.users[name] = e
		return nil
	})
	b.acl.mu.Unlock()
	if err != nil {
		return fmt.Errorf("recover users: %w", err)
	}
	if !initialised {
		return b.initUsers(cfg)
	}
	return nil
}

// ValidExchangeType reports whether exchange.declare accepts kind.
func ValidExchangeType(kind string) bool { return exchange.Valid(kind) }
