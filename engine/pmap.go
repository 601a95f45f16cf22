package engine

import "hash/maphash"

// pmap is an immutable map from strings, split into buckets so that a changed
// copy shares every bucket it does not touch: a snapshot's indexes (subject ->
// unit, user -> roles) change by a few keys per write, and copying one bucket
// costs what the bucket holds, not what the entity holds. Never mutate a pmap
// that was published; make changes through an editor.
type pmap[V any] struct {
	buckets []map[string]V // len is a power of two
	n       int
}

// pmapBucket is about how many keys a bucket holds before the map doubles its
// buckets.
const pmapBucket = 64

var pmapSeed = maphash.MakeSeed()

func (m *pmap[V]) bucket(k string) int {
	if len(m.buckets) == 1 {
		return 0
	}
	return int(maphash.String(pmapSeed, k) & uint64(len(m.buckets)-1))
}

func (m *pmap[V]) get(k string) (V, bool) {
	var zero V
	if m == nil || len(m.buckets) == 0 {
		return zero, false
	}
	v, ok := m.buckets[m.bucket(k)][k]
	return v, ok
}

func (m *pmap[V]) len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// each calls fn for every key, in no order.
func (m *pmap[V]) each(fn func(k string, v V)) {
	if m == nil {
		return
	}
	for _, b := range m.buckets {
		for k, v := range b {
			fn(k, v)
		}
	}
}

// sizedPmap returns an empty map with buckets for about n keys, to be filled
// with put before it is published.
func sizedPmap[V any](n int) *pmap[V] {
	nb := 1
	for nb*pmapBucket < n {
		nb <<= 1
	}
	m := &pmap[V]{buckets: make([]map[string]V, nb)}
	for i := range m.buckets {
		m.buckets[i] = make(map[string]V, n/nb+1)
	}
	return m
}

// put sets a key of a map being built (never of a published one).
func (m *pmap[V]) put(k string, v V) {
	b := m.buckets[m.bucket(k)]
	if _, ok := b[k]; !ok {
		m.n++
	}
	b[k] = v
}

// merge sets a key of a map being built to v, or, when the key is there
// already, to what join makes of its value and v: one lookup either way.
func (m *pmap[V]) merge(k string, v V, join func(old, v V) V) {
	b := m.buckets[m.bucket(k)]
	if old, ok := b[k]; ok {
		v = join(old, v)
	} else {
		m.n++
	}
	b[k] = v
}

// newPmap builds a map sized for n keys from a plain map it takes over.
func newPmap[V any](src map[string]V) *pmap[V] {
	nb := 1
	for nb*pmapBucket < len(src) {
		nb <<= 1
	}
	m := &pmap[V]{buckets: make([]map[string]V, nb), n: len(src)}
	if nb == 1 {
		m.buckets[0] = src
		if src == nil {
			m.buckets[0] = map[string]V{}
		}
		return m
	}
	for i := range m.buckets {
		m.buckets[i] = make(map[string]V, len(src)/nb+8)
	}
	for k, v := range src {
		m.buckets[m.bucket(k)][k] = v
	}
	return m
}

// pmapEditor builds a changed copy of a pmap, copying each touched bucket once.
type pmapEditor[V any] struct {
	m      *pmap[V]
	copied map[int]bool
}

// edit starts a changed copy of m (nil: an empty map).
func (m *pmap[V]) edit() *pmapEditor[V] {
	if m == nil || len(m.buckets) == 0 {
		m = &pmap[V]{buckets: []map[string]V{{}}}
	}
	c := &pmap[V]{buckets: append([]map[string]V(nil), m.buckets...), n: m.n}
	return &pmapEditor[V]{m: c, copied: map[int]bool{}}
}

func (e *pmapEditor[V]) get(k string) (V, bool) { return e.m.get(k) }

func (e *pmapEditor[V]) writable(k string) map[string]V {
	i := e.m.bucket(k)
	if !e.copied[i] {
		old := e.m.buckets[i]
		b := make(map[string]V, len(old)+1)
		for k, v := range old {
			b[k] = v
		}
		e.m.buckets[i] = b
		e.copied[i] = true
	}
	return e.m.buckets[i]
}

func (e *pmapEditor[V]) set(k string, v V) {
	b := e.writable(k)
	if _, ok := b[k]; !ok {
		e.m.n++
	}
	b[k] = v
}

func (e *pmapEditor[V]) del(k string) {
	if _, ok := e.m.get(k); !ok {
		return
	}
	delete(e.writable(k), k)
	e.m.n--
}

// done returns the changed map; the editor must not be used afterwards. A map
// grown past its buckets is rebuilt with twice as many (amortised: each key
// moves O(1) times on average as a map grows).
func (e *pmapEditor[V]) done() *pmap[V] {
	m := e.m
	e.m = nil
	if m.n > 2*pmapBucket*len(m.buckets) {
		all := make(map[string]V, m.n)
		m.each(func(k string, v V) { all[k] = v })
		return newPmap(all)
	}
	return m
}
