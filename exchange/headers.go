package exchange

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// headers routes by the message's header table (AMQP 0-9-1 §3.1.3.4, with
// RabbitMQ's rules from rabbit_exchange_type_headers.erl):
//
//   - x-match "all" (also when missing) needs every binding key to match,
//     "any" at least one; "all-with-x" and "any-with-x" likewise.
//   - With "all" and "any", binding keys starting with "x-" are ignored; with
//     the *-with-x modes they count. The x-match key itself never does.
//   - A binding value of type void matches on the header's presence alone;
//     other values must equal the header's value (see vkind).
//   - "all" with no keys left to match matches every message (match_all([])
//     is true); "any" with none matches nothing.
//   - Any other x-match value, or a non-longstr one, is refused on Bind.
//
// RabbitMQ tries every binding of the exchange on every message; warren
// indexes each binding under one of its keys ("all") or all of them ("any"),
// by header name and value, so a message only tries the bindings one of its
// headers can satisfy.
type headers[D comparable] struct {
	b      bindings[D, *hbinding[D]]
	always set[D]               // destinations of "all" bindings with no keys to match
	fields map[string]*field[D] // header name → the bindings indexed under it
	pool   *sync.Pool           // collector maps
}

// hbinding is a binding compiled for matching.
type hbinding[D comparable] struct {
	dest  D
	any   bool   // x-match any or any-with-x
	keys  []hkey // the keys that take part, sorted by name
	index []int  // the keys (positions in keys) the binding is indexed under
}

type hkey struct {
	name string
	void bool // match on presence alone
	val  value
}

// field holds the bindings indexed under one header name.
type field[D comparable] struct {
	strs    map[string]*set[*hbinding[D]] // by longstr or byte-array value
	scalars map[scalar]*set[*hbinding[D]] // by boolean, integer or float value
	rest    set[*hbinding[D]]             // void, table, array, decimal values: tried whenever the header is present
	n       int                           // bindings held here
}

func newHeaders[D comparable]() *headers[D] {
	return &headers[D]{fields: make(map[string]*field[D]), pool: newPool[D]()}
}

// compile checks a binding's arguments the way RabbitMQ's validate_binding
// does and prepares them for matching.
func compile[D comparable](dest D, args map[string]any) (*hbinding[D], error) {
	hb := &hbinding[D]{dest: dest}
	withX := false
	if xm, ok := args["x-match"]; ok {
		s, ok := xm.(string)
		if !ok {
			return nil, &argsError{fmt.Sprintf(
				"Invalid x-match field type %s (value %s); expected longstr", typeName(xm), erlTerm(xm))}
		}
		switch s {
		case "all":
		case "any":
			hb.any = true
		case "all-with-x":
			withX = true
		case "any-with-x":
			hb.any, withX = true, true
		default:
			return nil, &argsError{fmt.Sprintf(
				"Invalid x-match field value %s; expected all, any, all-with-x, or any-with-x", erlTerm(s))}
		}
	}
	for name, v := range args {
		if name == "x-match" || !withX && strings.HasPrefix(name, "x-") {
			continue
		}
		hb.keys = append(hb.keys, hkey{name: name, void: v == nil, val: valueOf(v)})
	}
	sort.Slice(hb.keys, func(i, j int) bool { return hb.keys[i].name < hb.keys[j].name })
	// "any" is indexed under every key, "all" under one (see home); with no
	// keys, "all" sits in always and "any", matching nothing, nowhere.
	if hb.any {
		hb.index = make([]int, len(hb.keys))
		for i := range hb.index {
			hb.index[i] = i
		}
	}
	return hb, nil
}

// home picks the key an "all" binding is indexed under: a message lacking it
// cannot match, so any key would do; the one whose bucket holds the fewest
// bindings now (preferring values a hash lookup finds over void and composite
// ones) keeps buckets small when many bindings share a header value, as with
// {type: tN, region: eu} for N = 1..100000.
func (x *headers[D]) home(hb *hbinding[D]) {
	best, bestSize := 0, -1
	for i := range hb.keys {
		k := &hb.keys[i]
		size := 0
		if f := x.fields[k.name]; f != nil {
			if s := f.bucket(k, false); s != nil {
				size = s.len()
			}
		}
		if k.void || k.val.kind == kOther {
			size += 1 << 30 // tried on every message carrying the header
		}
		if bestSize < 0 || size < bestSize {
			best, bestSize = i, size
		}
	}
	hb.index = []int{best}
}

