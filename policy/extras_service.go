package policy

import (
	"context"
	"errors"
)

// WhoCan lists, ordered by user id, one page of the users who may do act on
// obj in the entity (scope: counting their assignments inside it too), with
// the roles that give it. It reveals users and their roles: the caller needs
// the rights to read both.
func (s *Service) WhoCan(ctx context.Context, entityID, obj, act, scope, after string, limit int) ([]Holder, error) {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return nil, err
	}
	if obj == "" || obj == Wildcard || !ValidObjectType(obj) {
		return nil, Invalid("invalid_object_type", "object_type", "object_type must be an object type such as payable (not *)")
	}
	if act == "" || act == Wildcard || !ValidIdent(act) {
		return nil, Invalid("invalid_action", "action", "action must be an action such as approve (not *)")
	}
	if scope != "" && !ValidScope(scope) {
		return nil, Invalid("invalid_scope", "scope", "scope must be 1-128 characters of A-Za-z0-9._:- such as team:42")
	}
	if err := s.known(ctx, entityID); err != nil {
		return nil, err
	}
	hs, _, err := s.engine.WhoCan(ctx, entityID, obj, act, scope, after, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	return hs, nil
}

// authorizeReview lets a caller see who holds what in an entity: it needs
// the rights to read users and to read roles.
func (s *Service) authorizeReview(ctx context.Context, entityID string) error {
	if err := s.authorize(ctx, entityID, ScopeManage, ObjectUser, ActionRead); err != nil {
		return err
	}
	return s.authorize(ctx, entityID, ScopeManage, ObjectRole, ActionRead)
}

// known answers 404 for an unknown entity.
func (s *Service) known(ctx context.Context, entityID string) error {
	return s.store.View(ctx, func(tx Tx) error { return entityExists(tx, entityID) })
}

// DryRunResult is what a write made in dry-run mode would change in users'
// effective rights.
type DryRunResult struct {
	Gained, Lost []Right
}

type dryRunKey struct{}

// WithDryRun returns a context in which the Service's role and assignment
// writes run their whole path (validation, guards, the transaction) and then
// roll it back: nothing reaches the store, the engine, the audit log, the
// change log or the revision. The effect they would have had is left in the
// returned result once the write returns without error.
func WithDryRun(ctx context.Context) (context.Context, *DryRunResult) {
	r := &DryRunResult{}
	return context.WithValue(ctx, dryRunKey{}, r), r
}

func dryRunOf(ctx context.Context) *DryRunResult {
	r, _ := ctx.Value(dryRunKey{}).(*DryRunResult)
	return r
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run: roll back")
