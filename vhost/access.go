package vhost

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/warrenmq/warren/amqp/wire"
	"github.com/warrenmq/warren/store"
)

// Permissions as RabbitMQ's internal backend applies them
// (rabbit_auth_backend_internal:check_resource_access/4 and check_topic_access/4):
//
//   - a user has at most one permission per vhost: three regular expressions, for
//     configure, write and read. An empty expression means "^$" (matches nothing but the
//     empty name). A match is a search, not anchored: ".*" and "^app\." are typical.
//   - the default exchange is checked under the name "amq.default"
//     (rabbit_access_control:check_resource_access/4).
//   - topic permissions (per user, vhost and topic exchange: write and read expressions
//     on the routing key) restrict topic exchanges only; without one for an exchange
//     everything is allowed. "{username}" and "{vhost}" in them expand to the
//     connection's, regexp-escaped (expand_topic_permission/2).
//
// RabbitMQ uses PCRE; warren uses Go's RE2 syntax, which covers what permissions are
// written with but has no look-around or back-references: such an expression is refused
// by SetPermissions (RabbitMQ refuses an expression it cannot compile, too).
//
// Where each permission is checked, and the texts of the 403 answers, are in package
// amqp (channel.go), following rabbit_channel.erl.

// Perm is one of the three permissions.
type Perm uint8

// The permissions, in rabbit_types:permission_atom() terms.
const (
	Configure Perm = iota
	Write
	Read
)

func (p Perm) String() string {
	switch p {
	case Configure:
		return "configure"
	case Write:
		return "write"
	}
	return "read"
}

// Permission is one user's permission on one vhost. Immutable.
type Permission struct {
	Configure, Write, Read string
	re                     [3]*regexp.Regexp
}

// NewPermission compiles a permission's three expressions.
func NewPermission(configure, write, read string) (*Permission, error) {
	p := &Permission{Configure: configure, Write: write, Read: read}
	for i, s := range []string{configure, write, read} {
		re, err := compilePerm(s)
		if err != nil {
			return nil, err
		}
		p.re[i] = re
	}
	return p, nil
}

func compilePerm(s string) (*regexp.Regexp, error) {
	if s == "" {
		s = "^$"
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("vhost: invalid regexp %q: %w", s, err)
	}
	return re, nil
}

// Allows reports whether the permission allows perm on a resource named name.
func (p *Permission) Allows(perm Perm, name string) bool { return p.re[perm].MatchString(name) }

// TopicPermission is a user's permission on the routing keys of one topic exchange in one
// vhost. Immutable. The expressions may hold {username} and {vhost}.
type TopicPermission struct {
	Exchange    string
	Write, Read string
}

// PermissionInfo is one row of Permissions().
type PermissionInfo struct {
	User, VHost            string
	Configure, Write, Read string
}

// TopicPermissionInfo is one row of TopicPermissions().
type TopicPermissionInfo struct {
	User, VHost, Exchange string
	Write, Read           string
}

// SetPermissions sets user's permission on vhost (rabbitmqctl set_permissions). Both must
// exist. Open connections see it at their next check that is not cached.
func (b *Broker) SetPermissions(user, vhost, configure, write, read string) error {
	p, err := NewPermission(configure, write, read)
	if err != nil {
		return err
	}
	if b.VHost(vhost) == nil {
		return errNoVHost(vhost)
	}
	return b.updateUser(user, func(e *userEntry) error {
		e.perms[vhost] = p
		return nil
	})
}

// ClearPermissions removes user's permission on vhost (rabbitmqctl clear_permissions);
// its topic permissions there stay, as in RabbitMQ.
func (b *Broker) ClearPermissions(user, vhost string) error {
	return b.updateUser(user, func(e *userEntry) error {
		delete(e.perms, vhost)
		return nil
	})
}

// SetTopicPermissions sets user's topic permission for exchange in vhost
// (rabbitmqctl set_topic_permissions).
func (b *Broker) SetTopicPermissions(user, vhost, exchange, write, read string) error {
	for _, s := range []string{write, read} {
		if _, err := compilePerm(s); err != nil {
			return err
		}
	}
	if b.VHost(vhost) == nil {
		return errNoVHost(vhost)
	}
	return b.updateUser(user, func(e *userEntry) error {
		m := e.topics[vhost]
		if m == nil {
			m = map[string]*TopicPermission{}
			e.topics[vhost] = m
		}
		m[exchange] = &TopicPermission{Exchange: exchange, Write: write, Read: read}
		return nil
	})
}

// ClearTopicPermissions removes user's topic permission for exchange in vhost, or all of
// them in vhost when exchange is "" (rabbitmqctl clear_topic_permissions).
func (b *Broker) ClearTopicPermissions(user, vhost, exchange string) error {
	return b.updateUser(user, func(e *userEntry) error {
		if exchange == "" {
			delete(e.topics, vhost)
		} else {
			delete(e.topics[vhost], exchange)
		}
		return nil
	})
}

// Permissions lists every permission, sorted by vhost and user.
func (b *Broker) Permissions() []PermissionInfo {
	var out []PermissionInfo
	b.acl.mu.RLock()
	for name, e := range b.acl.mu.users {
		for vh, p := range e.perms {
			out = append(out, PermissionInfo{User: name, VHost: vh, Configure: p.Configure, Write: p.Write, Read: p.Read})
		}
	}
	b.acl.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].VHost != out[j].VHost {
			return out[i].VHost < out[j].VHost
		}
		return out[i].User < out[j].User
	})
	return out
}