// match reports whether headers h satisfy the binding.
func (hb *hbinding[D]) match(h map[string]any) bool {
	for i := range hb.keys {
		k := &hb.keys[i]
		v, ok := h[k.name]
		ok = ok && (k.void || k.val.matches(v))
		if ok == hb.any {
			return ok // any: first hit; all: first miss
		}
	}
	return !hb.any
}

// bucket returns the set that holds bindings indexed under k, creating it if
// create is set.
func (f *field[D]) bucket(k *hkey, create bool) *set[*hbinding[D]] {
	switch {
	case k.void || k.val.kind == kOther:
		return &f.rest
	case k.val.kind == kStr:
		s := f.strs[k.val.str]
		if s == nil && create {
			if f.strs == nil {
				f.strs = make(map[string]*set[*hbinding[D]])
			}
			s = new(set[*hbinding[D]])
			f.strs[k.val.str] = s
		}
		return s
	default:
		s := f.scalars[k.val.scalar]
		if s == nil && create {
			if f.scalars == nil {
				f.scalars = make(map[scalar]*set[*hbinding[D]])
			}
			s = new(set[*hbinding[D]])
			f.scalars[k.val.scalar] = s
		}
		return s
	}
}

func (x *headers[D]) index(hb *hbinding[D]) {
	if len(hb.keys) == 0 && !hb.any {
		x.always.add(hb.dest)
	}
	for _, i := range hb.index {
		k := &hb.keys[i]
		f := x.fields[k.name]
		if f == nil {
			f = new(field[D])
			x.fields[k.name] = f
		}
		f.bucket(k, true).add(hb)
		f.n++
	}
}

func (x *headers[D]) unindex(hb *hbinding[D]) {
	if len(hb.keys) == 0 && !hb.any {
		x.always.remove(hb.dest)
	}
	for _, i := range hb.index {
		k := &hb.keys[i]
		f := x.fields[k.name]
		s := f.bucket(k, false)
		s.remove(hb)
		if s.len() == 0 && s != &f.rest {
			if k.val.kind == kStr {
				delete(f.strs, k.val.str)
			} else {
				delete(f.scalars, k.val.scalar)
			}
		}
		if f.n--; f.n == 0 {
			delete(x.fields, k.name)
		}
	}
}

func (x *headers[D]) Kind() string { return Headers }

func (x *headers[D]) Bind(dest D, key string, args map[string]any) (bool, error) {
	hb, err := compile(dest, args)
	if err != nil {
		return false, err
	}
	if x.b.has(dest, key, args) {
		return false, nil
	}
	if !hb.any && len(hb.keys) > 0 {
		x.home(hb)
	}
	x.b.add(dest, key, args, hb)
	x.index(hb)
	return true, nil
}

func (x *headers[D]) Unbind(dest D, key string, args map[string]any) bool {
	hb, ok := x.b.remove(dest, key, args)
	if ok {
		x.unindex(hb)
	}
	return ok
}

func (x *headers[D]) RemoveDest(dest D) int {
	return x.b.removeDest(dest, func(_ string, e entry[*hbinding[D]]) { x.unindex(e.aux) })
}

func (x *headers[D]) Len() int            { return x.b.n }
func (x *headers[D]) HasDest(dest D) bool { return x.b.hasDest(dest) }
func (x *headers[D]) Each(fn func(D, string, map[string]any) bool) {
	x.b.each(fn)
}

func (x *headers[D]) Route(dst []D, _ string, h map[string]any) []D {
	c := collector[D]{dst: dst, start: len(dst), pool: x.pool}
	c.addList(x.always.list)
	if len(h) > 0 && len(x.fields) > 0 {
		// Walk whichever of the two tables is smaller.
		if len(h) <= len(x.fields) {
			for name, v := range h {
				if f := x.fields[name]; f != nil {
					x.try(&c, f, v, h)
				}
			}
		} else {
			for name, f := range x.fields {
				if v, ok := h[name]; ok {
					x.try(&c, f, v, h)
				}
			}
		}
	}
	return c.done()
}

// try adds the destinations of the bindings indexed under f that h satisfies,
// given that h holds v under f's name.
func (x *headers[D]) try(c *collector[D], f *field[D], v any, h map[string]any) {
	var s *set[*hbinding[D]]
	switch t := v.(type) {
	case string:
		s = f.strs[t]
	case []byte:
		s = f.strs[string(t)]
	default:
		if sc := scalarOf(v); sc.kind != kOther && sc.kind != kVoid {
			s = f.scalars[sc]
		}
	}
	if s != nil {
		for _, hb := range s.list {
			if hb.match(h) {
				c.add(hb.dest)
			}
		}
	}
	for _, hb := range f.rest.list {
		if hb.match(h) {
			c.add(hb.dest)
		}
	}
}
