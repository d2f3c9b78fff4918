package vhost

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/amqp/wire"
)

// maxExpiry is the largest TTL RabbitMQ accepts: ten years in milliseconds
// (rabbit_misc:check_expiry/1).
const maxExpiry = 315_360_000_000

// queueOpts are the queue arguments this package acts on, parsed at declare, and merged
// with the queue's policy (policy.go) into Queue.opts.
type queueOpts struct {
	expires int64  // x-expires in ms (expires.go); 0 when absent (0 itself is refused)
	ttl     int64  // x-message-ttl in ms; -1 when absent
	dlx     string // x-dead-letter-exchange
	hasDLX  bool
	dlrk    string // x-dead-letter-routing-key
	hasRK   bool

	maxPrio  int      // x-max-priority (priority.go); -1 when absent
	single   bool     // x-single-active-consumer (consumers.go)
	ackWait  int64    // x-consumer-timeout in ms (RabbitMQ 3.12+; enforced by package amqp); -1 when absent
	quorum   bool     // x-queue-type quorum (quorum.go)
	delivLim int64    // x-delivery-limit of a quorum queue; -1 when absent
	maxLen   int64    // x-max-length: ready messages; -1 when absent
	maxBytes int64    // x-max-length-bytes: body bytes of ready messages; -1 when absent
	overflow overflow // x-overflow: what happens past those limits
	// hasOverflow: x-overflow was given (a classic queue's argument wins over its policy's)
	hasOverflow bool
}

// overflow is the x-overflow behaviour (RW:docs/maxlength.md).
type overflow uint8

const (
	dropHead         overflow = iota // the default: the oldest ready messages go (dead-lettered as "maxlen")
	rejectPublish                    // new messages are refused (basic.nack with confirms)
	rejectPublishDLX                 // refused and dead-lettered as "maxlen"
)

// noQueueOpts are the options of a queue without arguments.
func noQueueOpts() queueOpts {
	return queueOpts{ttl: -1, maxPrio: -1, maxLen: -1, maxBytes: -1, ackWait: -1, delivLim: -1}
}

// limited reports whether the queue has a length limit.
func (o *queueOpts) limited() bool { return o.maxLen >= 0 || o.maxBytes >= 0 }

// argCheck is one of rabbit_amqqueue:declare_args/0's validators: it returns the Erlang
// term RabbitMQ would print for a bad value ("" if the value is fine).
type argCheck struct {
	key   string
	check func(v any, args wire.Table) string
}

// queueArgChecks are the validators for the arguments warren knows, in RabbitMQ's order
// (rabbit_amqqueue:declare_args/0, 3.10). Unknown arguments are accepted, as RabbitMQ does.
// TODO(queue-arguments issue): x-queue-mode and x-queue-version values.
var queueArgChecks = []argCheck{
	{"x-expires", func(v any, _ wire.Table) string {
		if e := checkInt(v); e != "" {
			return e
		}
		n, _ := asInt(v)
		if n == 0 {
			return fmt.Sprintf("{value_zero,%d}", n)
		}
		return checkExpiry(n)
	}},
	{"x-message-ttl", func(v any, _ wire.Table) string {
		if e := checkInt(v); e != "" {
			return e
		}
		n, _ := asInt(v)
		return checkExpiry(n)
	}},
	{"x-dead-letter-exchange", func(v any, _ wire.Table) string {
		if _, ok := v.(string); !ok {
			return "{unacceptable_type," + typeName(v) + "}"
		}
		return ""
	}},
	{"x-dead-letter-routing-key", func(v any, args wire.Table) string {
		if _, ok := v.(string); !ok {
			return "{unacceptable_type," + typeName(v) + "}"
		}
		if _, ok := args["x-dead-letter-exchange"]; !ok {
			return "routing_key_but_no_dlx_defined"
		}
		return ""
	}},
	{"x-max-length", checkNonNegInt},
	{"x-max-length-bytes", checkNonNegInt},
	{"x-max-priority", func(v any, a wire.Table) string {
		if e := checkNonNegInt(v, a); e != "" {
			return e
		}
		if n, _ := asInt(v); n > 255 { // ?MAX_SUPPORTED_PRIORITY
			return fmt.Sprintf("{max_value_exceeded,%d}", n)
		}
		return ""
	}},
	{"x-overflow", func(v any, _ wire.Table) string { // rabbit_amqqueue:check_overflow/2
		s, ok := v.(string)
		if !ok {
			return "{unacceptable_type," + typeName(v) + "}"
		}
		if _, ok := overflows[s]; !ok {
			return "invalid_overflow"
		}
		return ""
	}},
	{"x-single-active-consumer", func(v any, _ wire.Table) string { // check_single_active_consumer_arg/2
		if _, ok := v.(bool); !ok {
			return "{unacceptable_type," + typeName(v) + "}"
		}
		return ""
	}},
	// check_queue_type/2. Classic queues, and quorum queues with the semantics warren can
	// give them (quorum.go); stream queues are refused as RabbitMQ refuses a queue type it
	// does not know, never silently declared as another type.
	{"x-queue-type", func(v any, _ wire.Table) string {
		s, ok := v.(string)
		if !ok {
			return "{unacceptable_type," + typeName(v) + "}"
		}
		if s != "classic" && s != "quorum" {
			return `"unsupported queue type '` + s + `'"`
		}
		return ""
	}},
}

var overflows = map[string]overflow{"drop-head": dropHead, "reject-publish": rejectPublish, "reject-publish-dlx": rejectPublishDLX}

