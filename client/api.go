package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate/api"
)

// ---- wire types ----

// The native API's bodies are the api module's (github.com/rolegate/rolegate/api,
// documented in docs/api.md and api/openapi.yaml); these names are the
// client's for them.
type (
	// Entity is a tenant.
	Entity = api.Entity
	// Permissions are rights as object types and actions.
	Permissions = api.Permissions
	// ObjectPermissions are the rights on one object type.
	ObjectPermissions = api.ObjectPermissions
	// ActionPermission is one right: permission is allowed, allowed_for_own,
	// not_allowed or denied.
	ActionPermission = api.ActionPermission
	// Role is a role as the native API shows it; ETag is its version as
	// If-Match takes it.
	Role = api.Role
	// RoleInput is the body of a role write; nil fields are left as they
	// are by PatchRole (and reset by ReplaceRole).
	RoleInput = api.RoleInput
	// User is a user of an entity; Roles hold UserRefs (or whole roles with
	// expand); Attributes are what conditions read as user.
	User = api.User
	// UserRef is a role a user holds, in the given scope (nil: everywhere).
	// With expand=roles the whole role is in Role.
	UserRef = api.UserRef
	// UserInput is the body of a user write; nil fields are left as they
	// are.
	UserInput = api.UserInput
	// Assignment is a role given to a user in a scope; Revision is the
	// entity's revision after the write.
	Assignment = api.Assignment
	// UserRole is one role of a user's list.
	UserRole = api.UserRole
	// CheckRequest asks whether UserID may do Action on ObjectType in
	// EntityID; Resource are the object's attributes, which conditions
	// read as resource; MinRevision: never answer from a policy older
	// than this revision.
	CheckRequest = api.CheckRequest
	// Decision is a check's answer. ValidUntil, when set, is when an
	// assignment the answer depends on expires: the answer may change then
	// without any write (Cache drops it).
	Decision = api.Decision
	// Match is a rule that decided, with explain. RoleID is nil for the
	// user's own right; RoleName is nil too when the caller may not read
	// roles (a client with only the check scope). Condition is the right's
	// condition, with ConditionValue (its value in this check) or
	// ConditionError (why it could not be evaluated).
	Match = api.Match
	// APIClient is an API client of Rolegate; Secret is set only by
	// CreateClient.
	APIClient = api.APIClient
	// APIClientInput makes an API client; EntityID "" is a platform client.
	APIClientInput = api.APIClientInput
	// AuditEvent is one committed change.
	AuditEvent = api.AuditEvent
	// Change is one entry of the changes feed. Type is role, user,
	// assignment or entity (refetch everything of that entity); Op is put
	// or delete.
	Change = api.Change
	// Changes is a page of the feed; Revision is the next since; RetryAfter
	// is set when the server answered at once because it holds too many
	// waiting calls: wait that long before the next call.
	Changes = api.Changes
	// DryRun is what a write would change, from the server's dry run
	// (?dry_run=true): the effective rights users would gain and lose.
	// Nothing is written.
	DryRun = api.DryRun
	// EffectiveRight is one user's right that a write changes: allowed or
	// allowed_for_own, entity-wide or inside Scope.
	EffectiveRight = api.EffectiveRight
)

// Page is one page of a list; pass NextPaginationToken to get the next.
type Page[T any] = api.Page[T]

// ListOptions page through a list: Limit 1-100 (0: the server's 100).
type ListOptions struct {
	Limit           int
	PaginationToken string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.PaginationToken != "" {
		q.Set("pagination_token", o.PaginationToken)
	}
	return q
}

// ---- entities ----

// CreateEntity makes an entity (tenant); it gets the system roles.
func (c *Client) CreateEntity(ctx context.Context, id, name string) (Entity, error) {
	var e Entity
	_, err := c.call(ctx, request{method: "POST", path: "/v1/entities", body: api.EntityInput{ID: id, Name: name}}, &e)
	return e, err
}

// GetEntity reads an entity (its revision included).
func (c *Client) GetEntity(ctx context.Context, id string) (Entity, error) {
	var e Entity
	_, err := c.call(ctx, request{method: "GET", path: "/v1/entities/" + seg(id), idempotent: true}, &e)
	return e, err
}

// ListEntities lists entities by id.
func (c *Client) ListEntities(ctx context.Context, o ListOptions) (Page[Entity], error) {
	var p Page[Entity]
	_, err := c.call(ctx, request{method: "GET", path: "/v1/entities", query: o.query(), idempotent: true}, &p)
	return p, err
}

