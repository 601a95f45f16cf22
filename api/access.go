package api

// Who can, dry runs, the access report, the user import and the catalog:
// the native API's bodies beside the objects' own (types.go). As there, the
// server's bytes are the contract and the limit tags are read by its
// decoder.

// Via is a role through which a user holds a right; Direct marks the user's
// own rights (granted without a role), role_id and role_name null then.
type Via struct {
	RoleID   *string `json:"role_id"`
	RoleName *string `json:"role_name"`
	Direct   bool    `json:"direct,omitempty"`
}

// Holder is a user allowed an (object type, action): one item of who can.
type Holder struct {
	UserID     string `json:"user_id"`
	Permission string `json:"permission"`
	Via        []Via  `json:"via"`
	// Condition, when the right is conditional and no resource was given,
	// is the condition under which it is allowed (the conditions of the
	// rights that allow it, joined with ||).
	Condition string `json:"condition,omitempty"`
}

// HolderPage is a page of GET /v1/entities/{e}/who-can: forward only, so
// without a previous token.
type HolderPage struct {
	Data                []Holder `json:"data"`
	NextPaginationToken *string  `json:"next_pagination_token"`
}

// DryRun is what a write would change, from the server's dry run
// (?dry_run=true): the effective rights users would gain and lose. Nothing
// is written.
type DryRun struct {
	DryRun bool             `json:"dry_run"`
	Gained []EffectiveRight `json:"gained"`
	Lost   []EffectiveRight `json:"lost"`
	// Violations are the separation-of-duties violations the write would
	// create (absent when none); a write that creates some under an
	// enforcing constraint is refused when not a dry run.
	Violations []Violation `json:"violations,omitempty"`
}

// EffectiveRight is one user's right that a write changes: allowed or
// allowed_for_own, entity-wide or inside Scope.
type EffectiveRight struct {
	UserID     string `json:"user_id"`
	Scope      string `json:"scope,omitempty"`
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
	Permission string `json:"permission"`
	// Condition is the condition under which the right holds, if any.
	Condition string `json:"condition,omitempty"`
}

// AccessReport is the JSON access review of an entity, one row per user and
// effective right. The server streams it in this shape (Data last).
type AccessReport struct {
	EntityID string      `json:"entity_id"`
	Revision int64       `json:"revision"`
	Data     []ReportRow `json:"data"`
}

// ReportRow is one user's effective right in AccessReport; Scope nil is
// entity-wide.
type ReportRow struct {
	UserID     string  `json:"user_id"`
	Scope      *string `json:"scope"`
	ObjectType string  `json:"object_type"`
	Action     string  `json:"action"`
	Permission string  `json:"permission"`
	Via        []Via   `json:"via"`
	// Condition is the condition under which the right holds, if any.
	Condition string `json:"condition,omitempty"`
	// Violates names the separation-of-duties constraints the user is in
	// violation of (either mode, exceptions in force left out), on every
	// row of the user; absent when none.
	Violates []string `json:"violates,omitempty"`
}

// ImportRequest is the body of POST /v1/entities/{e}/users/import; Users
// is required (nil: absent).
type ImportRequest struct {
	Users *[]ImportUser `json:"users" limit:"1000,too_many_users"` // the server's MaxImportUsers
}

// ImportUser is one user of an import, created or replaced whole; RoleIDs
// nil are the default roles.
type ImportUser struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Name        string         `json:"name"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	RoleIDs     *[]string      `json:"role_ids" limit:"100,too_many_roles"`      // MaxImportRoleIDs
	ScopedRoles []ScopedRoles  `json:"scoped_roles" limit:"100,too_many_scopes"` // MaxImportScopes
}

// ScopedRoles are the roles an imported user holds inside one scope.
type ScopedRoles struct {
	Scope   string   `json:"scope"`
	RoleIDs []string `json:"role_ids" limit:"100,too_many_roles"` // MaxImportRoleIDs
}

// ImportResult is the answer of an import (not a dry run).
type ImportResult struct {
	Created   int   `json:"created"`
	Updated   int   `json:"updated"`
	Unchanged int   `json:"unchanged"`
	Revision  int64 `json:"revision"`
}

// ObjectTypes is the answer of GET /v1/object-types: the deployment's
// catalog; Enforced false (and Data empty) when it has none.
type ObjectTypes struct {
	Data     []CatalogObject `json:"data"`
	Enforced bool            `json:"enforced"`
}

// CatalogObject is one object type of the catalog and its actions.
type CatalogObject struct {
	ObjectType string   `json:"object_type"`
	Actions    []string `json:"actions"`
}