// TopicPermissions lists every topic permission, sorted by vhost, user and exchange.
func (b *Broker) TopicPermissions() []TopicPermissionInfo {
	var out []TopicPermissionInfo
	b.acl.mu.RLock()
	for name, e := range b.acl.mu.users {
		for vh, m := range e.topics {
			for _, tp := range m {
				out = append(out, TopicPermissionInfo{User: name, VHost: vh, Exchange: tp.Exchange, Write: tp.Write, Read: tp.Read})
			}
		}
	}
	b.acl.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.VHost != c.VHost {
			return a.VHost < c.VHost
		}
		if a.User != c.User {
			return a.User < c.User
		}
		return a.Exchange < c.Exchange
	})
	return out
}

// dropVHostAccess removes every permission on a deleted vhost (RabbitMQ deletes them with
// the vhost) and returns the vhost's sessions, for the caller to close.
func (b *Broker) dropVHostAccess(vhost string) (wait func() error, sessions []*Session) {
	b.acl.mu.Lock()
	var changed []*userEntry
	for name, e := range b.acl.mu.users {
		if e.perms[vhost] == nil && e.topics[vhost] == nil {
			continue
		}
		n := e.clone()
		delete(n.perms, vhost)
		delete(n.topics, vhost)
		b.acl.mu.users[name] = n
		changed = append(changed, n)
	}
	wait = b.commitUsers(func(batch *store.Batch) {
		for _, e := range changed {
			batch.PutEntity(store.KindUser, e.user.Name, encodeUser(e))
		}
	})
	for s := range b.acl.mu.sessions[vhost] {
		sessions = append(sessions, s)
	}
	b.acl.mu.Unlock()
	return wait, sessions
}

// Resource kinds, as rabbit_misc:rs/1 names them in texts.
const (
	KindQueue    = "queue"
	KindExchange = "exchange"
)

// Access answers a connection's permission checks: one user on one vhost. Safe for
// concurrent use; every check reads the user's current permission.
type Access struct {
	b     *Broker // immutable
	user  *User   // immutable
	vhost string  // immutable
}

// User is the authenticated user.
func (a *Access) User() *User { return a.user }

// permission is the user's current permission on the vhost, nil if none.
func (a *Access) permission() (*Permission, map[string]*TopicPermission) {
	a.b.acl.mu.RLock()
	defer a.b.acl.mu.RUnlock()
	e := a.b.acl.mu.users[a.user.Name]
	if e == nil {
		return nil, nil
	}
	return e.perms[a.vhost], e.topics[a.vhost]
}

// Check returns nil if the user has perm on the resource kind/name (KindQueue or
// KindExchange), else RabbitMQ's 403, a channel exception:
// "<perm> access to <kind> '<name>' in vhost '<vhost>' refused for user '<user>'".
func (a *Access) Check(perm Perm, kind, name string) error {
	if kind == KindExchange && name == "" {
		name = "amq.default"
	}
	if p, _ := a.permission(); p != nil && p.Allows(perm, name) {
		return nil
	}
	return a.refused(perm, kind, name)
}

// CheckAny is the check of passive declares in RabbitMQ 3.13.8+/4.x
// (check_any_resource_access_permitted, rabbitmq-server#16085): any of read, write and
// configure will do; the refusal names configure, as a non-passive declare's would.
// RabbitMQ 3.10 checks nothing for a passive declare.
func (a *Access) CheckAny(kind, name string) error {
	if kind == KindExchange && name == "" {
		name = "amq.default"
	}
	if p, _ := a.permission(); p != nil {
		for _, perm := range [...]Perm{Read, Write, Configure} {
			if p.Allows(perm, name) {
				return nil
			}
		}
	}
	return a.refused(Configure, kind, name)
}

func (a *Access) refused(perm Perm, kind, name string) error {
	return wire.Soft(wire.AccessRefused, "%s access to %s '%s' in vhost '%s' refused for user '%s'",
		perm, kind, name, a.vhost, a.user.Name)
}

// CheckTopic checks perm (Write for a publish, Read for a binding) on routing key key of
// topic exchange exchange, as rabbit_access_control:check_topic_access/4: allowed when the
// user has no topic permission for the exchange, else the expression must match the key.
// Refused: 403 "<perm> access to topic '<key>' in exchange '<exchange>' in vhost
// '<vhost>' refused for user '<user>'".
func (a *Access) CheckTopic(perm Perm, exchange, key string) error {
	_, topics := a.permission()
	tp := topics[exchange]
	if tp == nil {
		return nil
	}
	expr := tp.Read
	if perm == Write {
		expr = tp.Write
	}
	expr = strings.NewReplacer("{username}", regexp.QuoteMeta(a.user.Name), "{vhost}", regexp.QuoteMeta(a.vhost)).Replace(expr)
	if re, err := compilePerm(expr); err == nil && re.MatchString(key) {
		return nil
	}
	if exchange == "" {
		exchange = "amq.default"
	}
	return wire.Soft(wire.AccessRefused, "%s access to topic '%s' in exchange '%s' in vhost '%s' refused for user '%s'",
		perm, key, exchange, a.vhost, a.user.Name)
}

// HasTopicPermissions reports whether any topic permission applies to exchange; callers
// that cache decisions need not check keys when none does.
func (a *Access) HasTopicPermissions(exchange string) bool {
	_, topics := a.permission()
	return topics[exchange] != nil
}
