package engine

import (
	"hash/maphash"
	"sync"
)

// entityMap holds the engine's slots by entity id in shards, each behind its
// own read-write lock: one hash, one read lock and one probe per lookup,
// where sync.Map's trie cost microseconds once entities outgrew the caches.
type entityMap struct {
	seed   maphash.Seed
	shards [64]entityShard
}

type entityShard struct {
	mu sync.RWMutex
	m  map[string]*slot
	_  [32]byte // keep shards' locks on separate cache lines
}

func newEntityMap() *entityMap {
	em := &entityMap{seed: maphash.MakeSeed()}
	for i := range em.shards {
		em.shards[i].m = map[string]*slot{}
	}
	return em
}

func (em *entityMap) shard(id string) *entityShard {
	return &em.shards[maphash.String(em.seed, id)&uint64(len(em.shards)-1)]
}

func (em *entityMap) load(id string) (*slot, bool) {
	sh := em.shard(id)
	sh.mu.RLock()
	sl, ok := sh.m[id]
	sh.mu.RUnlock()
	return sl, ok
}

// loadOrStore returns the slot held for id, or stores sl; loaded says which.
func (em *entityMap) loadOrStore(id string, sl *slot) (*slot, bool) {
	sh := em.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur, ok := sh.m[id]; ok {
		return cur, true
	}
	sh.m[id] = sl
	return sl, false
}

func (em *entityMap) delete(id string) (*slot, bool) {
	sh := em.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, ok := sh.m[id]
	delete(sh.m, id)
	return sl, ok
}

// compareAndDelete removes id only while it still holds sl.
func (em *entityMap) compareAndDelete(id string, sl *slot) bool {
	sh := em.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[id] != sl {
		return false
	}
	delete(sh.m, id)
	return true
}

// each calls fn for every slot, one shard at a time, without holding a lock
// while fn runs.
func (em *entityMap) each(fn func(id string, sl *slot)) {
	type pair struct {
		id string
		sl *slot
	}
	for i := range em.shards {
		sh := &em.shards[i]
		sh.mu.RLock()
		pairs := make([]pair, 0, len(sh.m))
		for id, sl := range sh.m {
			pairs = append(pairs, pair{id, sl})
		}
		sh.mu.RUnlock()
		for _, p := range pairs {
			fn(p.id, p.sl)
		}
	}
}
