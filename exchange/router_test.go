package exchange

import (
	"errors"
	"slices"
	"testing"
)

var kinds = []string{Direct, Fanout, Topic, Headers}

func TestNew(t *testing.T) {
	for _, k := range kinds {
		t.Run("known type "+k, func(t *testing.T) {
			r, err := New[int](k)
			if err != nil || r == nil || r.Kind() != k || !Valid(k) {
				t.Fatalf("New(%q) = %v, %v; Valid = %v", k, r, err, Valid(k))
			}
		})
	}
	for _, k := range []string{"", "Direct", "x-delayed-message", "match", "system"} {
		t.Run("unknown type "+k, func(t *testing.T) {
			r, err := New[int](k)
			if !errors.Is(err, ErrUnknownKind) || r != nil || Valid(k) {
				t.Fatalf("New(%q) = %v, %v; want ErrUnknownKind", k, r, err)
			}
			if want := "exchange: unknown exchange type '" + k + "'"; err.Error() != want {
				t.Fatalf("error text %q, want %q", err, want)
			}
		})
	}
}

// Binding identity is (dest, key, args) for every type, as in RabbitMQ.
func TestBindingIdentity(t *testing.T) {
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			t.Run("binding twice is a no-op", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", map[string]any{"p": "1"})
				if added, err := r.Bind(1, "a", map[string]any{"p": "1"}); added || err != nil {
					t.Fatalf("second Bind = %v, %v; want false, nil", added, err)
				}
				if r.Len() != 1 {
					t.Fatalf("Len = %d, want 1", r.Len())
				}
			})
			t.Run("nil and empty args are the same binding", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", nil)
				if added, _ := r.Bind(1, "a", map[string]any{}); added {
					t.Fatal("empty args after nil args added a binding")
				}
				if !r.Unbind(1, "a", map[string]any{}) || r.Len() != 0 {
					t.Fatal("Unbind with empty args did not remove the nil-args binding")
				}
			})
			t.Run("other args make another binding", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", map[string]any{"p": "1"})
				bind(t, r, 1, "a", map[string]any{"p": "2"})
				bind(t, r, 1, "a", map[string]any{"p": int32(1)}) // another type is another value
				bind(t, r, 1, "a", nil)
				bind(t, r, 1, "b", nil)
				bind(t, r, 2, "a", nil)
				if r.Len() != 6 {
					t.Fatalf("Len = %d, want 6", r.Len())
				}
			})
			t.Run("args compare deeply", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", map[string]any{"p": []any{"x", int64(1)}, "q": map[string]any{"r": []byte("s")}})
				if added, _ := r.Bind(1, "a", map[string]any{"p": []any{"x", int64(1)}, "q": map[string]any{"r": []byte("s")}}); added {
					t.Fatal("an equal nested table made a second binding")
				}
			})
			t.Run("unbind of an absent binding returns false", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", map[string]any{"p": "1"})
				for _, c := range []struct {
					dest int
					key  string
					args map[string]any
				}{{2, "a", map[string]any{"p": "1"}}, {1, "b", map[string]any{"p": "1"}}, {1, "a", nil}, {1, "a", map[string]any{"p": "2"}}} {
					if r.Unbind(c.dest, c.key, c.args) {
						t.Errorf("Unbind(%v) = true", c)
					}
				}
				if !r.Unbind(1, "a", map[string]any{"p": "1"}) || r.Unbind(1, "a", map[string]any{"p": "1"}) {
					t.Fatal("Unbind of the binding: want true once, then false")
				}
				if r.Len() != 0 || r.HasDest(1) {
					t.Fatalf("after Unbind: Len %d, HasDest %v", r.Len(), r.HasDest(1))
				}
			})
			t.Run("Bind copies args", func(t *testing.T) {
				r := must(t, k)
				args := map[string]any{"p": "1"}
				bind(t, r, 1, "a", args)
				args["p"] = "2"
				if !r.Unbind(1, "a", map[string]any{"p": "1"}) {
					t.Fatal("changing the caller's map changed the binding")
				}
			})
			t.Run("RemoveDest drops every binding of dest", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", nil)
				bind(t, r, 1, "a", map[string]any{"p": "1"})
				bind(t, r, 1, "b", nil)
				bind(t, r, 2, "a", nil)
				if n := r.RemoveDest(1); n != 3 {
					t.Fatalf("RemoveDest = %d, want 3", n)
				}
				if n := r.RemoveDest(1); n != 0 {
					t.Fatalf("second RemoveDest = %d, want 0", n)
				}
				if r.Len() != 1 || r.HasDest(1) || !r.HasDest(2) {
					t.Fatalf("Len %d HasDest(1) %v HasDest(2) %v", r.Len(), r.HasDest(1), r.HasDest(2))
				}
				for _, key := range []string{"a", "b"} {
					if got := route(t, r, key, nil); slices.Contains(got, 1) {
						t.Fatalf("Route(%q) = %v after RemoveDest(1)", key, got)
					}
				}
			})
			t.Run("Each visits every binding", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", nil)
				bind(t, r, 1, "a", map[string]any{"p": "1"})
				bind(t, r, 2, "b", nil)
				n := 0
				r.Each(func(d int, key string, args map[string]any) bool {
					n++
					return true
				})
				if n != 3 {
					t.Fatalf("Each visited %d, want 3", n)
				}
				n = 0
				r.Each(func(int, string, map[string]any) bool { n++; return false })
				if n != 1 {
					t.Fatalf("Each went on after false: %d calls", n)
				}
			})
			t.Run("Route appends after what dst holds", func(t *testing.T) {
				r := must(t, k)
				bind(t, r, 1, "a", nil)
				got := r.Route([]int{1, 7}, "a", nil)
				if !slices.Equal(got, []int{1, 7, 1}) {
					t.Fatalf("Route into [1 7] = %v, want [1 7 1]", got)
				}
			})
		})
	}
}

