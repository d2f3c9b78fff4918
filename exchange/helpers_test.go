package exchange

import (
	"slices"
	"testing"
)

// must returns a new Router of kind or fails the test.
func must(t testing.TB, kind string) Router[int] {
	t.Helper()
	r, err := New[int](kind)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bind adds a binding that must be new.
func bind(t testing.TB, r Router[int], dest int, key string, args map[string]any) {
	t.Helper()
	added, err := r.Bind(dest, key, args)
	if err != nil || !added {
		t.Fatalf("Bind(%d, %q, %v) = %v, %v; want true, nil", dest, key, args, added, err)
	}
}

// route routes and checks the result holds no destination twice; sorted.
func route(t testing.TB, r Router[int], key string, h map[string]any) []int {
	t.Helper()
	got := r.Route(nil, key, h)
	slices.Sort(got)
	if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
		t.Fatalf("Route(%q, %v) = %v: a destination appears twice", key, h, got)
	}
	if len(got) == 0 {
		return nil
	}
	return got
}

func expect(t testing.TB, r Router[int], key string, h map[string]any, want ...int) {
	t.Helper()
	slices.Sort(want)
	if len(want) == 0 {
		want = nil
	}
	if got := route(t, r, key, h); !slices.Equal(got, want) {
		t.Errorf("%s Route(%q, %v) = %v, want %v", r.Kind(), key, h, got, want)
	}
}
