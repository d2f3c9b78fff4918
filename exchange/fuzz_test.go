package exchange

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// bytesource hands out fuzz input bytes, then zeros.
type bytesource []byte

func (b *bytesource) next(n int) int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v) % n
}

type refBinding struct {
	dest int
	key  string
	args map[string]any
}

// checkRoutes compares r against the reference match for every key or
// header table in probes, with the live bindings in bs.
func checkRoutes(t *testing.T, r Router[int], bs []refBinding, keys []string, hdrs []map[string]any,
	ref func(b refBinding, key string, h map[string]any) bool) {
	t.Helper()
	probe := func(key string, h map[string]any) {
		var want []int
		for _, b := range bs {
			if ref(b, key, h) && !slices.Contains(want, b.dest) {
				want = append(want, b.dest)
			}
		}
		slices.Sort(want)
		if got := route(t, r, key, h); !slices.Equal(got, want) {
			t.Fatalf("Route(%q, %v) = %v, want %v; bindings %v", key, h, got, want, bs)
		}
	}
	for _, k := range keys {
		probe(k, nil)
	}
	for _, h := range hdrs {
		probe("", h)
	}
	if r.Len() != len(bs) {
		t.Fatalf("Len = %d, want %d", r.Len(), len(bs))
	}
}

// exercise binds, checks, unbinds some, checks, removes a destination, checks.
func exercise(t *testing.T, r Router[int], src *bytesource, bs []refBinding, keys []string, hdrs []map[string]any,
	ref func(b refBinding, key string, h map[string]any) bool) {
	var live []refBinding
	for _, b := range bs {
		added, err := r.Bind(b.dest, b.key, b.args)
		if err != nil {
			t.Fatal(err)
		}
		dup := slices.ContainsFunc(live, func(l refBinding) bool {
			return l.dest == b.dest && l.key == b.key && sameArgs(l.args, b.args)
		})
		if added == dup {
			t.Fatalf("Bind(%v) added=%v, duplicate=%v", b, added, dup)
		}
		if added {
			live = append(live, b)
		}
	}
	checkRoutes(t, r, live, keys, hdrs, ref)
	kept := live[:0]
	for _, b := range live {
		if src.next(2) == 0 {
			if !r.Unbind(b.dest, b.key, b.args) {
				t.Fatalf("Unbind(%v) = false", b)
			}
		} else {
			kept = append(kept, b)
		}
	}
	live = kept
	checkRoutes(t, r, live, keys, hdrs, ref)
	gone := src.next(4)
	n := r.RemoveDest(gone)
	live = slices.DeleteFunc(live, func(b refBinding) bool { return b.dest == gone })
	if r.Len() != len(live) {
		t.Fatalf("RemoveDest(%d) = %d, Len %d, want %d", gone, n, r.Len(), len(live))
	}
	checkRoutes(t, r, live, keys, hdrs, ref)
}

var (
	patternWords = []string{"a", "b", "", "*", "#"}
	keyWords     = []string{"a", "b", "", "a", "b", "*", "#"}
)

func genKey(src *bytesource, alphabet []string, maxWords int) string {
	n := src.next(maxWords + 1)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = alphabet[src.next(len(alphabet))]
	}
	return strings.Join(ws, ".")
}

func topicRef(b refBinding, key string, _ map[string]any) bool {
	return refTopic(refWords(b.key), refWords(key))
}

func checkTopic(t *testing.T, data []byte) {
	src := bytesource(data)
	var bs []refBinding
	for range src.next(10) + 1 {
		bs = append(bs, refBinding{dest: src.next(4), key: genKey(&src, patternWords, 6)})
	}
	if src.next(3) == 0 && len(bs) > 0 {
		// Two destinations on one key.
		bs = append(bs, refBinding{dest: (bs[0].dest + 1) % 4, key: bs[0].key})
	}
	keys := []string{""}
	for range src.next(8) + 1 {
		keys = append(keys, genKey(&src, keyWords, 7))
	}
	exercise(t, must(t, Topic), &src, bs, keys, nil, topicRef)
}

// FuzzTopic checks the trie against refTopic on random patterns and keys.
func FuzzTopic(f *testing.F) {
	f.Add([]byte{3, 0, 2, 0, 4, 1, 1, 3, 0, 2, 3, 2, 1, 0})
	f.Add([]byte{5, 1, 5, 4, 2, 4, 0, 4, 2, 3, 3, 1, 4, 4, 4, 0, 9, 6, 0, 0, 0, 1, 1, 2, 2})
	f.Add([]byte("#.#.*.a..b"))
	f.Fuzz(checkTopic)
}

