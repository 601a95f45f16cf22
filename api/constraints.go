package api

// Separation of duties: an entity's constraints (rights of which no user may
// hold more than one) and their violations. As in types.go, the server's
// bytes are the contract and the limit tags are read by its decoder.

// Constraint is one separation-of-duties rule of an entity.
type Constraint struct {
	ID          string                `json:"id"`
	EntityID    string                `json:"entity_id"`
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Rights      []ConstraintRight     `json:"rights"`
	Mode        string                `json:"mode"` // enforce or report
	Exceptions  []ConstraintException `json:"exceptions"`
	CreatedAt   string                `json:"created_at"`
	CreatedBy   string                `json:"created_by"`
	UpdatedAt   string                `json:"updated_at"`
	UpdatedBy   string                `json:"updated_by"`
}

// ConstraintInput is the body of POST and PUT on a constraint (PUT replaces
// it whole: what is left out takes its default). Mode "" is enforce.
type ConstraintInput struct {
	Name        string                `json:"name"`
	Description string                `json:"description,omitempty"`
	Rights      []ConstraintRight     `json:"rights" limit:"20,too_many_rights"`          // rolegate.MaxConstraintRights
	Mode        string                `json:"mode,omitempty"`                             // enforce (default) or report
	Exceptions  []ConstraintException `json:"exceptions" limit:"100,too_many_exceptions"` // rolegate.MaxConstraintExceptions
}

// ConstraintRight is one right a constraint separates.
type ConstraintRight struct {
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
}

// ConstraintException lets one user hold the constraint's rights together
// until ExpiresAt (RFC 3339, required), for the reason given.
type ConstraintException struct {
	UserID    string `json:"user_id"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at"`
}

// ConstraintList is the answer of GET /v1/entities/{e}/constraints, ordered
// by name (an entity holds few: no pages).
type ConstraintList struct {
	Data []Constraint `json:"data"`
}

// Violations is the answer of GET .../constraints/{id}/violations: every
// user in violation now, and the revision it was read at.
type Violations struct {
	Data     []Violation `json:"data"`
	Revision int64       `json:"revision"`
}

// Violation is one user holding two or more rights of a constraint,
// entity-wide (Scope "") or inside Scope.
type Violation struct {
	ConstraintID   string      `json:"constraint_id"`
	ConstraintName string      `json:"constraint_name"`
	UserID         string      `json:"user_id"`
	Scope          string      `json:"scope,omitempty"`
	Rights         []HeldRight `json:"rights"`
}

// HeldRight is one right of a violation and how the user holds it: through
// Roles (each with the scope of its assignment, "" entity-wide) and, when
// Own, the user's own rights.
type HeldRight struct {
	ObjectType string    `json:"object_type"`
	Action     string    `json:"action"`
	Permission string    `json:"permission"`
	Condition  string    `json:"condition,omitempty"`
	Roles      []HeldVia `json:"roles"`
	Own        bool      `json:"own"`
}

// HeldVia is a role a right is held through.
type HeldVia struct {
	RoleID   string `json:"role_id"`
	RoleName string `json:"role_name"`
	Scope    string `json:"scope"`
}
