package vhost

import (
	"slices"

	"github.com/warrenmq/warren/amqp/wire"
)

// consumer is one registered consumer of a queue.
type consumer struct {
	c         Consumer   // immutable
	tag       string     // immutable
	noAck     bool       // immutable
	exclusive bool       // immutable
	prio      int64      // immutable; x-priority, 0 by default (RW:docs/consumer-priority.md)
	args      wire.Table // immutable
	refused   uint64     // guarded by Queue.mu: the dispatch round in which it last refused
}

// group is the consumers of one priority, served round-robin. Guarded by Queue.mu.
type group struct {
	prio    int64
	members []*consumer // in subscription order
	next    int         // round-robin cursor into members
}

// consumerSet is a queue's consumers by priority, highest first: a lower priority gets a
// message only when every consumer of higher priority refused it (RabbitMQ:
// rabbit_queue_consumers keeps a priority_queue and re-inserts a served consumer at the
// tail of its priority). Guarded by Queue.mu.
type consumerSet struct {
	groups []*group // by prio, descending
	n      int      // total consumers
	round  uint64   // dispatch round counter, for consumer.refused
	single bool     // x-single-active-consumer: only the first consumer registered is offered messages
}

func (s *consumerSet) add(k *consumer) {
	if s.single {
		k.prio = 0 // one group, in subscription order: its first member is the active one
	}
	s.n++
	i, found := slices.BinarySearchFunc(s.groups, k.prio, func(g *group, p int64) int {
		switch {
		case g.prio > p:
			return -1
		case g.prio < p:
			return 1
		}
		return 0
	})
	if !found {
		s.groups = slices.Insert(s.groups, i, &group{prio: k.prio})
	}
	g := s.groups[i]
	g.members = append(g.members, k)
}

// remove deletes the consumer (c, tag) and returns it, nil if absent.
func (s *consumerSet) remove(c Consumer, tag string) *consumer {
	for gi, g := range s.groups {
		i := slices.IndexFunc(g.members, func(k *consumer) bool { return k.c == c && k.tag == tag })
		if i < 0 {
			continue
		}
		k := g.members[i]
		g.members = slices.Delete(g.members, i, i+1)
		if g.next > i {
			g.next--
		}
		if len(g.members) == 0 {
			s.groups = slices.Delete(s.groups, gi, gi+1)
		}
		s.n--
		return k
	}
	return nil
}

// takeAll removes and returns every consumer.
func (s *consumerSet) takeAll() []*consumer {
	var all []*consumer
	for _, g := range s.groups {
		all = append(all, g.members...)
	}
	s.groups, s.n = nil, 0
	return all
}
