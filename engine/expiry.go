package policy

import (
	"context"
	"github.com/rolegate/rolegate"
	"strconv"
	"time"
)

// Expiring assignments. An assignment may carry an expiry: its g rule then
// has a fourth value, the instant it stops counting in Unix milliseconds,
//
//	g, u:<user_id>, r:<role_id>, <entity>, <expires_at_ms>
//
// The engine keeps the expiries of a snapshot's links (snapshot.expiry) and
// compares them with its clock on every check: from that instant on, on every
// instance, the assignment no longer counts, without waiting for the sweep
// that later removes it from the store (Service.SweepExpired). A decision
// cached for a user with expiring assignments is keyed by the earliest of
// them still running, so no cached answer outlives it.

// validLink reports whether a g rule is well formed: three values, or four
// with an expiry.
func validLink(r rolegate.Rule) bool {
	if len(r.Values) == 3 {
		return true
	}
	_, ok := linkExpiry(r)
	return ok
}

// linkExpiry returns the expiry of a g rule that has one.
func linkExpiry(r rolegate.Rule) (int64, bool) {
	if len(r.Values) != 4 {
		return 0, false
	}
	at, err := strconv.ParseInt(r.Values[3], 10, 64)
	return at, err == nil && at > 0
}

func expiryKey(link, role string) string { return link + "\x00" + role }

// clock returns the engine's time in Unix milliseconds.
func (s *snapshot) clock() int64 {
	if s.engine != nil && s.engine.now != nil {
		return s.engine.now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// live returns the roles of a link whose assignment has not expired at now
// (Unix ms); roles itself when none has.
func (s *snapshot) live(link string, roles []string, now int64) []string {
	if s.expiry.len() == 0 {
		return roles
	}
	for i, r := range roles {
		if at, ok := s.expiry.get(expiryKey(link, r)); ok && now >= at {
			out := append([]string(nil), roles[:i]...)
			for _, r := range roles[i+1:] {
				if at, ok := s.expiry.get(expiryKey(link, r)); !ok || now < at {
					out = append(out, r)
				}
			}
			return out
		}
	}
	return roles
}

// epoch returns the earliest expiry still ahead at now among the user's
// assignments (entity-wide, and inside scope), 0 when none: the instant until
// which an answer about the user may be served from the cache.
func (s *snapshot) epoch(user, scope string, now int64) int64 {
	var first int64
	look := func(link string) {
		roles, _ := s.links.get(link)
		for _, r := range roles {
			if at, ok := s.expiry.get(expiryKey(link, r)); ok && now < at && (first == 0 || at < first) {
				first = at
			}
		}
	}
	look(UserSubject(user))
	if scope != "" {
		look(ScopedSubject(scope, user))
	}
	return first
}

// MaxExpiry is how far ahead an assignment's expiry may be.
const MaxExpiry = 10 * 366 * 24 * time.Hour

// validExpiry checks an assignment's expiry: in the future, at most
// MaxExpiry ahead.
func (s *Service) validExpiry(at *time.Time) error {
	if at == nil {
		return nil
	}
	now := s.now()
	if !at.After(now) {
		return rolegate.Invalid("invalid_expires_at", "expires_at", "expires_at must be in the future")
	}
	if at.Sub(now) > MaxExpiry {
		return rolegate.Invalid("invalid_expires_at", "expires_at", "expires_at must be at most 10 years ahead")
	}
	return nil
}

// lapsed reports whether an assignment has expired by now (it no longer
// counts, though the sweep may not have removed it yet).
func lapsed(a rolegate.Assignment, now time.Time) bool {
	return a.ExpiresAt != nil && !now.Before(*a.ExpiresAt)
}

// sooner reports whether expiry a ends before b (nil: never).
func sooner(a, b *time.Time) bool {
	return a != nil && (b == nil || a.Before(*b))
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.UnixMilli() == b.UnixMilli()
}

// sweepBatch is how many expired assignments one sweep pass reads.
const expiredBatch = 500

// SweepExpired removes from the store the assignments expired by now (checks
// stopped counting them at their expiry already), one write per entity, each
// with an assignment.expire audit event and a change-log entry. It returns
// how many it removed. Platform callers only.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	if err := s.authorize(ctx, "", ScopeAdmin, "", ""); err != nil {
		return 0, err
	}
	removed := 0
	for pass := 0; ; pass++ {
		now := s.clock()
		var due []rolegate.Assignment
		if err := s.store.View(ctx, func(tx Tx) error {
			var err error
			due, err = tx.ExpiredAssignments(now, expiredBatch)
			return err
		}); err != nil {
			return removed, err
		}
		byEntity := map[string][]rolegate.Assignment{}
		var order []string
		for _, a := range due {
			if byEntity[a.EntityID] == nil {
				order = append(order, a.EntityID)
			}
			byEntity[a.EntityID] = append(byEntity[a.EntityID], a)
		}
		for _, id := range order {
			n := 0
			_, err := s.write(ctx, id, func(tx Tx, now time.Time) error {
				n = 0
				for _, a := range byEntity[id] {
					sc := a.Scope
					have, err := tx.ListAssignments(id, AssignmentFilter{UserID: a.UserID, RoleID: a.RoleID, Scope: &sc})
					if err != nil {
						return err
					}
					// Still there and still expired (not renewed meanwhile)?
					if len(have) == 0 || have[0].ExpiresAt == nil || now.Before(*have[0].ExpiresAt) {
						continue
					}
					a = have[0]
					if err := tx.DeleteAssignment(a); err != nil {
						return err
					}
					if err := tx.RemoveRules([]rolegate.Rule{CompileAssignment(a)}); err != nil {
						return err
					}
					if err := s.audit(ctx, tx, now, id, AuditAssignmentExpire, AuditObjectAssignment, a.UserID, assignmentDocOf(a), nil); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil && !rolegate.IsKind(err, rolegate.KindNotFound) { // an entity deleted meanwhile
				return removed, err
			}
			if err == nil {
				removed += n
			}
		}
		if len(due) < expiredBatch || pass >= 100 {
			return removed, nil
		}
	}
}
