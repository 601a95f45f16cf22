package engine

import (
	"context"
	"time"
)

// A past snapshot built from the live one. A cold answer as of a past
// revision R otherwise reads and builds the whole policy at R, which costs
// what the entity holds (on the large tenant, 220,000 rules, most of a
// second); the live snapshot at revision C differs from it only by the rows
// the revisions between changed. So PastFrom asks for those changes as a
// delta and applies it to the live snapshot copy-on-write (snapshot.apply,
// as a write's delta is): the past snapshot shares every unit, link and
// index bucket the delta does not touch, and gets its own decision table.
// The live snapshot is unchanged and stays the entity's live one.
//
// A live snapshot not held is loaded first (and installed, as a live check
// would): on the large tenant, loading the live policy (LoadPolicy) and
// undoing the changes since took about half what reading (PolicyAt) and
// building the past policy did, and the live snapshot then serves the next
// live and past answers. The delta is used only when the store's entity is
// the live snapshot's (the same creation time: an entity deleted and
// created again has another history) and the rows changed are few against
// the rules held (a quarter of the subjects held, a lower bound of the
// rules): past that, applying costs more than building, and the store stops
// reading at the bound. A delta that does not apply (a hashed subject the
// history does not name, from rows an upgrade copied) falls back to loading
// the past policy too.

// PastChanges reads, in one store transaction, what changed in the
// entity's policy between revision from (that of the live snapshot)
// and the revision asked: the delta that takes the policy at from to it,
// unless more than limit rows changed (ok false), and when the entity was
// created (Policy.Created).
type PastChanges func(ctx context.Context, from int64, limit int) (d Delta, created time.Time, ok bool, err error)

// minPastChanges is the least bound on the rows changed, however small the
// entity: a small policy is built fast either way, and so is its delta
// applied.
const minPastChanges = 256

// pastFromLive returns the past snapshot of revision rev built from the
// live one and the rules it holds, or nil when it cannot be (no live
// policy, another incarnation, too many changes, a delta that does not
// apply): the caller loads the past policy.
func (e *Engine) pastFromLive(ctx context.Context, entityID string, rev int64, changes PastChanges) (*snapshot, int, error) {
	if changes == nil {
		return nil, 0, nil
	}
	live, err := e.snapshot(ctx, entityID)
	if err != nil || !live.exists {
		return nil, 0, nil // the load of the past policy says what is wrong
	}
	limit := max((live.units.len()+live.links.len())/4, minPastChanges)
	d, created, ok, err := changes(ctx, live.revision, limit)
	if err != nil {
		return nil, 0, err
	}
	if !ok || d.Full || !created.Equal(live.created) {
		return nil, 0, nil
	}
	// The grant index is carried over by the delta when the live snapshot
	// has one: built here, it serves the live answers too.
	live.grants()
	s, err := live.apply(rev, d)
	if err != nil {
		return nil, 0, nil
	}
	return s, s.ruleCount(), nil
}

// ruleCount returns how many rules the snapshot holds.
func (s *snapshot) ruleCount() int {
	n := 0
	s.units.each(func(_ string, u *unit) { n += len(u.rules) })
	s.links.each(func(_ string, roles []string) { n += len(roles) })
	return n
}
