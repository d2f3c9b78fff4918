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
// Each connection has one goroutine, readLoop, which owns the socket's read side,
// the channel table and everything a channel does on behalf of its client
// (publishing, consuming, acking), and at most one more while it has something to
// write: writeLoop, the only writer of the socket, started by whoever appends to an
// idle outbox and ending once it has drained it (outbox.go), so that an idle
// connection costs one goroutine. A publish is decoded, routed and written into
// every consumer's outbox on the publisher's readLoop; the consumer's writeLoop
// is started or finds it and writes it. There is no goroutine per channel
// and no hand-off through Go channels on the message path.
//
// One more goroutine per Server, started by the first Serve and stopped by Shutdown,
// advances a coarse clock and closes channels whose deliveries wait too long for their
// ack (consumer timeout, timeout.go).
//
// # Access (issue 7)
//
// Logins (PLAIN, AMQPLAIN, and EXTERNAL on TLS with a verified client certificate,
// handshake.go) are checked by vhost.Broker; refusals are logged with the address and
// user, and an address that keeps failing is answered later and later (authlimit.go), on
// its own connection's goroutine. connection.open opens a vhost.Session, which applies the
// vhost, user and node connection limits and the vhost permission, counts the user's
// channels, and closes the connection with 320 when its vhost or user is deleted.
// Permission checks sit where rabbit_channel makes them (access.go); a publish checks
// write once per change of exchange (channel.permCache), so the publish path adds a
// string comparison. TLS listeners are tls.NewListener around a TCP listener; the TLS
// handshake runs on the connection's goroutine within the handshake timeout (tls.go).
//
// # Lock order
//
//	vhost locks (VHost.mu → Queue.mu) → channel.mu → outbox.mu
//
// The vhost's access lock (users, sessions) is taken by calls made without any of these.
//
// The management views (inspect.go) take retired.mu → Server.mu → inspect.mu →
// channel.mu, one connection and one channel at a time, and call nothing in vhost
// while holding any of them.
//
// A queue calls consumer.Deliver with its lock held, so code holding channel.mu
// or outbox.mu never calls into vhost. Acks collect their entries under
// channel.mu, release it, and only then settle them in their queues.
package amqp
