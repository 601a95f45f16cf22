package handlers

import (
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Request and response types of the native API. They are kept apart from the
// domain types so that the wire format changes only on purpose. Rights travel
// in the domain's canonical encoding, policy.PermissionsDoc, which is also
// their stored format.

// domainPermissions decodes optional rights: nil stays nil.
func domainPermissions(p *policy.PermissionsDoc) *rolegate.Permissions {
	if p == nil {
		return nil
	}
	out := p.Permissions()
	return &out
}

func permissionsOf(p rolegate.Permissions) policy.PermissionsDoc { return policy.DocOf(p) }

// roleRequest is the body of POST, PUT and PATCH on a role.
type roleRequest struct {
	Name        *string                `json:"name"`
	Description *string                `json:"description"`
	Permissions *policy.PermissionsDoc `json:"permissions"`
	Default     *bool                  `json:"default"`
}

func (r roleRequest) input() policy.RoleInput {
	return policy.RoleInput{Name: r.Name, Description: r.Description, Permissions: domainPermissions(r.Permissions), Default: r.Default}
}

// roleJSON is a role as the native API shows it. The audit log stores the
// same document (policy's roleDoc); TestAuditSnapshotsAreTheWire holds the
// two to the same bytes.
type roleJSON struct {
	ID          string                `json:"id"`
	EntityID    string                `json:"entity_id"`
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Permissions policy.PermissionsDoc `json:"permissions"`
	Default     bool                  `json:"default"`
	RoleType    string                `json:"role_type"`
	Status      string                `json:"status"`
	Version     int64                 `json:"version"`
	CreatedAt   string                `json:"created_at"`
	CreatedBy   *string               `json:"created_by"`
	UpdatedAt   string                `json:"updated_at"`
	UpdatedBy   *string               `json:"updated_by"`
	DeletedAt   *string               `json:"deleted_at"`
	DeletedBy   *string               `json:"deleted_by"`
}

func roleOf(r rolegate.Role) roleJSON {
	return roleJSON{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description,
		Permissions: policy.DocOf(r.Permissions), Default: r.Default, RoleType: r.RoleType, Status: r.Status,
		Version: r.Version, CreatedAt: timeString(r.CreatedAt), CreatedBy: nullable(r.CreatedBy),
		UpdatedAt: timeString(r.UpdatedAt), UpdatedBy: nullable(r.UpdatedBy), DeletedAt: timePtr(r.DeletedAt),
		DeletedBy: nullable(r.DeletedBy)}
}

type entityRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// entityJSON is an entity as the native API shows it (and the audit log
// stores it).
type entityJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Revision  int64  `json:"revision"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func entityOf(e rolegate.Entity) entityJSON {
	return entityJSON{ID: e.ID, Name: e.Name, Revision: e.Revision, CreatedAt: timeString(e.CreatedAt), UpdatedAt: timeString(e.UpdatedAt)}
}

type userRequest struct {
	ID      string    `json:"id"`
	Email   *string   `json:"email"`
	Name    *string   `json:"name"`
	RoleIDs *[]string `json:"role_ids"`
}

type userPatchRequest struct {
	Email   *string   `json:"email"`
	Name    *string   `json:"name"`
	RoleIDs *[]string `json:"role_ids"`
}

type userJSON struct {
	ID         string  `json:"id"`
	EntityID   string  `json:"entity_id"`
	Email      string  `json:"email"`
	Name       string  `json:"name"`
	Roles      []any   `json:"roles"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	DeletedAt  *string `json:"deleted_at"`
	LastSeenAt *string `json:"last_seen_at"`
}

// roleRefJSON is a role as a user lists it.
type roleRefJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Scope     *string `json:"scope"`
	ExpiresAt *string `json:"expires_at,omitempty"`
}

// expandedRoleJSON is a full role as a user lists it with expand=roles.
type expandedRoleJSON struct {
	roleJSON
	Scope     *string `json:"scope"`
	ExpiresAt *string `json:"expires_at,omitempty"`
}

func userOf(u rolegate.User, expand bool) userJSON {
	out := userJSON{ID: u.ID, EntityID: u.EntityID, Email: u.Email, Name: u.Name, Roles: []any{},
		CreatedAt: timeString(u.CreatedAt), UpdatedAt: timeString(u.UpdatedAt)}
	for _, ur := range u.Roles {
		if expand {
			out.Roles = append(out.Roles, expandedRoleJSON{roleJSON: roleOf(ur.Role), Scope: nullable(ur.Scope), ExpiresAt: timePtr(ur.ExpiresAt)})
		} else {
			out.Roles = append(out.Roles, roleRefJSON{ID: ur.Role.ID, Name: ur.Role.Name, Scope: nullable(ur.Scope), ExpiresAt: timePtr(ur.ExpiresAt)})
		}
	}
	if u.LastSeenAt != nil {
		s := timeString(*u.LastSeenAt)
		out.LastSeenAt = &s
	}
	return out
}

