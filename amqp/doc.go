// Package amqp is warren's AMQP 0-9-1 protocol server: it accepts connections,
// negotiates them as RabbitMQ does, runs channels, and translates methods into
// calls on the protocol-neutral broker core in package vhost.
//
// It imports amqp/wire (the codec) and vhost. Nothing in vhost knows about
// sockets: queues deliver to consumers through the vhost.Consumer interface,
// which this package implements.
//
// # Goroutines
//
// Each connection has exactly two goroutines: readLoop, which owns the socket's
// read side, the channel table and everything a channel does on behalf of its
// client (publishing, consuming, acking), and writeLoop, the only writer of the
// socket, which drains the connection's outbox. A publish is decoded, routed and
// written into every consumer's outbox on the publisher's readLoop; the
// consumer's writeLoop is woken and writes it. There is no goroutine per channel
// and no hand-off through Go channels on the message path.
//
// # Lock order
//
//	vhost locks (VHost.mu → Queue.mu) → channel.mu → outbox.mu
//
// A queue calls consumer.Deliver with its lock held, so code holding channel.mu
// or outbox.mu never calls into vhost. Acks collect their entries under
// channel.mu, release it, and only then settle them in their queues.
package amqp
