package engine

import (
	"context"
	"time"
)

// Log is a Loader that also keeps the change log: the delta of each recent
// write under the revision it made. A held entity catches up by applying
// those deltas instead of reloading.
type Log interface {
	// LoggedDeltas returns the entity's current revision and creation time,
	// and the logged writes after revision after, in order. A write logged
	// without its delta comes as a Full one; too long a gap gives none.
	LoggedDeltas(ctx context.Context, entityID string, after int64) (revision int64, created time.Time, writes []Logged, err error)
}

// Logged is one write of the change log.
type Logged struct {
	Revision int64
	Delta    Delta
}

// catchUpFromLog brings a held snapshot s to the store's current revision by
// applying the logged deltas after it. It returns nil (and no error) when the
// log cannot do it: the caller reloads in full.
func (e *Engine) catchUpFromLog(ctx context.Context, s *snapshot) (*snapshot, error) {
	log, ok := e.loader.(Log)
	if !ok || s == nil || !s.exists {
		return nil, nil
	}
	rev, created, writes, err := log.LoggedDeltas(ctx, s.entityID, s.revision)
	if err != nil || !created.Equal(s.created) || rev < s.revision {
		return nil, nil // unknown now, or another entity of the same id: reload
	}
	next := s
	for _, w := range writes {
		if w.Revision != next.revision+1 || w.Delta.Full {
			return nil, nil
		}
		if next, err = next.apply(w.Revision, w.Delta); err != nil {
			return nil, nil
		}
	}
	if next.revision != rev {
		return nil, nil
	}
	return next, nil
}
