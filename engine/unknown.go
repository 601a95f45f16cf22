package engine

import "sync"

// A caller may name millions of entity ids that do not exist. Such an entity
// costs nothing lasting: no slot (which would push real entities out), no
// decision table, only a small entry here so that asking again does not reach
// the store. The set is bounded, oldest out first, and is seen by the revision
// sweep and change notifications like an entity held at revision 0, so one
// created meanwhile loads on its next check.

// maxUnknownEntities bounds the ids remembered as unknown: at most
// MaxEntities of them, and never more than this (about 1 MiB).
const maxUnknownEntities = 10_000

// unknownSet remembers entity ids found not to exist, first in, first out.
type unknownSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string // the ids in the order they came; "" where one was removed
	next int      // where the next id goes in ring
}

func newUnknownSet(capacity int) *unknownSet {
	capacity = max(1, min(capacity, maxUnknownEntities))
	return &unknownSet{ids: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// has reports whether id is remembered as unknown.
func (u *unknownSet) has(id string) bool {
	u.mu.Lock()
	_, ok := u.ids[id]
	u.mu.Unlock()
	return ok
}

// addLocked remembers id, dropping the oldest id when full. u.mu is held.
func (u *unknownSet) addLocked(id string) {
	if _, ok := u.ids[id]; ok {
		return
	}
	if old := u.ring[u.next]; old != "" {
		delete(u.ids, old)
	}
	u.ring[u.next] = id
	u.ids[id] = struct{}{}
	u.next = (u.next + 1) % len(u.ring)
}

// removeLocked forgets id; it reports whether it was remembered. u.mu is held.
func (u *unknownSet) removeLocked(id string) bool {
	if _, ok := u.ids[id]; !ok {
		return false
	}
	delete(u.ids, id)
	for i, r := range u.ring {
		if r == id {
			u.ring[i] = ""
			break
		}
	}
	return true
}

// remove forgets id; it reports whether it was remembered.
func (u *unknownSet) remove(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.removeLocked(id)
}

// len returns how many ids are remembered.
func (u *unknownSet) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.ids)
}

// each calls fn for every id remembered (not under the lock).
func (u *unknownSet) each(fn func(id string)) {
	u.mu.Lock()
	ids := make([]string, 0, len(u.ids))
	for id := range u.ids {
		ids = append(ids, id)
	}
	u.mu.Unlock()
	for _, id := range ids {
		fn(id)
	}
}

// missing is the snapshot of every entity remembered as unknown: no rules,
// revision 0, every check a deny.
var missing = &snapshot{}

// settleUnknown is called when the first load of sl found no entity: unless
// sl was dropped meanwhile (a Forget, as when the entity is created), the slot
// goes and the id is remembered as unknown instead, both under the set's lock
// so that a Forget never misses the entry.
func (e *Engine) settleUnknown(entityID string, sl *slot) {
	e.unknown.mu.Lock()
	defer e.unknown.mu.Unlock()
	if e.entities.compareAndDelete(entityID, sl) {
		e.uncount(sl)
		e.unknown.addLocked(entityID)
	}
}

// counted marks sl, which now holds an entity's policy, as one of the
// entities held, and evicts when there are too many. A slot dropped from the
// map meanwhile is not counted.
func (e *Engine) counted(entityID string, sl *slot) {
	if !sl.counted.CompareAndSwap(false, true) {
		return
	}
	e.count.Add(1)
	if cur, ok := e.entities.load(entityID); !ok || cur != sl {
		e.uncount(sl) // orphaned by a Forget or an eviction
		return
	}
	if e.count.Load() > int64(e.maxEntities) {
		e.evict()
	}
}

// uncount takes sl out of the count of entities held, once.
func (e *Engine) uncount(sl *slot) bool {
	if sl.counted.CompareAndSwap(true, false) {
		e.count.Add(-1)
		return true
	}
	return false
}
