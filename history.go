package rolegate

import "time"

// History: every change to an entity's policy is kept with the revision and
// the commit time that made it, so that checks, who-can, effective rights and
// access reports can be answered as of a past instant.

// AsOf names a past state of an entity's policy: the one at Revision when it
// is positive, else the one in force at Time (the last revision committed at
// or before it). The zero AsOf is now.
type AsOf struct {
	Time     time.Time
	Revision int64
}

// IsNow reports whether a is the zero AsOf (the live policy). A negative
// Revision is not now: it is refused (invalid_revision), never answered
// from the live policy.
func (a AsOf) IsNow() bool { return a.Revision == 0 && a.Time.IsZero() }

// Revision is one committed write of an entity: its revision, when it
// committed and who made it (the audit log's actor; "" when unknown).
type Revision struct {
	EntityID string
	Revision int64
	At       time.Time
	Actor    string
}

// AccessInterval is a span during which a user could do an action on an
// object type (in a scope, when asked): From is the revision (and instant)
// that opened it, To the one that closed it (nil: still open at the end of
// the asked window or now).
type AccessInterval struct {
	From       Revision
	To         *Revision
	Permission Permission // allowed or allowed_for_own
	Condition  string     // "" for none
	// Via are the roles (and the user's own rights, RoleID "") that gave
	// the right during the interval.
	Via []HeldVia
	// Opened and Closed describe the change that opened and closed the
	// interval: the audit event's action and object, with its actor
	// (Revision.Actor).
	Opened *HistoryChange
	Closed *HistoryChange
}

// HistoryChange is the audited change a revision was: its audit event (id,
// action, object type and id) when one was recorded.
type HistoryChange struct {
	AuditEventID string
	Action       string
	ObjectType   string
	ObjectID     string
}
