package vhost

import (
	"sort"
	"strings"
	"sync"
)

// Resource alarms, as RabbitMQ's rabbit_alarm: while any alarm is set,
// publishing connections are blocked (package amqp stops reading from them and
// tells clients that asked with connection.blocked). The store's disk monitor
// and the memory monitor set and clear them.

type alarms struct {
	mu       sync.Mutex
	active   map[string]bool // resource → set ("disk", "memory")
	watchers map[int]func(reason string, active bool)
	next     int
}

// SetAlarm sets or clears the alarm for resource and tells every watcher when
// the overall state changes.
func (b *Broker) SetAlarm(resource string, set bool) {
	a := &b.alarms
	a.mu.Lock()
	before := len(a.active) > 0
	if a.active == nil {
		a.active = make(map[string]bool)
	}
	if set {
		a.active[resource] = true
	} else {
		delete(a.active, resource)
	}
	after := len(a.active) > 0
	reason := a.reasonLocked()
	var ws []func(string, bool)
	if before != after {
		for _, w := range a.watchers {
			ws = append(ws, w)
		}
	}
	a.mu.Unlock()
	if before != after {
		b.log.Warn().Str("resource", resource).Bool("set", set).Msg("resource alarm")
	}
	for _, w := range ws {
		w(reason, after)
	}
}

func (a *alarms) reasonLocked() string {
	var rs []string
	for r := range a.active {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	// RabbitMQ's connection.blocked reason: "low on disk", "low on memory".
	for i, r := range rs {
		rs[i] = "low on " + r
	}
	return strings.Join(rs, " & ")
}

// Alarmed reports whether any resource alarm is set, and why.
func (b *Broker) Alarmed() (reason string, active bool) {
	a := &b.alarms
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reasonLocked(), len(a.active) > 0
}

// WatchAlarms calls fn whenever alarms go from none to some (active=true) or
// back; fn must not block. The returned func stops watching.
func (b *Broker) WatchAlarms(fn func(reason string, active bool)) (stop func()) {
	a := &b.alarms
	a.mu.Lock()
	if a.watchers == nil {
		a.watchers = make(map[int]func(string, bool))
	}
	id := a.next
	a.next++
	a.watchers[id] = fn
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.watchers, id)
		a.mu.Unlock()
	}
}
