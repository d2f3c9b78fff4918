// Package exchange routes messages for RabbitMQ's four exchange types: direct,
// fanout, topic and headers (AMQP 0-9-1 §3.1.3, with RabbitMQ's extensions).
//
// It owns the binding table of one exchange, keyed by (destination, routing
// key, arguments) as RabbitMQ keys its bindings, and the index each type
// routes through: a map per key (direct), one destination set (fanout), a
// word trie (topic) and an index by header name and value (headers). It knows
// nothing of queues, messages or protocol frames: a destination is any
// comparable value the caller picks (package vhost uses pointers to queues and
// to exchanges, for exchange-to-exchange bindings).
//
// Semantics are RabbitMQ's, read from its source; the details and the
// versions they hold for are in each type's comment: direct.go, fanout.go,
// topic.go (how keys split into words, '*' and '#'), headers.go (x-match)
// and value.go (when two header values are equal). Binding arguments are
// validated only where RabbitMQ validates them: x-match on headers exchanges.
//
// Imports: the standard library only (a leaf, see STYLE.md §1).
//
// Concurrency and lock order: the package takes no locks of its own. A Router
// must not be written (Bind, Unbind, RemoveDest) concurrently with anything
// else; Route, Len and Each only read it, so any number of them may run at
// once while no write is under way (package vhost holds its exchange routing
// lock for writing, or for reading around Route). Route's scratch space for
// removing duplicate destinations comes from a sync.Pool owned by each Router,
// never from the Router itself.
package exchange
