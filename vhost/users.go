package vhost

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/warrenmq/warren/store"
)

// Users, their passwords, tags, limits and permissions: RabbitMQ's internal auth backend
// (rabbit_auth_backend_internal.erl). Lookups by the protocol server go through
// Authenticate, AuthenticateExternal and Broker.Open (session.go); changes through the
// methods below, which with a store return once the change is synced.
//
// Each user is one store record (store.KindUser, key = name) holding its password hash,
// tags, limits, permissions and topic permissions, so that one write changes a user
// atomically. A record with the empty name marks a folder whose users were initialised: a
// blank node creates the default user once (RW:docs/access-control.md#default-state), and a
// broker whose users were all deleted does not get guest back at the next start.

// Sentinel errors of user and vhost management.
var (
	ErrNoUser     = errors.New("vhost: no such user")
	ErrUserExists = errors.New("vhost: user already exists")
	ErrNoVHost    = errors.New("vhost: no such vhost")
)

// Tags RabbitMQ knows (RW:docs/access-control.md#user-tags). Others are kept as given.
var KnownTags = []string{"administrator", "monitoring", "policymaker", "management", "impersonator"}

// UserLimits are a user's limits (rabbitmqctl set_user_limits); NoLimit means none.
type UserLimits struct {
	MaxConnections int64 // "max-connections"
	MaxChannels    int64 // "max-channels", over all the user's connections
}

// NoLimit is the value of a limit that is not set. RabbitMQ treats any negative value so.
const NoLimit = -1

// Unlimited is UserLimits with no limit set.
var Unlimited = UserLimits{MaxConnections: NoLimit, MaxChannels: NoLimit}

// UserInfo describes a user for listing and import. PasswordHash is salt ++ digest in
// HashAlg (password.go); nil means the user has no password and can log in with EXTERNAL
// only.
type UserInfo struct {
	Name         string
	Tags         []string
	HashAlg      HashAlg
	PasswordHash []byte
	Limits       UserLimits
}

// userEntry is one user's immutable state; changes replace the entry.
type userEntry struct {
	user   *User // what Authenticate hands out
	alg    HashAlg
	hash   []byte                 // salt ++ digest; nil: no password
	limits UserLimits             // NoLimit fields: unlimited
	perms  map[string]*Permission // by vhost
	topics map[string]map[string]*TopicPermission
}

// clone returns a copy whose maps may be changed.
func (e *userEntry) clone() *userEntry {
	n := *e
	n.perms = make(map[string]*Permission, len(e.perms))
	for k, p := range e.perms {
		n.perms[k] = p
	}
	n.topics = make(map[string]map[string]*TopicPermission, len(e.topics))
	for vh, m := range e.topics {
		n.topics[vh] = make(map[string]*TopicPermission, len(m))
		for x, tp := range m {
			n.topics[vh][x] = tp
		}
	}
	return &n
}

// acl is the broker's users and sessions. Lock order: acl.mu → Broker.mu (acl.mu is taken
// first where both are needed; nothing holds Broker.mu while taking acl.mu).
type acl struct {
	loopback map[string]bool // immutable: loopback_users

	mu struct {
		sync.RWMutex
		users    map[string]*userEntry
		sessions map[string]map[*Session]struct{} // open connections by vhost
		conns    map[string]int                   // open connections by user
		channels map[string]int                   // open channels by user
	}
}

func (a *acl) init(loopback []string) {
	if loopback == nil {
		loopback = []string{"guest"} // RabbitMQ's default loopback_users
	}
	a.loopback = make(map[string]bool, len(loopback))
	for _, u := range loopback {
		a.loopback[u] = true
	}
	a.mu.users = make(map[string]*userEntry)
	a.mu.sessions = make(map[string]map[*Session]struct{})
	a.mu.conns = make(map[string]int)
	a.mu.channels = make(map[string]int)
}

func (a *acl) newUser(name string, tags []string) *User {
	return &User{Name: name, Tags: slices.Clone(tags), LoopbackOnly: a.loopback[name]}
}