// DeleteEntity deletes an entity with everything in it.
func (c *Client) DeleteEntity(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: "DELETE", path: "/v1/entities/" + seg(id), idempotent: true}, nil)
	return err
}

// ---- roles ----

func entityPath(entity string) string { return "/v1/entities/" + seg(entity) }

// CreateRole makes a role; Name and Permissions are required.
func (c *Client) CreateRole(ctx context.Context, entity string, in RoleInput) (Role, error) {
	var r Role
	_, err := c.call(ctx, request{method: "POST", path: entityPath(entity) + "/roles", body: in}, &r)
	return r, err
}

// GetRole reads a role; its Version is the ETag to pass to the writes.
func (c *Client) GetRole(ctx context.Context, entity, id string) (Role, error) {
	var r Role
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/roles/" + seg(id), idempotent: true}, &r)
	return r, err
}

// RoleListOptions filter and order a role listing.
type RoleListOptions struct {
	ListOptions
	Sort     string // created_at (default), updated_at, name
	Order    string // asc (default), desc
	Status   string // active (default), deleted, all
	RoleType string // custom, system
	Name     string
	Search   string
	IDs      []string
}

// ListRoles lists an entity's roles.
func (c *Client) ListRoles(ctx context.Context, entity string, o RoleListOptions) (Page[Role], error) {
	q := o.query()
	for k, v := range map[string]string{"sort": o.Sort, "order": o.Order, "status": o.Status, "role_type": o.RoleType, "name": o.Name, "search": o.Search} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(o.IDs) > 0 {
		q.Set("id__in", strings.Join(o.IDs, ","))
	}
	var p Page[Role]
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/roles", query: q, idempotent: true}, &p)
	return p, err
}

// ifMatch is the If-Match header of version (none for 0).
func ifMatch(version int64) http.Header {
	if version <= 0 {
		return nil
	}
	return http.Header{"If-Match": {`"` + strconv.FormatInt(version, 10) + `"`}}
}

// PatchRole changes the fields given. With version > 0 it is refused (412
// version_mismatch) unless the role is still at that version.
func (c *Client) PatchRole(ctx context.Context, entity, id string, in RoleInput, version int64) (Role, error) {
	var r Role
	_, err := c.call(ctx, request{method: "PATCH", path: entityPath(entity) + "/roles/" + seg(id), body: in, header: ifMatch(version)}, &r)
	return r, err
}

// ReplaceRole replaces the role with in (PUT); version as for PatchRole.
// A PUT is idempotent, so it is retried on 429/503.
func (c *Client) ReplaceRole(ctx context.Context, entity, id string, in RoleInput, version int64) (Role, error) {
	var r Role
	_, err := c.call(ctx, request{method: "PUT", path: entityPath(entity) + "/roles/" + seg(id), body: in, header: ifMatch(version), idempotent: true}, &r)
	return r, err
}

// DeleteRole deletes a role; force takes it from its holders; version as for
// PatchRole.
func (c *Client) DeleteRole(ctx context.Context, entity, id string, force bool, version int64) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	_, err := c.call(ctx, request{method: "DELETE", path: entityPath(entity) + "/roles/" + seg(id), query: q, header: ifMatch(version), idempotent: true}, nil)
	return err
}

// ListRoleUsers lists the users holding a role.
func (c *Client) ListRoleUsers(ctx context.Context, entity, role string, o ListOptions) (Page[User], error) {
	var p Page[User]
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/roles/" + seg(role) + "/users", query: o.query(), idempotent: true}, &p)
	return p, err
}

// ---- users ----

func userPath(entity, user string) string { return entityPath(entity) + "/users/" + seg(user) }

// CreateUser makes a user; without RoleIDs it gets the default roles.
func (c *Client) CreateUser(ctx context.Context, entity string, in UserInput) (User, error) {
	var u User
	_, err := c.call(ctx, request{method: "POST", path: entityPath(entity) + "/users", body: in}, &u)
	return u, err
}

// GetUser reads a user; expand gives whole roles in Roles[i].Role.
func (c *Client) GetUser(ctx context.Context, entity, id string, expand bool) (User, error) {
	var q url.Values
	if expand {
		q = url.Values{"expand": {"roles"}}
	}
	var u User
	_, err := c.call(ctx, request{method: "GET", path: userPath(entity, id), query: q, idempotent: true}, &u)
	return u, err
}

