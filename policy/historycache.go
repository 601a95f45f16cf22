package policy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rolegate/rolegate"
)

// Resolving an AsOf (asOf) costs a store transaction: the entity, the start
// of its history and the revision in force. Once the engine holds the past
// policy, that transaction is most of an as-of check's cost, and its answer
// seldom changes: a revision, once committed, keeps its commit time, and the
// revision in force at an instant stays the same once no write can commit
// at or before that instant any more. asOfCache keeps such resolutions, so
// that a warm as-of check costs about what a live one does.
//
// A resolution is kept only when it cannot change while it is kept:
//
//   - An instant only once it is asOfSettle old. A write's commit time is
//     the service clock when the write starts (Service.write), so a write in
//     flight commits later with an older time: an instant resolved while
//     such a write may still commit would miss its revision.
//   - Never an error: a refusal (before the entity, beyond the retention,
//     past the entity's revision) may stop holding, and a failure is not an
//     answer.
//
// A resolution stops holding when the entity's history goes: the entity
// deleted (and perhaps created again under its id: a new incarnation, with
// a history of its own), or its old history swept. Within this instance,
// DeleteEntity and CreateEntity drop the entity's resolutions, and the
// history sweep those of the entities it swept. Another instance's delete
// is not heard: every resolution is kept for asOfTTL at most, which bounds
// how long this instance may answer from the history of an entity another
// instance deleted (or created again) instead of answering 404 (or from
// the new entity). Another instance's sweep cannot be missed that way: a
// resolution is never answered when its instant is older than the history
// retention (less asOfSettle, for the clocks of instances that differ) but
// resolved again, to the 422 beyond_retention the store then gives.
const (
	// asOfCacheSize bounds the resolutions kept, across entities.
	asOfCacheSize = 4096
	// asOfSettle bounds how long after its commit time a write may still
	// commit: the longest store transaction the server allows (25 s, its
	// store-timeout) with room for the clocks of instances that differ and
	// for the write's work before its transaction begins.
	asOfSettle = time.Minute
	// asOfTTL is how long a resolution is kept: how long another
	// instance's DeleteEntity may go unseen by this instance's as-of
	// answers. Resolving again once per asOfTTL costs nothing measurable.
	asOfTTL = 10 * time.Second
)

// asOfKey is an AsOf of an entity as the cache keys it: the revision asked,
// or the instant (in Unix seconds and nanoseconds, so that one instant in
// two time zones is one key).
type asOfKey struct {
	entity string
	rev    int64
	sec    int64
	nsec   int32
}

func asOfKeyOf(entityID string, at rolegate.AsOf) asOfKey {
	k := asOfKey{entity: entityID, rev: at.Revision}
	if !at.Time.IsZero() {
		k.sec, k.nsec = at.Time.Unix(), int32(at.Time.Nanosecond())
	}
	return k
}

// asOfEntry is one resolution kept until expires (by the service clock).
// Readers read it without the lock: nothing but used and slot changes once
// it is kept, and a new resolution of its key replaces it whole.
type asOfEntry struct {
	key     asOfKey
	r       resolvedAsOf
	expires time.Time
	used    atomic.Bool // read since the clock hand last passed
	slot    int         // its place in the ring (under the lock)
}

// asOfCache holds up to asOfCacheSize resolutions; when full, the clock
// algorithm picks the one replaced: an expired one, or one not read since
// the hand last passed it. Reads take the read lock only.
type asOfCache struct {
	mu    sync.RWMutex
	m     map[asOfKey]*asOfEntry
	ring  []*asOfEntry
	hand  int
	epoch atomic.Uint64 // bumped by every drop (see put)
	// retention is the history retention (0: unknown or forever): an
	// instant older than it is never answered from the cache.
	retention atomic.Int64
}

func newAsOfCache(retention time.Duration) *asOfCache {
	c := &asOfCache{m: make(map[asOfKey]*asOfEntry)}
	c.retain(retention)
	return c
}

// retain notes a history retention: the shortest one noted holds, so that
// no instant a sweep may have removed is answered from the cache.
func (c *asOfCache) retain(d time.Duration) {
	for d > 0 {
		cur := c.retention.Load()
		if cur > 0 && cur <= int64(d) {
			return
		}
		if c.retention.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// retained reports whether the history read at the instant at is surely
// still kept at now.
func (c *asOfCache) retained(at, now time.Time) bool {
	d := c.retention.Load()
	return d <= 0 || !at.Before(now.Add(asOfSettle-time.Duration(d)))
}

// get returns the resolution kept for k, if it still holds at now.
func (c *asOfCache) get(k asOfKey, now time.Time) (resolvedAsOf, bool) {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) || !c.retained(e.r.at, now) {
		return resolvedAsOf{}, false
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e.r, true
}

// snapshot returns what put must be given back: the epoch before the
// store was read.
func (c *asOfCache) snapshot() uint64 { return c.epoch.Load() }

// put keeps r, resolved from a store read begun at epoch, for k, when what
// it resolved cannot change (see above). A drop since epoch may have come
// between the read and now: the resolution is then not kept, lest it be of
// the history the drop was for.
func (c *asOfCache) put(k asOfKey, r resolvedAsOf, now time.Time, epoch uint64) {
	if k.rev == 0 && !r.at.Before(now.Add(-asOfSettle)) {
		return // a write in flight may still commit at or before it
	}
	if !c.retained(r.at, now) {
		return
	}
	e := &asOfEntry{key: k, r: r, expires: now.Add(asOfTTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	if old := c.m[k]; old != nil {
		e.slot = old.slot
		c.ring[e.slot], c.m[k] = e, e
		return
	}
	c.m[k] = e
	if len(c.ring) < asOfCacheSize {
		e.slot = len(c.ring)
		c.ring = append(c.ring, e)
		return
	}
	for {
		v := c.ring[c.hand]
		if now.Before(v.expires) && v.used.Load() {
			v.used.Store(false)
			c.hand = (c.hand + 1) % len(c.ring)
			continue
		}
		delete(c.m, v.key)
		e.slot = c.hand
		c.ring[c.hand] = e
		c.hand = (c.hand + 1) % len(c.ring)
		return
	}
}

// drop forgets the resolutions of the given entities, and any resolution
// being read meanwhile (put).
func (c *asOfCache) drop(entityIDs ...string) {
	if len(entityIDs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	gone := make(map[string]bool, len(entityIDs))
	for _, id := range entityIDs {
		gone[id] = true
	}
	kept := c.ring[:0]
	for _, e := range c.ring {
		if gone[e.key.entity] {
			delete(c.m, e.key)
			continue
		}
		e.slot = len(kept)
		kept = append(kept, e)
	}
	clear(c.ring[len(kept):])
	c.ring = kept
	if c.hand >= len(c.ring) {
		c.hand = 0
	}
}
