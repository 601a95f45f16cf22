package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Delta is what one committed write changed in an entity's policy, in the
// order the write made the changes: rules added and removed, subjects whose p
// rules were replaced, roles whose name or status changed. The Service
// records it from the very calls that write the rules (see recorder), so it
// cannot drift from what the store holds; the engine applies it to the
// snapshot it holds (Engine.Apply), and the change log carries it to the other
// instances.
type Delta struct {
	// Full says the change cannot be applied as a delta (the entity was
	// deleted, or a rule of another entity was written): reload in full.
	Full bool      `json:"full,omitempty"`
	Ops  []DeltaOp `json:"ops,omitempty"`
}

// The kinds of DeltaOp.
const (
	OpAdd     = "add"     // Rules were stored
	OpRemove  = "remove"  // Rules were removed
	OpReplace = "replace" // Subject's p rules are now exactly Rules
	OpRole    = "role"    // RoleID is named Name and active, or not active
)

// DeltaOp is one change. Rules are encoded as Casbin lines: the rule type,
// then its values.
type DeltaOp struct {
	Op      string     `json:"op"`
	Subject string     `json:"subject,omitempty"`
	Rules   [][]string `json:"rules,omitempty"`
	RoleID  string     `json:"role_id,omitempty"`
	Name    string     `json:"name,omitempty"`
	Active  bool       `json:"active,omitempty"`
}

// Empty reports whether the delta changes nothing.
func (d *Delta) Empty() bool { return !d.Full && len(d.Ops) == 0 }

func (d *Delta) rules(op, subject string, rules []Rule) {
	o := DeltaOp{Op: op, Subject: subject, Rules: make([][]string, 0, len(rules))}
	for _, r := range rules {
		o.Rules = append(o.Rules, append([]string{r.PType}, r.Values...))
	}
	if op != OpReplace && len(o.Rules) == 0 {
		return
	}
	d.Ops = append(d.Ops, o)
}

func (d *Delta) role(r *Role) {
	d.Ops = append(d.Ops, DeltaOp{Op: OpRole, RoleID: r.ID, Name: r.Name, Active: r.Status == StatusActive})
}

// Encode returns the delta as JSON (the change log's payload).
func (d *Delta) Encode() ([]byte, error) { return json.Marshal(d) }

// DecodeDelta reads a delta Encode wrote.
func DecodeDelta(b []byte) (Delta, error) {
	var d Delta
	if err := json.Unmarshal(b, &d); err != nil {
		return Delta{}, fmt.Errorf("decode policy delta: %w", err)
	}
	return d, nil
}

// ruleOfLine turns a delta's rule line back into a Rule.
func ruleOfLine(line []string) (Rule, bool) {
	if len(line) < 2 {
		return Rule{}, false
	}
	return Rule{PType: line[0], Values: line[1:]}, true
}

// recorder is the Tx a write's callback gets: it forwards every call to the
// transaction and records in delta what the calls change in the policy the
// engine holds (rules, role names). It lists every Tx method on purpose,
// rather than embedding Tx: a method added to Tx must be added here too, and
// whoever adds it decides whether it changes rules (then it must record them,
// or set delta.Full). A method forwarded without that thought would let the
// engine miss a change.
type recorder struct {
	tx       Tx
	entityID string // the entity the write is to
	delta    Delta
	// touched lists the roles, users and assignments the write stored or
	// removed: the items of its revision in the changes feed (feeditems.go).
	touched touched
}

func (r *recorder) InsertRole(role *Role) error {
	if err := r.tx.InsertRole(role); err != nil {
		return err
	}
	r.delta.role(role)
	r.touched.role(role)
	return nil
}

func (r *recorder) UpdateRole(role *Role) error {
	if err := r.tx.UpdateRole(role); err != nil {
		return err
	}
	r.delta.role(role)
	r.touched.role(role)
	return nil
}

func (r *recorder) AddRules(rules []Rule) error {
	if err := r.tx.AddRules(rules); err != nil {
		return err
	}
	r.delta.rules(OpAdd, "", rules)
	return nil
}

func (r *recorder) RemoveRules(rules []Rule) error {
	if err := r.tx.RemoveRules(rules); err != nil {
		return err
	}
	r.delta.rules(OpRemove, "", rules)
	return nil
}

