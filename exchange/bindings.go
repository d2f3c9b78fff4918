package exchange

import (
	"maps"
	"reflect"
)

// entry is one binding's arguments plus what its Router derived from them.
type entry[X any] struct {
	args map[string]any // a shallow copy of the caller's; nil when empty
	aux  X              // per-type data (topic: the trie node; headers: the compiled matcher)
}

// bkey is a binding's identity less its arguments.
type bkey[D comparable] struct {
	dest D
	key  string
}

// bindings is the identity table of an exchange's bindings: (dest, key, args),
// as RabbitMQ's #binding{} record, where two bindings of one queue with the
// same key but other arguments are two bindings. Owned by its Router; only
// Bind, Unbind and RemoveDest write it.
type bindings[D comparable, X any] struct {
	byKey map[bkey[D]][]entry[X] // (dest, key) → its distinct argument tables; never an empty slice
	keys  map[D]set[string]      // dest → the keys it has bindings with, for RemoveDest
	n     int                    // number of bindings
}

// sameArgs compares argument tables by decoded value (types included, as
// RabbitMQ compares its sorted field tables); nil and empty are the same table.
func sameArgs(a, b map[string]any) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return reflect.DeepEqual(a, b)
}

func (b *bindings[D, X]) find(k bkey[D], args map[string]any) int {
	for i, e := range b.byKey[k] {
		if sameArgs(e.args, args) {
			return i
		}
	}
	return -1
}

func (b *bindings[D, X]) has(dest D, key string, args map[string]any) bool {
	return b.find(bkey[D]{dest, key}, args) >= 0
}

// add records a binding the caller has checked is absent.
func (b *bindings[D, X]) add(dest D, key string, args map[string]any, aux X) {
	if b.byKey == nil {
		b.byKey = make(map[bkey[D]][]entry[X])
		b.keys = make(map[D]set[string])
	}
	if len(args) == 0 {
		args = nil
	} else {
		args = maps.Clone(args)
	}
	k := bkey[D]{dest, key}
	list := b.byKey[k]
	if len(list) == 0 {
		s := b.keys[dest]
		s.add(key)
		b.keys[dest] = s
	}
	b.byKey[k] = append(list, entry[X]{args: args, aux: aux})
	b.n++
}

// remove deletes a binding and returns its aux; ok is false if it was absent.
func (b *bindings[D, X]) remove(dest D, key string, args map[string]any) (aux X, ok bool) {
	k := bkey[D]{dest, key}
	i := b.find(k, args)
	if i < 0 {
		return aux, false
	}
	list := b.byKey[k]
	aux = list[i].aux
	if list = append(list[:i], list[i+1:]...); len(list) > 0 {
		clear(list[len(list):cap(list)][:1]) // drop the reference the shift left behind
		b.byKey[k] = list
	} else {
		delete(b.byKey, k)
		s := b.keys[dest]
		if s.remove(key); s.len() > 0 {
			b.keys[dest] = s
		} else {
			delete(b.keys, dest)
		}
	}
	b.n--
	return aux, true
}

// removeDest deletes every binding to dest, calling fn for each first.
func (b *bindings[D, X]) removeDest(dest D, fn func(key string, e entry[X])) int {
	s, ok := b.keys[dest]
	if !ok {
		return 0
	}
	n := 0
	for _, key := range s.list {
		k := bkey[D]{dest, key}
		for _, e := range b.byKey[k] {
			fn(key, e)
			n++
		}
		delete(b.byKey, k)
	}
	delete(b.keys, dest)
	b.n -= n
	return n
}

func (b *bindings[D, X]) each(fn func(dest D, key string, args map[string]any) bool) {
	for k, list := range b.byKey {
		for _, e := range list {
			if !fn(k.dest, k.key, e.args) {
				return
			}
		}
	}
}

func (b *bindings[D, X]) hasDest(dest D) bool {
	_, ok := b.keys[dest]
	return ok
}
