package api

import (
	"encoding/json"
	"strconv"
	"time"
)

// The native API's request and response bodies (docs/api.md,
// openapi.yaml), owned here: the server writes them, the Go client reads
// them, and the audit log stores Entity, Role and Assignment as they are.
// The server's bytes are the contract: field order, null versus omitted and
// time formats are part of it; the audit snapshots' bytes are frozen by
// policy's TestAuditSnapshotsFrozen. Times are strings, RFC 3339 in UTC as
// the server wrote them.

// Permissions are rights as object types and actions; also their stored
// format. The limit tags (at most that many elements, else that error code)
// are read by the server's decoder as it reads a body.
type Permissions struct {
	Objects []ObjectPermissions `json:"objects" limit:"1000,too_many_rights"`
}

// ObjectPermissions are the rights on one object type.
type ObjectPermissions struct {
	ObjectType string             `json:"object_type"`
	Actions    []ActionPermission `json:"actions" limit:"1000,too_many_rights"`
}

// ActionPermission is one right: permission is allowed, allowed_for_own,
// not_allowed or denied. Condition, when set, is a CEL expression over
// resource, user and now under which only the right holds (an allow counts
// when it is true; a deny applies when it is true or cannot be evaluated).
type ActionPermission struct {
	ActionName string `json:"action_name"`
	Permission string `json:"permission"`
	Condition  string `json:"condition,omitempty"`
}

// Entity is a tenant.
type Entity struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Revision  int64  `json:"revision"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// EntityInput is the body of POST /v1/entities.
type EntityInput struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Role is a role as the native API shows it.
type Role struct {
	ID          string      `json:"id"`
	EntityID    string      `json:"entity_id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Permissions Permissions `json:"permissions"`
	Default     bool        `json:"default"`
	RoleType    string      `json:"role_type"`
	Status      string      `json:"status"`
	Version     int64       `json:"version"`
	CreatedAt   string      `json:"created_at"`
	CreatedBy   *string     `json:"created_by"`
	UpdatedAt   string      `json:"updated_at"`
	UpdatedBy   *string     `json:"updated_by"`
	DeletedAt   *string     `json:"deleted_at"`
	DeletedBy   *string     `json:"deleted_by"`
}

// ETag is the role's version as If-Match takes it.
func (r Role) ETag() string { return `"` + strconv.FormatInt(r.Version, 10) + `"` }

// RoleInput is the body of POST, PUT and PATCH on a role; nil fields are
// left as they are by PATCH (and reset by PUT).
type RoleInput struct {
	Name        *string      `json:"name,omitempty"`
	Description *string      `json:"description,omitempty"`
	Permissions *Permissions `json:"permissions,omitempty"`
	Default     *bool        `json:"default,omitempty"`
}

