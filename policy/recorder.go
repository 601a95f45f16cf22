package policy

import (
	"maps"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
)

// recordingTx is the transaction a write's callback gets (Service.write): a
// recorder inside the quota guard. Its rule and role writes are how the
// engine learns of the write: recorded as a Delta, applied to the engine
// once the write commits and logged for the other instances. A write that
// went around it would change the store and not the engine.
type recordingTx = Tx

// recorder forwards every call to the transaction and records in delta what
// the calls change in the policy the engine holds (rules, role names), and in
// touched what the changes feed shows. It lists every Tx method on purpose,
// rather than embedding Tx: a method added to Tx must be added here too, and
// whoever adds it decides whether it changes rules (then it must record them,
// or set delta.Full). A method forwarded without that thought would let the
// engine miss a change.
type recorder struct {
	tx       Tx
	entityID string // the entity the write is to
	delta    engine.Delta
	// touched lists the roles, users and assignments the write stored or
	// removed: the items of its revision in the changes feed (changes/feeditems.go).
	touched changes.Touched
	// change is the first audit event of the entity the write inserted:
	// what its revision was, in the entity's history.
	change *rolegate.HistoryChange
}

func (r *recorder) InsertRole(role *rolegate.Role) error {
	if err := r.tx.InsertRole(role); err != nil {
		return err
	}
	r.delta.RecordRole(role)
	r.touched.Role(role)
	return nil
}

func (r *recorder) UpdateRole(role *rolegate.Role) error {
	if err := r.tx.UpdateRole(role); err != nil {
		return err
	}
	r.delta.RecordRole(role)
	r.touched.Role(role)
	return nil
}

func (r *recorder) AddRules(rules []rolegate.Rule) error {
	if err := r.tx.AddRules(rules); err != nil {
		return err
	}
	r.delta.Record(engine.OpAdd, "", rules)
	return nil
}

func (r *recorder) RemoveRules(rules []rolegate.Rule) error {
	if err := r.tx.RemoveRules(rules); err != nil {
		return err
	}
	r.delta.Record(engine.OpRemove, "", rules)
	return nil
}

func (r *recorder) ReplaceSubjectRules(entityID, subject string, rules []rolegate.Rule) error {
	if err := r.tx.ReplaceSubjectRules(entityID, subject, rules); err != nil {
		return err
	}
	if entityID != r.entityID {
		r.delta.Full = true
	}
	r.delta.Record(engine.OpReplace, subject, rules)
	return nil
}

// PutConditions records the sources in the delta (Delta.Conditions), so that
// an engine applying it knows every condition the delta's rules name.
func (r *recorder) PutConditions(entityID string, conds map[string]string) error {
	if len(conds) == 0 {
		return nil
	}
	if err := r.tx.PutConditions(entityID, conds); err != nil {
		return err
	}
	if entityID != r.entityID {
		r.delta.Full = true
		return nil
	}
	if r.delta.Conditions == nil {
		r.delta.Conditions = make(map[string]string, len(conds))
	}
	maps.Copy(r.delta.Conditions, conds)
	return nil
}

func (r *recorder) DeleteEntity(id string) error {
	r.delta.Full = true
	r.touched.Everything()
	return r.tx.DeleteEntity(id)
}

// The calls that change no rule and no role name.

func (r *recorder) AppendPolicyChange(c changes.Entry, keep int) error {
	return r.tx.AppendPolicyChange(c, keep)
}

func (r *recorder) InsertEntity(e *rolegate.Entity) error { return r.tx.InsertEntity(e) }

func (r *recorder) GetEntity(id string) (rolegate.Entity, error) { return r.tx.GetEntity(id) }

func (r *recorder) ListEntities(afterID string, limit int) ([]rolegate.Entity, error) {
	return r.tx.ListEntities(afterID, limit)
}

func (r *recorder) BumpRevision(entityID string, now time.Time) (int64, error) {
	return r.tx.BumpRevision(entityID, now)
}

func (r *recorder) EntityRevisions(ids []string) (map[string]int64, error) {
	return r.tx.EntityRevisions(ids)
}

func (r *recorder) GetRole(entityID, roleID string) (rolegate.Role, error) {
	return r.tx.GetRole(entityID, roleID)
}

func (r *recorder) ListRoles(entityID string, f RoleFilter, p Page) ([]rolegate.Role, error) {
	return r.tx.ListRoles(entityID, f, p)
}

func (r *recorder) GetUser(entityID, userID string) (rolegate.User, error) {
	return r.tx.GetUser(entityID, userID)
}

func (r *recorder) ListUsers(entityID string, f UserFilter, p Page) ([]rolegate.User, error) {
	return r.tx.ListUsers(entityID, f, p)
}

