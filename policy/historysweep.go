package policy

import (
	"context"
	"slices"
	"time"

	"github.com/rolegate/rolegate/auth"
)

// historySweepBatch is how many rows of history one pass of the sweep
// removes at most (one transaction).
const historySweepBatch = 5000

// historySweepDoc is what a history.sweep audit event records.
type historySweepDoc struct {
	Removed int       `json:"removed"` // rows of history and revisions
	Before  time.Time `json:"before"`  // the cutoff: every revision in force at or after it is kept
}

// SweepHistory removes the history older than retention (0: keeps
// everything): over all entities, what no answer at or after now-retention
// needs, so the policy at every revision in force at or after that instant
// stays answerable. Each pass is one transaction of at most
// historySweepBatch rows, with one history.sweep audit event per entity it
// swept. It returns how many rows it removed. Platform callers only.
func (s *Service) SweepHistory(ctx context.Context, retention time.Duration) (int, error) {
	if err := s.authorize(ctx, "", auth.ScopeAdmin, "", ""); err != nil {
		return 0, err
	}
	if retention <= 0 {
		return 0, nil
	}
	// As-of answers take no instant older than the retention from their
	// cache from now on (historycache.go).
	s.asOfs.retain(retention)
	removed := 0
	for pass := 0; pass < 100; pass++ {
		now := s.clock()
		before := now.Add(-retention)
		n := 0
		var ids []string
		err := s.store.Update(ctx, func(tx Tx) error {
			n = 0
			swept, err := tx.SweepHistory(before, historySweepBatch)
			if err != nil {
				return err
			}
			ids = make([]string, 0, len(swept))
			for id := range swept {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for _, id := range ids {
				n += swept[id]
				if err := s.audit(ctx, tx, now, id, AuditHistorySweep, AuditObjectEntity, id, nil,
					historySweepDoc{Removed: swept[id], Before: before}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		// The AsOfs resolved from what went are resolved again.
		s.asOfs.drop(ids...)
		removed += n
		if n < historySweepBatch {
			return removed, nil
		}
	}
	return removed, nil
}
