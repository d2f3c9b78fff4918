package exchange

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each case binds one pattern and routes one key. Rules from
// rabbit_db_topic_exchange.erl: split on every '.', "" has no words,
// '*' one word, '#' zero or more.
var topicCases = []struct {
	rule, pattern, key string
	match              bool
}{
	{"literal words match exactly", "a.b.c", "a.b.c", true},
	{"literal words match exactly", "a.b.c", "a.b", false},
	{"literal words match exactly", "a.b", "a.b.c", false},
	{"literal words match exactly", "a.b.c", "a.B.c", false},
	{"a wildcard inside a word is literal", "a#", "ab", false},
	{"a wildcard inside a word is literal", "a#", "a#", true},
	{"a wildcard inside a word is literal", "a*.b", "ax.b", false},
	{"star matches one word", "*", "a", true},
	{"star matches one word", "*", "a.b", false},
	{"star matches one word", "a.*", "a.b", true},
	{"star matches one word", "a.*", "a", false},
	{"star matches one word", "*.b", "a.b", true},
	{"star matches one word", "a.*.c", "a.b.c", true},
	{"star matches one word", "a.*.c", "a.b.b.c", false},
	{"star matches the empty word", "a.*", "a.", true},
	{"star matches the empty word", "a.*.b", "a..b", true},
	{"star matches the empty word", "*.*", ".", true},
	{"star needs a word: the empty key has none", "*", "", false},
	{"empty words are words", "a..b", "a..b", true},
	{"empty words are words", "a..b", "a.b", false},
	{"empty words are words", "a.b", "a..b", false},
	{"empty words are words", "a.", "a.", true},
	{"empty words are words", "a.", "a", false},
	{"empty words are words", ".a", ".a", true},
	{"empty words are words", ".", ".", true},
	{"empty words are words", ".", "", false},
	{"empty pattern matches only the empty key", "", "", true},
	{"empty pattern matches only the empty key", "", ".", false},
	{"empty pattern matches only the empty key", "", "a", false},
	{"hash alone matches everything", "#", "", true},
	{"hash alone matches everything", "#", "a", true},
	{"hash alone matches everything", "#", "a.b.c", true},
	{"hash alone matches everything", "#", ".", true},
	{"hash alone matches everything", "#", "#", true},
	{"hash matches zero words", "a.#", "a", true},
	{"hash matches zero words", "#.a", "a", true},
	{"hash matches zero words", "a.#.b", "a.b", true},
	{"hash matches many words", "a.#", "a.b.c.d", true},
	{"hash matches many words", "#.a", "x.y.a", true},
	{"hash matches many words", "a.#.b", "a.x.y.b", true},
	{"hash keeps the other words", "a.#", "b.a", false},
	{"hash keeps the other words", "#.a", "a.x", false},
	{"hash keeps the other words", "a.#.b", "a.x", false},
	{"hash keeps the other words", "a.#", "", false},
	{"hash matches empty words", "a.#", "a..", true},
	{"hash matches empty words", "#.b", "..b", true},
	{"hash in the middle", "#.b.#", "b", true},
	{"hash in the middle", "#.b.#", "a.b.c", true},
	{"hash in the middle", "#.b.#", "a.c", false},
	{"adjacent wildcards", "#.#", "", true},
	{"adjacent wildcards", "#.#", "a.b", true},
	{"adjacent wildcards", "*.#", "", false},
	{"adjacent wildcards", "*.#", "a", true},
	{"adjacent wildcards", "#.*", "", false},
	{"adjacent wildcards", "#.*", "a", true},
	{"adjacent wildcards", "#.*", "a.b.c", true},
	{"adjacent wildcards", "#.*.#", "a", true},
	{"adjacent wildcards", "*.#.*", "a", false},
	{"adjacent wildcards", "*.#.*", "a.b", true},
	{"adjacent wildcards", "#.#.b", "b", true},
	{"adjacent wildcards", "#.#.b", "a.a.b", true},
	{"adjacent wildcards", "#.#.b", "a.a.c", false},
	{"wildcards in the routing key are literal words", "a", "*", false},
	{"wildcards in the routing key are literal words", "*", "*", true},
	{"wildcards in the routing key are literal words", "a.b", "a.#", false},
	{"several hashes", "#.a.#.b.#", "x.a.y.b.z", true},
	{"several hashes", "#.a.#.b.#", "a.b", true},
	{"several hashes", "#.a.#.b.#", "b.a", false},
}