// User is a user of an entity; Roles hold UserRefs (whole roles with
// expand=roles).
type User struct {
	ID       string    `json:"id"`
	EntityID string    `json:"entity_id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Roles    []UserRef `json:"roles"`
	// Attributes are what conditions read as user; {} when none.
	Attributes map[string]any `json:"attributes"`
	CreatedAt  string         `json:"created_at"`
	UpdatedAt  string         `json:"updated_at"`
	DeletedAt  *string        `json:"deleted_at"`
	LastSeenAt *string        `json:"last_seen_at"`
}

// UserRef is a role a user holds, in the given scope (nil: everywhere),
// until ExpiresAt (nil: no end). With expand=roles the whole role is in
// Role and is written in its place, followed by scope and expires_at.
type UserRef struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Scope     *string `json:"scope"`
	ExpiresAt *string `json:"expires_at,omitempty"`
	Role      *Role   `json:"-"`
}

type plainUserRef UserRef

// expandedRef is a UserRef with expand=roles.
type expandedRef struct {
	Role
	Scope     *string `json:"scope"`
	ExpiresAt *string `json:"expires_at,omitempty"`
}

// MarshalJSON writes the whole role when there is one.
func (r UserRef) MarshalJSON() ([]byte, error) {
	if r.Role != nil {
		return json.Marshal(expandedRef{Role: *r.Role, Scope: r.Scope, ExpiresAt: r.ExpiresAt})
	}
	return json.Marshal(plainUserRef(r))
}

// UnmarshalJSON keeps the whole role when the answer was expanded.
func (r *UserRef) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*plainUserRef)(r)); err != nil {
		return err
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) == nil && probe["permissions"] != nil {
		var role Role
		if err := json.Unmarshal(b, &role); err != nil {
			return err
		}
		r.Role = &role
	}
	return nil
}

// UserInput is the body of POST on users; nil fields are left as they are
// (RoleIDs nil: the default roles).
type UserInput struct {
	ID      string    `json:"id,omitempty"`
	Email   *string   `json:"email,omitempty"`
	Name    *string   `json:"name,omitempty"`
	RoleIDs *[]string `json:"role_ids,omitempty"`
	// Attributes replace the user's attributes whole.
	Attributes *map[string]any `json:"attributes,omitempty"`
}

// UserPatch is the body of PATCH on a user: a user's id does not change.
type UserPatch struct {
	Email   *string   `json:"email,omitempty"`
	Name    *string   `json:"name,omitempty"`
	RoleIDs *[]string `json:"role_ids,omitempty"`
	// Attributes replace the user's attributes whole ({} clears them).
	Attributes *map[string]any `json:"attributes,omitempty"`
}

// Assignment is a role given to a user in a scope, until ExpiresAt.
type Assignment struct {
	EntityID  string  `json:"entity_id"`
	UserID    string  `json:"user_id"`
	RoleID    string  `json:"role_id"`
	Scope     *string `json:"scope"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at"`
	// Revision is the entity's revision after the write (the
	// X-Rolegate-Revision header; the Go client fills it in).
	Revision int64 `json:"-"`
}

// AssignmentInput is the body of PUT on a user's role.
type AssignmentInput struct {
	Scope *string `json:"scope,omitempty"`
	// ExpiresAt (RFC 3339, in the future) makes the assignment stop
	// counting at that instant.
	ExpiresAt *string `json:"expires_at,omitempty"`
}

// UserRole is one role of a user's list.
type UserRole struct {
	Role      Role    `json:"role"`
	Scope     *string `json:"scope"`
	ExpiresAt *string `json:"expires_at"`
}

// UserRoles is the answer of GET on a user's roles: all of them, unpaged.
type UserRoles struct {
	Data []UserRole `json:"data"`
}

// CheckRequest asks whether UserID may do Action on ObjectType in EntityID.
type CheckRequest struct {
	EntityID   string `json:"entity_id"`
	UserID     string `json:"user_id"`
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
	OwnerID    string `json:"owner_id,omitempty"`
	Scope      string `json:"scope,omitempty"`
	// Resource are the attributes of the object asked about, which
	// conditions read as resource ("amount": 1200).
	Resource map[string]any `json:"resource,omitempty"`
	Explain  bool           `json:"explain,omitempty"`
	// MinRevision: never answer from a policy older than this revision (a
	// write's X-Rolegate-Revision), else 503 stale_policy.
	MinRevision int64 `json:"min_revision,omitempty"`
	// AsOf (RFC 3339) or AtRevision asks the decision the entity's policy
	// of a past instant or revision gave (not both; neither with
	// MinRevision). The answer's revision is the one it came from.
	AsOf       *string `json:"as_of,omitempty"`
	AtRevision *int64  `json:"at_revision,omitempty"`
}

// CheckBatch is the body of POST /v1/check/batch.
type CheckBatch struct {
	Checks []CheckRequest `json:"checks" limit:"1000,invalid_batch"` // the server's MaxBatch
}

// CheckBatchResult is the answer of POST /v1/check/batch, in the order of
// the checks.
type CheckBatchResult struct {
	Results []Decision `json:"results"`
}

