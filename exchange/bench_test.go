package exchange

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var benchSizes = []int{10, 1_000, 100_000}

// directWith binds n destinations, each with its own key "k<i>".
func directWith(tb testing.TB, n int) Router[int] {
	r := must(tb, Direct)
	for i := range n {
		bind(tb, r, i, fmt.Sprintf("k%d", i), nil)
	}
	return r
}

func fanoutWith(tb testing.TB, n int) Router[int] {
	r := must(tb, Fanout)
	for i := range n {
		bind(tb, r, i, "", nil)
	}
	return r
}

// topicWith binds n destinations with a mix of literal and wildcard keys, a
// few of which match "orders.r1.created", plus three catch-alls.
func topicWith(tb testing.TB, n int) Router[int] {
	r := must(tb, Topic)
	for i := range n {
		var key string
		switch i % 5 {
		case 0:
			key = fmt.Sprintf("orders.r%d.created", i/5)
		case 1:
			key = fmt.Sprintf("orders.*.e%d", i/5)
		case 2:
			key = fmt.Sprintf("s%d.#", i/5)
		case 3:
			key = fmt.Sprintf("#.z%d", i/5)
		case 4:
			key = fmt.Sprintf("orders.r%d.#", i/5)
		}
		bind(tb, r, i, key, nil)
	}
	bind(tb, r, 0, "orders.#", nil)
	bind(tb, r, 1, "*.*.created", nil)
	bind(tb, r, 2, "#", nil)
	return r
}

// headersWith binds n destinations, half with x-match all on two headers,
// half with x-match any on two others.
func headersWith(tb testing.TB, n int) Router[int] {
	r := must(tb, Headers)
	for i := range n {
		args := map[string]any{"x-match": "all", "type": fmt.Sprintf("t%d", i), "region": "eu"}
		if i%2 == 1 {
			args = map[string]any{"x-match": "any", "type": fmt.Sprintf("t%d", i), "prio": int64(i)}
		}
		bind(tb, r, i, "", args)
	}
	return r
}

var benchHeaders = map[string]any{"type": "t4", "region": "eu", "prio": int32(7), "x-trace": []byte("abc")}

func benchRoute(b *testing.B, build func(testing.TB, int) Router[int], key string, h map[string]any) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			r := build(b, n)
			dst := r.Route(nil, key, h)
			if len(dst) == 0 {
				b.Fatal("routes nowhere")
			}
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Route(dst[:0], key, h)
			}
			b.ReportMetric(float64(len(dst)), "dests")
		})
	}
}

func BenchmarkDirectRoute(b *testing.B) {
	benchRoute(b, directWith, "k5", nil)
}

func BenchmarkFanoutRoute(b *testing.B) {
	benchRoute(b, fanoutWith, "", nil)
}

func BenchmarkTopicRoute(b *testing.B) {
	benchRoute(b, topicWith, "orders.r1.created", nil)
}

func BenchmarkHeadersRoute(b *testing.B) {
	benchRoute(b, headersWith, "", benchHeaders)
}

// BenchmarkTopicRouteDedup routes to n destinations each bound by three
// matching keys: the collector's pooled map does the deduplication.
func BenchmarkTopicRouteDedup(b *testing.B) {
	benchRoute(b, func(tb testing.TB, n int) Router[int] {
		r := must(tb, Topic)
		for i := range min(n, 10_000) {
			bind(tb, r, i, "#", nil)
			bind(tb, r, i, "orders.#", nil)
			bind(tb, r, i, "*.r1.*", nil)
		}
		return r
	}, "orders.r1.created", nil)
}

// BenchmarkTopicRouteHashes routes a long key through a key with several '#',
// where the walk remembers the states it has seen.
func BenchmarkTopicRouteHashes(b *testing.B) {
	r := must(b, Topic)
	bind(b, r, 1, "#.a.#.a.#.b", nil)
	bind(b, r, 2, "#.c.#", nil)
	key := "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.c.b"
	dst := r.Route(nil, key, nil)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Route(dst[:0], key, nil)
	}
}

func BenchmarkBind(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			r := must(b, kind)
			args := map[string]any{"x-match": "any", "a": "1", "b": int64(2)}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				r.Bind(i, "orders.*.created", args)
				i++
			}
		})
	}
}

// TestRouteAllocs: steady-state Route allocates nothing (STYLE.md §7).
func TestRouteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	dedup := must(t, Topic)
	for i := range 100 { // more than linearMax destinations through three nodes
		dedup.Bind(i, "#", nil)
		dedup.Bind(i, "a.#", nil)
		dedup.Bind(i, "*.b", nil)
	}
	hashes := must(t, Topic)
	hashes.Bind(1, "#.a.#.a.#.b", nil)
	hdrs := headersWith(t, 1000)
	hdrs.Bind(5000, "", map[string]any{"x-match": "any", "region": nil, "x-trace": nil})
	hdrs.Bind(5001, "", map[string]any{"x-match": "any-with-x", "x-trace": []byte("abc")})
	for _, c := range []struct {
		name string
		r    Router[int]
		key  string
		h    map[string]any
	}{
		{"direct", directWith(t, 1000), "k5", nil},
		{"fanout", fanoutWith(t, 1000), "", nil},
		{"topic", topicWith(t, 1000), "orders.r1.created", nil},
		{"topic with duplicates", dedup, "a.b", nil},
		{"topic with several hashes", hashes, "a.a.a.a.a.a.b", nil},
		{"headers", hdrs, "", benchHeaders},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := c.r.Route(nil, c.key, c.h)
			if len(dst) == 0 {
				t.Fatal("routes nowhere")
			}
			if n := testing.AllocsPerRun(200, func() { dst = c.r.Route(dst[:0], c.key, c.h) }); n != 0 {
				t.Fatalf("Route allocates %v times per call", n)
			}
		})
	}
}

// TestConcurrentRoute: Route only reads its Router, so concurrent readers
// (vhost's read lock) are safe; run under -race.
func TestConcurrentRoute(t *testing.T) {
	routers := []struct {
		r   Router[int]
		key string
		h   map[string]any
	}{
		{topicWith(t, 2000), "orders.r1.created", nil},
		{headersWith(t, 2000), "", benchHeaders},
		{directWith(t, 100), "k5", nil},
		{fanoutWith(t, 100), "", nil},
	}
	dedup := must(t, Topic)
	for i := range 100 {
		dedup.Bind(i, "#", nil)
		dedup.Bind(i, "a.#.b.#", nil)
	}
	routers = append(routers, struct {
		r   Router[int]
		key string
		h   map[string]any
	}{dedup, "a.b.b.b", nil})
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range routers {
		want := len(route(t, c.r, c.key, c.h))
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var dst []int
				for i := 0; i < 500 && time.Now().Before(deadline); i++ {
					dst = c.r.Route(dst[:0], c.key, c.h)
					if len(dst) != want {
						errs <- fmt.Sprintf("%s: %d destinations, want %d", c.r.Kind(), len(dst), want)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