func TestTopic(t *testing.T) {
	for _, c := range topicCases {
		t.Run(c.rule+fmt.Sprintf("/%q~%q", c.pattern, c.key), func(t *testing.T) {
			r := must(t, Topic)
			bind(t, r, 1, c.pattern, nil)
			var want []int
			if c.match {
				want = []int{1}
			}
			expect(t, r, c.key, nil, want...)
			if refTopic(refWords(c.pattern), refWords(c.key)) != c.match {
				t.Fatal("the reference matcher disagrees with this case")
			}
		})
	}
	t.Run("several bindings of one destination route it once", func(t *testing.T) {
		r := must(t, Topic)
		for _, p := range []string{"a.b", "a.*", "#", "a.#", "*.b", "#.b", "#.#"} {
			bind(t, r, 1, p, nil)
		}
		expect(t, r, "a.b", nil, 1)
	})
	t.Run("two destinations on one key get both", func(t *testing.T) {
		r := must(t, Topic)
		bind(t, r, 1, "a.*", nil)
		bind(t, r, 2, "a.*", nil)
		bind(t, r, 3, "a.#", nil)
		expect(t, r, "a.b", nil, 1, 2, 3)
	})
	t.Run("keys sharing a trie node stay apart", func(t *testing.T) {
		r := must(t, Topic)
		bind(t, r, 1, "#", nil)
		bind(t, r, 1, "#.#", nil) // the same node as "#"
		r.Unbind(1, "#", nil)
		expect(t, r, "a", nil, 1)
		r.Unbind(1, "#.#", nil)
		expect(t, r, "a", nil)
	})
	t.Run("many destinations through many nodes deduplicate", func(t *testing.T) {
		r := must(t, Topic)
		var want []int
		for i := range 50 {
			bind(t, r, i, "#", nil)
			bind(t, r, i, "a.#", nil)
			bind(t, r, i, "*.b", nil)
			bind(t, r, 100+i, "a.b", nil)
			want = append(want, i, 100+i)
		}
		expect(t, r, "a.b", nil, want...)
	})
	t.Run("unbinding prunes the trie", func(t *testing.T) {
		r := must(t, Topic)
		keys := []string{"a.b.c", "a.*.c", "a.#", "#.c", "", "a..", "*.#.*"}
		for i, k := range keys {
			bind(t, r, i, k, nil)
			bind(t, r, 100, k, map[string]any{"i": int64(i)})
		}
		for i, k := range keys {
			r.Unbind(i, k, nil)
		}
		r.RemoveDest(100)
		root := r.(*topic[int]).root
		if !root.empty() {
			t.Fatalf("root not empty after removing everything: %+v", root)
		}
	})
	t.Run("path normalises wildcard runs", func(t *testing.T) {
		for in, want := range map[string][]string{
			"":          nil,
			"#.#":       {"#"},
			"#.*":       {"*", "#"},
			"*.#.*.a.#": {"*", "*", "#", "a", "#"},
			"a..*":      {"a", "", "*"},
			"a.#.#.b":   {"a", "#", "b"},
		} {
			if got := path(in); !slices.Equal(got, want) {
				t.Errorf("path(%q) = %q, want %q", in, got, want)
			}
		}
	})
	t.Run("two hashes on a very long key stay linear", func(t *testing.T) {
		// CC and BCC keys are longstr, so a key may have many thousand words.
		r := must(t, Topic)
		bind(t, r, 1, "#.a.#.b", nil)
		bind(t, r, 2, "#.a.#.a.#.c", nil)
		key := strings.Repeat("a.", 50_000) + "b"
		start := time.Now()
		expect(t, r, key, nil, 1)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Route took %v", d)
		}
	})
	t.Run("many hashes on a long key stay cheap", func(t *testing.T) {
		// Without remembering visited states, this walk takes about n^h steps.
		r := must(t, Topic)
		bind(t, r, 1, "#.a.#.a.#.a.#.a.#.a.#.a.#.b", nil)
		key := "a"
		for range 120 {
			key += ".a"
		}
		expect(t, r, key, nil)
		expect(t, r, key+".b", nil, 1)
	})
}

// refWords splits as RabbitMQ does; the reference for the fuzz tests.
func refWords(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// refTopic is the textbook recursive matcher.
func refTopic(pat, key []string) bool {
	if len(pat) == 0 {
		return len(key) == 0
	}
	switch pat[0] {
	case "#":
		for i := 0; i <= len(key); i++ {
			if refTopic(pat[1:], key[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(key) > 0 && refTopic(pat[1:], key[1:])
	}
	return len(key) > 0 && key[0] == pat[0] && refTopic(pat[1:], key[1:])
}