// Decision is a check's answer.
type Decision struct {
	Allowed    bool    `json:"allowed"`
	Permission string  `json:"permission"`
	Revision   int64   `json:"revision"`
	Matched    []Match `json:"matched,omitzero"`
	// With explain, on a refusal: DeniedBy are the denying rights (and their
	// roles) when denied; GrantableBy the entity's roles (at most 20) whose
	// assignment would allow it when not_allowed.
	DeniedBy    []Match `json:"denied_by,omitzero"`
	GrantableBy []Match `json:"grantable_by,omitzero"`
	// ValidUntil, when set, is when an assignment the answer depends on
	// expires: the answer may change then without any write, so a cached
	// copy must not be used from that instant on. Written to the
	// millisecond.
	ValidUntil *time.Time `json:"valid_until,omitempty"`
}

// ValidUntilLayout is how a Decision's valid_until is written: UTC, to the
// millisecond, always three decimals.
const ValidUntilLayout = "2006-01-02T15:04:05.000Z"

// MarshalJSON writes ValidUntil in ValidUntilLayout, as the server always
// has (time.Time's own encoding drops trailing zeros).
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	out := struct {
		plain
		ValidUntil *string `json:"valid_until,omitempty"`
	}{plain: plain(d)}
	if d.ValidUntil != nil {
		s := d.ValidUntil.UTC().Format(ValidUntilLayout)
		out.ValidUntil = &s
	}
	return json.Marshal(out)
}

// Match is a rule that decided, with explain. RoleID is nil for the user's
// own right; RoleName is nil too when the caller may not read roles (a
// client with only the check scope).
type Match struct {
	RoleID     *string `json:"role_id"`
	RoleName   *string `json:"role_name"`
	Permission string  `json:"permission"`
	// Condition is the right's condition, if it has one, with its value
	// for this check or why it could not be evaluated. A conditional allow
	// counts only when ConditionValue is true; a conditional deny applies
	// when it is true or ConditionError is set.
	Condition      string `json:"condition,omitempty"`
	ConditionValue *bool  `json:"condition_value,omitempty"`
	ConditionError string `json:"condition_error,omitempty"`
}

// APIClient is an API client of Rolegate; Secret is set only in the answer
// that created it.
type APIClient struct {
	ClientID  string   `json:"client_id"`
	Secret    string   `json:"client_secret,omitempty"`
	Name      string   `json:"name"`
	EntityID  *string  `json:"entity_id"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by"`
}

// APIClientInput makes an API client; EntityID "" is a platform client.
type APIClientInput struct {
	Name     string   `json:"name"`
	EntityID string   `json:"entity_id,omitempty"`
	Scopes   []string `json:"scopes"`
}

// AuditEvent is one committed change. Before and After are the object as
// the native API showed it when the event was written (the audit
// snapshots), or null.
type AuditEvent struct {
	ID         string          `json:"id"`
	EntityID   string          `json:"entity_id"`
	Time       string          `json:"time"`
	Actor      *string         `json:"actor"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	RequestID  *string         `json:"request_id"`
}

// Page is one page of a list; pass NextPaginationToken to get the next.
type Page[T any] struct {
	Data                []T     `json:"data"`
	NextPaginationToken *string `json:"next_pagination_token"`
	PrevPaginationToken *string `json:"prev_pagination_token"`
}

// Change is one entry of the changes feed. Type is role, user, assignment or
// entity (refetch everything of that entity); Op is put or delete.
type Change struct {
	Revision int64  `json:"revision"`
	Type     string `json:"type"`
	Op       string `json:"op"`
	UserID   string `json:"user_id,omitempty"`
	RoleID   string `json:"role_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
}

// Changes is a page of the feed; Revision is the next since.
type Changes struct {
	Data     []Change `json:"data"`
	Revision int64    `json:"revision"`
	HasMore  bool     `json:"has_more"`
	// RetryAfter is set when the server answered at once because it holds
	// too many waiting calls: wait that long before the next call (the
	// Retry-After header; the Go client fills it in).
	RetryAfter time.Duration `json:"-"`
}