type assignmentRequest struct {
	Scope *string `json:"scope"`
	// ExpiresAt (RFC 3339, in the future) makes the assignment stop
	// counting at that instant.
	ExpiresAt *string `json:"expires_at"`
}

type assignmentJSON struct {
	EntityID  string  `json:"entity_id"`
	UserID    string  `json:"user_id"`
	RoleID    string  `json:"role_id"`
	Scope     *string `json:"scope"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
}

type userRoleJSON struct {
	Role      roleJSON `json:"role"`
	Scope     *string  `json:"scope"`
	ExpiresAt *string  `json:"expires_at"`
}

func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeString(*t)
	return &s
}

// expiresAt reads an assignment's expires_at: RFC 3339 with a time zone.
func expiresAt(s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil || len(*s) > 40 {
		return nil, rolegate.Invalid("invalid_expires_at", "expires_at", "expires_at must be an RFC 3339 time such as 2026-12-31T23:59:59Z")
	}
	return &t, nil
}

type checkRequest struct {
	EntityID   string `json:"entity_id"`
	UserID     string `json:"user_id"`
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
	OwnerID    string `json:"owner_id"`
	Scope      string `json:"scope"`
	Explain    bool   `json:"explain"`
	// MinRevision: answer from the entity's policy at this revision or newer
	// (a write's X-Rolegate-Revision), else 503 stale_policy.
	MinRevision int64 `json:"min_revision"`
}

func (r checkRequest) domain() policy.CheckRequest {
	return policy.CheckRequest{EntityID: r.EntityID, UserID: r.UserID, ObjectType: r.ObjectType,
		Action: r.Action, OwnerID: r.OwnerID, Scope: r.Scope, Explain: r.Explain, MinRevision: r.MinRevision}
}

type checkBatchRequest struct {
	Checks []checkRequest `json:"checks" limit:"1000,invalid_batch"` // MaxBatch
}

type checkResponse struct {
	Allowed    bool        `json:"allowed"`
	Permission string      `json:"permission"`
	Revision   int64       `json:"revision"`
	Matched    []matchJSON `json:"matched,omitzero"`
	// On an explained refusal: the denying rights (denied), or the roles
	// whose assignment would allow it (not_allowed).
	DeniedBy    []matchJSON `json:"denied_by,omitzero"`
	GrantableBy []matchJSON `json:"grantable_by,omitzero"`
	// ValidUntil: the answer depends on an assignment that expires then; a
	// cached copy must not be used from that instant on.
	ValidUntil *string `json:"valid_until,omitempty"`
}

type matchJSON struct {
	RoleID     *string `json:"role_id"`
	RoleName   *string `json:"role_name"`
	Permission string  `json:"permission"`
}

func checkOf(d engine.Decision, explain bool) checkResponse {
	out := checkResponse{Allowed: d.Allowed, Permission: string(d.Permission), Revision: d.Revision}
	if d.ValidUntil > 0 {
		v := time.UnixMilli(d.ValidUntil).UTC().Format("2006-01-02T15:04:05.000Z")
		out.ValidUntil = &v
	}
	if explain {
		out.Matched = make([]matchJSON, 0, len(d.Matched))
		for _, m := range d.Matched {
			out.Matched = append(out.Matched, matchJSON{RoleID: nullable(m.RoleID), RoleName: nullable(m.RoleName), Permission: string(m.Permission)})
		}
		for _, l := range []struct {
			from []engine.Match
			to   *[]matchJSON
		}{{d.DeniedBy, &out.DeniedBy}, {d.GrantableBy, &out.GrantableBy}} {
			if l.from == nil {
				continue
			}
			*l.to = make([]matchJSON, 0, len(l.from))
			for _, m := range l.from {
				*l.to = append(*l.to, matchJSON{RoleID: nullable(m.RoleID), RoleName: nullable(m.RoleName), Permission: string(m.Permission)})
			}
		}
	}
	return out
}

// page is the envelope of every list.
type page[T any] struct {
	Data                []T     `json:"data"`
	NextPaginationToken *string `json:"next_pagination_token"`
	PrevPaginationToken *string `json:"prev_pagination_token"`
}

func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
