package exchange

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// decimal stands in for the codec's Decimal type, which this package cannot import.
type decimal struct {
	Scale uint8
	Value int32
}

type table map[string]any // stands in for the codec's Table type

var headerCases = []struct {
	rule  string
	args  map[string]any
	hdrs  map[string]any
	match bool
}{
	{"missing x-match means all", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1", "b": "2"}, true},
	{"missing x-match means all", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1"}, false},
	{"all needs every key", map[string]any{"x-match": "all", "a": "1", "b": "2"}, map[string]any{"a": "1", "b": "2", "c": "3"}, true},
	{"all needs every key", map[string]any{"x-match": "all", "a": "1", "b": "2"}, map[string]any{"a": "1", "b": "3"}, false},
	{"all needs every key", map[string]any{"x-match": "all", "a": "1", "b": "2"}, map[string]any{"b": "2"}, false},
	{"any needs one key", map[string]any{"x-match": "any", "a": "1", "b": "2"}, map[string]any{"b": "2"}, true},
	{"any needs one key", map[string]any{"x-match": "any", "a": "1", "b": "2"}, map[string]any{"a": "1", "b": "2"}, true},
	{"any needs one key", map[string]any{"x-match": "any", "a": "1", "b": "2"}, map[string]any{"a": "2", "b": "1"}, false},
	{"any needs one key", map[string]any{"x-match": "any", "a": "1"}, map[string]any{"c": "1"}, false},
	{"all ignores x- keys", map[string]any{"x-match": "all", "x-a": "1", "b": "2"}, map[string]any{"b": "2"}, true},
	{"all ignores x- keys", map[string]any{"x-match": "all", "x-a": "1"}, map[string]any{}, true},
	{"any ignores x- keys", map[string]any{"x-match": "any", "x-a": "1", "b": "2"}, map[string]any{"x-a": "1"}, false},
	{"any ignores x- keys", map[string]any{"x-match": "any", "x-a": "1"}, map[string]any{"x-a": "1"}, false},
	{"all-with-x counts x- keys", map[string]any{"x-match": "all-with-x", "x-a": "1", "b": "2"}, map[string]any{"b": "2"}, false},
	{"all-with-x counts x- keys", map[string]any{"x-match": "all-with-x", "x-a": "1", "b": "2"}, map[string]any{"x-a": "1", "b": "2"}, true},
	{"any-with-x counts x- keys", map[string]any{"x-match": "any-with-x", "x-a": "1", "b": "2"}, map[string]any{"x-a": "1"}, true},
	{"any-with-x counts x- keys", map[string]any{"x-match": "any-with-x", "x-a": "1"}, map[string]any{"x-a": "2"}, false},
	{"x-match itself never counts", map[string]any{"x-match": "all-with-x"}, map[string]any{}, true},
	{"x-match itself never counts", map[string]any{"x-match": "any-with-x", "a": "1"}, map[string]any{"x-match": "any-with-x"}, false},
	{"all with no keys matches everything", map[string]any{}, map[string]any{"a": "1"}, true},
	{"all with no keys matches everything", map[string]any{"x-match": "all"}, nil, true},
	{"any with no keys matches nothing", map[string]any{"x-match": "any"}, map[string]any{"a": "1"}, false},
	{"nil headers are no headers", map[string]any{"a": nil}, nil, false},
	{"nil headers are no headers", map[string]any{"x-match": "any", "a": "1"}, nil, false},
	{"void matches on presence", map[string]any{"a": nil}, map[string]any{"a": "anything"}, true},
	{"void matches on presence", map[string]any{"a": nil}, map[string]any{"a": int64(0)}, true},
	{"void matches on presence", map[string]any{"a": nil}, map[string]any{"a": nil}, true},
	{"void matches on presence", map[string]any{"a": nil}, map[string]any{"b": "1"}, false},
	{"void matches on presence", map[string]any{"x-match": "any", "a": nil, "b": "2"}, map[string]any{"a": false}, true},
	{"a void header equals no value", map[string]any{"a": "1"}, map[string]any{"a": nil}, false},
	{"integers compare by value across widths", map[string]any{"a": int8(5)}, map[string]any{"a": int64(5)}, true},
	{"integers compare by value across widths", map[string]any{"a": uint32(5)}, map[string]any{"a": int16(5)}, true},
	{"integers compare by value across widths", map[string]any{"a": int32(-1)}, map[string]any{"a": uint32(0xffffffff)}, false},
	{"integers compare by value across widths", map[string]any{"a": uint8(200)}, map[string]any{"a": int8(-56)}, false},
	{"an integer never equals a float (=:=)", map[string]any{"a": int64(1)}, map[string]any{"a": float64(1)}, false},
	{"an integer never equals a float (=:=)", map[string]any{"a": float32(2)}, map[string]any{"a": int32(2)}, false},
	{"floats compare by value as doubles", map[string]any{"a": float32(1.5)}, map[string]any{"a": float64(1.5)}, true},
	{"floats compare by value as doubles", map[string]any{"a": float32(0.1)}, map[string]any{"a": float64(0.1)}, false},
	{"floats compare by value as doubles", map[string]any{"a": float64(0)}, map[string]any{"a": float64(-1) * 0}, true},
	{"longstr and byte array compare bytewise", map[string]any{"a": "xyz"}, map[string]any{"a": []byte("xyz")}, true},
	{"longstr and byte array compare bytewise", map[string]any{"a": []byte("xyz")}, map[string]any{"a": "xyz"}, true},
	{"longstr and byte array compare bytewise", map[string]any{"a": "xyz"}, map[string]any{"a": "XYZ"}, false},
	{"longstr and byte array compare bytewise", map[string]any{"a": ""}, map[string]any{"a": []byte{}}, true},
	{"a string never equals a number", map[string]any{"a": "1"}, map[string]any{"a": int64(1)}, false},
	{"booleans are not integers", map[string]any{"a": true}, map[string]any{"a": true}, true},
	{"booleans are not integers", map[string]any{"a": true}, map[string]any{"a": false}, false},
	{"booleans are not integers", map[string]any{"a": true}, map[string]any{"a": uint8(1)}, false},
	{"timestamps compare as their seconds", map[string]any{"a": time.Unix(1700000000, 0)}, map[string]any{"a": time.Unix(1700000000, 0).UTC()}, true},
	{"timestamps compare as their seconds", map[string]any{"a": time.Unix(1700000000, 0)}, map[string]any{"a": int64(1700000000)}, true},
	{"timestamps compare as their seconds", map[string]any{"a": time.Unix(1700000000, 0)}, map[string]any{"a": time.Unix(1700000001, 0)}, false},
	{"arrays compare element by element with types", map[string]any{"a": []any{"x", int64(1)}}, map[string]any{"a": []any{"x", int64(1)}}, true},
	{"arrays compare element by element with types", map[string]any{"a": []any{"x", int64(1)}}, map[string]any{"a": []any{"x", int32(1)}}, false},
	{"arrays compare element by element with types", map[string]any{"a": []any{"x"}}, map[string]any{"a": []any{[]byte("x")}}, false},
	{"arrays compare element by element with types", map[string]any{"a": []any{"x"}}, map[string]any{"a": []any{"x", "y"}}, false},
	{"arrays compare element by element with types", map[string]any{"a": []any{"x"}}, map[string]any{"a": "x"}, false},
	{"tables compare by key and typed value", map[string]any{"a": map[string]any{"k": "v"}}, map[string]any{"a": map[string]any{"k": "v"}}, true},
	{"tables compare by key and typed value", map[string]any{"a": table{"k": "v"}}, map[string]any{"a": table{"k": "v"}}, true},
	{"tables compare by key and typed value", map[string]any{"a": table{"k": "v"}}, map[string]any{"a": table{"k": "w"}}, false},
	{"decimals compare by scale and value", map[string]any{"a": decimal{2, 150}}, map[string]any{"a": decimal{2, 150}}, true},
	{"decimals compare by scale and value", map[string]any{"a": decimal{2, 150}}, map[string]any{"a": decimal{1, 15}}, false},
	{"decimals compare by scale and value", map[string]any{"a": decimal{0, 1}}, map[string]any{"a": int64(1)}, false},
	{"keys are case-sensitive", map[string]any{"A": "1"}, map[string]any{"a": "1"}, false},
	{"the routing key plays no part", map[string]any{"a": "1"}, map[string]any{"a": "1", "routing-key": "k"}, true},
}

func TestHeaders(t *testing.T) {
	for i, c := range headerCases {
		t.Run(fmt.Sprintf("%s/%d", c.rule, i), func(t *testing.T) {
			r := must(t, Headers)
			bind(t, r, 1, "ignored", c.args)
			var want []int
			if c.match {
				want = []int{1}
			}
			expect(t, r, "key", c.hdrs, want...)
			if refHeaders(c.args, c.hdrs) != c.match {
				t.Fatal("the reference matcher disagrees with this case")
			}
			// Bound beside many other bindings, the index must give the same answer.
			for j, d := range headerCases {
				if _, err := r.Bind(100+j, "", d.args); err != nil {
					t.Fatal(err)
				}
			}
			got := route(t, r, "key", c.hdrs)
			if has := len(got) > 0 && got[0] == 1; has != c.match {
				t.Fatalf("beside other bindings: Route = %v, want 1 routed: %v", got, c.match)
			}
		})
	}
	t.Run("several matching bindings of one destination route it once", func(t *testing.T) {
		r := must(t, Headers)
		bind(t, r, 1, "", map[string]any{"a": "1"})
		bind(t, r, 1, "", map[string]any{"b": "2"})
		bind(t, r, 1, "", map[string]any{"x-match": "any", "a": "1", "b": "2"})
		bind(t, r, 1, "", nil)
		bind(t, r, 2, "", map[string]any{"x-match": "any", "a": "1", "b": "2", "c": nil})
		expect(t, r, "", map[string]any{"a": "1", "b": "2", "c": "3"}, 1, 2)
	})
	t.Run("unbinding one of two bindings keeps the other", func(t *testing.T) {
		r := must(t, Headers)
		bind(t, r, 1, "", map[string]any{"a": "1"})
		bind(t, r, 1, "", map[string]any{"a": "2"})
		r.Unbind(1, "", map[string]any{"a": "1"})
		expect(t, r, "", map[string]any{"a": "1"})
		expect(t, r, "", map[string]any{"a": "2"}, 1)
		if f := r.(*headers[int]).fields["a"]; f == nil || len(f.strs) != 1 {
			t.Fatalf("index after Unbind: %+v, want the field with one value", f)
		}
		r.RemoveDest(1)
		if h := r.(*headers[int]); len(h.fields) != 0 || h.always.len() != 0 {
			t.Fatalf("index not empty after RemoveDest: %+v", h.fields)
		}
	})
}

// RabbitMQ refuses these with 406 PRECONDITION_FAILED and these texts
// (rabbit_exchange_type_headers:validate_binding, ~tp formatting).
func TestHeadersInvalidXMatch(t *testing.T) {
	for _, c := range []struct {
		rule string
		xm   any
		text string
	}{
		{"unknown x-match value", "some", `Invalid x-match field value <<"some">>; expected all, any, all-with-x, or any-with-x`},
		{"x-match values are case-sensitive", "ALL", `Invalid x-match field value <<"ALL">>; expected all, any, all-with-x, or any-with-x`},
		{"empty x-match value", "", `Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x`},
		{"non-ASCII x-match value", "allé", `Invalid x-match field value <<"allé"/utf8>>; expected all, any, all-with-x, or any-with-x`},
		{"x-match as a byte array", []byte("all"), `Invalid x-match field type binary (value <<"all">>); expected longstr`},
		{"x-match as a long", int64(1), `Invalid x-match field type long (value 1); expected longstr`},
		{"x-match as a signed int", int32(-3), `Invalid x-match field type signedint (value -3); expected longstr`},
		{"x-match as a boolean", true, `Invalid x-match field type bool (value true); expected longstr`},
		{"x-match as a double", 1.5, `Invalid x-match field type double (value 1.5); expected longstr`},
		{"x-match as void", nil, `Invalid x-match field type void (value undefined); expected longstr`},
		{"x-match as an array", []any{"all"}, `Invalid x-match field type array (value [{longstr,<<"all">>}]); expected longstr`},
		{"x-match as a table", table{"a": int8(1)}, `Invalid x-match field type table (value [{<<"a">>,byte,1}]); expected longstr`},
		{"x-match as a decimal", decimal{2, 5}, `Invalid x-match field type decimal (value {2,5}); expected longstr`},
	} {
		t.Run(c.rule, func(t *testing.T) {
			r := must(t, Headers)
			added, err := r.Bind(1, "", map[string]any{"x-match": c.xm, "a": "1"})
			if added || !errors.Is(err, ErrInvalidArgs) {
				t.Fatalf("Bind = %v, %v; want an ErrInvalidArgs error", added, err)
			}
			if err.Error() != c.text {
				t.Fatalf("text\n%s\nwant\n%s", err, c.text)
			}
			if r.Len() != 0 {
				t.Fatal("a refused binding was kept")
			}
		})
	}
	t.Run("other types do not validate x-match", func(t *testing.T) {
		for _, k := range []string{Direct, Fanout, Topic} {
			if _, err := must(t, k).Bind(1, "", map[string]any{"x-match": "some"}); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
	})
}

func TestErlangFormatting(t *testing.T) {
	for v, want := range map[float64]string{
		1: "1.0", 1.5: "1.5", 0.1: "0.1", -2: "-2.0", 1e21: "1.0e21", 1.5e-5: "1.5e-5", 0: "0.0", 123456.25: "123456.25",
	} {
		if got := erlFloat(v); got != want {
			t.Errorf("erlFloat(%v) = %s, want %s", v, got, want)
		}
	}
	for in, want := range map[string]string{
		`a"b\c`: `<<"a\"b\\c">>`, "\x00\x01": "<<0,1>>", "a\nb": `<<"a\nb">>`, "\xff": "<<255>>",
	} {
		if got := erlTerm(in); got != want {
			t.Errorf("erlTerm(%q) = %s, want %s", in, got, want)
		}
	}
}
