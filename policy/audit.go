package policy

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/auth"
)

// The audit log: every committed change of an entity's roles, users and
// assignments (and the entity's creation) writes one AuditEvent in the same
// transaction as the change, so a change and its event commit or fail
// together. Before and After are the object as the native API shows it (JSON),
// or nil: nil Before for a creation, nil After for a deletion.
//
// What each write records (object_id names the object changed):
//
//	entity.create      entity      the entity id     after: the entity
//	role.create        role        the role id       after: the role
//	role.update        role        the role id       before and after: the role
//	role.delete        role        the role id       before: the active role, after: the deleted role
//	user.create        user        the user id       after: the user with its roles
//	user.update        user        the user id       before and after: the user with its roles
//	user.delete        user        the user id       before: the user with its roles
//	assignment.create  assignment  the user id       after: the assignment
//	assignment.delete  assignment  the user id       before: the assignment
//	team_roles.set     assignment  the user id       before and after: the user's roles in the scope
//	history.sweep      entity      the entity id     after: the rows removed and the cutoff
//	constraint.create  constraint  the constraint id after: the constraint
//	constraint.update  constraint  the constraint id before and after: the constraint
//	constraint.delete  constraint  the constraint id before: the constraint
//
// Assigning a role the user already holds changes nothing and records
// nothing. Deleting an entity deletes its audit events with everything else
// of it (an entity id may be used again, and must not inherit a log); the
// deletion itself is logged by the service's logger.

// Audit actions.
const (
	AuditEntityCreate     = "entity.create"
	AuditRoleCreate       = "role.create"
	AuditRoleUpdate       = "role.update"
	AuditRoleDelete       = "role.delete"
	AuditUserCreate       = "user.create"
	AuditUserUpdate       = "user.update"
	AuditUserDelete       = "user.delete"
	AuditAssignmentCreate = "assignment.create"
	AuditAssignmentDelete = "assignment.delete"
	AuditAssignmentUpdate = "assignment.update" // its expiry changed
	AuditAssignmentExpire = "assignment.expire" // removed by the sweep once expired
	AuditTeamRolesSet     = "team_roles.set"
	AuditClientCreate     = "client.create" // a client bound to the entity
	AuditClientDelete     = "client.delete"
	// AuditHistorySweep: the history sweep removed history older than the
	// retention (object: the entity; after: what it removed).
	AuditHistorySweep = "history.sweep"
	// Separation of duties' constraints, their exceptions with them.
	AuditConstraintCreate = "constraint.create"
	AuditConstraintUpdate = "constraint.update"
	AuditConstraintDelete = "constraint.delete"
)

// Audit object types.
const (
	AuditObjectEntity     = "entity"
	AuditObjectRole       = "role"
	AuditObjectUser       = "user"
	AuditObjectAssignment = "assignment"
	AuditObjectClient     = "client"
	AuditObjectConstraint = "constraint"
)

// AuditObjectTypes are the object types audit events name.
var AuditObjectTypes = []string{AuditObjectAssignment, AuditObjectClient, AuditObjectConstraint, AuditObjectEntity, AuditObjectRole, AuditObjectUser}

// AuditEvent is one committed change.
type AuditEvent struct {
	ID         string // a UUIDv7: ordered by creation within one time
	EntityID   string
	Time       time.Time
	Actor      string // Actor.ID of the caller; empty for internal calls
	Action     string // AuditRoleCreate, ...
	ObjectType string // AuditObjectRole, ...
	ObjectID   string
	Before     json.RawMessage // nil: none
	After      json.RawMessage // nil: none
	RequestID  string
}

// AuditFilter narrows an audit listing; zero fields do not filter.
type AuditFilter struct {
	ObjectType string
	Actor      string
}

// MaxRequestIDLen bounds the request id kept with an audit event.
const MaxRequestIDLen = 128

type requestIDKey struct{}

// WithRequestID returns a context carrying the id of the request being
// served; audit events record it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id carried by ctx, "" when none.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// audit records one change inside the write's transaction. before and after
// are snapshots (roleDoc, userDoc, ...) or nil.
func (s *Service) audit(ctx context.Context, tx Tx, now time.Time, entityID, action, objectType, objectID string, before, after any) error {
	e, err := newAuditEvent(ctx, now, entityID, action, objectType, objectID, before, after)
	if err != nil {
		return err
	}
	return tx.InsertAuditEvent(&e)
}

