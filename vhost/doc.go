// Package vhost is warren's broker core, protocol-neutral: users, virtual hosts, exchanges,
// queues, bindings, consumers and message dispatch. In memory by default; with a
// store.Store in Config (issue 4) it keeps durable entities and persistent messages there:
//
//   - durable.go: every creation or deletion of an exchange, queue or binding passes
//     through one seam; durable ones are group-committed, and the operation returns once
//     synced (declare-ok survives kill -9).
//   - persist.go, journal.go: a persistent message routed to durable queues is committed
//     (body once, an index entry per queue) before it becomes visible in them, and
//     PublishFor reports the sync to a Waiter (publisher confirms). Acks and delivered marks
//     are batched by the journal; nobody waits for them.
//   - pager.go: past a memory budget a queue's backlog stays on disk only and is paged back
//     when consumers catch up. recover.go loads everything at New. janitor.go deletes what
//     deleted queues and exchanges left in the store.
//
// Imports: package exchange (routing), package store (persistence), amqp/wire (Table,
// Exception, property parsing). Never package amqp, and nothing about sockets.
//
// # How package amqp drives it
//
//   - one Owner per connection (NewOwner; VHost.OwnerClosed when it ends, which deletes the
//     connection's exclusive queues);
//   - one Publisher per channel (VHost.NewPublisher; VHost.Publish uses a pooled one);
//   - a Consumer implementation per basic.consume. Queues call Deliver with their lock held,
//     on whichever goroutine dispatches; Deliver must not block nor call into vhost. The
//     optional Starter interface gets a call before the first Deliver (for consume-ok).
//   - each Delivery carries an Entry that goes back to Queue.Ack / Reject / Requeue. No-ack
//     deliveries are settled at delivery. Ack does not dispatch: the channel knows when
//     prefetch credit was freed and calls Queue.Kick.
//
// In memory, vhost starts no goroutines: a publish is routed, enqueued and offered to
// consumers on the publisher's goroutine; acks, requeues and Kick dispatch on the caller's.
// With a store the Broker owns three more, stopped by Close: the pager (reads paged-out
// messages back, and dispatches them), the janitor (background deletions) and the disk
// monitor (sets the "disk" alarm). Waiter.Stored is called on the store's committer
// goroutine.
//
// Errors are *wire.Exception values returned as error, with RabbitMQ's reply codes and
// texts, checked against rabbitmq-server's source and a running 3.10.8 node (errors.go
// names the functions they come from). Where RabbitMQ 3.13+/4.x and 3.10 differ, vhost
// follows the newer one and says so at the place.
//
// RabbitMQ's queue extensions (issue 5): ttl.go (message TTL), deadletter.go, expires.go
// (x-expires), maxlen.go (x-max-length, x-max-length-bytes, x-overflow), priority.go
// (x-max-priority), consumers.go (x-priority, x-single-active-consumer), quorum.go
// (x-queue-type quorum, x-delivery-limit), delayed.go (the x-delayed-message exchange) and
// args.go (validation with RabbitMQ's texts). Their timers are time.AfterFunc timers (no
// goroutine waits until one fires): a queue's head expiry, a queue's x-expires, and one per
// held delayed message; Broker.Close makes them do nothing.
//
// Policies (issue 8) live in policy.go: each is one store.KindPolicy record; a change
// rewrites the options of matching live queues (Queue.opts) and exchanges.
//
// Users, permissions, limits and open sessions (issue 7) live in users.go, access.go,
// session.go and vhosts.go; each user is one store.KindUser record; vhost limits extend
// the store.KindVhost record.
//
// # Lock order
//
//	acl.mu → Broker.mu → VHost.mu → Owner.mu → Queue.mu → (locks inside Consumer.Deliver/Started, in amqp)
//	Queue.mu → journal.mu;  any of these → the store's lock (inside store.Commit, which does no I/O)
//	policies.mu (a vhost's policy changes, policy.go) → VHost.mu
//
// acl.mu guards users and sessions; Session.onForce (which closes a connection) is called
// with no lock held.
//
// A persistent publish to several durable queues holds their Queue.mu together, taken in
// Queue.id order, only to reserve its places and issue the commit (Publisher.reserve);
// nothing else holds two queue locks. No lock is held across Badger I/O: commits are
// queued under locks and waited for after releasing them, reads happen without locks.
//
// VHost.mu (RWMutex) guards the topology: both maps, every router, binding count and the
// deleted flags. Publish holds it for reading only while it routes into its scratch slices,
// then releases it and takes each target Queue.mu in turn (all durable targets of a
// persistent message together, in Queue.id order, as said above; otherwise one at a time).
// Deleting a queue holds VHost.mu and then Queue.mu, marks the queue deleted and calls
// Consumer.Cancelled after releasing both. Queue.Cancel releases Queue.mu before it takes
// VHost.mu to auto-delete the queue.
package vhost
