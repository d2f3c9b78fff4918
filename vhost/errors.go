package vhost

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmq/warren/amqp/wire"
)

// The texts below are RabbitMQ's, so that clients and tests that match on them (and people
// who search for them) find the same words. Sources, rabbitmq-server v4.x (checked against
// v3.10.8 too where noted):
//   rabbit_misc:rs/1                 "<kind> '<name>' in vhost '<vhost>'"
//   rabbit_amqqueue:not_found/1      "no " ++ rs
//   rabbit_misc:equivalence_fail/4   "inequivalent arg '<key>' for <rs>: received <new> but current is <orig>"
//   rabbit_amqqueue:check_exclusive_access/3 (405 text)
//   rabbit_channel: check_not_default_exchange/1, check_exchange_deletion/1, check_name/2,
//                   check_internal_exchange/1
//   rabbit_classic_queue:consume/3   "<rs> in exclusive use"
//   rabbit_amqqueue:delete_with/6    "<rs> in use", "<rs> not empty"
//   rabbit_exchange:check_type/1     "unknown exchange type '<type>'" (503, hard, as 3.10)

func errUnknownType(kind string) error {
	return wire.Hard(wire.CommandInvalid, "unknown exchange type '%s'", kind)
}

func errNoVHost(name string) error {
	return fmt.Errorf("%w: '%s'", ErrNoVHost, name)
}

func errNoQueue(vhost, name string) error {
	return wire.Soft(wire.NotFound, "no queue '%s' in vhost '%s'", name, vhost)
}

func errNoExchange(vhost, name string) error {
	return wire.Soft(wire.NotFound, "no exchange '%s' in vhost '%s'", name, vhost)
}

func errDefaultExchange() error {
	return wire.Soft(wire.AccessRefused, "operation not permitted on the default exchange")
}

func errLocked(vhost, name string) error {
	return wire.Soft(wire.ResourceLocked, "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "+
		"It could be originally declared on another connection or the exclusive property value does not "+
		"match that of the original declaration.", name, vhost)
}

// errInequivalent formats RabbitMQ's 406 for a redeclare whose properties differ. kind is
// "queue" or "exchange"; received and current are preformatted by fieldVal or argVal.
func errInequivalent(key, kind, name, vhost, received, current string) error {
	return wire.Soft(wire.PreconditionFailed, "inequivalent arg '%s' for %s '%s' in vhost '%s': received %s but current is %s",
		key, kind, name, vhost, received, current)
}

// fieldVal formats a bare value as rabbit_misc:val/1 does: the Erlang term in single
// quotes, ~ts for binaries and ~tp otherwise ('true', 'direct', '2000', '1.0e3').
func fieldVal(v any) string { return "'" + erlTerm(v) + "'" }

// argVal formats a table value as rabbit_misc:val/1 does for {Type, Value}: "none" when
// absent, else "the value 'V' of type 'T'" where T is RabbitMQ's name of the AMQP field type
// (rabbit_binary_parser) and V is printed as Erlang's ~ts (binaries) or ~tp (other terms).
func argVal(v any, present bool) string {
	if !present {
		return "none"
	}
	return "the value '" + erlTerm(v) + "' of type '" + typeName(v) + "'"
}

// typeName is the atom rabbit_binary_parser gives each field-table type tag.
func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int8:
		return "byte"
	case uint8:
		return "unsignedbyte"
	case int16:
		return "short"
	case uint16:
		return "unsignedshort"
	case int32:
		return "signedint"
	case uint32:
		return "unsignedint"
	case int64, int:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	case wire.Decimal:
		return "decimal"
	case string:
		return "longstr"
	case []byte:
		return "binary"
	case []any:
		return "array"
	case time.Time:
		return "timestamp"
	case wire.Table, map[string]any:
		return "table"
	case nil:
		return "void"
	}
	return fmt.Sprintf("%T", v)
}

