package policy

import "context"

// Tests read the revision an engine holds through Revision; nothing else
// needs it, so it is defined for tests only.

// Revision returns the revision of the entity's policy held in memory,
// loading it if needed.
func (e *Engine) Revision(ctx context.Context, entityID string) (int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return 0, err
	}
	return s.revision, nil
}