// checkInt is rabbit_amqqueue:check_int_arg/2: an integer type, else the Erlang string
// "expected integer, got <type>" (printed with its quotes by ~p).
func checkInt(v any) string {
	if _, isDec := v.(wire.Decimal); isDec || typeClass(v) != "int" {
		return `"expected integer, got ` + typeName(v) + `"`
	}
	return ""
}

func checkNonNegInt(v any, _ wire.Table) string {
	if e := checkInt(v); e != "" {
		return e
	}
	if n, _ := asInt(v); n < 0 {
		return fmt.Sprintf("{value_negative,%d}", n)
	}
	return ""
}

// checkExpiry is rabbit_misc:check_expiry/1.
func checkExpiry(n int64) string {
	switch {
	case n < 0:
		return fmt.Sprintf("{value_negative,%d}", n)
	case n > maxExpiry:
		return fmt.Sprintf("{value_too_large,%d}", n)
	}
	return ""
}

// validateQueueArgs checks a new queue's arguments as rabbit_amqqueue:check_arguments does
// and parses the ones this package acts on. Only a queue being created is checked; a
// redeclare is compared instead (argsEquivalent).
func validateQueueArgs(vhost, name string, args wire.Table) (queueOpts, error) {
	// rabbit_channel checks the dead-letter exchange's type first, with its own text
	// (queue.declare, rabbit_misc:r_arg/4), before rabbit_amqqueue validates the rest.
	if v, ok := args["x-dead-letter-exchange"]; ok {
		if _, isStr := v.(string); !isStr {
			return queueOpts{}, wire.Soft(wire.PreconditionFailed, "invalid type '%s' for arg '%s' in queue '%s' in vhost '%s'",
				typeName(v), "x-dead-letter-exchange", name, vhost)
		}
	}
	for _, c := range queueArgChecks {
		v, ok := args[c.key]
		if !ok {
			continue
		}
		if e := c.check(v, args); e != "" {
			return queueOpts{}, wire.Soft(wire.PreconditionFailed, "invalid arg '%s' for queue '%s' in vhost '%s': %s",
				c.key, name, vhost, e)
		}
	}
	o := noQueueOpts()
	if v, ok := args["x-expires"]; ok {
		o.expires, _ = asInt(v)
	}
	if v, ok := args["x-message-ttl"]; ok {
		o.ttl, _ = asInt(v)
	}
	if v, ok := args["x-max-priority"]; ok {
		n, _ := asInt(v)
		o.maxPrio = int(n)
	}
	if v, ok := args["x-max-length"]; ok {
		o.maxLen, _ = asInt(v)
	}
	if v, ok := args["x-max-length-bytes"]; ok {
		o.maxBytes, _ = asInt(v)
	}
	o.single, _ = args["x-single-active-consumer"].(bool)
	o.quorum = args["x-queue-type"] == "quorum"
	if v, ok := args["x-delivery-limit"]; ok && o.quorum && typeClass(v) == "int" {
		if n, _ := asInt(v); n >= 0 {
			o.delivLim = n
		}
	}
	if v, ok := args["x-consumer-timeout"]; ok && typeClass(v) == "int" {
		if n, _ := asInt(v); n >= 0 {
			o.ackWait = n
		}
	}
	if v, ok := args["x-overflow"].(string); ok {
		o.overflow, o.hasOverflow = overflows[v], true
		if o.quorum && o.overflow == rejectPublishDLX {
			// Accepted at declare, but quorum queues lack it: rabbit_quorum_queue:
			// overflow/3 logs a warning and uses drop-head (as a 3.10.8 node does).
			o.overflow = dropHead
		}
	}
	o.dlx, o.hasDLX = args["x-dead-letter-exchange"].(string)
	o.dlrk, o.hasRK = args["x-dead-letter-routing-key"].(string)
	return o, nil
}

// parseExpiration reads the expiration property as rabbit_basic:parse_expiration/1 does:
// a decimal integer of milliseconds, nothing else, 0 to ten years. ok=false when absent;
// errTerm is the Erlang term RabbitMQ prints for a bad value.
func parseExpiration(b []byte) (ms int64, ok bool, errTerm string) {
	if b == nil {
		return 0, false, ""
	}
	// string:to_integer/1: optional sign, then digits; what follows is "leftover".
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == i {
		return 0, false, "no_integer"
	}
	if j < len(b) {
		return 0, false, "{leftover_string," + strconv.Quote(string(b[j:])) + "}"
	}
	n, err := strconv.ParseInt(string(b[:j]), 10, 64)
	if err != nil { // beyond int64: certainly beyond ten years
		if b[0] == '-' {
			return 0, false, "{value_negative," + string(b[:j]) + "}"
		}
		return 0, false, "{value_too_large," + strings.TrimPrefix(string(b[:j]), "+") + "}"
	}
	if e := checkExpiry(n); e != "" {
		return 0, false, e
	}
	return n, true, ""
}

// CheckExpiration validates a message's expiration property (the bytes of
// wire.ContentHeader.Expiration, nil if absent) as rabbit_channel:check_expiration_header/1
// does at basic.publish: nil, or a 406 with RabbitMQ's text.
func CheckExpiration(b []byte) error {
	if _, _, e := parseExpiration(b); e != "" {
		return wire.Soft(wire.PreconditionFailed, "invalid expiration '%s': %s", b, e)
	}
	return nil
}
