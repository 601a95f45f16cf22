package engine

import (
	"encoding/json"
	"fmt"

	"github.com/rolegate/rolegate"
)

// Delta is what one committed write changed in an entity's policy, in order:
// rules added or removed, subjects whose p rules were replaced, roles renamed
// or (de)activated. The service records it from the calls that write the
// rules, so it cannot drift from the store; Engine.Apply applies it, and the
// change log carries it to other instances.
type Delta struct {
	// Full says the change cannot be applied as a delta (the entity was
	// deleted, or a rule of another entity was written): reload in full.
	Full bool      `json:"full,omitempty"`
	Ops  []DeltaOp `json:"ops,omitempty"`
	// Hashed names the hashed subjects the write stored rules of (Policy.Hashed).
	Hashed map[string]HashedName `json:"hashed,omitempty"`
	// Conditions are the sources of the conditions the write's rules name,
	// by hash (Policy.Conditions).
	Conditions map[string]string `json:"conditions,omitempty"`
}

// The kinds of DeltaOp.
const (
	OpAdd     = "add"     // Rules were stored
	OpRemove  = "remove"  // Rules were removed
	OpReplace = "replace" // Subject's p rules are now exactly Rules
	OpRole    = "role"    // RoleID is named Name and active, or not active
	// OpAttributes: the user Subject (a user id, not a Casbin subject) has
	// Attributes now (none: nil).
	OpAttributes = "attributes"
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
	// Attributes of OpAttributes.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Empty reports whether the delta changes nothing.
func (d *Delta) Empty() bool { return !d.Full && len(d.Ops) == 0 }

// Record adds a change of rules: op is OpAdd, OpRemove or OpReplace (the
// subject's p rules are now exactly rules).
func (d *Delta) Record(op, subject string, rules []rolegate.Rule) {
	o := DeltaOp{Op: op, Subject: subject, Rules: make([][]string, 0, len(rules))}
	for _, r := range rules {
		o.Rules = append(o.Rules, append([]string{r.PType}, r.Values...))
	}
	if op != OpReplace && len(o.Rules) == 0 {
		return
	}
	d.Ops = append(d.Ops, o)
}

// RecordUser names the subject of a user (inside scope unless "") whose
// rules the write stores, if that subject is hashed.
func (d *Delta) RecordUser(userID, scope string) {
	sub, hashed := HashedSubject(userID, scope)
	if !hashed {
		return
	}
	if d.Hashed == nil {
		d.Hashed = map[string]HashedName{}
	}
	d.Hashed[sub] = HashedName{UserID: userID, Scope: scope}
}

// RecordAttributes adds a change of a user's attributes (none: nil).
func (d *Delta) RecordAttributes(userID string, attrs map[string]any) {
	d.Ops = append(d.Ops, DeltaOp{Op: OpAttributes, Subject: userID, Attributes: attrs})
}

// RecordConditions adds the sources of conditions the write's rules name.
func (d *Delta) RecordConditions(conds map[string]string) {
	if len(conds) == 0 {
		return
	}
	if d.Conditions == nil {
		d.Conditions = make(map[string]string, len(conds))
	}
	for h, src := range conds {
		d.Conditions[h] = src
	}
}

// RecordRole adds a change of a role's name or status.
func (d *Delta) RecordRole(r *rolegate.Role) {
	d.Ops = append(d.Ops, DeltaOp{Op: OpRole, RoleID: r.ID, Name: r.Name, Active: r.Status == rolegate.StatusActive})
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
func ruleOfLine(line []string) (rolegate.Rule, bool) {
	if len(line) < 2 {
		return rolegate.Rule{}, false
	}
	return rolegate.Rule{PType: line[0], Values: line[1:]}, true
}

// apply returns the snapshot that applying d to s gives, at revision rev. It
// touches only the units and index entries the delta names (copy-on-write).
func (s *snapshot) apply(rev int64, d Delta) (*snapshot, error) {
	n := &snapshot{entityID: s.entityID, revision: rev, created: s.created, exists: true, units: s.units, links: s.links, roleNames: s.roleNames,
		expiry: s.expiry, hashed: s.hashed, conds: s.conds, attrs: s.attrs}
	if len(d.Conditions) > 0 {
		ed := s.conds.edit()
		for h, src := range d.Conditions {
			if c, ok := ed.get(h); !ok || c.source != src {
				ed.set(h, newCondEntry(src))
			}
		}
		n.conds = ed.done()
	}
	var attrs *pmapEditor[map[string]any]
	if len(d.Hashed) > 0 {
		ed := s.hashed.edit()
		for sub, name := range d.Hashed {
			if Hashed(sub) {
				ed.set(sub, name)
			}
		}
		n.hashed = ed.done()
	}
	// A hashed subject given rules must be named, or who-can, dry runs and
	// reports would lose its user (a delta logged before deltas named them):
	// the error makes the caller reload in full, which names every one.
	named := func(sub string) error {
		if _, ok := n.hashed.get(sub); ok || !Hashed(sub) {
			return nil
		}
		return fmt.Errorf("delta: hashed subject %q is not named", sub)
	}
	var expiry *pmapEditor[int64]
	var units *pmapEditor[*unit]
	var links *pmapEditor[[]string]
	var names *pmapEditor[string]
	// changed collects, per subject, its p rules after the delta; units are
	// rebuilt once each at the end.
	changed := map[string][]rolegate.Rule{}
	idx := s.grantIdx.Load()
	var linked []linkChange
	subjectRules := func(sub string) []rolegate.Rule {
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
		case OpAttributes:
			if attrs == nil {
				attrs = s.attrs.edit()
			}
			if len(op.Attributes) == 0 {
				attrs.del(op.Subject)
			} else {
				attrs.set(op.Subject, op.Attributes)
			}
			continue
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
			var rs []rolegate.Rule
			for _, line := range op.Rules {
				r, ok := ruleOfLine(line)
				if !ok || r.PType != "p" || len(r.Values) != 6 || r.Values[0] != op.Subject || r.Values[1] != s.entityID {
					return nil, fmt.Errorf("delta: rule %q does not belong to subject %q", line, op.Subject)
				}
				if !containsRule(rs, r) {
					rs = append(rs, r)
				}
			}
			if len(rs) > 0 {
				if err := named(op.Subject); err != nil {
					return nil, err
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
					if err := named(sub); err != nil {
						return nil, err
					}
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
					if err := named(sub); err != nil {
						return nil, err
					}
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
	if attrs != nil {
		n.attrs = attrs.done()
	}
	if expiry != nil {
		if n.expiry = expiry.done(); n.expiry.len() == 0 {
			n.expiry = nil
		}
	}
	if idx != nil {
		n.grantIdx.Store(idx.carry(s, n, changed, linked))
	}
	return n, nil
}

func sameRule(a, b rolegate.Rule) bool {
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

func containsRule(rs []rolegate.Rule, r rolegate.Rule) bool {
	for _, x := range rs {
		if sameRule(x, r) {
			return true
		}
	}
	return false
}

// withoutRule returns rs without r, sharing nothing with rs.
func withoutRule(rs []rolegate.Rule, r rolegate.Rule) []rolegate.Rule {
	out := make([]rolegate.Rule, 0, len(rs))
	for _, x := range rs {
		if !sameRule(x, r) {
			out = append(out, x)
		}
	}
	return out
}
