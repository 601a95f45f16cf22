package changes

import (
	"context"

	"github.com/rolegate/rolegate"
)

// Reachable bounds a check's min_revision by the store's revision. An
// instance holding an older policy reloads the entity and waits for it; a
// revision no write ever returned would make it reload for the whole wait,
// for every such check, so that a caller with the check scope could keep a
// large entity reloading (its decision cache empty) at will. A min_revision
// ahead of what e holds is compared with the store's revision (one row):
// past it, the check is refused (422, naming field) and nothing reloads.
func Reachable(ctx context.Context, e Engine, store Revisions, field, entityID string, minRevision int64) error {
	if minRevision <= 0 {
		return nil
	}
	if held, ok := e.Held(entityID); ok && held >= minRevision {
		return nil
	}
	latest, err := store.EntityRevision(ctx, entityID)
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