func (r *recorder) ReplaceSubjectRules(entityID, subject string, rules []Rule) error {
	if err := r.tx.ReplaceSubjectRules(entityID, subject, rules); err != nil {
		return err
	}
	if entityID != r.entityID {
		r.delta.Full = true
	}
	r.delta.rules(OpReplace, subject, rules)
	return nil
}

func (r *recorder) DeleteEntity(id string) error {
	r.delta.Full = true
	r.touched.everything()
	return r.tx.DeleteEntity(id)
}

// The calls that change no rule and no role name.

func (r *recorder) AppendPolicyChange(c PolicyChange, keep int) error {
	return r.tx.AppendPolicyChange(c, keep)
}

func (r *recorder) InsertEntity(e *Entity) error        { return r.tx.InsertEntity(e) }
func (r *recorder) GetEntity(id string) (Entity, error) { return r.tx.GetEntity(id) }
func (r *recorder) ListEntities(afterID string, limit int) ([]Entity, error) {
	return r.tx.ListEntities(afterID, limit)
}
func (r *recorder) BumpRevision(entityID string, now time.Time) (int64, error) {
	return r.tx.BumpRevision(entityID, now)
}
func (r *recorder) EntityRevisions(ids []string) (map[string]int64, error) {
	return r.tx.EntityRevisions(ids)
}
func (r *recorder) GetRole(entityID, roleID string) (Role, error) {
	return r.tx.GetRole(entityID, roleID)
}
func (r *recorder) ListRoles(entityID string, f RoleFilter, p Page) ([]Role, error) {
	return r.tx.ListRoles(entityID, f, p)
}
func (r *recorder) GetUser(entityID, userID string) (User, error) {
	return r.tx.GetUser(entityID, userID)
}
func (r *recorder) ListUsers(entityID string, f UserFilter, p Page) ([]User, error) {
	return r.tx.ListUsers(entityID, f, p)
}
func (r *recorder) ListAssignments(entityID string, f AssignmentFilter) ([]Assignment, error) {
	return r.tx.ListAssignments(entityID, f)
}
func (r *recorder) SubjectRules(entityID, subject string) ([]Rule, error) {
	return r.tx.SubjectRules(entityID, subject)
}
func (r *recorder) EntityRules(entityID string) ([]Rule, error) { return r.tx.EntityRules(entityID) }
func (r *recorder) StrayRuleEntities(afterID string, limit int) ([]string, error) {
	return r.tx.StrayRuleEntities(afterID, limit)
}
func (r *recorder) InsertClient(c *Client) error        { return r.tx.InsertClient(c) }
func (r *recorder) GetClient(id string) (Client, error) { return r.tx.GetClient(id) }
func (r *recorder) ListClients(afterID string, limit int) ([]Client, error) {
	return r.tx.ListClients(afterID, limit)
}
func (r *recorder) DeleteClient(id string) error          { return r.tx.DeleteClient(id) }
func (r *recorder) GetSetting(key string) (string, error) { return r.tx.GetSetting(key) }
func (r *recorder) PutSetting(key, value string) error    { return r.tx.PutSetting(key, value) }
func (r *recorder) InsertAuditEvent(e *AuditEvent) error  { return r.tx.InsertAuditEvent(e) }
func (r *recorder) ListAuditEvents(entityID string, f AuditFilter, p Page) ([]AuditEvent, error) {
	return r.tx.ListAuditEvents(entityID, f, p)
}
func (r *recorder) DeleteAuditEvents(entityID string) error { return r.tx.DeleteAuditEvents(entityID) }

// Apply brings the entity's policy held in memory from revision rev-1 to rev by
// applying the delta a committed write recorded: a new snapshot shares every
// unit and index bucket the delta does not touch, so it costs what the write
// changed. An entity not held is left to load on its next check. When the
// held policy is not at rev-1 (a write in between not yet applied), or the
// delta cannot be applied, it reloads the entity in full (Refresh), which also
// catches up from the change log when the store keeps one.
func (e *Engine) Apply(ctx context.Context, entityID string, rev int64, d Delta) error {
	sl, ok := e.entities.load(entityID)
	if !ok {
		return nil
	}
	cur := sl.snap.Load()
	if cur != nil && cur.revision >= rev {
		return nil // already there (a reload that read it)
	}
	if d.Full || cur == nil || !cur.exists || cur.revision != rev-1 {
		return e.Refresh(ctx, entityID)
	}
	next, err := cur.apply(rev, d)
	if err != nil {
		return e.Refresh(ctx, entityID)
	}
	if !e.swap(sl, cur, next) {
		if s := sl.snap.Load(); s == nil || s.revision < rev {
			return e.Refresh(ctx, entityID)
		}
		return nil
	}
	e.deltas.Add(1)
	return nil
}

