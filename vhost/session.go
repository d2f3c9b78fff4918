package vhost

import (
	"fmt"
	"sync"

	"github.com/warrenmq/warren/amqp/wire"
)

// Session is one open connection of a user to a vhost, as RabbitMQ's connection tracking
// sees it: it counts towards the vhost's and the user's connection limits and the user's
// channel limit, and it is closed when its vhost or user is deleted. Package amqp opens one
// at connection.open (Broker.Open) and closes it when the connection ends.
type Session struct {
	Access        // the connection's permission checks
	v      *VHost // immutable

	closeOnce sync.Once
	onForce   func(text string) // immutable; asks the connection to close with 320
}

// VHost is the session's virtual host.
func (s *Session) VHost() *VHost { return s.v }

// force asks the connection to close with 320 CONNECTION_FORCED and text.
func (s *Session) force(text string) {
	if s.onForce != nil {
		s.onForce(text)
	}
}

// Open checks that u may open vhost, in rabbit_reader's order for connection.open, and
// registers the connection:
//
//   - 530 NOT_ALLOWED "vhost <name> not found";
//   - 530 "access to vhost '<vhost>' refused for user '<user>': connection limit (<n>) is reached";
//   - 530 "connection refused for user '<user>': user connection limit (<n>) is reached";
//   - 530 "access to vhost '<vhost>' refused for user '<user>'" when u has no permission
//     on it (rabbit_access_control:check_vhost_access/4 raises not_allowed).
//
// Errors are hard *wire.Exception values. onForce is called (from any goroutine, without
// locks held) when the vhost or the user is deleted; it must not block.
func (b *Broker) Open(u *User, vhost string, onForce func(text string)) (*Session, error) {
	b.acl.mu.Lock()
	defer b.acl.mu.Unlock()
	v := b.VHost(vhost)
	if v == nil {
		return nil, wire.Hard(wire.NotAllowed, "vhost %s not found", vhost)
	}
	ss := b.acl.mu.sessions[vhost]
	if l := v.Limits(); l.MaxConnections >= 0 && int64(len(ss)) >= l.MaxConnections {
		return nil, wire.Hard(wire.NotAllowed, "access to vhost '%s' refused for user '%s': connection limit (%d) is reached",
			vhost, u.Name, l.MaxConnections)
	}
	e := b.acl.mu.users[u.Name]
	if e != nil && e.limits.MaxConnections >= 0 && int64(b.acl.mu.conns[u.Name]) >= e.limits.MaxConnections {
		return nil, wire.Hard(wire.NotAllowed, "connection refused for user '%s': user connection limit (%d) is reached",
			u.Name, e.limits.MaxConnections)
	}
	if e == nil || e.perms[vhost] == nil {
		return nil, wire.Hard(wire.NotAllowed, "access to vhost '%s' refused for user '%s'", vhost, u.Name)
	}
	s := &Session{Access: Access{b: b, user: u, vhost: vhost}, v: v, onForce: onForce}
	if ss == nil {
		ss = make(map[*Session]struct{})
		b.acl.mu.sessions[vhost] = ss
	}
	ss[s] = struct{}{}
	b.acl.mu.conns[u.Name]++
	return s, nil
}

// Close unregisters the session; channels still counted are released with it. Safe to
// call twice.
func (s *Session) Close(openChannels int) {
	s.closeOnce.Do(func() {
		a := &s.b.acl
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.mu.sessions[s.vhost], s)
		if len(a.mu.sessions[s.vhost]) == 0 {
			delete(a.mu.sessions, s.vhost)
		}
		if a.mu.conns[s.user.Name]--; a.mu.conns[s.user.Name] <= 0 {
			delete(a.mu.conns, s.user.Name)
		}
		if openChannels > 0 {
			if a.mu.channels[s.user.Name] -= openChannels; a.mu.channels[s.user.Name] <= 0 {
				delete(a.mu.channels, s.user.Name)
			}
		}
	})
}

// OpenChannel counts a channel against the user's max-channels limit, or refuses it with
// RabbitMQ's 530 "number of channels opened for user '<user>' has reached the maximum
// allowed user limit of (<n>)" (rabbit_reader:is_over_limits/1, 3.10 to 3.13), a connection exception.
func (s *Session) OpenChannel() error {
	a := &s.b.acl
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.mu.users[s.user.Name]; e != nil && e.limits.MaxChannels >= 0 && int64(a.mu.channels[s.user.Name]) >= e.limits.MaxChannels {
		return wire.Hard(wire.NotAllowed, "number of channels opened for user '%s' has reached the maximum allowed user limit of (%d)",
			s.user.Name, e.limits.MaxChannels)
	}
	a.mu.channels[s.user.Name]++
	return nil
}

// CloseChannel releases a channel counted by OpenChannel.
func (s *Session) CloseChannel() {
	a := &s.b.acl
	a.mu.Lock()
	if a.mu.channels[s.user.Name]--; a.mu.channels[s.user.Name] <= 0 {
		delete(a.mu.channels, s.user.Name)
	}
	a.mu.Unlock()
}

// Connections is the number of open sessions on vhost.
func (b *Broker) Connections(vhost string) int {
	b.acl.mu.RLock()
	defer b.acl.mu.RUnlock()
	return len(b.acl.mu.sessions[vhost])
}

// vhostDeleted drops the permissions on a deleted vhost and closes its connections with
// 320 CONNECTION_FORCED "vhost '<name>' is deleted" (rabbit_connection_tracking).
func (b *Broker) vhostDeleted(name string) error {
	wait, sessions := b.dropVHostAccess(name)
	for _, s := range sessions {
		s.force(fmt.Sprintf("vhost '%s' is deleted", name))
	}
	return wait()
}
