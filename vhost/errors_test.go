package vhost

import (
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// Erlang's ~p float format (io_lib_format:fwrite_g/1), as RabbitMQ prints argument values.
// Expected strings printed by erl (OTP 25) with io:format("~p", [F]).
func TestErlFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1000, "1.0e3"}, {100, "100.0"}, {10, "10.0"}, {1.5, "1.5"}, {0.1, "0.1"},
		{0.001, "0.001"}, {1e-5, "1.0e-5"}, {12345, "12345.0"}, {1e20, "1.0e20"},
		{123456789, "123456789.0"}, {1.25e10, "1.25e10"}, {-2.5, "-2.5"}, {0, "0.0"},
		{3.14159, "3.14159"}, {0.5e-3, "0.0005"}, {1e-4, "0.0001"}, {1234567, "1234567.0"},
		{1e15, "1.0e15"}, {1.5e16, "1.5e16"}, {-2.25, "-2.25"}, {123456.5, "123456.5"}, {1e21, "1.0e21"},
		{12e20, "1.2e21"}, {0.00001, "1.0e-5"},
	} {
		if got := erlFloat(tc.f); got != tc.want {
			t.Errorf("erlFloat(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// rabbit_misc:assert_args_equivalence1/4: integer widths compare by value, int and float
// never, and a longstr equals a byte array with the same bytes (both Erlang binaries).
func TestArgEquivalence(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b any
		same bool
	}{
		{"int widths", int8(5), int64(5), true},
		{"unsigned and signed", uint32(7), int16(7), true},
		{"different ints", int32(1), int32(2), false},
		{"int and double", int32(1000), 1000.0, false},
		{"float and double", float32(1.5), 1.5, true},
		{"longstr and bytes", "abc", []byte("abc"), true},
		{"longstr and other bytes", "abc", []byte("abd"), false},
		{"bools", true, true, true},
		{"bool and int", true, int8(1), false},
		{"decimal and int", wire.Decimal{Scale: 0, Value: 5}, int32(5), false},
		{"void", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameArg(tc.a, tc.b); got != tc.same {
				t.Fatalf("sameArg(%#v, %#v) = %v", tc.a, tc.b, got)
			}
		})
	}
}
