package vhost

import (
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/store"
)

// Config configures a Broker.
type Config struct {
	Logger      zerolog.Logger
	DefaultUser string // "guest" when empty
	DefaultPass string // "guest" when empty
	// LoopbackUsers may log in from loopback addresses only (RabbitMQ's loopback_users);
	// nil means ["guest"], RabbitMQ's default; an empty non-nil slice means nobody.
	LoopbackUsers []string

	// Store keeps durable entities and persistent messages (issue 4); nil keeps everything
	// in memory and touches no disk. The caller opens it before New and closes it after
	// Broker.Close. New recovers what it holds.
	Store *store.Store
	// MemoryBudget is how many bytes of queued messages the broker keeps in memory before
	// new persistent messages for durable queues go to disk only (pager.go);
	// DefaultMemoryBudget when zero. Only with a Store.
	MemoryBudget int64
	// DiskFreeLimit: below this many free bytes in the store's folder the "disk" alarm is
	// set (publishers blocked); zero disables the check. RabbitMQ's default is 50 MB.
	DiskFreeLimit int64
	// DiskCheckInterval is how often free space is checked; 1 s when zero.
	DiskCheckInterval time.Duration
}

// DefaultMemoryBudget is the memory budget when Config.MemoryBudget is zero. Issue 6's
// scenario 6 (1M 100-byte persistent messages queued, then drained) drained as fast from
// disk with 32 MiB (199-204k msg/s) as with 256 MiB (189-208k msg/s), at 77 instead of
// 270-290 bytes of broker memory per queued message.
const DefaultMemoryBudget = 32 << 20

// ErrAuth is returned by Authenticate for an unknown user or a wrong password.
var ErrAuth = errors.New("vhost: invalid credentials")

// ErrClosed is returned by operations on a closed Broker.
var ErrClosed = errors.New("vhost: broker closed")

// User is an authenticated user. Treat it as read-only.
type User struct {
	Name string
	Tags []string
	// LoopbackOnly: the user may connect from a loopback address only. RabbitMQ's default
	// loopback_users = [<<"guest">>] (RW:docs/access-control.md#loopback-users), so the
	// default user is loopback-only exactly when it is named "guest".
	LoopbackOnly bool
}

// Broker holds users and virtual hosts.
type Broker struct {
	log zerolog.Logger // immutable
	pst *persister     // immutable; nil in memory

	alarms alarms // resource alarms (alarm.go); its own lock, taken after none
	acl    acl    // users, permissions, sessions (users.go, session.go); acl.mu before mu

	mu struct {
		sync.RWMutex
		vhosts map[string]*VHost
		closed bool
	}
}

// New creates a broker with RabbitMQ's blank-node defaults (RW:docs/access-control.md#default-state):
// vhost "/" and the default user with full permissions on it.
func New(cfg Config) (*Broker, error) {
	b := &Broker{log: cfg.Logger}
	b.acl.init(cfg.LoopbackUsers)
	if cfg.Store == nil {
		b.mu.vhosts = map[string]*VHost{"/": newVHost("/", b.log, nil)}
		if err := b.recoverUsers(cfg); err != nil {
			return nil, err
		}
		return b, nil
	}
	b.pst = newPersister(cfg)
	b.mu.vhosts = map[string]*VHost{}
	if err := b.recover(); err != nil {
		return nil, err
	}
	if err := b.recoverPolicies(); err != nil {
		return nil, err
	}
	if err := b.recoverUsers(cfg); err != nil {
		return nil, err
	}
	b.pst.start(b)
	b.pst.scheduleHeld()
	return b, nil
}

// Close marks the broker closed and stops the queues' expiry timers, so that no goroutine
// of the broker runs afterwards. It does not cancel consumers: the protocol server closes
// its connections (which calls OwnerClosed and cancels consumers) before closing the broker.
// Safe to call twice.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.mu.closed = true
	vhosts := make([]*VHost, 0, len(b.mu.vhosts))
	for _, v := range b.mu.vhosts {
		vhosts = append(vhosts, v)
	}
	b.mu.Unlock()
	for _, v := range vhosts {
		v.close()
	}
	if b.pst != nil {
		b.pst.closeOnce.Do(b.pst.close)
	}
	return nil
}

// VHost returns the named virtual host, nil if there is none.
func (b *Broker) VHost(name string) *VHost {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.vhosts[name]
}
