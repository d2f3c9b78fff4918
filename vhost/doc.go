// Package vhost is warren's broker core, protocol-neutral: users, virtual hosts, exchanges,
// queues, bindings, consumers and message dispatch, all in memory for now. Durable entities
// carry a flag, and every creation or deletion of an exchange, queue or binding passes
// through one seam (durable.go) for the store to hook into in the durability issue.
//
// Imports: package exchange (routing), amqp/wire (Table, Exception, property parsing).
// Never package amqp, and nothing about sockets.
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
// vhost starts no goroutines: a publish is routed, enqueued and offered to consumers on the
// publisher's goroutine; acks, requeues and Kick dispatch on the caller's.
//
// Errors are *wire.Exception values returned as error, with RabbitMQ's reply codes and
// texts, checked against rabbitmq-server's source and a running 3.10.8 node (errors.go
// names the functions they come from). Where RabbitMQ 3.13+/4.x and 3.10 differ, vhost
// follows the newer one and says so at the place.
//
// # Lock order
//
//	Broker.mu → VHost.mu → Owner.mu → Queue.mu → (locks inside Consumer.Deliver/Started, in amqp)
//
// VHost.mu (RWMutex) guards the topology: both maps, every router, binding count and the
// deleted flags. Publish holds it for reading only while it routes into its scratch slices,
// then releases it and takes each target Queue.mu in turn, never two queue locks at once.
// Deleting a queue holds VHost.mu and then Queue.mu, marks the queue deleted and calls
// Consumer.Cancelled after releasing both. Queue.Cancel releases Queue.mu before it takes
// VHost.mu to auto-delete the queue.
package vhost
