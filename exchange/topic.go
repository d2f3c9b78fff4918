package exchange

import (
	"strings"
	"sync"
)

// topic routes by pattern (AMQP 0-9-1 §3.1.3.3, with RabbitMQ's rules from
// rabbit_db_topic_exchange.erl): keys are split into words on '.', a '*' word
// in a binding key matches exactly one word and a '#' word zero or more.
// Words may be empty ("a..b" has three words) and the empty key has none
// (split_topic_key_binary(<<>>) -> []), so "" matches only bindings that can
// match zero words, such as "#" and "". Bindings live in a word trie, so a
// message visits only the nodes its words lead to, never every binding.
type topic[D comparable] struct {
	b    bindings[D, *node[D]] // aux: the trie node the binding's destination is held at
	root *node[D]
	pool *sync.Pool // collector maps
	memo *sync.Pool // of *map[visit[D]]struct{}: states already walked, for keys with several '#'
}

// node is one trie node; its path from the root spells a (normalised) binding key.
type node[D comparable] struct {
	parent *node[D]
	word   string              // the edge from parent: a literal word, "*" or "#"
	words  map[string]*node[D] // children by literal word, the empty word included; nil when none
	star   *node[D]            // child for a '*' word
	hash   *node[D]            // child for a '#' word
	dests  set[D]              // destinations of the bindings ending here, one hold per binding
}

// visit is a routing state: a trie node and the key offset where its words start.
type visit[D comparable] struct {
	n   *node[D]
	pos int
}

func newTopic[D comparable]() *topic[D] {
	return &topic[D]{
		root: new(node[D]),
		pool: newPool[D](),
		memo: &sync.Pool{New: func() any {
			m := make(map[visit[D]]struct{})
			return &m
		}},
	}
}

// words splits a key as RabbitMQ does: on every '.', and "" into no words.
func words(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// path returns the trie edges for a binding key: its words, with each run of
// '*' and '#' words rewritten as its '*'s followed by one '#' if the run has a
// '#'. A run of k stars and at least one hash matches any k or more words
// whatever its order, so "#.#", "#.*.#" and "*.#" behave as "#", "*.#" and
// "*.#"; they share trie nodes, and as no '#' edge is followed by another
// wildcard, no key can make a walk try '#' inside '#'.
func path(key string) []string {
	ws := words(key)
	out := ws[:0] // written no faster than read
	for i := 0; i < len(ws); {
		if ws[i] != "*" && ws[i] != "#" {
			out = append(out, ws[i])
			i++
			continue
		}
		stars, hash := 0, false
		for ; i < len(ws) && (ws[i] == "*" || ws[i] == "#"); i++ {
			if ws[i] == "*" {
				stars++
			} else {
				hash = true
			}
		}
		for range stars {
			out = append(out, "*")
		}
		if hash {
			out = append(out, "#")
		}
	}
	return out
}

func (n *node[D]) child(w string) *node[D] {
	switch w {
	case "*":
		return n.star
	case "#":
		return n.hash
	}
	return n.words[w]
}

func (n *node[D]) empty() bool {
	return n.dests.len() == 0 && len(n.words) == 0 && n.star == nil && n.hash == nil
}

// insert returns the node for a path, creating what is missing.
func (x *topic[D]) insert(p []string) *node[D] {
	n := x.root
	for _, w := range p {
		c := n.child(w)
		if c == nil {
			c = &node[D]{parent: n, word: w}
			switch w {
			case "*":
				n.star = c
			case "#":
				n.hash = c
			default:
				if n.words == nil {
					n.words = make(map[string]*node[D], 1)
				}
				n.words[w] = c
			}
		}
		n = c
	}
	return n
}

// release drops one hold of dest at n and prunes the nodes left empty.
func (x *topic[D]) release(n *node[D], dest D) {
	n.dests.remove(dest)
	for n != x.root && n.empty() {
		p := n.parent
		switch n.word {
		case "*":
			p.star = nil
		case "#":
			p.hash = nil
		default:
			delete(p.words, n.word)
			if len(p.words) == 0 {
				p.words = nil
			}
		}
		n = p
	}
}

func (x *topic[D]) Kind() string { return Topic }

func (x *topic[D]) Bind(dest D, key string, args map[string]any) (bool, error) {
	if x.b.has(dest, key, args) {
		return false, nil
	}
	n := x.insert(path(key))
	n.dests.add(dest)
	x.b.add(dest, key, args, n)
	return true, nil
}

func (x *topic[D]) Unbind(dest D, key string, args map[string]any) bool {
	n, ok := x.b.remove(dest, key, args)
	if ok {
		x.release(n, dest)
	}
	return ok
}

func (x *topic[D]) RemoveDest(dest D) int {
	return x.b.removeDest(dest, func(_ string, e entry[*node[D]]) { x.release(e.aux, dest) })
}

func (x *topic[D]) Len() int            { return x.b.n }
func (x *topic[D]) HasDest(dest D) bool { return x.b.hasDest(dest) }
func (x *topic[D]) Each(fn func(D, string, map[string]any) bool) {
	x.b.each(fn)
}

func (x *topic[D]) Route(dst []D, key string, _ map[string]any) []D {
	w := walk[D]{c: collector[D]{dst: dst, start: len(dst), pool: x.pool}, key: key, pool: x.memo}
	pos := 0
	if key == "" {
		pos = 1 // no words at all, not one empty word
	}
	w.match(x.root, pos, 0)
	if w.memo != nil {
		clear(*w.memo)
		x.memo.Put(w.memo)
	}
	return w.c.done()
}

// walk is one Route's state; it lives on Route's stack.
type walk[D comparable] struct {
	c    collector[D]
	key  string
	memo *map[visit[D]]struct{} // from pool once a path has taken two '#' edges
	pool *sync.Pool
}

// match adds the destinations of every binding under n that matches the
// words of w.key from pos on; pos > len(w.key) means no words are left.
// hashes counts the '#' edges taken: with fewer than two no state can be
// reached twice, so only then are states remembered (as RabbitMQ's trie_match).
// It returns false if the state had been walked before.
func (w *walk[D]) match(n *node[D], pos, hashes int) bool {
	if hashes >= 2 {
		if w.memo == nil {
			w.memo = w.pool.Get().(*map[visit[D]]struct{})
		}
		v := visit[D]{n, pos}
		if _, ok := (*w.memo)[v]; ok {
			return false
		}
		(*w.memo)[v] = struct{}{}
	}
	key := w.key
	if pos > len(key) {
		w.c.addList(n.dests.list)
		if n.hash != nil { // '#' matches zero words
			w.match(n.hash, pos, hashes+1)
		}
		return true
	}
	end := len(key)
	if i := strings.IndexByte(key[pos:], '.'); i >= 0 {
		end = pos + i
	}
	if n.words != nil {
		if c := n.words[key[pos:end]]; c != nil {
			w.match(c, end+1, hashes)
		}
	}
	if n.star != nil {
		w.match(n.star, end+1, hashes)
	}
	if n.hash != nil {
		// '#' takes zero or more words: go on from every word boundary, the
		// end of the key included. States of a '#' node are only entered by
		// this loop, which always runs to the end of the key, so once one is
		// found walked, so are all after it: stop there. Without that, two
		// '#' on a path cost O(words²) on a long key (CC keys are longstr).
		for p := pos; ; {
			if !w.match(n.hash, p, hashes+1) || p > len(key) {
				break
			}
			if i := strings.IndexByte(key[p:], '.'); i >= 0 {
				p += i + 1
			} else {
				p = len(key) + 1
			}
		}
	}
	return true
}
