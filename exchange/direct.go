package exchange

// direct routes to the destinations bound with a key equal to the routing
// key (AMQP 0-9-1 §3.1.3.1; rabbit_exchange_type_direct.erl). Arguments take
// part in a binding's identity but not in routing.
type direct[D comparable] struct {
	b    bindings[D, struct{}]
	keys map[string]*set[D] // routing key → its destinations, one hold per binding
}

func newDirect[D comparable]() *direct[D] {
	return &direct[D]{keys: make(map[string]*set[D])}
}

func (x *direct[D]) Kind() string { return Direct }

func (x *direct[D]) Bind(dest D, key string, args map[string]any) (bool, error) {
	if x.b.has(dest, key, args) {
		return false, nil
	}
	x.b.add(dest, key, args, struct{}{})
	s := x.keys[key]
	if s == nil {
		s = new(set[D])
		x.keys[key] = s
	}
	s.add(dest)
	return true, nil
}

func (x *direct[D]) Unbind(dest D, key string, args map[string]any) bool {
	if _, ok := x.b.remove(dest, key, args); !ok {
		return false
	}
	x.drop(dest, key)
	return true
}

func (x *direct[D]) drop(dest D, key string) {
	s := x.keys[key]
	s.remove(dest)
	if s.len() == 0 {
		delete(x.keys, key)
	}
}

func (x *direct[D]) Route(dst []D, key string, _ map[string]any) []D {
	if s := x.keys[key]; s != nil {
		dst = append(dst, s.list...)
	}
	return dst
}

func (x *direct[D]) RemoveDest(dest D) int {
	return x.b.removeDest(dest, func(key string, _ entry[struct{}]) { x.drop(dest, key) })
}

func (x *direct[D]) Len() int            { return x.b.n }
func (x *direct[D]) HasDest(dest D) bool { return x.b.hasDest(dest) }
func (x *direct[D]) Each(fn func(D, string, map[string]any) bool) {
	x.b.each(fn)
}
