package policy

import (
	"context"
	"fmt"

	"github.com/rolegate/rolegate"
)

// A check's min_revision makes an instance that holds an older policy reload
// the entity and wait for it. A revision no write ever returned would make it
// reload again and again for the whole wait, for every such check: a caller
// with the check scope could keep a large entity reloading (and its decision
// cache empty) at will. So a min_revision ahead of what this instance holds
// is first compared with the store's revision, one row read: past it, the
// check is refused (422) and nothing is reloaded.
func (s *Service) reachable(ctx context.Context, field string, entityID string, minRevision int64) error {
	if minRevision <= 0 {
		return nil
	}
	if held, ok := s.engine.Held(entityID); ok && held >= minRevision {
		return nil
	}
	var latest int64
	err := s.store.View(ctx, func(tx Tx) error {
		e, err := tx.GetEntity(entityID)
		latest = e.Revision
		return err
	})
	switch {
	case rolegate.IsNotFound(err):
		return nil // the engine answers an unknown entity: not allowed
	case err != nil:
		return nil // the engine decides; it never allows on error
	case latest < minRevision:
		return rolegate.Invalid("unknown_revision", field,
			"%s %d is newer than any revision of entity %q (%d): pass back a revision a write returned", field, minRevision, entityID, latest)
	}
	return nil
}

// reachableAll checks the min_revision of every check of a batch, once per
// entity (the highest asked).
func (s *Service) reachableAll(ctx context.Context, reqs []CheckRequest) error {
	highest := map[string]int{}
	for i, r := range reqs {
		if j, ok := highest[r.EntityID]; !ok || r.MinRevision > reqs[j].MinRevision {
			highest[r.EntityID] = i
		}
	}
	for i, r := range reqs {
		if highest[r.EntityID] != i {
			continue
		}
		if err := s.reachable(ctx, fmt.Sprintf("checks[%d].min_revision", i), reqs[i].EntityID, reqs[i].MinRevision); err != nil {
			return err
		}
	}
	return nil
}
