package policy

import (
	"context"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
)

// The store, by capability. A Tx composes every capability's interface, so
// a function that needs one (auth: clients and keys; the change log:
// changes.LogStore) can ask for that one only. Methods return rolegate.ErrNotFound (wrapped) for a
// missing row and rolegate.ErrDuplicate for a violated uniqueness constraint,
// where their comments say so; nothing else is expected but a store's own
// failures (rolegate.ErrUnavailable). The conformance suite every store
// passes is policy/storetest.

// Store is the persistence the Service needs. Adapters implement it (SQL:
// adapters; memory: policy/memstore); every method that takes a Tx runs
// inside one transaction.
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
	// revision, its rules and role names, the condition sources stored for it
	// (Policy.Conditions) and the attributes of its users that have any
	// (Policy.Attributes), in one snapshot (the rules are exactly those of
	// the revision). ErrNotFound for an unknown entity.
	LoadPolicy(ctx context.Context, entityID string) (engine.Policy, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}

// Tx is one transaction's view of the store: every capability.
type Tx interface {
	EntityStore
	RoleStore
	UserStore
	AssignmentStore
	RuleStore
	changes.LogStore // appends to the change log; ErrDuplicate: the revision has an entry
	// Clients, and settings (the signing keys, the bootstrap admin token's
	// hash): auth's.
	auth.ClientStore
	auth.SettingStore
	AuditStore
	// The history of every entity's policy (issue 25).
	HistoryStore

	// Separation of duties' constraints (issue 26).
	ConstraintStore
}

// EntityStore keeps entities, their revisions and the counts the quotas read.
type EntityStore interface {
	// InsertEntity stores a new entity; ErrDuplicate: the id is taken. An
	// empty Incarnation gets a new random one, set on e.
	InsertEntity(e *rolegate.Entity) error
	GetEntity(id string) (rolegate.Entity, error) // ErrNotFound
	// ListEntities returns entities ordered by id, those after the given id.
	ListEntities(afterID string, limit int) ([]rolegate.Entity, error)
	// DeleteEntity removes the entity and everything of it: roles, users,
	// assignments, rules, constraints, change log and history (not its audit
	// events, nor its clients: DeleteEntityClients). ErrNotFound: no such entity.
	DeleteEntity(id string) error
	// BumpRevision increments the entity's revision, sets updated_at and returns
	// the new revision. Call it first in a write: it locks the entity's row
	// until the transaction ends, serialising writes to one entity.
	// ErrNotFound: no such entity.
	BumpRevision(entityID string, now time.Time) (int64, error)
	// EntityRevisions returns the current revision of each of the given
	// entities that exists, in one query (an entity missing from the answer
	// does not exist). The revision sweep reads those of the entities held.
	EntityRevisions(ids []string) (map[string]int64, error)
	// EntityCounts returns what the entity holds (active roles, users,
	// rules), from counters the store keeps on the entity's row in the same
	// transaction as the rows they count: one read, whatever the entity's size.
	// ErrNotFound: no such entity.
	EntityCounts(entityID string) (EntityCounts, error)
	// RecountEntity sets the entity's counters to what it holds, counting its
	// rows (the consistency check's repair).
	RecountEntity(entityID string) error
}

// RoleStore keeps roles. A role's id is unique over all entities; its name
// among the active roles of its entity.
type RoleStore interface {
	// InsertRole stores a new role. ErrDuplicate: the id is taken, or an
	// active role of the entity has the name.
	InsertRole(r *rolegate.Role) error
	// UpdateRole overwrites the stored role with the same entity and id.
	// ErrNotFound: none; ErrDuplicate: another active role has the name.
	UpdateRole(r *rolegate.Role) error
	GetRole(entityID, roleID string) (rolegate.Role, error) // ErrNotFound
	ListRoles(entityID string, f RoleFilter, p Page) ([]rolegate.Role, error)
}

// UserStore keeps users, unique by id within an entity.
type UserStore interface {
	InsertUser(u *rolegate.User) error // ErrDuplicate: the id is taken in the entity
	// InsertUsers stores new users in multi-row inserts (chunked);
	// ErrDuplicate when an id is taken.
	InsertUsers(us []rolegate.User) error
	// UpdateUser overwrites the stored user but its creation (CreatedAt,
	// CreatedBy). ErrNotFound: none.
	UpdateUser(u *rolegate.User) error
	GetUser(entityID, userID string) (rolegate.User, error) // ErrNotFound
	ListUsers(entityID string, f UserFilter, p Page) ([]rolegate.User, error)
	// DeleteUser removes the user and its assignments. ErrNotFound: none.
	// A user's Attributes are stored with it (EncodeAttributes): nil and
	// empty read back as nil.
	DeleteUser(entityID, userID string) error
}