// swap installs next in place of cur, unless the slot moved meanwhile.
func (e *Engine) swap(sl *slot, cur, next *snapshot) bool {
	next.decisions.Store(e.tableLike(cur.decisions.Load()))
	next.engine = e
	if !sl.snap.CompareAndSwap(cur, next) {
		e.release(next)
		return false
	}
	e.release(cur)
	return true
}

// apply returns the snapshot that applying d to s gives, at revision rev. It
// touches only the units and index entries the delta names (copy-on-write).
func (s *snapshot) apply(rev int64, d Delta) (*snapshot, error) {
	n := &snapshot{entityID: s.entityID, revision: rev, created: s.created, exists: true, units: s.units, links: s.links, roleNames: s.roleNames,
		expiry: s.expiry}
	var expiry *pmapEditor[int64]
	var units *pmapEditor[*unit]
	var links *pmapEditor[[]string]
	var names *pmapEditor[string]
	// changed collects, per subject, its p rules after the delta; units are
	// rebuilt once each at the end.
	changed := map[string][]Rule{}
	idx := s.grantIdx.Load()
	var linked []linkChange
	subjectRules := func(sub string) []Rule {
		if rs, ok := changed[sub]; ok {
			return rs
		}
		if u, ok := s.units.get(sub); ok {
			return u.rules
		}
		return nil
	}
	for _, op := range d.Ops {
		switch op.Op {
		case OpRole:
			if names == nil {
				names = s.roleNames.edit()
			}
			if op.Active {
				names.set(op.RoleID, op.Name)
			} else {
				names.del(op.RoleID)
			}
			continue
		case OpReplace:
			var rs []Rule
			for _, line := range op.Rules {
				r, ok := ruleOfLine(line)
				if !ok || r.PType != "p" || len(r.Values) != 6 || r.Values[0] != op.Subject || r.Values[1] != s.entityID {
					return nil, fmt.Errorf("delta: rule %q does not belong to subject %q", line, op.Subject)
				}
				if !containsRule(rs, r) {
					rs = append(rs, r)
				}
			}
			changed[op.Subject] = rs
			continue
		case OpAdd, OpRemove:
		default:
			return nil, fmt.Errorf("delta: unknown operation %q", op.Op)
		}
		for _, line := range op.Rules {
			r, ok := ruleOfLine(line)
			switch {
			case ok && r.PType == "p" && len(r.Values) == 6 && r.Values[1] == s.entityID:
				sub := r.Values[0]
				rs := subjectRules(sub)
				if op.Op == OpAdd {
					if !containsRule(rs, r) {
						rs = append(rs[:len(rs):len(rs)], r)
					}
				} else {
					rs = withoutRule(rs, r)
				}
				changed[sub] = rs
			case ok && r.PType == "g" && validLink(r) && r.Values[2] == s.entityID:
				if links == nil {
					links = s.links.edit()
				}
				sub, role := r.Values[0], r.Values[1]
				if at, timed := linkExpiry(r); timed || (op.Op == OpRemove && s.expiry.len() > 0) {
					if expiry == nil {
						expiry = s.expiry.edit()
					}
					if op.Op == OpAdd {
						expiry.set(expiryKey(sub, role), at)
					} else {
						expiry.del(expiryKey(sub, role))
					}
				}
				if idx != nil {
					linked = append(linked, linkChange{link: sub, role: role, add: op.Op == OpAdd})
				}
				roles, _ := links.get(sub)
				if op.Op == OpAdd {
					if next := appendOnce(roles[:len(roles):len(roles)], role); len(next) != len(roles) {
						links.set(sub, next)
					}
					continue
				}
				var kept []string
				for _, x := range roles {
					if x != role {
						kept = append(kept, x)
					}
				}
				if len(kept) == 0 {
					links.del(sub)
				} else if len(kept) != len(roles) {
					links.set(sub, kept)
				}
			default:
				return nil, fmt.Errorf("delta: rule %q is not one of entity %q", line, s.entityID)
			}
		}
	}
	if len(changed) > 0 {
		units = s.units.edit()
		for sub, rs := range changed {
			if len(rs) == 0 {
				units.del(sub)
			} else {
				units.set(sub, newUnit(rs))
			}
		}
	}
	if units != nil {
		n.units = units.done()
	}
	if links != nil {
		n.links = links.done()
	}
	if names != nil {
		n.roleNames = names.done()
	}
	if expiry != nil {
		if n.expiry = expiry.done(); n.expiry.len() == 0 {
			n.expiry = nil
		}
	}
	if idx != nil {
		n.grantIdx.Store(idx.carry(s, changed, linked, n.links))
	}
	return n, nil
}

