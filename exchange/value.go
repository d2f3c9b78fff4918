package exchange

import (
	"bytes"
	"math"
	"reflect"
	"time"
)

// vkind is the class of a decoded field-table value for header matching.
//
// RabbitMQ 3.13 and later (rabbit_exchange_type_headers.erl since commit
// 119f034406, "Message Containers") compare a binding value V with the header
// value with Erlang's exact equality, maps:get(K, Headers, undefined) =:= V,
// on the values rabbit_binary_parser decodes, with the type tags dropped. So:
// every integer type is an Erlang integer and they compare by value; float
// and double are both Erlang floats; longstr and byte array are both
// binaries; and an integer never equals a float (1 =:= 1.0 is false). 3.12
// and before (Debian's 3.10.8) used ==, under which 1 == 1.0: warren follows
// the current behaviour. Tables and arrays keep their element type tags, so
// inside them types must agree exactly.
type vkind uint8

const (
	kVoid  vkind = iota // AMQP void ('V'): a binding value that matches on presence alone
	kBool               // boolean ('t')
	kInt                // every integer type, and timestamps as their seconds
	kUint               // a Go unsigned integer above math.MaxInt64 (no AMQP type decodes to one)
	kFloat              // float ('f') and double ('d'), as a double
	kStr                // longstr ('S') and byte array ('x'), bytewise
	kOther              // decimal, table, array and unknown types: typed deep equality
)

// scalar is a value of kind kVoid, kBool, kInt, kUint or kFloat; comparable,
// so it keys the headers index.
type scalar struct {
	kind vkind
	bits uint64 // kBool: 0 or 1; kInt: the int64's bits; kUint: the value; kFloat: math.Float64bits
}

func intScalar(i int64) scalar { return scalar{kInt, uint64(i)} }

func uintScalar(u uint64) scalar {
	if u > math.MaxInt64 {
		return scalar{kUint, u}
	}
	return scalar{kInt, u}
}

func floatScalar(f float64) scalar {
	if f == 0 {
		f = 0 // -0.0 == 0.0, as Go's == and Erlang's == have it
	}
	return scalar{kFloat, math.Float64bits(f)}
}

// scalarOf classifies a decoded value; it returns kind kStr or kOther with no
// bits for the kinds that are not scalars. It does not allocate.
func scalarOf(v any) scalar {
	switch x := v.(type) {
	case nil:
		return scalar{kind: kVoid}
	case string, []byte:
		return scalar{kind: kStr}
	case bool:
		if x {
			return scalar{kBool, 1}
		}
		return scalar{kBool, 0}
	case int8:
		return intScalar(int64(x))
	case int16:
		return intScalar(int64(x))
	case int32:
		return intScalar(int64(x))
	case int64:
		return intScalar(x)
	case int:
		return intScalar(int64(x))
	case uint8:
		return intScalar(int64(x))
	case uint16:
		return intScalar(int64(x))
	case uint32:
		return intScalar(int64(x))
	case uint64:
		return uintScalar(x)
	case uint:
		return uintScalar(uint64(x))
	case float32:
		return floatScalar(float64(x))
	case float64:
		return floatScalar(x)
	case time.Time:
		// rabbit_binary_parser decodes a timestamp to its integer seconds, so
		// in 3.12 and before it equals an integer of that value. (3.13+ turn
		// header timestamps into milliseconds but not binding ones, so there a
		// timestamp binding never matches; warren keeps them comparable.)
		return intScalar(x.Unix())
	}
	return scalar{kind: kOther}
}

// value is a binding argument prepared for matching.
type value struct {
	scalar
	str   string // kind kStr
	other any    // kind kOther: the argument as given
}

func valueOf(v any) value {
	switch x := v.(type) {
	case string:
		return value{scalar: scalar{kind: kStr}, str: x}
	case []byte:
		return value{scalar: scalar{kind: kStr}, str: string(x)}
	}
	s := scalarOf(v)
	if s.kind == kOther {
		return value{scalar: s, other: v}
	}
	return value{scalar: s}
}

// matches reports whether header value h equals p, the Erlang =:= way (see
// vkind). It does not allocate unless p is of kind kOther.
func (p *value) matches(h any) bool {
	switch x := h.(type) {
	case string:
		return p.kind == kStr && p.str == x
	case []byte:
		return p.kind == kStr && p.str == string(x)
	}
	s := scalarOf(h)
	switch s.kind {
	case kOther:
		return p.kind == kOther && equalTyped(p.other, h)
	case kVoid:
		return false // a void header equals no value; void bindings match on presence before this
	}
	return p.scalar == s
}

// equalTyped compares values that keep their AMQP types, as elements of
// arrays and tables do in RabbitMQ ({Type, Value} pairs): the Go types must
// agree and so must the values. Tables compare as maps, whatever the order.
func equalTyped(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalTyped(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalTyped(v, w) {
				return false
			}
		}
		return true
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Unix() == y.Unix() // AMQP timestamps have whole seconds
	case nil:
		return b == nil
	}
	if s := scalarOf(a); s.kind != kOther {
		return reflect.TypeOf(a) == reflect.TypeOf(b) && s == scalarOf(b)
	}
	// A type of another package, such as the codec's Table or Decimal: rare
	// enough in binding arguments for reflection.
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.DeepEqual(a, b)
}