// AssignmentStore keeps assignments of roles to users.
type AssignmentStore interface {
	// PutAssignment stores the assignment; storing one that exists is no
	// error, and sets its expiry to a's.
	PutAssignment(a *rolegate.Assignment) error
	// DeleteAssignment removes one; ErrNotFound when there was none.
	DeleteAssignment(a rolegate.Assignment) error
	// ListAssignments returns the entity's assignments that f selects,
	// ordered by user, scope and role.
	ListAssignments(entityID string, f AssignmentFilter) ([]rolegate.Assignment, error)
	// InsertAssignments stores assignments that do not exist yet, in
	// multi-row inserts (chunked), without expiry. ErrDuplicate: one exists.
	InsertAssignments(as []rolegate.Assignment) error
	// ExpiredAssignments returns up to limit assignments, of any entity,
	// whose expiry is at or before the given time, earliest first.
	ExpiredAssignments(before time.Time, limit int) ([]rolegate.Assignment, error)
}

// RuleStore keeps the compiled Casbin rules. A rule belongs to the entity it
// names (p rules second, g rules third). The engine learns of rule writes
// from the calls themselves (recorder.go), not by reading them back.
type RuleStore interface {
	// AddRules inserts rules (in chunks the database accepts). ErrDuplicate:
	// a rule is stored already; a rule with no value, more than six, or an
	// empty one or one longer than 100 is refused.
	AddRules(rules []rolegate.Rule) error
	// RemoveRules removes exactly the given rules; absent ones are no error.
	RemoveRules(rules []rolegate.Rule) error
	// ReplaceSubjectRules replaces the p rules of one subject in an entity.
	ReplaceSubjectRules(entityID, subject string, rules []rolegate.Rule) error
	// EntityRules returns every rule of an entity, p and g, sorted (for the
	// consistency check).
	EntityRules(entityID string) ([]rolegate.Rule, error)
	// StrayRuleEntities returns, in order, up to limit entity ids after
	// afterID that rules name but no entity row has.
	StrayRuleEntities(afterID string, limit int) ([]string, error)
	// PutConditions stores the sources of conditions the entity's rules name,
	// by their hash (condition.Hash): those not stored yet are inserted, those
	// stored already left as they are (storing one twice is no error). They
	// go with the entity (DeleteEntity); LoadPolicy reads them all.
	PutConditions(entityID string, conds map[string]string) error
	// EntityConditions returns every condition source stored for the
	// entity, by hash (for the consistency check); nil when none.
	EntityConditions(entityID string) (map[string]string, error)
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// InsertAuditEvent stores one audit event. ErrDuplicate: the id is taken.
	InsertAuditEvent(e *AuditEvent) error
	// InsertAuditEvents stores audit events in multi-row inserts (chunked).
	InsertAuditEvents(es []AuditEvent) error
	// ListAuditEvents returns the entity's audit events that f selects,
	// ordered by (time, id) as p says (Sort "time" or "").
	ListAuditEvents(entityID string, f AuditFilter, p Page) ([]AuditEvent, error)
	// DeleteAuditEvents removes every audit event of the entity.
	DeleteAuditEvents(entityID string) error
}

// ConstraintStore keeps separation-of-duties constraints (issue 26). A
// constraint's id is unique over all entities; its name among its entity's
// constraints. Rights and exceptions are stored as written
// (EncodeConstraintRights, EncodeConstraintExceptions): what reads back is
// equal to what was stored, times in UTC. DeleteEntity removes an entity's
// constraints.
type ConstraintStore interface {
	// InsertConstraint stores a new constraint. ErrDuplicate: the id is
	// taken, or another constraint of the entity has the name.
	InsertConstraint(c *rolegate.Constraint) error
	// UpdateConstraint overwrites the stored constraint with the same entity
	// and id but its creation (CreatedAt, CreatedBy). ErrNotFound: none;
	// ErrDuplicate: another constraint of the entity has the name.
	UpdateConstraint(c *rolegate.Constraint) error
	// GetConstraint returns one constraint of the entity. ErrNotFound.
	GetConstraint(entityID, id string) (rolegate.Constraint, error)
	// ListConstraints returns every constraint of the entity ordered by
	// name, in one indexed query (every write to the entity reads them).
	ListConstraints(entityID string) ([]rolegate.Constraint, error)
	// DeleteConstraint removes one. ErrNotFound: none.
	DeleteConstraint(entityID, id string) error
	// ConstraintRules returns the entity's constraints ordered by name with
	// what a write is checked against only (ID, EntityID, Name, Rights,
	// Mode): neither their descriptions nor their exceptions are read, so
	// that what every write reads does not grow with them.
	ConstraintRules(entityID string) ([]rolegate.Constraint, error)
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
