package rolegate

import "time"

// Separation of duties. A Constraint of an entity lists rights of which no
// user may hold more than one ("no one may both create and approve a
// payable"). A user holds a right when the rights it holds give it allowed
// or allowed_for_own (under a condition or not: whether a condition can be
// met is not decided), counted over everything the user holds entity-wide
// (roles and own rights) and, within each scope the user holds roles in, the
// scoped roles together with the entity-wide ones. A wildcard right holds
// every right it covers; an unconditional deny that masks a right means it
// is not held.

// The modes of a Constraint.
const (
	// ConstraintEnforce refuses every write that would make a user hold
	// two of its rights (409 separation_of_duties).
	ConstraintEnforce = "enforce"
	// ConstraintReport only reports violations (Violations, the access
	// report); a constraint switches to enforce only when it has none.
	ConstraintReport = "report"
)

// Bounds of a constraint.
const (
	MinConstraintRights     = 2
	MaxConstraintRights     = 20
	MaxConstraintExceptions = 100
	// MaxViolationsShown is how many violations a refused write names.
	MaxViolationsShown = 20
)

// Constraint is one separation-of-duties rule of an entity. Its id is
// unique over all entities (a UUID, as roles'); its name among the
// entity's constraints.
type Constraint struct {
	ID          string
	EntityID    string
	Name        string
	Description string
	Rights      []ConstraintRight
	Mode        string // ConstraintEnforce or ConstraintReport
	// Exceptions let named users hold the rights together until they
	// expire: documented (Reason) and audited like every constraint change.
	Exceptions []ConstraintException
	CreatedAt  time.Time
	CreatedBy  string
	UpdatedAt  time.Time
	UpdatedBy  string
}

// ConstraintRight is one right a constraint names: an action on an object
// type. Neither is a wildcard: a constraint names the rights it separates.
type ConstraintRight struct {
	ObjectType string
	Action     string
}

// ConstraintException lets one user hold a constraint's rights together
// until ExpiresAt (required; past it the exception no longer counts).
type ConstraintException struct {
	UserID    string
	Reason    string
	ExpiresAt time.Time
}

// Violation is one user holding two or more rights of a constraint, entity-wide
// (Scope "") or inside a scope.
type Violation struct {
	ConstraintID   string
	ConstraintName string
	UserID         string
	Scope          string
	// Rights are the constraint's rights the user holds (two or more), each
	// with how it is held.
	Rights []HeldRight
}

// HeldRight is one right a user holds and through what: the roles (by id
// and name) whose rights give it, and Own when the user's own rights do.
type HeldRight struct {
	ObjectType string
	Action     string
	Permission Permission // allowed or allowed_for_own
	Condition  string     // the condition it is held under, "" for none
	Roles      []HeldVia
	Own        bool
}

// HeldVia is a role a right is held through, and the scope of the
// assignment ("" entity-wide).
type HeldVia struct {
	RoleID   string
	RoleName string
	Scope    string
}