func TestDirect(t *testing.T) {
	t.Run("routes on exact key equality", func(t *testing.T) {
		r := must(t, Direct)
		bind(t, r, 1, "orders", nil)
		bind(t, r, 2, "Orders", nil)
		bind(t, r, 3, "orders.eu", nil)
		bind(t, r, 4, "", nil)
		expect(t, r, "orders", nil, 1)
		expect(t, r, "Orders", nil, 2)
		expect(t, r, "orders.eu", nil, 3)
		expect(t, r, "", nil, 4)
		expect(t, r, "order", nil)
		expect(t, r, "*", nil)
		expect(t, r, "#", nil)
	})
	t.Run("two destinations on one key get both", func(t *testing.T) {
		r := must(t, Direct)
		bind(t, r, 1, "k", nil)
		bind(t, r, 2, "k", nil)
		expect(t, r, "k", nil, 1, 2)
	})
	t.Run("a destination bound twice with other args gets it once", func(t *testing.T) {
		r := must(t, Direct)
		bind(t, r, 1, "k", nil)
		bind(t, r, 1, "k", map[string]any{"a": "b"})
		expect(t, r, "k", nil, 1)
		r.Unbind(1, "k", nil)
		expect(t, r, "k", nil, 1) // the other binding still holds it
		r.Unbind(1, "k", map[string]any{"a": "b"})
		expect(t, r, "k", nil)
	})
	t.Run("headers are ignored", func(t *testing.T) {
		r := must(t, Direct)
		bind(t, r, 1, "k", map[string]any{"x-match": "any", "h": "v"})
		expect(t, r, "k", map[string]any{"other": "x"}, 1)
	})
	t.Run("many destinations on one key", func(t *testing.T) {
		r := must(t, Direct)
		var want []int
		for i := range 100 {
			bind(t, r, i, "k", nil)
			want = append(want, i)
		}
		expect(t, r, "k", nil, want...)
		for i := 0; i < 100; i += 2 {
			r.Unbind(i, "k", nil)
		}
		want = want[:0]
		for i := 1; i < 100; i += 2 {
			want = append(want, i)
		}
		expect(t, r, "k", nil, want...)
	})
}

func TestFanout(t *testing.T) {
	t.Run("every destination once, key ignored", func(t *testing.T) {
		r := must(t, Fanout)
		bind(t, r, 1, "", nil)
		bind(t, r, 2, "x", nil)
		bind(t, r, 2, "y", nil)
		bind(t, r, 2, "y", map[string]any{"a": int64(1)})
		bind(t, r, 3, "#", nil)
		for _, key := range []string{"", "x", "anything.at.all"} {
			expect(t, r, key, nil, 1, 2, 3)
		}
	})
	t.Run("a destination stays while one binding holds it", func(t *testing.T) {
		r := must(t, Fanout)
		bind(t, r, 1, "x", nil)
		bind(t, r, 1, "y", nil)
		r.Unbind(1, "x", nil)
		expect(t, r, "", nil, 1)
		r.Unbind(1, "y", nil)
		expect(t, r, "", nil)
	})
	t.Run("no bindings routes nowhere", func(t *testing.T) {
		expect(t, must(t, Fanout), "k", nil)
	})
}

func TestSet(t *testing.T) {
	// Cross smallSet in both directions and check membership against a map.
	var s set[int]
	ref := map[int]int{}
	for round := range 3 {
		for i := range 40 {
			s.add(i % 20)
			ref[i%20]++
		}
		for i := range 25 + round {
			v := (i * 7) % 20
			if ref[v] > 0 {
				gone := s.remove(v)
				ref[v]--
				if gone != (ref[v] == 0) {
					t.Fatalf("remove(%d) gone=%v with %d holds left", v, gone, ref[v])
				}
			} else if s.remove(v) {
				t.Fatalf("remove(%d) of a non-member = true", v)
			}
		}
		for v, n := range ref {
			if (s.find(v) >= 0) != (n > 0) {
				t.Fatalf("find(%d) = %d with %d holds", v, s.find(v), n)
			}
		}
		if s.idx != nil {
			for v, i := range s.idx {
				if s.list[i] != v {
					t.Fatalf("idx[%d] = %d but list has %d there", v, i, s.list[i])
				}
			}
		}
	}
}
