package exchange

import (
	"maps"
	"reflect"
)

// entry is one binding's arguments plus what its Router derived from them.
type entry[X any] struct {
	args map[string]any // a shallow copy of the caller's; nil when empty
	aux  X              // per-type data (headers: the compiled matcher)
}

// bindings is the identity table of an exchange's bindings: (dest, key, args),
// as RabbitMQ's #binding{} record, where two bindings of one queue with the
// same key but other arguments are two bindings. Owned by its Router; only
// Bind, Unbind and RemoveDest write it.
type bindings[D comparable, X any] struct {
	byDest map[D]map[string][]entry[X] // dest → routing key → distinct argument tables
	n      int                         // number of bindings
}

// sameArgs compares argument tables by decoded value (types included, as
// RabbitMQ compares its sorted field tables); nil and empty are the same table.
func sameArgs(a, b map[string]any) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return reflect.DeepEqual(a, b)
}

func (b *bindings[D, X]) find(dest D, key string, args map[string]any) int {
	for i, e := range b.byDest[dest][key] {
		if sameArgs(e.args, args) {
			return i
		}
	}
	return -1
}

func (b *bindings[D, X]) has(dest D, key string, args map[string]any) bool {
	return b.find(dest, key, args) >= 0
}

// add records a binding the caller has checked is absent.
func (b *bindings[D, X]) add(dest D, key string, args map[string]any, aux X) {
	if b.byDest == nil {
		b.byDest = make(map[D]map[string][]entry[X])
	}
	keys := b.byDest[dest]
	if keys == nil {
		keys = make(map[string][]entry[X], 1)
		b.byDest[dest] = keys
	}
	if len(args) == 0 {
		args = nil
	} else {
		args = maps.Clone(args)
	}
	keys[key] = append(keys[key], entry[X]{args: args, aux: aux})
	b.n++
}

// remove deletes a binding and returns its aux; ok is false if it was absent.
func (b *bindings[D, X]) remove(dest D, key string, args map[string]any) (aux X, ok bool) {
	i := b.find(dest, key, args)
	if i < 0 {
		return aux, false
	}
	keys := b.byDest[dest]
	list := keys[key]
	aux = list[i].aux
	list = append(list[:i], list[i+1:]...)
	switch {
	case len(list) > 0:
		keys[key] = list
	case len(keys) > 1:
		delete(keys, key)
	default:
		delete(b.byDest, dest)
	}
	b.n--
	return aux, true
}

// removeDest deletes every binding to dest, calling fn for each first.
func (b *bindings[D, X]) removeDest(dest D, fn func(key string, e entry[X])) int {
	keys, ok := b.byDest[dest]
	if !ok {
		return 0
	}
	n := 0
	for key, list := range keys {
		for _, e := range list {
			fn(key, e)
			n++
		}
	}
	delete(b.byDest, dest)
	b.n -= n
	return n
}

func (b *bindings[D, X]) each(fn func(dest D, key string, args map[string]any) bool) {
	for dest, keys := range b.byDest {
		for key, list := range keys {
			for _, e := range list {
				if !fn(dest, key, e.args) {
					return
				}
			}
		}
	}
}

func (b *bindings[D, X]) hasDest(dest D) bool {
	_, ok := b.byDest[dest]
	return ok
}