// typeClass groups types whose values RabbitMQ compares by value
// (rabbit_misc:type_class/1: every integer type and decimal are "int", float and double
// are "float").
func typeClass(v any) string {
	switch v.(type) {
	case int8, uint8, int16, uint16, int32, uint32, int64, int, wire.Decimal:
		return "int"
	case float32, float64:
		return "float"
	}
	return typeName(v)
}

// erlTerm prints v roughly as Erlang's ~tp/~ts would print the decoded value.
func erlTerm(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case int8, uint8, int16, uint16, int32, uint32, int64, int:
		return fmt.Sprint(v)
	case float32:
		return erlFloat(float64(v))
	case float64:
		return erlFloat(v)
	case wire.Decimal:
		return fmt.Sprintf("{%d,%d}", v.Scale, v.Value)
	case time.Time:
		return strconv.FormatInt(v.Unix(), 10)
	case nil:
		return "undefined"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = "{" + typeName(e) + "," + erlQuoted(e) + "}"
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprint(v)
}

func erlQuoted(v any) string {
	switch v.(type) {
	case string, []byte:
		return "<<\"" + erlTerm(v) + "\">>"
	}
	return erlTerm(v)
}

// erlFloat prints a float as Erlang's ~p does (io_lib_format:fwrite_g/1): the shortest
// digits that read back exactly, placed by insert_decimal/2, which picks whichever of
// plain ("100.0", "0.001", "12345.0") and exponent form ("1.0e3", "1.0e-5") is shorter.
func erlFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) || f == 0 {
		if f == 0 {
			if math.Signbit(f) {
				return "-0.0"
			}
			return "0.0"
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest digits: "d.ddde±x" → digits "dddd", value = 0.digits × 10^place.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exps, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(exps)
	place := exp + 1
	l := len(digits)
	if place < 0 || place >= l {
		expL := strconv.Itoa(place - 1)
		expDot := 1
		if l == 1 {
			expDot = 2
		}
		expCost := len(expL) + 1 + expDot
		if place < 0 {
			if 2-place <= expCost {
				return sign + "0." + strings.Repeat("0", -place) + digits
			}
		} else if place-l+2 <= expCost {
			return sign + digits + strings.Repeat("0", place-l) + ".0"
		}
		if l == 1 {
			return sign + digits + ".0e" + expL
		}
		return sign + digits[:1] + "." + digits[1:] + "e" + expL
	}
	if place == 0 {
		return sign + "0." + digits
	}
	return sign + digits[:place] + "." + digits[place:]
}

// sameArg reports whether two table values are equivalent for RabbitMQ's redeclare check
// (rabbit_misc:assert_args_equivalence1/4): same type class and equal values (Erlang ==,
// which equates integers of different widths); across type classes, identical Erlang terms
// (assert_field_equivalence/4: a longstr and a byte array with the same bytes are both
// binaries).
func sameArg(a, b any) bool {
	if typeClass(a) != typeClass(b) {
		as, aok := binaryOf(a)
		bs, bok := binaryOf(b)
		return aok && bok && as == bs
	}
	switch av := a.(type) {
	case int8, uint8, int16, uint16, int32, uint32, int64, int:
		ai, aok := asInt(av)
		bi, bok := asInt(b)
		return aok && bok && ai == bi
	case float32, float64:
		return asFloat(a) == asFloat(b)
	case wire.Decimal:
		bd, ok := b.(wire.Decimal)
		return ok && av == bd
	case string:
		return av == b.(string)
	case []byte:
		return string(av) == string(b.([]byte))
	case bool:
		return av == b.(bool)
	case time.Time:
		return av.Equal(b.(time.Time))
	case nil:
		return b == nil
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// binaryOf returns the bytes of a value Erlang holds as a binary (longstr, byte array).
func binaryOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// asInt widens any integer type (every AMQP integer fits an int64); ok=false otherwise.
func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int8:
		return int64(v), true
	case uint8:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}

func asFloat(v any) float64 {
	switch v := v.(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}
