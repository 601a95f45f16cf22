package handlers

import (
	"time"

	"github.com/rolegate/rolegate"
	wire "github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The native API's request and response bodies are the api module's types
// (imported as wire: in this package api is the routes' receiver), kept apart
// from the domain's so that the wire format changes only on purpose; here
// they are converted from and to the domain's. Rights travel in the canonical
// encoding, wire.Permissions, which is also their stored format.

// domainPermissions decodes optional rights: nil stays nil.
func domainPermissions(p *wire.Permissions) *rolegate.Permissions {
	if p == nil {
		return nil
	}
	out := policy.RightsOf(*p)
	return &out
}

func permissionsOf(p rolegate.Permissions) wire.Permissions { return policy.DocOf(p) }

// roleInput is the body of POST, PUT and PATCH on a role, for the domain.
func roleInput(r wire.RoleInput) policy.RoleInput {
	return policy.RoleInput{Name: r.Name, Description: r.Description, Permissions: domainPermissions(r.Permissions), Default: r.Default}
}

// roleOf is a role as the native API shows it. The audit log stores the same
// document (policy's roleDocOf); TestAuditSnapshotsAreTheWire holds the two
// to the same bytes.
func roleOf(r rolegate.Role) wire.Role {
	return wire.Role{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description,
		Permissions: policy.DocOf(r.Permissions), Default: r.Default, RoleType: r.RoleType, Status: r.Status,
		Version: r.Version, CreatedAt: timeString(r.CreatedAt), CreatedBy: nullable(r.CreatedBy),
		UpdatedAt: timeString(r.UpdatedAt), UpdatedBy: nullable(r.UpdatedBy), DeletedAt: timePtr(r.DeletedAt),
		DeletedBy: nullable(r.DeletedBy)}
}

// entityOf is an entity as the native API shows it (and the audit log stores
// it).
func entityOf(e rolegate.Entity) wire.Entity {
	return wire.Entity{ID: e.ID, Name: e.Name, Revision: e.Revision, CreatedAt: timeString(e.CreatedAt), UpdatedAt: timeString(e.UpdatedAt)}
}

// userOf is a user with its roles: references, or whole roles with expand.
func userOf(u rolegate.User, expand bool) wire.User {
	out := wire.User{ID: u.ID, EntityID: u.EntityID, Email: u.Email, Name: u.Name, Roles: []wire.UserRef{},
		Attributes: attributesOf(u.Attributes), CreatedAt: timeString(u.CreatedAt), UpdatedAt: timeString(u.UpdatedAt)}
	for _, ur := range u.Roles {
		ref := wire.UserRef{ID: ur.Role.ID, Name: ur.Role.Name, Scope: nullable(ur.Scope), ExpiresAt: timePtr(ur.ExpiresAt)}
		if expand {
			r := roleOf(ur.Role)
			ref.Role = &r
		}
		out.Roles = append(out.Roles, ref)
	}
	if u.LastSeenAt != nil {
		s := timeString(*u.LastSeenAt)
		out.LastSeenAt = &s
	}
	return out
}

// attributesOf is a user's attributes as the wire shows them: always an
// object, {} when there are none.
func attributesOf(attrs map[string]any) map[string]any {
	if attrs == nil {
		return map[string]any{}
	}
	return attrs
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

// checkInput is a check for the domain.
func checkInput(r wire.CheckRequest) policy.CheckRequest {
	return policy.CheckRequest{EntityID: r.EntityID, UserID: r.UserID, ObjectType: r.ObjectType,
		Action: r.Action, OwnerID: r.OwnerID, Scope: r.Scope, Resource: r.Resource, Explain: r.Explain, MinRevision: r.MinRevision}
}

// matchOf is a matched right of an explained check: its role, its permission
// and, for a conditional right, its condition with its value or error.
func matchOf(m engine.Match) wire.Match {
	return wire.Match{RoleID: nullable(m.RoleID), RoleName: nullable(m.RoleName), Permission: string(m.Permission),
		Condition: m.Condition, ConditionValue: m.ConditionValue, ConditionError: m.ConditionError}
}

func checkOf(d engine.Decision, explain bool) wire.Decision {
	out := wire.Decision{Allowed: d.Allowed, Permission: string(d.Permission), Revision: d.Revision}
	if d.ValidUntil > 0 {
		v := time.UnixMilli(d.ValidUntil).UTC()
		out.ValidUntil = &v
	}
	if explain {
		out.Matched = make([]wire.Match, 0, len(d.Matched))
		for _, m := range d.Matched {
			out.Matched = append(out.Matched, matchOf(m))
		}
		for _, l := range []struct {
			from []engine.Match
			to   *[]wire.Match
		}{{d.DeniedBy, &out.DeniedBy}, {d.GrantableBy, &out.GrantableBy}} {
			if l.from == nil {
				continue
			}
			*l.to = make([]wire.Match, 0, len(l.from))
			for _, m := range l.from {
				*l.to = append(*l.to, matchOf(m))
			}
		}
	}
	return out
}

func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
