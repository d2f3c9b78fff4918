// Package perf is warren's load tool, `warren perf`: producers, consumers and queues
// against any AMQP 0-9-1 broker (warren, RabbitMQ, LavinMQ, ...), in the spirit of
// RabbitMQ's PerfTest and lavinmqperf. It prints a line per second (publish, confirm
// and delivery rates, latency percentiles from a timestamp in each body) and a final
// Summary, as text or JSON.
//
// # A lean client
//
// The tool must measure the broker, not itself, so its data path does not use
// amqp091-go (which flushes the socket on every publish and hands every delivery
// through several goroutines). It speaks AMQP through amqp/wire directly:
//
//   - a producer pre-encodes each message (basic.publish, content header, body frames)
//     once, copies it into a batch buffer patching only the 8-byte send timestamp at
//     the start of the body, and writes a batch with one system call;
//   - a producer's confirms (basic.ack / basic.nack, multiple or not) are read by one
//     goroutine per producer connection that counts them exactly and wakes the
//     producer when its window opens;
//   - a consumer reads frames with wire.FrameReader in its own goroutine, counts
//     deliveries, records latency into a lock-free histogram, and appends its acks
//     (multiple=true every N) to a buffer written once per read batch.
//
// Each producer and each consumer has its own connection with one channel. Topology
// (queues, the fanout exchange and its bindings) is declared by a setup connection
// before the run and deleted after it unless Config.Keep is set.
//
// # Goroutines and ownership
//
// Run owns everything it starts and waits for it: one goroutine per producer, one
// confirm reader per producer, one per consumer, and the reporter. Counters shared
// between them are atomics; the histogram buckets are atomics swapped out by the
// reporter. There are no locks (lock order: none).
//
// # Bounds
//
// Every run stops by itself: after Config.Duration, or once Config.Count messages
// have been published and the deliveries they route to have arrived (or
// Config.DrainTimeout has passed), whichever comes first.
package perf
