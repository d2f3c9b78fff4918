package exchange

// fanout routes to every bound destination, ignoring the routing key (AMQP
// 0-9-1 §3.1.3.2; rabbit_exchange_type_fanout.erl).
type fanout[D comparable] struct {
	b     bindings[D, struct{}]
	dests set[D] // every destination, one hold per binding
}

func newFanout[D comparable]() *fanout[D] { return &fanout[D]{} }

func (x *fanout[D]) Kind() string { return Fanout }

func (x *fanout[D]) Bind(dest D, key string, args map[string]any) (bool, error) {
	if x.b.has(dest, key, args) {
		return false, nil
	}
	x.b.add(dest, key, args, struct{}{})
	x.dests.add(dest)
	return true, nil
}

func (x *fanout[D]) Unbind(dest D, key string, args map[string]any) bool {
	if _, ok := x.b.remove(dest, key, args); !ok {
		return false
	}
	x.dests.remove(dest)
	return true
}

func (x *fanout[D]) Route(dst []D, _ string, _ map[string]any) []D {
	return append(dst, x.dests.list...)
}

func (x *fanout[D]) RemoveDest(dest D) int {
	return x.b.removeDest(dest, func(string, entry[struct{}]) { x.dests.remove(dest) })
}

func (x *fanout[D]) Len() int            { return x.b.n }
func (x *fanout[D]) HasDest(dest D) bool { return x.b.hasDest(dest) }
func (x *fanout[D]) Each(fn func(D, string, map[string]any) bool) {
	x.b.each(fn)
}