// newAuditEvent builds the event audit records, for writes that store many
// at once.
func newAuditEvent(ctx context.Context, now time.Time, entityID, action, objectType, objectID string, before, after any) (AuditEvent, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return AuditEvent{}, err
	}
	e := AuditEvent{ID: id.String(), EntityID: entityID, Time: now, Actor: auth.ActorFrom(ctx).ID,
		Action: action, ObjectType: objectType, ObjectID: objectID, RequestID: RequestIDFrom(ctx)}
	if len(e.RequestID) > MaxRequestIDLen {
		e.RequestID = e.RequestID[:MaxRequestIDLen]
	}
	if e.Before, err = auditJSON(before); err != nil {
		return AuditEvent{}, err
	}
	if e.After, err = auditJSON(after); err != nil {
		return AuditEvent{}, err
	}
	return e, nil
}

func auditJSON(doc any) (json.RawMessage, error) {
	if doc == nil {
		return nil, nil
	}
	return json.Marshal(doc)
}

// ListAuditEvents returns one page of the entity's audit events, newest first
// (Page.Desc false) or oldest first; Page.Sort is "time". An unknown entity
// is 404.
func (s *Service) ListAuditEvents(ctx context.Context, entityID string, f AuditFilter, p Page) ([]AuditEvent, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectAuditEvent, ActionRead); err != nil {
		return nil, err
	}
	var out []AuditEvent
	err := s.store.View(ctx, func(tx Tx) error {
		if err := entityExists(tx, entityID); err != nil {
			return err
		}
		var err error
		out, err = tx.ListAuditEvents(entityID, f, p)
		return err
	})
	return out, err
}

// ---- the snapshots: the audit log's stored format ----
//
// Before and After are stored as the api module's documents, JSON, and the
// audit API shows them as stored: the shape is the one the native API showed
// when the event was written (an entity, a role and an assignment are the
// very types the API writes; a test in handlers holds the bytes equal, and
// TestAuditSnapshotsFrozen holds them to a golden file). Rights inside are
// the canonical encoding, api.Permissions.

func auditTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func auditNullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func entityDocOf(e rolegate.Entity) api.Entity {
	return api.Entity{ID: e.ID, Name: e.Name, Revision: e.Revision, CreatedAt: auditTime(e.CreatedAt), UpdatedAt: auditTime(e.UpdatedAt)}
}

func roleDocOf(r rolegate.Role) api.Role {
	out := api.Role{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description,
		Permissions: DocOf(r.Permissions), Default: r.Default, RoleType: r.RoleType, Status: r.Status,
		Version: r.Version, CreatedAt: auditTime(r.CreatedAt), CreatedBy: auditNullable(r.CreatedBy),
		UpdatedAt: auditTime(r.UpdatedAt), UpdatedBy: auditNullable(r.UpdatedBy), DeletedBy: auditNullable(r.DeletedBy)}
	if r.DeletedAt != nil {
		s := auditTime(*r.DeletedAt)
		out.DeletedAt = &s
	}
	return out
}

func userDocOf(u rolegate.User) api.AuditUser {
	out := api.AuditUser{ID: u.ID, EntityID: u.EntityID, Email: u.Email, Name: u.Name, Roles: []api.AuditRoleRef{},
		CreatedAt: auditTime(u.CreatedAt), UpdatedAt: auditTime(u.UpdatedAt)}
	for _, ur := range u.Roles {
		out.Roles = append(out.Roles, api.AuditRoleRef{ID: ur.Role.ID, Name: ur.Role.Name, Scope: auditNullable(ur.Scope)})
	}
	if len(u.Permissions.Objects) > 0 {
		d := DocOf(u.Permissions)
		out.Permissions = &d
	}
	if len(u.Attributes) > 0 {
		out.Attributes = u.Attributes
	}
	if u.LastSeenAt != nil {
		s := auditTime(*u.LastSeenAt)
		out.LastSeenAt = &s
	}
	return out
}

func assignmentDocOf(a rolegate.Assignment) api.Assignment {
	d := api.Assignment{EntityID: a.EntityID, UserID: a.UserID, RoleID: a.RoleID, Scope: auditNullable(a.Scope), CreatedAt: auditTime(a.CreatedAt)}
	if a.ExpiresAt != nil {
		t := auditTime(*a.ExpiresAt)
		d.ExpiresAt = &t
	}
	return d
}

// scopedRolesDocOf is the roles a user holds inside one scope.
func scopedRolesDocOf(userID, scope string, held []rolegate.UserRole) api.AuditScopedRoles {
	out := api.AuditScopedRoles{UserID: userID, Scope: scope, Roles: []api.AuditRoleName{}}
	for _, ur := range held {
		if ur.Scope == scope {
			out.Roles = append(out.Roles, api.AuditRoleName{ID: ur.Role.ID, Name: ur.Role.Name})
		}
	}
	sort.Slice(out.Roles, func(i, j int) bool { return out.Roles[i].ID < out.Roles[j].ID })
	return out
}
