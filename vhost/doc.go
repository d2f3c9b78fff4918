// Package vhost is warren's broker core, protocol-neutral: users, virtual hosts, exchanges,
// queues, bindings, consumers and message dispatch, all in memory for now (durable entities
// carry a flag and pass through one seam, durable.go, for the store to hook into later).
//
// The AMQP server (package amqp) drives it: one Owner per connection, one Publisher per
// channel, and a Consumer implementation per channel that Deliver writes into. vhost knows
// nothing of sockets and starts no goroutines: a publish is routed and dispatched to
// consumers on the publisher's goroutine; acks, requeues and Kick dispatch on the caller's.
//
// Imports: package exchange (routing), amqp/wire (Table, Exception, property parsing).
// Never package amqp.
//
// Errors are *wire.Exception values returned as error, with RabbitMQ's reply codes and
// texts (see errors.go for the rabbitmq-server functions they come from).
//
// # Lock order
//
//	Broker.mu → VHost.mu → Owner.mu → Queue.mu → (locks inside Consumer.Deliver/Started, in amqp)
//
// VHost.mu (RWMutex) guards the topology: exchanges, queues, every router and binding
// count. Publish holds it for reading only while routing into its scratch slices, then
// releases it and takes each target Queue.mu in turn (never two queue locks at once).
// Consumer.Cancelled is called with no lock held. A Consumer must not call into vhost from
// Deliver or Started.
package vhost
