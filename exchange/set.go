package exchange

// smallSet is the size up to which a set finds its members by a linear scan;
// a larger set keeps an index map (a map per trie node or routing key would
// cost more memory than it saves time for the usual one to eight members).
const smallSet = 8

// set is a reference-counted set whose members also sit in a slice, so that
// Route can append them all with one copy. Owned by its Router.
type set[T comparable] struct {
	list []T         // distinct members, in no particular order (removal swaps the last one in)
	refs []int32     // refs[i] counts the holds on list[i]; always > 0
	idx  map[T]int32 // position of each member in list; nil while the set has never outgrown smallSet
}

// find returns v's position in list, or -1.
func (s *set[T]) find(v T) int {
	if s.idx != nil {
		if i, ok := s.idx[v]; ok {
			return int(i)
		}
		return -1
	}
	for i := range s.list {
		if s.list[i] == v {
			return i
		}
	}
	return -1
}

// add takes one hold on v and reports whether v is new to the set.
func (s *set[T]) add(v T) bool {
	if i := s.find(v); i >= 0 {
		s.refs[i]++
		return false
	}
	s.list = append(s.list, v)
	s.refs = append(s.refs, 1)
	switch {
	case s.idx != nil:
		s.idx[v] = int32(len(s.list) - 1)
	case len(s.list) > smallSet:
		s.idx = make(map[T]int32, len(s.list))
		for i, m := range s.list {
			s.idx[m] = int32(i)
		}
	}
	return true
}

// remove drops one hold on v and reports whether v left the set (its last
// hold went). Removing a non-member does nothing and returns false.
func (s *set[T]) remove(v T) bool {
	i := s.find(v)
	if i < 0 {
		return false
	}
	if s.refs[i]--; s.refs[i] > 0 {
		return false
	}
	last := len(s.list) - 1
	if i != last {
		s.list[i], s.refs[i] = s.list[last], s.refs[last]
		if s.idx != nil {
			s.idx[s.list[i]] = int32(i)
		}
	}
	var zero T
	s.list[last] = zero // let the garbage collector have it
	s.list, s.refs = s.list[:last], s.refs[:last]
	if s.idx != nil {
		delete(s.idx, v)
		if len(s.list) == 0 {
			s.idx = nil
		}
	}
	return true
}

func (s *set[T]) len() int { return len(s.list) }
