package engine

import (
	"context"
	"errors"

	"github.com/rolegate/rolegate"
)

// Separation of duties (rolegate.Constraint): which users hold two or more
// of a constraint's rights, read from the same effective rights as dry runs
// and the access report (effective).

var errSoDNotBuilt = errors.New("separation of duties: not built yet")

// Violations returns the violations of cs that applying d (a write recorded
// at revision rev, as DryRun takes it) would create: for each user the delta
// touches (as DryRun finds them: holders of a changed role, users whose own
// rights or assignments change), entity-wide and in each scope the user
// holds roles in, the constraints of which the user would hold two or more
// rights and did not hold them all before. Exceptions are not looked at (the
// caller filters). It costs what the write touches, not the entity.
func (e *Engine) Violations(ctx context.Context, entityID string, rev int64, d Delta, cs []rolegate.Constraint) ([]rolegate.Violation, error) {
	return nil, errSoDNotBuilt
}

// ScanViolations returns every violation of cs in the entity's policy held
// now (every user, entity-wide and in each scope), ordered by constraint,
// user and scope, and the revision it read. Exceptions are not looked at.
func (e *Engine) ScanViolations(ctx context.Context, entityID string, cs []rolegate.Constraint) ([]rolegate.Violation, int64, error) {
	return nil, 0, errSoDNotBuilt
}