// initUsers creates the default user with full permissions on "/" (a blank node, or a
// store whose users were never initialised) and writes it with the marker record.
func (b *Broker) initUsers(cfg Config) error {
	user, pass := cfg.DefaultUser, cfg.DefaultPass
	if user == "" {
		user = "guest"
	}
	if pass == "" {
		pass = "guest"
	}
	hash, err := HashPassword(HashSHA256, pass)
	if err != nil {
		return err
	}
	full, _ := NewPermission(".*", ".*", ".*")
	e := &userEntry{
		user: b.acl.newUser(user, []string{"administrator"}), alg: HashSHA256, hash: hash,
		limits: Unlimited, perms: map[string]*Permission{"/": full},
	}
	b.acl.mu.Lock()
	b.acl.mu.users[user] = e
	wait := b.commitUsers(func(batch *store.Batch) {
		batch.PutEntity(store.KindUser, "", []byte{recordV1})
		batch.PutEntity(store.KindUser, user, encodeUser(e))
	})
	b.acl.mu.Unlock()
	return wait()
}

// commitUsers issues a batch built by fill (with acl.mu held, so that batches reach the
// store in the order of the changes) and returns a function that waits for its sync.
// Without a store it does nothing.
func (b *Broker) commitUsers(fill func(*store.Batch)) (wait func() error) {
	if b.pst == nil {
		return func() error { return nil }
	}
	var batch store.Batch
	fill(&batch)
	done := make(chan error, 1)
	b.pst.st.Commit(&batch, func(err error) { done <- err })
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("vhost: cannot write to the data folder: %w", err)
		}
		return nil
	}
}

// updateUser replaces user name's entry by what change makes of a copy, and stores it.
func (b *Broker) updateUser(name string, change func(e *userEntry) error) error {
	b.acl.mu.Lock()
	old := b.acl.mu.users[name]
	if old == nil {
		b.acl.mu.Unlock()
		return fmt.Errorf("%w: '%s'", ErrNoUser, name)
	}
	e := old.clone()
	if err := change(e); err != nil {
		b.acl.mu.Unlock()
		return err
	}
	b.acl.mu.users[name] = e
	wait := b.commitUsers(func(batch *store.Batch) { batch.PutEntity(store.KindUser, name, encodeUser(e)) })
	b.acl.mu.Unlock()
	return wait()
}

// AddUser creates a user with a password hashed with SHA-256 (rabbitmqctl add_user). A
// user of that name must not exist (ErrUserExists). An empty password creates a user
// without one, which can log in with EXTERNAL only.
func (b *Broker) AddUser(name, password string, tags []string) error {
	var hash []byte
	if password != "" {
		var err error
		if hash, err = HashPassword(HashSHA256, password); err != nil {
			return err
		}
	}
	return b.addUser(UserInfo{Name: name, Tags: tags, HashAlg: HashSHA256, PasswordHash: hash, Limits: Unlimited}, false)
}

// PutUser creates or replaces a user from its hash (a definitions import); an existing
// user keeps its permissions.
func (b *Broker) PutUser(u UserInfo) error { return b.addUser(u, true) }

func (b *Broker) addUser(u UserInfo, replace bool) error {
	if u.Name == "" {
		return errors.New("vhost: a user name must not be empty")
	}
	if u.HashAlg == "" {
		u.HashAlg = HashMD5 // a record without an algorithm predates 3.6.0
	}
	if u.PasswordHash != nil {
		if _, err := DecodeHash(u.HashAlg, EncodeHash(u.PasswordHash)); err != nil {
			return err
		}
	}
	b.acl.mu.Lock()
	old := b.acl.mu.users[u.Name]
	if old != nil && !replace {
		b.acl.mu.Unlock()
		return fmt.Errorf("%w: '%s'", ErrUserExists, u.Name)
	}
	e := &userEntry{perms: map[string]*Permission{}, topics: map[string]map[string]*TopicPermission{}}
	if old != nil {
		e = old.clone()
	}
	e.user = b.acl.newUser(u.Name, u.Tags)
	e.alg, e.hash, e.limits = u.HashAlg, slices.Clone(u.PasswordHash), u.Limits
	b.acl.mu.users[u.Name] = e
	wait := b.commitUsers(func(batch *store.Batch) { batch.PutEntity(store.KindUser, u.Name, encodeUser(e)) })
	b.acl.mu.Unlock()
	return wait()
}

// SetPassword changes a user's password (rabbitmqctl change_password); "" clears it.
func (b *Broker) SetPassword(name, password string) error {
	var hash []byte
	if password != "" {
		var err error
		if hash, err = HashPassword(HashSHA256, password); err != nil {
			return err
		}
	}
	return b.updateUser(name, func(e *userEntry) error {
		e.alg, e.hash = HashSHA256, hash
		return nil
	})
}

