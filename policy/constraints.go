package policy

import (
	"context"

	"github.com/rolegate/rolegate"
)

// Separation of duties (issue 26): an entity's constraints (rolegate.Constraint)
// and their enforcement. Every write that goes through Service.write is
// checked, before it commits, against the entity's enforcing constraints: a
// write that would make a user hold two rights of one (without an exception
// in force) is refused with 409 separation_of_duties naming the first
// rolegate.MaxViolationsShown violations (rolegate.Error.Violations), and
// changes nothing. A dry run reports the violations it would create.
//
// The constraints themselves are guarded by the reserved object type
// ObjectConstraint (create, read, update, delete); each change is audited
// (AuditObjectConstraint) and bumps the entity's revision.

// ObjectConstraint is the reserved object type of the constraint API.
const ObjectConstraint = "constraint"

// CreateConstraint stores a new constraint (its ID is made). In
// ConstraintEnforce mode over an entity that already violates it, it is
// refused (409 separation_of_duties with the violations); in
// ConstraintReport mode it is stored as it is.
func (s *Service) CreateConstraint(ctx context.Context, c rolegate.Constraint) (rolegate.Constraint, int64, error) {
	return rolegate.Constraint{}, 0, errNotBuilt
}

// GetConstraint returns one constraint. 404 constraint_not_found.
func (s *Service) GetConstraint(ctx context.Context, entityID, id string) (rolegate.Constraint, error) {
	return rolegate.Constraint{}, errNotBuilt
}

// ListConstraints returns the entity's constraints ordered by name.
func (s *Service) ListConstraints(ctx context.Context, entityID string) ([]rolegate.Constraint, error) {
	return nil, errNotBuilt
}

// ReplaceConstraint overwrites a constraint (name, description, rights,
// mode, exceptions). Switching to enforce is refused while it has
// violations (409 separation_of_duties).
func (s *Service) ReplaceConstraint(ctx context.Context, c rolegate.Constraint) (rolegate.Constraint, int64, error) {
	return rolegate.Constraint{}, 0, errNotBuilt
}

// DeleteConstraint removes one. 404 constraint_not_found.
func (s *Service) DeleteConstraint(ctx context.Context, entityID, id string) (int64, error) {
	return 0, errNotBuilt
}

// ConstraintViolations lists every user in violation of the constraint now
// (exceptions in force left out), and the revision answered from.
func (s *Service) ConstraintViolations(ctx context.Context, entityID, id string) ([]rolegate.Violation, int64, error) {
	return nil, 0, errNotBuilt
}
