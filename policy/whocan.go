package policy

import (
	"context"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// WhoCan lists, ordered by user id, one page of the users who may do act on
// obj in the entity (scope: counting their assignments inside it too), with
// the roles that give it. It reveals users and their roles: the caller needs
// the rights to read both.
func (s *Service) WhoCan(ctx context.Context, entityID, obj, act, scope, after string, limit int, resource map[string]any) ([]engine.Holder, error) {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return nil, err
	}
	resource, err := validWhoCan(obj, act, scope, resource)
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, entityID); err != nil {
		return nil, err
	}
	hs, _, err := s.engine.WhoCanResource(ctx, entityID, obj, act, scope, after, limit, resource)
	if err != nil {
		return nil, unavailable(err)
	}
	return hs, nil
}

// validWhoCan checks a who-can question and returns its resource as
// conditions read it.
func validWhoCan(obj, act, scope string, resource map[string]any) (map[string]any, error) {
	if obj == "" || obj == rolegate.Wildcard || !ValidObjectType(obj) {
		return nil, rolegate.Invalid("invalid_object_type", "object_type", "object_type must be an object type such as payable (not *)")
	}
	if act == "" || act == rolegate.Wildcard || !ValidIdent(act) {
		return nil, rolegate.Invalid("invalid_action", "action", "action must be an action such as approve (not *)")
	}
	if scope != "" && !ValidScope(scope) {
		return nil, invalidScope("scope")
	}
	return normalizeAttributes("resource", resource)
}

// authorizeReview lets a caller see who holds what in an entity: it needs
// the rights to read users and to read roles.
func (s *Service) authorizeReview(ctx context.Context, entityID string) error {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return err
	}
	return s.authorize(ctx, entityID, auth.ScopeManage, ObjectRole, ActionRead)
}

// known answers 404 for an unknown entity.
func (s *Service) known(ctx context.Context, entityID string) error {
	return s.store.View(ctx, func(tx Tx) error { return entityExists(tx, entityID) })
}
