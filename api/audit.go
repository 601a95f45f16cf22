package api

// The audit log's snapshots: an event's before and after are stored as these
// documents and shown as stored, so their bytes must not change with the
// API (policy's TestAuditSnapshotsFrozen holds them to a golden file). An
// entity, a role and an assignment are stored as the API shows them
// (Entity, Role, Assignment); a user and a user's roles in one scope have
// shapes of their own.

// AuditUser is a user as the audit log stores it: the native API's user of
// the time (its roles as references, without expiry) plus the rights it
// holds directly (facades can give those) when it holds any.
type AuditUser struct {
	ID          string         `json:"id"`
	EntityID    string         `json:"entity_id"`
	Email       string         `json:"email"`
	Name        string         `json:"name"`
	Roles       []AuditRoleRef `json:"roles"`
	Permissions *Permissions   `json:"permissions,omitempty"`
	// Attributes are the user's attributes; left out when it has none, so
	// that snapshots of users without any read as before.
	Attributes map[string]any `json:"attributes,omitempty"`
	CreatedAt  string         `json:"created_at"`
	UpdatedAt  string         `json:"updated_at"`
	DeletedAt  *string        `json:"deleted_at"`
	LastSeenAt *string        `json:"last_seen_at"`
}

// AuditRoleRef is a role an AuditUser holds, in a scope (nil: everywhere).
type AuditRoleRef struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Scope *string `json:"scope"`
}

// AuditScopedRoles are the roles a user holds inside one scope (the
// snapshot of team_roles.set), sorted by id.
type AuditScopedRoles struct {
	UserID string          `json:"user_id"`
	Scope  string          `json:"scope"`
	Roles  []AuditRoleName `json:"roles"`
}

// AuditRoleName is one role of AuditScopedRoles.
type AuditRoleName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// AuditConstraint is a separation-of-duties constraint as the audit log
// stores it (constraint.create, .update, .delete): its rules and every
// exception with its reason and expiry, so that an exception is never
// silent.
type AuditConstraint struct {
	ID          string                     `json:"id"`
	EntityID    string                     `json:"entity_id"`
	Name        string                     `json:"name"`
	Description string                     `json:"description"`
	Rights      []AuditConstraintRight     `json:"rights"`
	Mode        string                     `json:"mode"`
	Exceptions  []AuditConstraintException `json:"exceptions"`
	CreatedAt   string                     `json:"created_at"`
	CreatedBy   *string                    `json:"created_by"`
	UpdatedAt   string                     `json:"updated_at"`
	UpdatedBy   *string                    `json:"updated_by"`
}

// AuditConstraintRight is one right an AuditConstraint names.
type AuditConstraintRight struct {
	ObjectType string `json:"object_type"`
	Action     string `json:"action"`
}

// AuditConstraintException is one exception of an AuditConstraint.
type AuditConstraintException struct {
	UserID    string `json:"user_id"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at"`
}