// TestTopicDifferential runs the fuzz check on seeded random input, so every
// go test run compares the trie with the reference.
func TestTopicDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 96)
	for range 3000 {
		for i := range buf {
			buf[i] = byte(rng.UintN(256))
		}
		checkTopic(t, buf)
	}
}

// refHeaders is a straightforward headers matcher: RabbitMQ's rules read off
// rabbit_exchange_type_headers.erl, with values compared as the Erlang
// terms rabbit_binary_parser decodes them to (refTerm).
func refHeaders(args, h map[string]any) bool {
	mode := "all"
	if v, ok := args["x-match"]; ok {
		mode = v.(string)
	}
	withX, anyMode := strings.HasSuffix(mode, "-with-x"), strings.HasPrefix(mode, "any")
	keys, hits := 0, 0
	for k, v := range args {
		if k == "x-match" || !withX && strings.HasPrefix(k, "x-") {
			continue
		}
		keys++
		if hv, ok := h[k]; ok && (v == nil || hv != nil && refEqual(v, hv)) {
			hits++
		}
	}
	if anyMode {
		return hits > 0
	}
	return hits == keys
}

func refEqual(a, b any) bool {
	ta, tb := refTerm(a), refTerm(b)
	if ta == "" || tb == "" { // composite: types must agree all the way down
		return reflect.DeepEqual(a, b)
	}
	return ta == tb
}

// refTerm names the Erlang term a top-level value decodes to, with the AMQP
// type dropped as rabbit_binary_parser's {Key, Type, Value} match ignores it.
func refTerm(v any) string {
	switch x := v.(type) {
	case bool:
		return fmt.Sprint("atom:", x)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return fmt.Sprintf("integer:%d", x)
	case float32:
		return fmt.Sprint("float:", float64(x)+0)
	case float64:
		return fmt.Sprint("float:", x+0)
	case string:
		return "binary:" + x
	case []byte:
		return "binary:" + string(x)
	case time.Time:
		return fmt.Sprint("integer:", x.Unix())
	}
	return ""
}

var (
	headerNames  = []string{"a", "b", "x-c", "x-match"}
	headerValues = []any{nil, "1", []byte("1"), int8(1), int64(1), uint32(1), float64(1), float32(1), true, false,
		"2", int64(2), []any{"1"}, []any{int64(1)}, float64(1.5), float32(1.5), time.Unix(1, 0), decimal{0, 1}}
	modes = []string{"", "all", "any", "all-with-x", "any-with-x"}
)

func headersRef(b refBinding, _ string, h map[string]any) bool { return refHeaders(b.args, h) }

func checkHeaders(t *testing.T, data []byte) {
	src := bytesource(data)
	var bs []refBinding
	for range src.next(10) + 1 {
		args := map[string]any{}
		if m := modes[src.next(len(modes))]; m != "" {
			args["x-match"] = m
		}
		for range src.next(4) {
			args[headerNames[src.next(3)]] = headerValues[src.next(len(headerValues))]
		}
		bs = append(bs, refBinding{dest: src.next(4), key: "k", args: args})
	}
	if src.next(3) == 0 && len(bs) > 0 {
		bs = append(bs, refBinding{dest: (bs[0].dest + 1) % 4, key: "k", args: maps.Clone(bs[0].args)})
	}
	hdrs := []map[string]any{nil, {}}
	for range src.next(8) + 1 {
		h := map[string]any{}
		for range src.next(5) {
			h[headerNames[src.next(len(headerNames))]] = headerValues[src.next(len(headerValues))]
		}
		hdrs = append(hdrs, h)
	}
	exercise(t, must(t, Headers), &src, bs, nil, hdrs, headersRef)
}

// FuzzHeaders checks headers routing (and its index) against refHeaders.
func FuzzHeaders(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 1, 1, 4, 2, 2, 5, 3, 1, 0, 2, 2, 2})
	f.Add([]byte{9, 2, 3, 2, 12, 0, 0, 1, 3, 4, 1, 2, 2, 3, 3, 1, 7, 0, 9, 1, 5})
	f.Fuzz(checkHeaders)
}

func TestHeadersDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 128)
	for range 3000 {
		for i := range buf {
			buf[i] = byte(rng.UintN(256))
		}
		checkHeaders(t, buf)
	}
}