// UserListOptions filter a user listing.
type UserListOptions struct {
	ListOptions
	Search string
	Expand bool
}

// ListUsers lists an entity's users.
func (c *Client) ListUsers(ctx context.Context, entity string, o UserListOptions) (Page[User], error) {
	q := o.query()
	if o.Search != "" {
		q.Set("search", o.Search)
	}
	if o.Expand {
		q.Set("expand", "roles")
	}
	var p Page[User]
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/users", query: q, idempotent: true}, &p)
	return p, err
}

// UpdateUser changes the fields given (PATCH); RoleIDs replaces the user's
// unscoped roles, Attributes the user's attributes whole (an empty map
// clears them).
func (c *Client) UpdateUser(ctx context.Context, entity, id string, in UserInput) (User, error) {
	var u User
	patch := api.UserPatch{Email: in.Email, Name: in.Name, RoleIDs: in.RoleIDs, Attributes: in.Attributes}
	_, err := c.call(ctx, request{method: "PATCH", path: userPath(entity, id), body: patch}, &u)
	return u, err
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, entity, id string) error {
	_, err := c.call(ctx, request{method: "DELETE", path: userPath(entity, id), idempotent: true}, nil)
	return err
}

// ---- assignments and effective rights ----

// AssignRole gives a role to a user, in scope ("" for everywhere).
func (c *Client) AssignRole(ctx context.Context, entity, user, role, scope string) (Assignment, error) {
	var body any
	if scope != "" {
		body = api.AssignmentInput{Scope: &scope}
	}
	var a Assignment
	res, err := c.call(ctx, request{method: "PUT", path: userPath(entity, user) + "/roles/" + seg(role), body: body, idempotent: true}, &a)
	if err == nil {
		a.Revision = res.revision()
	}
	return a, err
}

// UnassignRole takes a role from a user, in scope.
func (c *Client) UnassignRole(ctx context.Context, entity, user, role, scope string) error {
	var q url.Values
	if scope != "" {
		q = url.Values{"scope": {scope}}
	}
	_, err := c.call(ctx, request{method: "DELETE", path: userPath(entity, user) + "/roles/" + seg(role), query: q, idempotent: true}, nil)
	return err
}

// UserRoles lists the roles a user holds, with their scopes.
func (c *Client) UserRoles(ctx context.Context, entity, user string) ([]UserRole, error) {
	var out api.UserRoles
	_, err := c.call(ctx, request{method: "GET", path: userPath(entity, user) + "/roles", idempotent: true}, &out)
	return out.Data, err
}

// UserPermissions is a user's effective rights (deny applied) in scope.
func (c *Client) UserPermissions(ctx context.Context, entity, user, scope string) (Permissions, error) {
	var q url.Values
	if scope != "" {
		q = url.Values{"scope": {scope}}
	}
	var p Permissions
	_, err := c.call(ctx, request{method: "GET", path: userPath(entity, user) + "/permissions", query: q, idempotent: true}, &p)
	return p, err
}

// ---- checks ----

// checkAnswer is a Decision whose fields must all be present: a check whose
// answer cannot be read is an error, never a deny or an allow by default.
type checkAnswer struct {
	Allowed     *bool      `json:"allowed"`
	Permission  *string    `json:"permission"`
	Revision    *int64     `json:"revision"`
	Matched     []Match    `json:"matched"`
	ValidUntil  *time.Time `json:"valid_until"`
	DeniedBy    []Match    `json:"denied_by"`
	GrantableBy []Match    `json:"grantable_by"`
}

var permissions = map[string]bool{"allowed": true, "allowed_for_own": true, "not_allowed": true, "denied": true}

func (a checkAnswer) decision() (Decision, error) {
	if a.Allowed == nil || a.Permission == nil || a.Revision == nil || !permissions[*a.Permission] {
		return Decision{}, fmt.Errorf("%w: a check answer needs allowed, permission and revision", ErrMalformedAnswer)
	}
	// allowed follows from permission; an answer where they disagree is not
	// Rolegate's.
	if *a.Allowed != (*a.Permission == "allowed" || *a.Permission == "allowed_for_own") {
		return Decision{}, fmt.Errorf("%w: allowed=%v contradicts permission %q", ErrMalformedAnswer, *a.Allowed, *a.Permission)
	}
	return Decision{Allowed: *a.Allowed, Permission: *a.Permission, Revision: *a.Revision, Matched: a.Matched, ValidUntil: a.ValidUntil,
		DeniedBy: a.DeniedBy, GrantableBy: a.GrantableBy}, nil
}

