// Package conformance checks a broker's AMQP 0-9-1 behaviour against RabbitMQ's, through the official
// client github.com/rabbitmq/amqp091-go.
//
// It owns a list of named checks ([Checks]), each a function of a broker URL that returns nil or an error
// saying what it observed and what RabbitMQ answers instead. The same list runs
//   - under `go test` against an in-process warren (conformance_test.go, via conformance/warrentest),
//     or against any broker when AMQP_URL is set;
//   - from `warren conformance --url URL`, through [Run] and [WriteReport].
//
// The checks encode RabbitMQ 3.10's observed behaviour (each one was run against Debian's rabbitmq-server
// 3.10.8, see rabbitmq.sh); where RabbitMQ departs from the AMQP 0-9-1 specification, RabbitMQ wins and the
// check's Rule says so. NOTES.md lists what could not be checked and why.
//
// Every check is independent: it names its queues and exchanges with a random suffix, closes what it
// opened and deletes what it declared (see [Env]), waits on the client's notifications with a deadline
// rather than sleeping, and is bounded in time by the context that [Run] gives it.
//
// Imports: only the standard library and amqp091-go. The suite deliberately does not import warren's own
// packages (not even amqp/wire): the raw-frame helper in raw.go is a separate, minimal encoder, so that a
// bug in warren's codec cannot hide itself from the suite. Only the test file imports
// conformance/warrentest to start an in-process broker.
//
// Concurrency: an [Env] belongs to one check; its mutable fields are guarded by Env.mu, which is never held
// while talking to the broker. There is no other lock.
package conformance
