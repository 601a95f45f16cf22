package engine

import "github.com/rolegate/rolegate"

// Request is one question: may UserID do Action on ObjectType in EntityID?
// OwnerID owns the object (for allowed_for_own); Scope counts the user's
// assignments inside it too.
type Request struct {
	EntityID   string
	UserID     string
	ObjectType string
	Action     string
	OwnerID    string
	Scope      string
	// Resource are the attributes of the object asked about, which
	// conditions read as resource; nil is none.
	Resource map[string]any
	Explain  bool
	// MinRevision, when positive, is the oldest revision the answer may
	// come from: an older policy held is reloaded first, and the check fails
	// with stale_policy rather than answer from it.
	MinRevision int64
	// NoGrantable leaves grantable_by out of an explained refusal.
	NoGrantable bool
}

// Decision is the answer to a check. Permission is the deciding value:
// denied when a deny matched, allowed or allowed_for_own when allowed,
// not_allowed when nothing matched. Matched is set when explained.
type Decision struct {
	Allowed    bool
	Permission rolegate.Permission
	Revision   int64
	Matched    []Match
	// On an explained refusal (whocan.go): DeniedBy are the denying rights
	// when denied; GrantableBy the roles whose assignment would allow it when
	// not_allowed.
	DeniedBy    []Match
	GrantableBy []Match
	// ValidUntil is the earliest expiry (Unix ms) of the user's assignments
	// still ahead that the answer may depend on, 0 when none: a copy of the
	// answer kept elsewhere (a client's cache) must not be used from then on.
	ValidUntil int64
}

// Match is one right that matched a check: from a role, or held by the user
// directly (RoleID empty).
type Match struct {
	RoleID     string
	RoleName   string
	Permission rolegate.Permission
	// Condition is the right's condition ("" for none). For a conditional
	// right, ConditionValue is its value in this check and ConditionError why
	// it could not be evaluated: a conditional allow counts only when true,
	// a conditional deny applies when true or when it errs.
	Condition      string
	ConditionValue *bool
	ConditionError string
}
