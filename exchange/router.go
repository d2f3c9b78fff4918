package exchange

import (
	"errors"
	"fmt"
)

// The exchange types RabbitMQ ships (rabbit_exchange_type_{direct,fanout,topic,headers}.erl).
const (
	Direct  = "direct"
	Fanout  = "fanout"
	Topic   = "topic"
	Headers = "headers"
)

// ErrUnknownKind is returned (wrapped) by New for a type other than the four above.
// RabbitMQ answers exchange.declare with such a type with "unknown exchange type '%s'":
// 406 PRECONDITION_FAILED since 3.13.3 (rabbit_exchange:check_type, commit b6aacb7181),
// 503 COMMAND_INVALID before (3.10.8, the Debian package).
var ErrUnknownKind = errors.New("exchange: unknown exchange type")

// ErrInvalidArgs matches (errors.Is) every error Bind returns. RabbitMQ refuses
// such a binding with 406 PRECONDITION_FAILED (rabbit_channel: binding_invalid →
// precondition_failed); the error's own text, Error(), is RabbitMQ's reply text.
var ErrInvalidArgs = errors.New("exchange: invalid binding arguments")

// argsError carries RabbitMQ's reply text for a refused binding.
type argsError struct{ text string }

func (e *argsError) Error() string        { return e.text }
func (e *argsError) Is(target error) bool { return target == ErrInvalidArgs }

// Router is the binding table and routing index of one exchange.
// D is the binding destination.
type Router[D comparable] interface {
	// Bind adds a binding; binding the same (dest, key, args) twice is a no-op
	// and returns false. err (matching ErrInvalidArgs) only for invalid args:
	// headers with a bad x-match. Bind keeps a shallow copy of args, so the
	// caller must not modify nested tables or arrays afterwards.
	Bind(dest D, key string, args map[string]any) (added bool, err error)
	// Unbind removes a binding; it returns false if it was not bound.
	Unbind(dest D, key string, args map[string]any) bool
	// Route appends to dst every destination matching the routing key (direct,
	// topic) or the headers (headers; nil means none), each exactly once, and
	// returns the extended slice (what dst held before is neither read nor
	// deduplicated against). It does not allocate once dst has capacity, except
	// for headers bindings whose values are tables, arrays or decimals.
	Route(dst []D, key string, headers map[string]any) []D
	// RemoveDest drops every binding to dest (a queue was deleted) and returns
	// how many there were.
	RemoveDest(dest D) int
	// Len returns the number of bindings.
	Len() int
	// Kind returns the exchange type: Direct, Fanout, Topic or Headers.
	Kind() string
	// Each calls fn for every binding, in no particular order, until fn
	// returns false. fn must not modify the Router or args.
	Each(fn func(dest D, key string, args map[string]any) bool)
	// HasDest reports whether dest has at least one binding.
	HasDest(dest D) bool
}

// New returns an empty Router for an exchange of the given type.
func New[D comparable](kind string) (Router[D], error) {
	switch kind {
	case Direct:
		return newDirect[D](), nil
	case Fanout:
		return newFanout[D](), nil
	case Topic:
		return newTopic[D](), nil
	case Headers:
		return newHeaders[D](), nil
	}
	return nil, fmt.Errorf("%w '%s'", ErrUnknownKind, kind)
}

// Valid reports whether kind is an exchange type New accepts.
func Valid(kind string) bool {
	switch kind {
	case Direct, Fanout, Topic, Headers:
		return true
	}
	return false
}
