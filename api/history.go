package api

// AccessHistory is the answer of GET
// /v1/entities/{e}/users/{u}/access-history: the intervals during which the
// user could do the action asked, oldest first, and the entity's current
// revision.
type AccessHistory struct {
	Data     []AccessInterval `json:"data"`
	Revision int64            `json:"revision"`
}

// AccessInterval is one span during which the user could do the action:
// From opened it, To closed it (nil: still open at the end of the window
// asked, or now).
type AccessInterval struct {
	From       HistoryRevision  `json:"from"`
	To         *HistoryRevision `json:"to"`
	Permission string           `json:"permission"` // allowed or allowed_for_own
	// Condition, when the right was conditional, is the condition it held
	// under.
	Condition string `json:"condition,omitempty"`
	// Via are the roles that gave the right (with the assignment's scope,
	// omitted when entity-wide); Own is true when the user's own rights
	// gave it (they are not listed in Via).
	Via []HistoryVia `json:"via"`
	Own bool         `json:"own,omitempty"`
	// Opened and Closed are the audited changes that opened and closed the
	// interval (nil when none was recorded, or the interval is open).
	Opened *HistoryChange `json:"opened"`
	Closed *HistoryChange `json:"closed"`
}

// HistoryRevision is one committed write of the entity: its revision, when
// it committed and who made it ("" when unknown).
type HistoryRevision struct {
	Revision int64  `json:"revision"`
	At       string `json:"at"`
	Actor    string `json:"actor,omitempty"`
}

// HistoryVia is a role that gave a right during an interval.
type HistoryVia struct {
	RoleID   string `json:"role_id"`
	RoleName string `json:"role_name"`
	Scope    string `json:"scope,omitempty"`
}

// HistoryChange is the audit event of the change a revision was.
type HistoryChange struct {
	AuditEventID string `json:"audit_event_id"`
	Action       string `json:"action"`
	ObjectType   string `json:"object_type"`
	ObjectID     string `json:"object_id"`
}
