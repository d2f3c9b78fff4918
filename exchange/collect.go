package exchange

import (
	"slices"
	"sync"
)

// linearMax is the result size up to which collector looks for duplicates by
// scanning what it has appended; beyond it, it switches to a pooled map.
const linearMax = 16

// collector appends destinations to a caller's slice, each at most once.
// It lives on Route's stack; its map, when needed, comes from pool and goes
// back in done, so concurrent Routes on one Router share nothing mutable.
type collector[D comparable] struct {
	dst   []D
	start int             // dst[start:] is what this Route appended
	seen  *map[D]struct{} // the members of dst[start:], once it has outgrown linearMax
	pool  *sync.Pool      // of *map[D]struct{}, owned by the Router
	lists bool            // whether addList has been called with a non-empty list
}

func newPool[D comparable]() *sync.Pool {
	return &sync.Pool{New: func() any {
		m := make(map[D]struct{})
		return &m
	}}
}

// addList adds every member of list, which holds distinct destinations.
func (c *collector[D]) addList(list []D) {
	if len(list) == 0 {
		return
	}
	if !c.lists && len(c.dst) == c.start {
		// Nothing appended yet and list is duplicate-free: copy it whole.
		c.lists = true
		c.dst = append(c.dst, list...)
		return
	}
	c.lists = true
	for _, d := range list {
		c.add(d)
	}
}

// add appends d unless this Route has appended it already.
func (c *collector[D]) add(d D) {
	if c.seen == nil {
		got := c.dst[c.start:]
		if len(got) < linearMax {
			if !slices.Contains(got, d) {
				c.dst = append(c.dst, d)
			}
			return
		}
		c.seen = c.pool.Get().(*map[D]struct{})
		for _, x := range got {
			(*c.seen)[x] = struct{}{}
		}
	}
	if _, ok := (*c.seen)[d]; ok {
		return
	}
	(*c.seen)[d] = struct{}{}
	c.dst = append(c.dst, d)
}

// done returns the extended slice and gives the map back.
func (c *collector[D]) done() []D {
	if c.seen != nil {
		clear(*c.seen)
		c.pool.Put(c.seen)
		c.seen = nil
	}
	return c.dst
}