func (r *recorder) ListAssignments(entityID string, f AssignmentFilter) ([]rolegate.Assignment, error) {
	return r.tx.ListAssignments(entityID, f)
}

func (r *recorder) EntityRules(entityID string) ([]rolegate.Rule, error) {
	return r.tx.EntityRules(entityID)
}

func (r *recorder) StrayRuleEntities(afterID string, limit int) ([]string, error) {
	return r.tx.StrayRuleEntities(afterID, limit)
}

func (r *recorder) EntityConditions(entityID string) (map[string]string, error) {
	return r.tx.EntityConditions(entityID)
}

func (r *recorder) InsertClient(c *auth.Client) error { return r.tx.InsertClient(c) }

func (r *recorder) GetClient(id string) (auth.Client, error) { return r.tx.GetClient(id) }

func (r *recorder) ListClients(afterID string, limit int) ([]auth.Client, error) {
	return r.tx.ListClients(afterID, limit)
}

func (r *recorder) DeleteClient(id string) error { return r.tx.DeleteClient(id) }

func (r *recorder) GetSetting(key string) (string, error) { return r.tx.GetSetting(key) }

func (r *recorder) PutSetting(key, value string) error { return r.tx.PutSetting(key, value) }

// InsertAuditEvent and InsertAuditEvents note the first event the write
// inserts: the change its revision was, in the entity's history.
func (r *recorder) InsertAuditEvent(e *AuditEvent) error {
	if err := r.tx.InsertAuditEvent(e); err != nil {
		return err
	}
	r.noteChange(e)
	return nil
}

func (r *recorder) noteChange(e *AuditEvent) {
	if r.change == nil && e.EntityID == r.entityID {
		r.change = &rolegate.HistoryChange{AuditEventID: e.ID, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID}
	}
}

func (r *recorder) ListAuditEvents(entityID string, f AuditFilter, p Page) ([]AuditEvent, error) {
	return r.tx.ListAuditEvents(entityID, f, p)
}

func (r *recorder) DeleteAuditEvents(entityID string) error { return r.tx.DeleteAuditEvents(entityID) }

// Forwarded methods that write no rules (so record nothing).
func (r *recorder) EntityCounts(entityID string) (EntityCounts, error) {
	return r.tx.EntityCounts(entityID)
}

func (r *recorder) RecountEntity(entityID string) error { return r.tx.RecountEntity(entityID) }

func (r *recorder) ExpiredAssignments(before time.Time, limit int) ([]rolegate.Assignment, error) {
	return r.tx.ExpiredAssignments(before, limit)
}

func (r *recorder) InsertAuditEvents(es []AuditEvent) error {
	if err := r.tx.InsertAuditEvents(es); err != nil {
		return err
	}
	for i := range es {
		r.noteChange(&es[i])
	}
	return nil
}

func (r *recorder) ReplaceSetting(key, old, value string) error {
	return r.tx.ReplaceSetting(key, old, value)
}

func (r *recorder) DeleteEntityClients(entityID string) ([]auth.Client, error) {
	return r.tx.DeleteEntityClients(entityID)
}

// The calls that change no rule but change what the feed shows: the users
// and assignments they store or remove are noted (their rules are recorded
// by the rule calls that go with them). Those that store one also name its
// subject in the delta if it is hashed (engine.Delta.Hashed): the rules
// carry only the hash, and the engine lists users by their ids. A user's
// attributes, which conditions read, are recorded when they change
// (engine.OpAttributes): stored with attributes, attributes changed by an
// update, or the user removed (none).

// recordAttributes records that the user has attrs now (none: nil).
func (r *recorder) recordAttributes(entityID, userID string, attrs map[string]any) {
	if entityID != r.entityID {
		r.delta.Full = true
		return
	}
	var a map[string]any
	if len(attrs) > 0 {
		a = maps.Clone(attrs)
	}
	r.delta.Ops = append(r.delta.Ops, engine.DeltaOp{Op: engine.OpAttributes, Subject: userID, Attributes: a})
}

func (r *recorder) InsertUser(u *rolegate.User) error {
	if err := r.tx.InsertUser(u); err != nil {
		return err
	}
	r.delta.RecordUser(u.ID, "")
	if len(u.Attributes) > 0 {
		r.recordAttributes(u.EntityID, u.ID, u.Attributes)
	}
	r.touched.Add(changes.ItemUser, changes.ItemPut, u.ID, "", "")
	return nil
}

