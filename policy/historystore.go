package policy

import (
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// HistoryStore keeps the history of every entity's policy (issue 25): each
// rule, role name and user's attributes with the revision that stored it and
// the one that removed it (a temporal table), and each revision's commit
// time, actor and audited change. A write records its delta in its own
// transaction (Service.write); DeleteEntity removes the entity's history.
// Hashed subjects' names and condition sources, never changed once stored,
// are kept for as long as the history that names them.
type HistoryStore interface {
	// AppendHistory records what the write that took the entity to
	// rev.Revision (committed at rev.At by rev.Actor) changed: d as the
	// recorder recorded it (d.Full: the history is rebased on the rows the
	// entity holds at the end of the transaction), and the audited change
	// (nil when the write recorded none). A store may keep the write's
	// plan (HistoryPlan.Encode) with its revision and file it into the
	// rows later with others (FileHistoryPlans), if every read below sees
	// every revision committed before it.
	AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error
	// HistoryRevisionAt returns the revision in force at t: the last one
	// committed at or before it. ErrNotFound: none is kept (before the
	// entity existed, or older than the history kept: HistoryStart tells).
	HistoryRevisionAt(entityID string, t time.Time) (rolegate.Revision, error)
	// HistoryRevisions returns the given revisions of the entity that are
	// kept, by revision, with their audited change.
	HistoryRevisions(entityID string, revs []int64) (map[int64]HistoryEntry, error)
	// HistoryStart returns the earliest revision the history can answer
	// for. ErrNotFound: no history is kept for the entity.
	HistoryStart(entityID string) (rolegate.Revision, error)
	// PolicyAt returns the entity's policy as it stood at revision rev
	// (Policy.Revision is rev), in one snapshot. ErrNotFound: rev is not
	// kept.
	PolicyAt(entityID string, rev int64) (engine.Policy, error)
	// HistoryChanges returns the entity's rows (with ID, From and To) that
	// revisions lo to hi changed: those whose From or To lies in (lo, hi]
	// (HistoryDelta turns them into the delta between the policies at lo
	// and hi), and the rows naming the hashed subjects they hold, whenever
	// stored. ok is false, and rows nil, when more than limit rows changed
	// (limit 0: no bound): a caller that would rather read the whole policy
	// then does not pay for reading them all.
	HistoryChanges(entityID string, lo, hi int64, limit int) (rows []HistoryRow, ok bool, err error)
	// RuleHistory returns the history of the rules whose first value is one
	// of subjects (p rules of those subjects, g rules linking them), whose
	// span meets the revisions [from, to] (to 0: up to now), ordered by
	// From.
	RuleHistory(entityID string, subjects []string, from, to int64) ([]HistoryRule, error)
	// RoleHistory returns the history of the given roles' names and status
	// over the same span, ordered by From.
	RoleHistory(entityID string, roleIDs []string, from, to int64) ([]HistoryRole, error)
	// SweepHistory removes, over all entities, up to limit rows of history
	// no answer at or after before needs (rows closed by a revision
	// committed before it, and the revisions before the one then in force),
	// moving each entity's HistoryStart; it returns how many rows (of
	// history and revisions) it removed, by entity.
	SweepHistory(before time.Time, limit int) (map[string]int, error)
}

// HistoryEntry is one kept revision and the change it was.
type HistoryEntry struct {
	rolegate.Revision
	Change *rolegate.HistoryChange
}

// HistoryRule is one rule's span: stored by revision From, removed by
// revision To (0: still held).
type HistoryRule struct {
	Rule     rolegate.Rule
	From, To int64
}

// HistoryRole is one span of a role's name and status.
type HistoryRole struct {
	RoleID   string
	Name     string
	Active   bool
	From, To int64
}
