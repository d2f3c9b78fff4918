package vhost

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// FuzzDecodeRecords feeds arbitrary bytes to the decoders of the records vhost keeps
// in the store: a damaged record must give an error, never a panic, and a message
// that decodes must encode back to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	m := &Message{Exchange: "amq.direct", RoutingKey: "rk", Body: []byte("body"), ts: 1e18,
		Priority: 3, ccKeys: []string{"a", "bb"}}
	f.Add(appendMessage(nil, m))
	f.Add([]byte{recordV1, 0, 0})
	f.Add([]byte{recordV1, 5, 'f', 'a', 'n', 'o', 'u', 't', flagAutoDelete, 7, 0})
	f.Add([]byte{recordV1, 0, 1, 2, 'F', 0, 0, 0, 1, 'S'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := decodeMessage(bytes.Clone(data)); err == nil {
			again := appendMessage(nil, m)
			m2, err := decodeMessage(bytes.Clone(again))
			if err != nil {
				t.Fatalf("a decoded message does not decode after encoding: %v", err)
			}
			if m2.Exchange != m.Exchange || m2.RoutingKey != m.RoutingKey || m2.ts != m.ts ||
				m2.Priority != m.Priority || !bytes.Equal(m2.Body, m.Body) ||
				!bytes.Equal(m2.Props, m.Props) || strings.Join(m2.ccKeys, "\x00") != strings.Join(m.ccKeys, "\x00") {
				t.Fatalf("message changed in a round trip: %+v, then %+v", m, m2)
			}
		}
		decodeExchange(data)
		decodeQueue(data)
		decodeBinding(data)
	})
}

// FuzzCompilePattern checks the policy pattern translator's own scanner (PCRE's leading
// lookahead and the top-level alternation after it, on Go's regexp): "^(?=)R" is
// "^R" in PCRE, the empty lookahead always holding, and Go reads "^R" alike, "^" binding
// to the first branch only. So whenever Go compiles "^R", the translation of "^(?=)R"
// must give Go's verdict on every name.
func FuzzCompilePattern(f *testing.F) {
	for _, s := range []string{"amq\\.", "a|b", "(a|b)|c", "[|]x|y", "\\|a", "a(?:b|c)|d$", "", "|", ".*|x"} {
		f.Add(s, "amq.gen-1")
	}
	f.Fuzz(func(t *testing.T, r, name string) {
		compilePattern(r) // whatever it is: no panic
		re, err := regexp.Compile("^" + r)
		if err != nil {
			return
		}
		if _, err := regexp.Compile("^(?:" + r + ")"); err != nil {
			return // a leading quantifier that Go applies to "^" ("^*", "^(?)*")
		}
		p, err := compilePattern("^(?=)" + r)
		if err != nil {
			t.Fatalf("Go compiles %q but the translation of %q fails: %v", "^"+r, "^(?=)"+r, err)
		}
		if got, want := p.match(name), re.MatchString(name); got != want {
			t.Fatalf("pattern %q on %q: %v, Go's regexp on %q says %v", "^(?=)"+r, name, got, "^"+r, want)
		}
	})
}

// FuzzParseExpiration checks the expiration property's parser: whatever it accepts
// is decimal digits for 0 to ten years of milliseconds.
func FuzzParseExpiration(f *testing.F) {
	for _, s := range []string{"0", "60000", "-1", "+5", "1e3", "", "315360000000", "315360000001",
		"99999999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, ok, term := parseExpiration(b)
		if !ok {
			if term == "" && b != nil {
				t.Fatalf("%q refused without a reason", b)
			}
			return
		}
		if ms < 0 || ms > 10*365*24*3600*1000 {
			t.Fatalf("%q accepted as %d ms", b, ms)
		}
	})
}
