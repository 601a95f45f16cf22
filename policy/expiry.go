package policy

import (
	"context"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

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
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
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
			_, err := s.write(ctx, id, func(tx recordingTx, now time.Time) error {
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
					if err := tx.RemoveRules([]rolegate.Rule{engine.CompileAssignment(a)}); err != nil {
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
