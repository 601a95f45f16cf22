package policy

import (
	"context"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// Store is the persistence the Service needs. Adapters implement it; every
// method that takes a Tx runs inside one database transaction.
type Store interface {
	// Update runs fn in one read-write transaction and commits when fn returns
	// nil; any error rolls everything back. Errors: ErrUnavailable when the
	// database cannot be reached, or what fn returned.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Snapshot runs fn in a read-only transaction whose reads all see one
	// snapshot of the store (no write commits between two of them), for
	// reads that compare rows with each other.
	Snapshot(ctx context.Context, fn func(tx Tx) error) error
	// LoadPolicy reads what one entity's enforcer is built from: the entity's
	// revision, its rules and role names, in one snapshot (the rules are
	// exactly those of the revision). ErrNotFound for an unknown entity.
	LoadPolicy(ctx context.Context, entityID string) (engine.Policy, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}

// Tx is one transaction's view of the store. Methods return ErrNotFound
// (wrapped) for a missing row and ErrDuplicate for a violated uniqueness
// constraint; nothing else is expected.
type Tx interface {
	// InsertEntity stores a new entity; ErrDuplicate: the id is taken. An
	// empty Incarnation gets a new random one, set on e.
	InsertEntity(e *rolegate.Entity) error
	GetEntity(id string) (rolegate.Entity, error)
	// ListEntities returns entities ordered by id, those after the given id.
	ListEntities(afterID string, limit int) ([]rolegate.Entity, error)
	// DeleteEntity removes the entity and everything of it: roles, users,
	// assignments and rules.
	DeleteEntity(id string) error
	// BumpRevision increments the entity's revision, sets updated_at and returns
	// the new revision. Call it first in a write: it locks the entity's row
	// until the transaction ends, serialising writes to one entity.
	BumpRevision(entityID string, now time.Time) (int64, error)
	// EntityRevisions returns the current revision of each of the given
	// entities that exists, in one query (an entity missing from the answer
	// does not exist). The revision sweep reads those of the entities held.
	EntityRevisions(ids []string) (map[string]int64, error)
	// EntityCounts returns what the entity holds (active roles, users,
	// rules), from counters the store keeps on the entity's row in the same
	// transaction as the rows they count: one read, whatever the entity's size.
	EntityCounts(entityID string) (EntityCounts, error)
	// RecountEntity sets the entity's counters to what it holds, counting its
	// rows (the consistency check's repair).
	RecountEntity(entityID string) error

	// InsertRole stores a new role. ErrDuplicate: an active role of the entity
	// has the name.
	InsertRole(r *rolegate.Role) error
	// UpdateRole overwrites the stored role with the same entity and id.
	UpdateRole(r *rolegate.Role) error
	GetRole(entityID, roleID string) (rolegate.Role, error)
	ListRoles(entityID string, f RoleFilter, p Page) ([]rolegate.Role, error)

	InsertUser(u *rolegate.User) error // ErrDuplicate: the id is taken in the entity
	// InsertUsers stores new users in multi-row inserts (chunked);
	// ErrDuplicate when an id is taken.
	InsertUsers(us []rolegate.User) error
	UpdateUser(u *rolegate.User) error
	GetUser(entityID, userID string) (rolegate.User, error)
	ListUsers(entityID string, f UserFilter, p Page) ([]rolegate.User, error)
	DeleteUser(entityID, userID string) error

	// PutAssignment stores the assignment; storing one that exists is no
	// error, and sets its expiry to a's.
	PutAssignment(a *rolegate.Assignment) error
	// DeleteAssignment removes one; ErrNotFound when there was none.
	DeleteAssignment(a rolegate.Assignment) error
	ListAssignments(entityID string, f AssignmentFilter) ([]rolegate.Assignment, error)
	// InsertAssignments stores assignments that do not exist yet, in
	// multi-row inserts (chunked).
	InsertAssignments(as []rolegate.Assignment) error
	// ExpiredAssignments returns up to limit assignments, of any entity,
	// whose expiry is at or before the given time, earliest first.
	ExpiredAssignments(before time.Time, limit int) ([]rolegate.Assignment, error)

	// AddRules inserts rules (in chunks the database accepts).
	AddRules(rules []rolegate.Rule) error
	// RemoveRules removes exactly the given rules.
	RemoveRules(rules []rolegate.Rule) error
	// ReplaceSubjectRules replaces the p rules of one subject in an entity.
	ReplaceSubjectRules(entityID, subject string, rules []rolegate.Rule) error
	// AppendPolicyChange appends an entry to the change log and removes the
	// entity's entries keep or more revisions older.
	AppendPolicyChange(c PolicyChange, keep int) error
	// EntityRules returns every rule of an entity, p and g, sorted (for the
	// consistency check).
	EntityRules(entityID string) ([]rolegate.Rule, error)
	// StrayRuleEntities returns, in order, up to limit entity ids after
	// afterID that rules name but no entity row has.
	StrayRuleEntities(afterID string, limit int) ([]string, error)

	InsertClient(c *Client) error
	GetClient(id string) (Client, error) // ErrNotFound
	// ListClients returns clients ordered by id, those after the given id.
	ListClients(afterID string, limit int) ([]Client, error)
	DeleteClient(id string) error // ErrNotFound
	// DeleteEntityClients removes every client bound to the entity and
	// returns them.
	DeleteEntityClients(entityID string) ([]Client, error)

	// GetSetting returns a stored setting; ErrNotFound when unset.
	GetSetting(key string) (string, error)
	// PutSetting stores a setting; ErrDuplicate when it is already set.
	PutSetting(key, value string) error
	// ReplaceSetting stores value in place of old; ErrNotFound when the
	// setting is unset or no longer old (someone changed it meanwhile).
	ReplaceSetting(key, old, value string) error

	// InsertAuditEvent stores one audit event.
	InsertAuditEvent(e *AuditEvent) error
	// InsertAuditEvents stores audit events in multi-row inserts (chunked).
	InsertAuditEvents(es []AuditEvent) error
	// ListAuditEvents returns the entity's audit events that f selects,
	// ordered by (time, id) as p says (Sort "time" or "").
	ListAuditEvents(entityID string, f AuditFilter, p Page) ([]AuditEvent, error)
	// DeleteAuditEvents removes every audit event of the entity.
	DeleteAuditEvents(entityID string) error
}

// Page selects one page of a keyset-ordered list. Rows come ordered by (Sort,
// id), descending when Desc, strictly after After when it is set; Limit is how
// many to return at most.
type Page struct {
	Limit int
	Sort  string // "created_at", "updated_at", "name" (roles); "id" (users); "time" (audit events)
	Desc  bool
	After *Cursor
}

// Cursor is the position of one row in an ordered list: the value of its sort
// field (times in RFC 3339 with nanoseconds) and its id.
type Cursor struct {
	Value string
	ID    string
}

// RoleFilter narrows a role listing; zero fields do not filter.
type RoleFilter struct {
	Status   string // StatusActive, StatusDeleted or "" for all
	Name     string // exact
	Search   string // case-insensitive substring of name or description
	RoleType string
	Default  *bool
	Scope    string
	IDs      []string
	// Times bound created_at: op is one of "eq", "gt", "gte", "lt", "lte".
	CreatedAt []TimeBound
}

// TimeBound is one comparison on a time column.
type TimeBound struct {
	Op   string
	Time time.Time
}

// UserFilter narrows a user listing.
type UserFilter struct {
	Search string   // case-insensitive substring of email or name
	IDs    []string // only these users
}

// AssignmentFilter narrows assignments; zero fields do not filter. Scope nil
// means any scope; a pointer to "" means entity-wide only.
type AssignmentFilter struct {
	UserID string
	RoleID string
	Scope  *string

	// UserIDs, when not nil, selects the assignments of these users only
	// (at most 500 a call).
	UserIDs []string
}
