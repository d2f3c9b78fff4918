package wire

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tableOf wraps one encoded entry (key "k") in a table with its length.
func tableOf(entry []byte) []byte {
	b := appendLong(nil, uint32(len(entry)))
	return append(b, entry...)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every tag RabbitMQ reads and writes (rabbit_binary_parser / rabbit_binary_generator),
// decoded to its Go type and encoded back to the same bytes.
func TestTableEveryTag(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		name  string
		value string // hex after the key: tag and encoded value
		want  any
	}{
		{"bool true", "74 01", true},
		{"bool false", "74 00", false},
		{"int8", "62 ff", int8(-1)},
		{"uint8", "42 ff", uint8(255)},
		{"int16", "73 8000", int16(math.MinInt16)},
		{"uint16", "75 ffff", uint16(65535)},
		{"int32", "49 80000000", int32(math.MinInt32)},
		{"uint32", "69 ffffffff", uint32(math.MaxUint32)},
		{"int64", "6c 8000000000000000", int64(math.MinInt64)},
		{"float32", "66 3fc00000", float32(1.5)},
		{"float64", "64 bff8000000000000", float64(-1.5)},
		{"decimal", "44 02 fffffffe", Decimal{Scale: 2, Value: -2}},
		{"longstr", "53 00000003 616263", "abc"},
		{"empty longstr", "53 00000000", ""},
		{"byte array", "78 00000002 00ff", []byte{0, 0xff}},
		{"timestamp", "54 " + hex.EncodeToString(appendLonglong(nil, uint64(ts.Unix()))), ts},
		{"void", "56", nil},
		{"table", "46 00000007 01 61 74 01 01 62 56", Table{"a": true, "b": nil}},
		{"empty table", "46 00000000", Table{}},
		{"array", "41 0000000b 53 00000001 78 62 01 56 74 00", []any{"x", int8(1), nil, false}},
		{"empty array", "41 00000000", []any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tableOf(append([]byte{1, 'k'}, unhex(t, tc.value)...))
			got, err := DecodeTable(raw)
			if err != nil {
				t.Fatalf("DecodeTable(% x): %v", raw, err)
			}
			if v, ok := got["k"]; !ok || !reflect.DeepEqual(v, tc.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", v, v, tc.want, tc.want)
			}
			enc, err := AppendTable(nil, got)
			if err != nil || !bytes.Equal(enc, raw) {
				t.Fatalf("re-encoded % x (%v), want % x", enc, err, raw)
			}
			if n, err := SkipTable(raw); err != nil || n != len(raw) {
				t.Fatalf("SkipTable = %d, %v; want %d", n, err, len(raw))
			}
			tag, val, ok := TableFind(raw, "k")
			if !ok || tag != raw[4+2] || !bytes.Equal(val, raw[4+3:]) {
				t.Fatalf("TableFind = %q % x %v", tag, val, ok)
			}
			if v, err := DecodeField(tag, val); err != nil || !reflect.DeepEqual(v, tc.want) {
				t.Fatalf("DecodeField = %#v, %v", v, err)
			}
		})
	}
}

func TestTableLongAsRabbitMQ(t *testing.T) {
	// 'L' is read as a signed 64-bit integer, as RabbitMQ reads it, and written as 'l'.
	raw := tableOf(unhex(t, "01 6b 4c ffffffffffffffff"))
	got, err := DecodeTable(raw)
	if err != nil || got["k"] != int64(-1) {
		t.Fatalf("got %#v, %v", got, err)
	}
	enc, _ := AppendTable(nil, got)
	if want := tableOf(unhex(t, "01 6b 6c ffffffffffffffff")); !bytes.Equal(enc, want) {
		t.Fatalf("re-encoded % x, want % x", enc, want)
	}
}

