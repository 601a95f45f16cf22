package policy

import (
	"context"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// Rolegate guards its own API with its own engine. Every Service method
// starts with authorize: a caller bound to another entity gets 404 (nothing
// tells it whether the entity or object exists), a token without the needed
// scope gets 403, and a user of the entity (a token from the identity
// provider) needs the right on one of the reserved object types below, as
// its roles in that entity give it. Platform callers (the bootstrap admin
// token, clients with the admin scope) may do everything.

// Reserved object types: the rights on Rolegate's own objects. Roles name
// them like any other object type, e.g. {"object_type": "role", "actions":
// [{"action_name": "read", "permission": "allowed"}]}.
const (
	ObjectRole       = "role"        // create, read, update, delete roles
	ObjectUser       = "user"        // create, read, update (also their roles), delete users
	ObjectAuditEvent = "audit_event" // read the audit log
	ObjectCheck      = "check"       // read: ask checks about the entity's users
)

// The actions on reserved object types.
const (
	ActionCreate = "create"
	ActionRead   = "read"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// authorize decides whether the caller may do action on the reserved object
// type in the entity; scope is the token scope the call needs. An empty
// entityID is a platform-wide call (entities, clients): only for callers
// bound to no entity.
func (s *Service) authorize(ctx context.Context, entityID, scope, objectType, action string) error {
	a, err := caller(ctx)
	if err != nil || a.IsInternal() {
		return err
	}
	if entityID == "" {
		if a.EntityID != "" || !a.Has(auth.ScopeAdmin) {
			return rolegate.Errorf(rolegate.KindForbidden, "forbidden", "this call is for platform administrators")
		}
		return nil
	}
	if a.EntityID != "" && a.EntityID != entityID {
		return EntityNotFound(entityID) // the same 404 as an unknown entity
	}
	if !a.Has(scope) {
		return rolegate.Errorf(rolegate.KindForbidden, "insufficient_scope", "the token's scopes do not include %q", scope)
	}
	if a.UserID == "" {
		return nil
	}
	d, err := s.engine.Check(ctx, engine.Request{EntityID: entityID, UserID: a.UserID, ObjectType: objectType, Action: action})
	if err != nil {
		return unavailable(err)
	}
	if !d.Allowed {
		return rolegate.Errorf(rolegate.KindForbidden, "forbidden", "you may not %s %s objects in this entity", action, objectType)
	}
	return nil
}

// May reports whether the caller may do action on a reserved object type in
// the entity, as authorize would decide, without failing: for answers such as
// Papershift's meta.permissions.
func (s *Service) May(ctx context.Context, entityID, objectType, action string) bool {
	return s.authorize(ctx, entityID, auth.ScopeManage, objectType, action) == nil
}

// caller returns the caller ctx names. Fail closed: a call that names none
// is nobody's, and is refused.
func caller(ctx context.Context) (auth.Actor, error) {
	a, ok := actorOf(ctx)
	if !ok {
		return auth.Actor{}, rolegate.Errorf(rolegate.KindUnauthenticated, "unauthenticated", "the call names no caller")
	}
	return a, nil
}

// actorOf returns the caller carried by ctx and whether there is one.
func actorOf(ctx context.Context) (auth.Actor, bool) {
	a := auth.ActorFrom(ctx)
	return a, a.ID != ""
}
