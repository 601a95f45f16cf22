package engine

import (
	"context"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/changes"
)

// Apply brings the entity's policy held from revision rev-1 to rev with a
// committed write's delta, at the cost of what the write changed. An entity
// not held loads on its next check; one not at rev-1, or a delta that does
// not apply, is refreshed (Refresh) instead.
func (e *Engine) Apply(ctx context.Context, entityID string, rev int64, d Delta) error {
	sl, ok := e.entities.load(entityID)
	if !ok {
		return nil
	}
	cur := sl.snap.Load()
	if cur != nil && cur.revision >= rev {
		return nil // already there (a reload that read it)
	}
	if d.Full || cur == nil || !cur.exists || cur.revision != rev-1 {
		return e.Refresh(ctx, entityID)
	}
	next, err := cur.apply(rev, d)
	if err != nil {
		return e.Refresh(ctx, entityID)
	}
	if !e.swap(sl, cur, next) {
		if s := sl.snap.Load(); s == nil || s.revision < rev {
			return e.Refresh(ctx, entityID)
		}
		return nil
	}
	e.deltas.Add(1)
	return nil
}

// swap installs next in place of cur, unless the slot moved meanwhile.
func (e *Engine) swap(sl *slot, cur, next *snapshot) bool {
	next.decisions.Store(e.tableLike(cur.decisions.Load()))
	next.engine = e
	if !sl.snap.CompareAndSwap(cur, next) {
		e.release(next)
		return false
	}
	e.release(cur)
	return true
}

// Refresh brings a held entity's policy up to date, from the change log
// (Log) when it reaches back, else by a full reload; never to an older
// policy. An entity deleted is dropped. It is called when the store is known
// to be newer (a write, a notification, the sweep), so a failed reload drops
// the held policy rather than answer from it.
func (e *Engine) Refresh(ctx context.Context, entityID string) error {
	return e.refresh(ctx, entityID, true)
}

// refresh is Refresh; without newer, the store is not known to be newer
// (a check's min_revision is the caller's word only), so a failed reload
// keeps what is held: one such check must not take the entity down for every
// other check while the database is out.
func (e *Engine) refresh(ctx context.Context, entityID string, newer bool) error {
	sl, ok := e.entities.load(entityID)
	if !ok {
		if !newer && e.unknown.has(entityID) {
			// Held as unknown: stays so unless a load finds it.
			s, err := e.load(ctx, entityID)
			if err != nil {
				return err
			}
			e.release(s)
			if !s.exists {
				return nil
			}
		}
		if !e.unknown.remove(entityID) {
			return nil
		}
		// Held as unknown, as at revision 0: it may exist now.
		e.reloads.Add(1)
		_, err := e.snapshot(ctx, entityID)
		return err
	}
	if cur := sl.snap.Load(); cur != nil {
		if next, _ := e.catchUpFromLog(ctx, cur); next != nil {
			if next == cur || e.swap(sl, cur, next) {
				e.deltas.Add(next.revision - cur.revision)
				return nil
			}
			if s := sl.snap.Load(); s != nil && s.revision >= next.revision {
				return nil // another catch-up got there
			}
		}
	}
	e.reloads.Add(1)
	s, err := e.load(ctx, entityID)
	if err != nil {
		if newer {
			// The held policy is older than the store's: drop it so that
			// the next check loads afresh rather than answering from it.
			e.Forget(entityID)
		}
		return err
	}
	if !s.exists {
		// Deleted: the policy held (of a revision > 0) would win over the
		// "unknown entity" one (revision 0), so drop it instead.
		e.release(s)
		e.Forget(entityID)
		return nil
	}
	e.install(sl, s)
	return nil
}

// catchUp reloads an entity whose policy held is older than want, waiting up
// to the engine's StaleWait for the store to show it (another instance's write
// may not be visible yet to this one's reads). Concurrent waiters share the
// reloads; each reload starts after the previous one ended, so none answers
// from a load that began before the write it waits for.
func (e *Engine) catchUp(ctx context.Context, entityID string, want int64) (*snapshot, error) {
	wctx, cancel := context.WithTimeout(ctx, e.staleWait)
	defer cancel()
	held, _ := e.Held(entityID)
	delay := 10 * time.Millisecond
	for {
		ch := e.flights.DoChan("catch-up\x00"+entityID, func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.staleWait)
			defer cancel()
			return nil, e.refresh(lctx, entityID, false)
		})
		select {
		case <-ch:
		case <-wctx.Done():
			return nil, stalePolicy(entityID, held, want)
		}
		s, err := e.snapshot(wctx, entityID)
		if err == nil {
			if s.revision >= want {
				return s, nil
			}
			held = s.revision
		}
		select {
		case <-time.After(delay):
		case <-wctx.Done():
			return nil, stalePolicy(entityID, held, want)
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// stalePolicy is the 503 of a check that asked for a newer policy than this
// instance could reach in time.
func stalePolicy(entityID string, held, want int64) error {
	return rolegate.Errorf(rolegate.KindUnavailable, "stale_policy",
		"this instance holds revision %d of entity %q, not yet %d; try again", held, entityID, want)
}

// catchUpFromLog brings a held snapshot s to the store's current revision by
// applying the logged deltas after it (changes.Deltas). It returns nil (and
// no error) when the log cannot do it: the caller reloads in full.
func (e *Engine) catchUpFromLog(ctx context.Context, s *snapshot) (*snapshot, error) {
	log, ok := e.loader.(changes.LogReader)
	if !ok || s == nil || !s.exists {
		return nil, nil
	}
	deltas, ok := changes.Deltas(ctx, log, s.entityID, s.revision, s.created)
	if !ok {
		return nil, nil
	}
	next := s
	for _, b := range deltas {
		d, err := DecodeDelta(b)
		if err != nil || d.Full {
			return nil, nil
		}
		if next, err = next.apply(next.revision+1, d); err != nil {
			return nil, nil
		}
	}
	return next, nil
}
