package engine

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/rolegate/rolegate"
)

// decisionTable is a fixed-size, lock-free cache of decisions in buckets of
// four entries (one cache line). A question is known by two 64-bit hashes,
// seeded per process so nobody can aim at a collision: the first picks the
// bucket and is an entry's first word; the second, its low byte holding the
// decision, the entry's second word. A torn pair matches no question: a race
// costs at most a miss.
type decisionTable struct {
	buckets []decisionBucket
	mask    uint64
	// overwrites counts answers that pushed another out; many of them mean
	// the table is too small for the entity's questions.
	overwrites atomic.Int64
}

type decisionBucket [4]decisionEntry

type decisionEntry struct{ h1, h2 atomic.Uint64 }

// decisionKey is what a decision depends on besides the policy.
type decisionKey struct {
	user, scope, obj, act, owner string
	epoch                        int64 // the earliest expiry the answer depends on (0: none)
}

var decisionSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// The decisions as stored in an entry's low byte; 0 is an empty entry.
var decisionCodes = [...]rolegate.Permission{1: rolegate.Allowed, 2: rolegate.AllowedForOwn, 3: rolegate.Denied, 4: rolegate.NotAllowed}

// newDecisionTable holds about capacity decisions (rounded up to a power of
// two of buckets).
func newDecisionTable(capacity int) *decisionTable {
	n := 1
	for n*len(decisionBucket{}) < capacity {
		n <<= 1
	}
	return &decisionTable{buckets: make([]decisionBucket, n), mask: uint64(n - 1)}
}

func (t *decisionTable) size() int {
	if t == nil {
		return 0
	}
	return len(t.buckets) * len(decisionBucket{})
}

// The sizes of an entity's decision table.
const (
	minDecisions = 256
	maxDecisions = 65536
)

// newTable makes the first decision table of a snapshot being built, counted
// against the budget until release.
func (e *Engine) newTable() *decisionTable { return e.tableLike(nil) }

// tableLike makes an empty decision table for a snapshot replacing one whose
// table is prev: as large as prev (the entity's questions needed it) when the
// budget allows, else of the first size.
func (e *Engine) tableLike(prev *decisionTable) *decisionTable {
	if e.maxDecisions < 0 {
		return nil
	}
	if n := prev.size(); n > minDecisions {
		if e.tableUsed.Add(int64(n)) <= int64(e.maxDecisions) {
			return newDecisionTable(n)
		}
		e.tableUsed.Add(-int64(n))
	}
	t := newDecisionTable(minDecisions)
	e.tableUsed.Add(int64(t.size()))
	return t
}

// grow replaces a snapshot's table t, whose answers keep overwriting each
// other, by one twice its size when the budget allows. The new table starts
// empty: answers are cheap to ask again, and dropping them keeps it simple.
func (e *Engine) grow(s *snapshot, t *decisionTable) {
	n := 2 * t.size()
	if n > maxDecisions || s.released.Load() {
		return
	}
	if e.tableUsed.Add(int64(n)) > int64(e.maxDecisions) {
		e.tableUsed.Add(-int64(n))
		t.overwrites.Store(0) // try again after as many overwrites
		return
	}
	if !s.decisions.CompareAndSwap(t, newDecisionTable(n)) {
		e.tableUsed.Add(-int64(n))
		return
	}
	e.tableUsed.Add(-int64(t.size()))
}

// release gives a dropped snapshot's decision table back to the budget, once.
// A table grown after this is not counted: grow gives up on released snapshots.
func (e *Engine) release(s *snapshot) {
	if s != nil && s.released.CompareAndSwap(false, true) {
		e.tableUsed.Add(-int64(s.decisions.Load().size()))
	}
}

func hashes(k decisionKey) (uint64, uint64) {
	return maphash.Comparable(decisionSeeds[0], k), maphash.Comparable(decisionSeeds[1], k) &^ 0xff
}

// get returns the cached decision of a question, if any.
func (t *decisionTable) get(h1, h2 uint64) (allowed bool, p rolegate.Permission, ok bool) {
	if t == nil {
		return false, "", false
	}
	b := &t.buckets[h1&t.mask]
	for i := range b {
		if b[i].h1.Load() != h1 {
			continue
		}
		w := b[i].h2.Load()
		code := w & 0xff
		if w&^0xff != h2 || code == 0 || code >= uint64(len(decisionCodes)) {
			continue
		}
		p = decisionCodes[code]
		return p == rolegate.Allowed || p == rolegate.AllowedForOwn, p, true
	}
	return false, "", false
}

// put caches a decision and reports whether it pushed another one out.
func (t *decisionTable) put(h1, h2 uint64, p rolegate.Permission) (overwrote bool) {
	if t == nil {
		return false
	}
	code := uint64(0)
	for i, v := range decisionCodes {
		if v == p && i > 0 {
			code = uint64(i)
		}
	}
	if code == 0 {
		return false
	}
	b := &t.buckets[h1&t.mask]
	victim := &b[(h2>>8)&3] // a full bucket loses a pseudo-random entry
	overwrote = true
	for i := range b {
		if b[i].h2.Load() == 0 {
			victim, overwrote = &b[i], false
			break
		}
	}
	victim.h2.Store(0) // never a moment where the entry pairs h1 with an old answer
	victim.h1.Store(h1)
	victim.h2.Store(h2 | code)
	return overwrote
}