func TestTableBadInput(t *testing.T) {
	deep := func(levels int) []byte {
		// levels tables nested in the key "k", the outermost being level 1.
		b := tableOf(nil)
		for range levels - 1 {
			b = tableOf(append([]byte{1, 'k', 'F'}, b...))
		}
		return b
	}
	deepArray := func(levels int) []byte {
		b := []byte{'A', 0, 0, 0, 0}
		for range levels - 2 {
			inner := b
			b = append([]byte{'A'}, appendLong(nil, uint32(len(inner)))...)
			b = append(b, inner...)
		}
		return tableOf(append([]byte{1, 'k'}, b...))
	}
	if _, err := DecodeTable(deep(MaxTableDepth)); err != nil {
		t.Fatalf("%d levels: %v", MaxTableDepth, err)
	}
	if _, err := DecodeTable(deepArray(MaxTableDepth)); err != nil {
		t.Fatalf("%d levels of arrays: %v", MaxTableDepth, err)
	}
	cases := []struct {
		name string
		raw  []byte
	}{
		{"unknown tag", tableOf([]byte{1, 'k', 'Z'})},
		{"tag 0", tableOf([]byte{1, 'k', 0})},
		{"unknown tag in array", tableOf([]byte{1, 'k', 'A', 0, 0, 0, 1, 'Q'})},
		{"unknown tag in nested table", tableOf([]byte{1, 'k', 'F', 0, 0, 0, 3, 1, 'j', 'Q'})},
		{"key past the end", tableOf([]byte{5, 'k'})},
		{"no tag", tableOf([]byte{1, 'k'})},
		{"value cut", tableOf([]byte{1, 'k', 'I', 0, 0})},
		{"longstr past the end", tableOf([]byte{1, 'k', 'S', 0, 0, 0, 9, 'a'})},
		{"longstr of 4 GiB", tableOf([]byte{1, 'k', 'S', 0xff, 0xff, 0xff, 0xff})},
		{"nested length past its table", tableOf([]byte{1, 'k', 'F', 0, 0, 0, 9, 0})},
		{"table length past the end", []byte{0, 0, 0, 9, 1}},
		{"no length", []byte{0, 0}},
		{"too deep", deep(MaxTableDepth + 1)},
		{"arrays too deep", deepArray(MaxTableDepth + 1)},
		{"1000 levels", deep(1000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTable(tc.raw)
			wantException(t, err, SyntaxError)
			_, err = SkipTable(tc.raw)
			wantException(t, err, SyntaxError)
		})
	}
	// Trailing bytes after a table are the caller's business in SkipTable, an error in DecodeTable.
	raw := append(tableOf(nil), 0xAA)
	if n, err := SkipTable(raw); err != nil || n != 4 {
		t.Fatalf("SkipTable with a byte after the table: %d, %v", n, err)
	}
	if _, err := DecodeTable(raw); err == nil {
		t.Fatal("DecodeTable took a trailing byte")
	}
}

func TestAppendTableGoTypes(t *testing.T) {
	ts := time.Unix(1700000000, 0).UTC()
	in := Table{
		"int": 7, "uint": uint(8), "uint64": uint64(9), "map": map[string]any{"a": "b"},
		"strings": []string{"x", "y"}, "time": ts, "nil": nil,
	}
	enc, err := AppendTable(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTable(enc)
	if err != nil {
		t.Fatal(err)
	}
	want := Table{
		"int": int64(7), "uint": int64(8), "uint64": int64(9), "map": Table{"a": "b"},
		"strings": []any{"x", "y"}, "time": ts, "nil": nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	// Keys are written in order: the encoding is deterministic.
	again, _ := AppendTable(nil, in)
	if !bytes.Equal(enc, again) {
		t.Fatal("two encodings of one table differ")
	}

	self := Table{}
	self["me"] = self
	for name, bad := range map[string]Table{
		"struct":         {"k": struct{}{}},
		"int slice":      {"k": []int{1}},
		"huge uint64":    {"k": uint64(math.MaxUint64)},
		"long key":       {strings.Repeat("k", 256): 1},
		"nested bad":     {"k": Table{"j": []any{complex(1, 1)}}},
		"self reference": self,
	} {
		out, err := AppendTable([]byte("dst"), bad)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if string(out) != "dst" {
			t.Errorf("%s: dst changed to %q", name, out)
		}
	}
}

func TestTableFind(t *testing.T) {
	raw, _ := AppendTable(nil, Table{"a": "x", "x-match": "any", "n": int32(5), "z": Table{"x-match": "no"}})
	tag, val, ok := TableFind(raw, "x-match")
	if !ok || tag != 'S' || string(val) != "\x00\x00\x00\x03any" {
		t.Fatalf("x-match: %q % x %v", tag, val, ok)
	}
	if tag, val, ok := TableFind(raw, "n"); !ok || tag != 'I' || !bytes.Equal(val, []byte{0, 0, 0, 5}) {
		t.Fatalf("n: %q % x %v", tag, val, ok)
	}
	for _, key := range []string{"", "missing", "deep"} {
		if _, _, ok := TableFind(raw, key); ok {
			t.Fatalf("found %q", key)
		}
	}
	// The first of duplicate keys wins, as rabbit_misc:table_lookup finds it.
	dup := tableOf([]byte{1, 'k', 'b', 1, 1, 'k', 'b', 2})
	if _, val, _ := TableFind(dup, "k"); val[0] != 1 {
		t.Fatalf("duplicate key: got value %d, want the first", val[0])
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 9}, tableOf([]byte{1, 'a', 'Z', 1, 'k', 'V'})} {
		if _, _, ok := TableFind(bad, "k"); ok {
			t.Fatalf("found a key in malformed % x", bad)
		}
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { TableFind(raw, "x-match") }); n != 0 {
		t.Fatalf("TableFind allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = SkipTable(raw) }); n != 0 {
		t.Fatalf("SkipTable allocates %v times", n)
	}
}