func (r *recorder) InsertUsers(us []rolegate.User) error {
	if err := r.tx.InsertUsers(us); err != nil {
		return err
	}
	for i := range us {
		r.delta.RecordUser(us[i].ID, "")
		if len(us[i].Attributes) > 0 {
			r.recordAttributes(us[i].EntityID, us[i].ID, us[i].Attributes)
		}
		r.touched.Add(changes.ItemUser, changes.ItemPut, us[i].ID, "", "")
	}
	return nil
}

func (r *recorder) UpdateUser(u *rolegate.User) error {
	// The attributes stored before, to record a change only: an update of a
	// name or an email changes nothing the engine holds.
	old, err := r.tx.GetUser(u.EntityID, u.ID)
	if err != nil && !rolegate.IsNotFound(err) {
		return err
	}
	if err := r.tx.UpdateUser(u); err != nil {
		return err
	}
	r.delta.RecordUser(u.ID, "")
	if !sameAttributes(old.Attributes, u.Attributes) {
		r.recordAttributes(u.EntityID, u.ID, u.Attributes)
	}
	r.touched.Add(changes.ItemUser, changes.ItemPut, u.ID, "", "")
	return nil
}

func (r *recorder) DeleteUser(entityID, userID string) error {
	if err := r.tx.DeleteUser(entityID, userID); err != nil {
		return err
	}
	r.recordAttributes(entityID, userID, nil)
	r.touched.Add(changes.ItemUser, changes.ItemDelete, userID, "", "")
	return nil
}

func (r *recorder) PutAssignment(a *rolegate.Assignment) error {
	if err := r.tx.PutAssignment(a); err != nil {
		return err
	}
	r.delta.RecordUser(a.UserID, a.Scope)
	r.touched.Assignment(a, changes.ItemPut)
	return nil
}

func (r *recorder) InsertAssignments(as []rolegate.Assignment) error {
	if err := r.tx.InsertAssignments(as); err != nil {
		return err
	}
	for i := range as {
		r.delta.RecordUser(as[i].UserID, as[i].Scope)
		r.touched.Assignment(&as[i], changes.ItemPut)
	}
	return nil
}

func (r *recorder) DeleteAssignment(a rolegate.Assignment) error {
	if err := r.tx.DeleteAssignment(a); err != nil {
		return err
	}
	r.touched.Assignment(&a, changes.ItemDelete)
	return nil
}

// The history's calls: the write records its own (Service.write), after its
// callback; they change no rule.

func (r *recorder) AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error {
	return r.tx.AppendHistory(rev, change, d)
}

func (r *recorder) HistoryRevisionAt(entityID string, t time.Time) (rolegate.Revision, error) {
	return r.tx.HistoryRevisionAt(entityID, t)
}

func (r *recorder) HistoryRevisions(entityID string, revs []int64) (map[int64]HistoryEntry, error) {
	return r.tx.HistoryRevisions(entityID, revs)
}

func (r *recorder) HistoryStart(entityID string) (rolegate.Revision, error) {
	return r.tx.HistoryStart(entityID)
}

func (r *recorder) PolicyAt(entityID string, rev int64) (engine.Policy, error) {
	return r.tx.PolicyAt(entityID, rev)
}

func (r *recorder) HistoryChanges(entityID string, lo, hi int64, limit int) ([]HistoryRow, bool, error) {
	return r.tx.HistoryChanges(entityID, lo, hi, limit)
}

func (r *recorder) RuleHistory(entityID string, subjects []string, from, to int64) ([]HistoryRule, error) {
	return r.tx.RuleHistory(entityID, subjects, from, to)
}

func (r *recorder) RoleHistory(entityID string, roleIDs []string, from, to int64) ([]HistoryRole, error) {
	return r.tx.RoleHistory(entityID, roleIDs, from, to)
}

// SweepHistory removes history only: no rule of the policy in force.
func (r *recorder) SweepHistory(before time.Time, limit int) (map[string]int, error) {
	return r.tx.SweepHistory(before, limit)
}

// Separation of duties' constraints change no rule and no role name: the
// engine holds none of them (writes read them in their transaction).

func (r *recorder) InsertConstraint(c *rolegate.Constraint) error { return r.tx.InsertConstraint(c) }

func (r *recorder) UpdateConstraint(c *rolegate.Constraint) error { return r.tx.UpdateConstraint(c) }

func (r *recorder) GetConstraint(entityID, id string) (rolegate.Constraint, error) {
	return r.tx.GetConstraint(entityID, id)
}

func (r *recorder) ListConstraints(entityID string) ([]rolegate.Constraint, error) {
	return r.tx.ListConstraints(entityID)
}

func (r *recorder) DeleteConstraint(entityID, id string) error {
	return r.tx.DeleteConstraint(entityID, id)
}

func (r *recorder) ConstraintRules(entityID string) ([]rolegate.Constraint, error) {
	return r.tx.ConstraintRules(entityID)
}