// SetTags replaces a user's tags (rabbitmqctl set_user_tags). Open connections keep the
// tags they logged in with.
func (b *Broker) SetTags(name string, tags []string) error {
	return b.updateUser(name, func(e *userEntry) error {
		e.user = b.acl.newUser(name, tags)
		return nil
	})
}

// SetUserLimits replaces a user's limits (rabbitmqctl set_user_limits).
func (b *Broker) SetUserLimits(name string, l UserLimits) error {
	return b.updateUser(name, func(e *userEntry) error {
		e.limits = l
		return nil
	})
}

// DeleteUser deletes a user with its permissions and closes its connections with
// 320 CONNECTION_FORCED "user '<name>' is deleted" (rabbit_connection_tracking).
func (b *Broker) DeleteUser(name string) error {
	b.acl.mu.Lock()
	if b.acl.mu.users[name] == nil {
		b.acl.mu.Unlock()
		return fmt.Errorf("%w: '%s'", ErrNoUser, name)
	}
	delete(b.acl.mu.users, name)
	wait := b.commitUsers(func(batch *store.Batch) { batch.DeleteEntity(store.KindUser, name) })
	var kill []*Session
	for _, ss := range b.acl.mu.sessions {
		for s := range ss {
			if s.user.Name == name {
				kill = append(kill, s)
			}
		}
	}
	b.acl.mu.Unlock()
	err := wait()
	for _, s := range kill {
		s.force(fmt.Sprintf("user '%s' is deleted", name))
	}
	return err
}

// Users lists the users sorted by name.
func (b *Broker) Users() []UserInfo {
	b.acl.mu.RLock()
	out := make([]UserInfo, 0, len(b.acl.mu.users))
	for _, e := range b.acl.mu.users {
		out = append(out, UserInfo{Name: e.user.Name, Tags: slices.Clone(e.user.Tags), HashAlg: e.alg,
			PasswordHash: slices.Clone(e.hash), Limits: e.limits})
	}
	b.acl.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// authError is a refused login; its reason goes to the log, never to the client.
type authError struct{ reason string }

func (e *authError) Error() string        { return "vhost: " + e.reason }
func (e *authError) Is(target error) bool { return target == ErrAuth }

// dummyHash equalises the time of a login with an unknown user name with that of a wrong
// password (rabbit_auth_backend_internal, dummy_sentinel_user).
var dummyHash = make([]byte, saltLen+32)

// Authenticate checks a user's password and returns the user. Errors match ErrAuth (the
// error text says why, for the log: RabbitMQ's "user '<name>' - invalid credentials" or
// the blank-password refusal) or ErrClosed.
func (b *Broker) Authenticate(name, password string) (*User, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if password == "" {
		// rabbit_auth_backend_internal: ?BLANK_PASSWORD_REJECTION_MESSAGE.
		return nil, &authError{fmt.Sprintf("user '%s' attempted to log in with a blank password, which is prohibited by the internal authN backend", name)}
	}
	b.acl.mu.RLock()
	e := b.acl.mu.users[name]
	b.acl.mu.RUnlock()
	if e == nil {
		checkPassword(HashSHA256, dummyHash, password)
		return nil, &authError{fmt.Sprintf("user '%s' - invalid credentials", name)}
	}
	if e.hash == nil || !checkPassword(e.alg, e.hash, password) {
		return nil, &authError{fmt.Sprintf("user '%s' - invalid credentials", name)}
	}
	return e.user, nil
}

// AuthenticateExternal returns the user named by a verified client certificate (the
// EXTERNAL mechanism, rabbit_auth_mechanism_ssl): the user must exist; its password is
// not checked.
func (b *Broker) AuthenticateExternal(name string) (*User, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	b.acl.mu.RLock()
	e := b.acl.mu.users[name]
	b.acl.mu.RUnlock()
	if e == nil {
		return nil, &authError{fmt.Sprintf("user '%s' - invalid credentials", name)}
	}
	return e.user, nil
}

func (b *Broker) isClosed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.closed
}

// Permitted reports whether u may open vhost: the vhost exists and u has permissions on
// it (rabbit_auth_backend_internal:check_vhost_access/3).
func (b *Broker) Permitted(u *User, vhost string) bool {
	if u == nil {
		return false
	}
	b.acl.mu.RLock()
	e := b.acl.mu.users[u.Name]
	ok := e != nil && e.user.Name == u.Name && e.perms[vhost] != nil
	b.acl.mu.RUnlock()
	return ok && b.VHost(vhost) != nil
}