// Check asks one question. A check changes nothing, so it is retried on 429
// and 503 (stale_policy included).
func (c *Client) Check(ctx context.Context, r CheckRequest) (Decision, error) {
	var a checkAnswer
	if _, err := c.call(ctx, request{method: "POST", path: "/v1/check", body: r, idempotent: true}, &a); err != nil {
		return Decision{}, err
	}
	return a.decision()
}

// CheckBatch asks up to 1,000 questions about up to 10 entities at once; the
// answers are in the order of the questions.
func (c *Client) CheckBatch(ctx context.Context, rs []CheckRequest) ([]Decision, error) {
	var out struct {
		Results []checkAnswer `json:"results"`
	}
	if _, err := c.call(ctx, request{method: "POST", path: "/v1/check/batch", body: api.CheckBatch{Checks: rs}, idempotent: true}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(rs) {
		return nil, fmt.Errorf("%w: %d answers to %d checks", ErrMalformedAnswer, len(out.Results), len(rs))
	}
	ds := make([]Decision, len(rs))
	for i, a := range out.Results {
		d, err := a.decision()
		if err != nil {
			return nil, err
		}
		ds[i] = d
	}
	return ds, nil
}

// ---- API clients ----

// CreateClient makes an API client; its Secret is shown only here.
func (c *Client) CreateClient(ctx context.Context, in APIClientInput) (APIClient, error) {
	var out APIClient
	_, err := c.call(ctx, request{method: "POST", path: "/v1/clients", body: in}, &out)
	return out, err
}

// GetClient reads an API client.
func (c *Client) GetClient(ctx context.Context, id string) (APIClient, error) {
	var out APIClient
	_, err := c.call(ctx, request{method: "GET", path: "/v1/clients/" + seg(id), idempotent: true}, &out)
	return out, err
}

// ListClients lists the API clients.
func (c *Client) ListClients(ctx context.Context, o ListOptions) (Page[APIClient], error) {
	var p Page[APIClient]
	_, err := c.call(ctx, request{method: "GET", path: "/v1/clients", query: o.query(), idempotent: true}, &p)
	return p, err
}

// DeleteClient deletes an API client; its tokens stop working.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{method: "DELETE", path: "/v1/clients/" + seg(id), idempotent: true}, nil)
	return err
}

// ---- audit ----

// AuditListOptions filter the audit log.
type AuditListOptions struct {
	ListOptions
	ObjectType string // entity, role, user, assignment, client, ...
	Actor      string
}

// ListAuditEvents lists an entity's audit log, newest first.
func (c *Client) ListAuditEvents(ctx context.Context, entity string, o AuditListOptions) (Page[AuditEvent], error) {
	q := o.query()
	if o.ObjectType != "" {
		q.Set("object_type", o.ObjectType)
	}
	if o.Actor != "" {
		q.Set("actor", o.Actor)
	}
	var p Page[AuditEvent]
	_, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/audit-events", query: q, idempotent: true}, &p)
	return p, err
}

// ---- changes feed ----

// ChangesOptions: Wait (0-25 s) long-polls when nothing is newer; Limit
// 1-1000 (0: 100).
type ChangesOptions struct {
	Wait  int
	Limit int
}

// ListChanges lists what changed in entity after revision since. 410
// changes_expired means the log no longer reaches back: refetch and start
// again from the entity's revision.
func (c *Client) ListChanges(ctx context.Context, entity string, since int64, o ChangesOptions) (Changes, error) {
	q := url.Values{"since": {strconv.FormatInt(since, 10)}}
	if o.Wait > 0 {
		q.Set("wait", strconv.Itoa(o.Wait))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out Changes
	res, err := c.call(ctx, request{method: "GET", path: entityPath(entity) + "/changes", query: q, idempotent: true}, &out)
	if err != nil {
		return Changes{}, err
	}
	out.RetryAfter = retryAfter(res.header)
	if out.Data == nil || out.Revision < since {
		return Changes{}, fmt.Errorf("%w: a changes page needs data and a revision not before since", ErrMalformedAnswer)
	}
	return out, nil
}

// ObjectTypes is the catalog (GET /v1/object-types).
func (c *Client) ObjectTypes(ctx context.Context) (json.RawMessage, error) {
	res, err := c.call(ctx, request{method: "GET", path: "/v1/object-types", idempotent: true}, nil)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(res.body), nil
}
