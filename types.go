package rolegate

import (
	"strings"
	"time"
)

// Permission is the value of one right.
type Permission string

// The permission values.
const (
	Allowed       Permission = "allowed"
	AllowedForOwn Permission = "allowed_for_own"
	NotAllowed    Permission = "not_allowed"
	Denied        Permission = "denied"
)

// Valid reports whether p is one of the four permission values.
func (p Permission) Valid() bool {
	switch p {
	case Allowed, AllowedForOwn, NotAllowed, Denied:
		return true
	}
	return false
}

// Wildcard matches every object type or every action.
const Wildcard = "*"

// ActionPermission is one right on an object type. Condition, when set, is a
// CEL expression (package condition) the right holds under only: an allow
// counts when it is true, a deny applies when it is true or cannot be
// evaluated. not_allowed takes no condition.
type ActionPermission struct {
	ActionName string
	Permission Permission
	Condition  string
}

// ObjectPermissions are the rights on one object type.
type ObjectPermissions struct {
	ObjectType string
	Actions    []ActionPermission
}

// Permissions are a role's rights, kept as authored so that a role reads back
// exactly as it was written.
type Permissions struct {
	Objects []ObjectPermissions
}

// Role types and statuses.
const (
	RoleCustom = "custom"
	RoleSystem = "system"

	StatusActive  = "active"
	StatusDeleted = "deleted"

	// ScopeAccount is the scope of a role usable entity-wide; facades may create
	// roles meant for a "team" or "chat" scope.
	ScopeAccount = "account"
)

// Role is a named set of rights in one entity.
type Role struct {
	ID          string
	EntityID    string
	Name        string
	Description string
	Permissions Permissions
	Default     bool
	RoleType    string // RoleCustom or RoleSystem
	Scope       string // ScopeAccount, "team" or "chat"
	Status      string // StatusActive or StatusDeleted
	Version     int64
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	UpdatedBy   string
	DeletedAt   *time.Time
	DeletedBy   string
}

// Entity is a tenant. Revision is bumped by every committed write to anything of
// the entity.
type Entity struct {
	ID        string
	Name      string
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// Incarnation is a random id given when the entity is made: an entity
	// deleted and made again under the same id has another one, so that what
	// was bound to the first (tokens) is not taken for the second's.
	Incarnation string
}

// User is a subject of an entity, known by the id the calling services use.
// Permissions are rights held directly, beside those of the user's roles.
type User struct {
	ID          string
	EntityID    string
	Email       string
	Name        string
	Permissions Permissions
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	LastSeenAt  *time.Time
	// Attributes are what conditions read as user (approval_limit,
	// department): JSON values, at most condition.MaxAttributes of them;
	// nil and empty are the same.
	Attributes map[string]any
	// Roles are the roles the user holds; filled by the Service, not stored
	// on the user.
	Roles []UserRole
}

// UserRole is one role a user holds, entity-wide (Scope "") or inside a scope.
type UserRole struct {
	Role      Role
	Scope     string
	ExpiresAt *time.Time
}

// Assignment says that a user holds a role, entity-wide (Scope "") or only
// inside a sub-scope such as "team:42".
type Assignment struct {
	EntityID  string
	UserID    string
	RoleID    string
	Scope     string
	CreatedAt time.Time
	// ExpiresAt, when set, is when the assignment stops counting (expiry.go).
	ExpiresAt *time.Time
}

// Rule is one Casbin policy line: PType "p" or "g" and its values, without
// empty fields.
type Rule struct {
	PType  string
	Values []string
}

// String renders a rule as a line of a Casbin policy file.
func (r Rule) String() string { return r.PType + ", " + strings.Join(r.Values, ", ") }
