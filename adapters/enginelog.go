package adapters

import (
	"context"
	"time"

	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// LoggedDeltas reads the change log as the engine catches up from it
// (engine.Log): an entry logged without a delta, or one that does not
// decode, comes as a Full delta, so the engine reloads.
func (s *Store) LoggedDeltas(ctx context.Context, entityID string, after int64) (int64, time.Time, []engine.Logged, error) {
	rev, created, changes, err := s.PolicyChanges(ctx, entityID, after, policy.ChangeLogKeep)
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	out := make([]engine.Logged, 0, len(changes))
	for _, c := range changes {
		w := engine.Logged{Revision: c.Revision, Delta: engine.Delta{Full: true}}
		if c.Kind == policy.ChangeDelta {
			if d, err := engine.DecodeDelta(c.Payload); err == nil {
				w.Delta = d
			}
		}
		out = append(out, w)
	}
	return rev, created, out, nil
}

var _ engine.Log = (*Store)(nil)