func sameRule(a, b Rule) bool {
	if a.PType != b.PType || len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			return false
		}
	}
	return true
}

func containsRule(rs []Rule, r Rule) bool {
	for _, x := range rs {
		if sameRule(x, r) {
			return true
		}
	}
	return false
}

// withoutRule returns rs without r, sharing nothing with rs.
func withoutRule(rs []Rule, r Rule) []Rule {
	out := make([]Rule, 0, len(rs))
	for _, x := range rs {
		if !sameRule(x, r) {
			out = append(out, x)
		}
	}
	return out
}

// Forwarded methods that write no rules (so record nothing).
func (r *recorder) EntityCounts(entityID string) (EntityCounts, error) {
	return r.tx.EntityCounts(entityID)
}
func (r *recorder) RecountEntity(entityID string) error { return r.tx.RecountEntity(entityID) }
func (r *recorder) ExpiredAssignments(before time.Time, limit int) ([]Assignment, error) {
	return r.tx.ExpiredAssignments(before, limit)
}
func (r *recorder) InsertAuditEvents(es []AuditEvent) error { return r.tx.InsertAuditEvents(es) }
func (r *recorder) ReplaceSetting(key, old, value string) error {
	return r.tx.ReplaceSetting(key, old, value)
}
func (r *recorder) DeleteEntityClients(entityID string) ([]Client, error) {
	return r.tx.DeleteEntityClients(entityID)
}

// The calls that change no rule but change what the feed shows: the users
// and assignments they store or remove are noted (their rules are recorded
// by the rule calls that go with them).

func (r *recorder) InsertUser(u *User) error {
	if err := r.tx.InsertUser(u); err != nil {
		return err
	}
	r.touched.add(ItemUser, ItemPut, u.ID, "", "")
	return nil
}

func (r *recorder) InsertUsers(us []User) error {
	if err := r.tx.InsertUsers(us); err != nil {
		return err
	}
	for i := range us {
		r.touched.add(ItemUser, ItemPut, us[i].ID, "", "")
	}
	return nil
}

func (r *recorder) UpdateUser(u *User) error {
	if err := r.tx.UpdateUser(u); err != nil {
		return err
	}
	r.touched.add(ItemUser, ItemPut, u.ID, "", "")
	return nil
}

func (r *recorder) DeleteUser(entityID, userID string) error {
	if err := r.tx.DeleteUser(entityID, userID); err != nil {
		return err
	}
	r.touched.add(ItemUser, ItemDelete, userID, "", "")
	return nil
}

func (r *recorder) PutAssignment(a *Assignment) error {
	if err := r.tx.PutAssignment(a); err != nil {
		return err
	}
	r.touched.assignment(a, ItemPut)
	return nil
}

func (r *recorder) InsertAssignments(as []Assignment) error {
	if err := r.tx.InsertAssignments(as); err != nil {
		return err
	}
	for i := range as {
		r.touched.assignment(&as[i], ItemPut)
	}
	return nil
}

func (r *recorder) DeleteAssignment(a Assignment) error {
	if err := r.tx.DeleteAssignment(a); err != nil {
		return err
	}
	r.touched.assignment(&a, ItemDelete)
	return nil
}
