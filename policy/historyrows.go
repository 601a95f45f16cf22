package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// The rows of an entity's history, as every store keeps them (HistoryStore):
// one row per rule, role name and status, user's attributes and hashed
// subject's name, stored by revision From and removed by revision To (0:
// still in force). A row is in force at revision R when From <= R and (To
// is 0 or R < To). The stores keep the rows; what a write changes in them
// (HistoryPlan) and the policy they make at a revision (HistoryPolicy) are
// worked out here, the same for every store.

// The kinds of HistoryRow.
const (
	// HistoryP is a p rule: Subject its first value, Values its third to
	// sixth (Values[0] is ""; the second value is the entity).
	HistoryP = "p"
	// HistoryG is a g rule: Subject its first value, Values its second,
	// then "" (the entity), then its fourth to sixth.
	HistoryG = "g"
	// HistoryRoleName is a role's name (Data) and status: Subject its id,
	// Values[0] "1" when active, "" when not.
	HistoryRoleName = "r"
	// HistoryAttributes are a user's attributes (Data, EncodeAttributes):
	// Subject the user id. A user without attributes has no row.
	HistoryAttributes = "a"
	// HistoryHashed names a hashed subject (Subject): Data is the
	// engine.HashedName as JSON. Never removed while the entity lives (a
	// hashed subject always names the same user and scope).
	HistoryHashed = "h"
)

// HistoryRow is one row of an entity's history.
type HistoryRow struct {
	ID       int64 // the store's, ordering the rows as stored
	Kind     string
	Subject  string
	Values   [5]string
	Data     string
	From, To int64
}

// key identifies the row's content: two rows with one key are the same rule,
// role name or attributes.
func (r *HistoryRow) key() string {
	var b strings.Builder
	b.WriteString(r.Kind)
	b.WriteByte(0)
	b.WriteString(r.Subject)
	for _, v := range r.Values {
		b.WriteByte(0)
		b.WriteString(v)
	}
	b.WriteByte(0)
	b.WriteString(r.Data)
	return b.String()
}

// InForce reports whether the row is in force at revision rev.
func (r *HistoryRow) InForce(rev int64) bool {
	return r.From <= rev && (r.To == 0 || rev < r.To)
}

// historyRuleRow returns the row of a rule of the entity; ok is false for a
// rule the entity's policy does not hold (another type, another entity's).
func historyRuleRow(entityID string, rule rolegate.Rule) (HistoryRow, bool) {
	v := rule.Values
	if len(v) == 0 || len(v) > 6 {
		return HistoryRow{}, false
	}
	row := HistoryRow{Kind: rule.PType, Subject: v[0]}
	switch rule.PType {
	case HistoryP:
		if len(v) < 2 || v[1] != entityID {
			return HistoryRow{}, false
		}
	case HistoryG:
		if len(v) < 3 || v[2] != entityID {
			return HistoryRow{}, false
		}
	default:
		return HistoryRow{}, false
	}
	copy(row.Values[:], v[1:])
	if rule.PType == HistoryP {
		row.Values[0] = ""
	} else {
		row.Values[1] = ""
	}
	return row, true
}

// Rule returns the rule of a p or g row, as LoadPolicy reads it.
func (r *HistoryRow) Rule(entityID string) rolegate.Rule {
	if r.Kind == HistoryG {
		v := []string{r.Subject, r.Values[0], entityID}
		if r.Values[2] != "" {
			v = append(v, r.Values[2])
		}
		return rolegate.Rule{PType: HistoryG, Values: v}
	}
	v := make([]string, 0, 6)
	v = append(v, r.Subject, entityID)
	v = append(v, r.Values[1:]...)
	for len(v) > 0 && v[len(v)-1] == "" {
		v = v[:len(v)-1]
	}
	return rolegate.Rule{PType: r.Kind, Values: v}
}

func historyRoleRow(roleID, name string, active bool) HistoryRow {
	row := HistoryRow{Kind: HistoryRoleName, Subject: roleID, Data: name}
	if active {
		row.Values[0] = "1"
	}
	return row
}

func historyHashedRow(sub string, name engine.HashedName) HistoryRow {
	b, _ := json.Marshal(name) // two strings: no error
	return HistoryRow{Kind: HistoryHashed, Subject: sub, Data: string(b)}
}

// HistoryRowsOf returns the rows that hold pol (a policy as LoadPolicy reads
// it): what a history rebased on it has in force.
func HistoryRowsOf(entityID string, pol engine.Policy) ([]HistoryRow, error) {
	out := make([]HistoryRow, 0, len(pol.Rules)+len(pol.RoleNames)+len(pol.Attributes)+len(pol.Hashed))
	for _, r := range pol.Rules {
		if row, ok := historyRuleRow(entityID, r); ok {
			out = append(out, row)
		}
	}
	for _, id := range sortedKeys(pol.RoleNames) {
		out = append(out, historyRoleRow(id, pol.RoleNames[id], true))
	}
	for _, id := range sortedKeys(pol.Attributes) {
		data, err := EncodeAttributes(pol.Attributes[id])
		if err != nil {
			return nil, err
		}
		if data != "{}" {
			out = append(out, HistoryRow{Kind: HistoryAttributes, Subject: id, Data: data})
		}
	}
	for _, sub := range sortedKeys(pol.Hashed) {
		out = append(out, historyHashedRow(sub, pol.Hashed[sub]))
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// HistoryPlan is what one write changes in its entity's history, worked out
// from its delta: the subjects whose rows it touches (Subjects), then, given
// the rows of those subjects in force (Resolve), the rows to store and those
// to close. Only the net change counts: a rule added then removed by one
// write was never in force at any revision.
//
// Rows are told apart by their content (HistoryRow.content, a comparable
// struct): hashing it costs no allocation, where a key string built per row
// cost one for each rule of the write and each row read.
type HistoryPlan struct {
	entityID string
	// rules: a rule's content -> whether the write leaves it stored; order
	// lists the rules in the order first met.
	rules map[HistoryRow]bool
	order []HistoryRow
	// replaced: subjects whose p rules the write replaced (those not in
	// rules as stored are removed).
	replaced map[string]bool
	// single: a role's or user's slot -> its row after the write (Data ""
	// and Kind HistoryAttributes: none).
	single     map[historySlot]HistoryRow
	singleKeys []historySlot
	hashed     []HistoryRow
	subjects   map[string]bool
	rebase     bool
}

// historySlot is where a role or attributes row goes (kind, subject): one
// row at a time is in force.
type historySlot struct{ kind, subject string }

// content is the row without its id and span: two rows of one content are
// the same rule, role name or attributes.
func (r *HistoryRow) content() HistoryRow {
	c := *r
	c.ID, c.From, c.To = 0, 0, 0
	return c
}

// NewHistoryPlan works out the plan of delta d of a write to entityID. A
// Full delta cannot be planned: Rebase reports it, and the store rebases.
func NewHistoryPlan(entityID string, d engine.Delta) (*HistoryPlan, error) {
	n := 0
	for _, op := range d.Ops {
		n += len(op.Rules)
	}
	p := &HistoryPlan{entityID: entityID, rules: make(map[HistoryRow]bool, n), order: make([]HistoryRow, 0, n),
		replaced: map[string]bool{}, single: map[historySlot]HistoryRow{}, subjects: map[string]bool{}, rebase: d.Full}
	if d.Full {
		return p, nil
	}
	rule := func(r rolegate.Rule, stored bool) {
		if row, ok := historyRuleRow(entityID, r); ok {
			p.setRule(row, stored)
		}
	}
	for _, op := range d.Ops {
		switch op.Op {
		case engine.OpAdd, engine.OpRemove:
			for _, line := range op.Rules {
				if len(line) < 2 {
					continue
				}
				rule(rolegate.Rule{PType: line[0], Values: line[1:]}, op.Op == engine.OpAdd)
			}
		case engine.OpReplace:
			p.replaced[op.Subject] = true
			p.subjects[op.Subject] = true
			for _, row := range p.order {
				if row.Kind == HistoryP && row.Subject == op.Subject {
					p.rules[row] = false
				}
			}
			for _, line := range op.Rules {
				if len(line) < 2 || line[0] != HistoryP || line[1] != op.Subject {
					continue
				}
				rule(rolegate.Rule{PType: line[0], Values: line[1:]}, true)
			}
		case engine.OpRole:
			p.setSingle(historyRoleRow(op.RoleID, op.Name, op.Active))
		case engine.OpAttributes:
			data, err := EncodeAttributes(op.Attributes)
			if err != nil {
				return nil, err
			}
			if data == "{}" {
				data = ""
			}
			p.setSingle(HistoryRow{Kind: HistoryAttributes, Subject: op.Subject, Data: data})
		default:
			return nil, fmt.Errorf("history: unknown delta operation %q", op.Op)
		}
	}
	for _, sub := range sortedKeys(d.Hashed) {
		p.hashed = append(p.hashed, historyHashedRow(sub, d.Hashed[sub]))
		p.subjects[sub] = true
	}
	return p, nil
}

// setRule notes a rule the write leaves stored or not (the last word
// counts), in the order first met.
func (p *HistoryPlan) setRule(row HistoryRow, stored bool) {
	if _, seen := p.rules[row]; !seen {
		p.order = append(p.order, row)
	}
	p.rules[row] = stored
	p.subjects[row.Subject] = true
}

// setSingle notes the row a role's name or a user's attributes have after
// the write.
func (p *HistoryPlan) setSingle(row HistoryRow) {
	s := historySlot{row.Kind, row.Subject}
	if _, seen := p.single[s]; !seen {
		p.singleKeys = append(p.singleKeys, s)
	}
	p.single[s] = row
	p.subjects[row.Subject] = true
}

// Rebase reports whether the write's delta cannot be planned (Full): the
// store rebases the history on the rows the entity holds (ResolveRebase).
func (p *HistoryPlan) Rebase() bool { return p.rebase }

// Empty reports whether the write changes no row.
func (p *HistoryPlan) Empty() bool { return !p.rebase && len(p.subjects) == 0 }

// AddsOnly reports whether the write only stored rules (no rule, role name,
// attributes or hashed name removed or replaced): rules a store refused to
// store twice (AddRules: ErrDuplicate), so none is in force, and
// Resolve(nil) is the plan without reading the rows in force.
func (p *HistoryPlan) AddsOnly() bool {
	if p.rebase || len(p.replaced) > 0 || len(p.single) > 0 || len(p.hashed) > 0 {
		return false
	}
	for _, stored := range p.rules {
		if !stored {
			return false
		}
	}
	return true
}

// Subjects returns the subjects whose rows in force Resolve needs, sorted.
func (p *HistoryPlan) Subjects() []string { return sortedKeys(p.subjects) }

// Resolve returns, given the rows in force of the plan's subjects (others
// are ignored), the rows to store and the ids of those to close.
func (p *HistoryPlan) Resolve(open []HistoryRow) (store []HistoryRow, closeIDs []int64) {
	have := make(map[HistoryRow]bool, len(open)) // the rules, roles and names in force and kept
	for i := range open {
		row := &open[i]
		if !p.subjects[row.Subject] {
			continue
		}
		k := row.content()
		keep := true
		switch row.Kind {
		case HistoryP, HistoryG:
			stored, touched := p.rules[k]
			switch {
			case have[k]:
				keep = false // a duplicate: one row is enough
			case touched:
				keep = stored
			case row.Kind == HistoryP && p.replaced[row.Subject]:
				keep = false
			}
		case HistoryRoleName, HistoryAttributes:
			if want, touched := p.single[historySlot{row.Kind, row.Subject}]; touched {
				keep = !have[k] && want == k
			}
		case HistoryHashed:
			keep = !have[k]
		}
		if keep {
			have[k] = true
		} else {
			closeIDs = append(closeIDs, row.ID)
		}
	}
	for _, row := range p.order {
		if p.rules[row] && !have[row] {
			store = append(store, row)
		}
	}
	for _, s := range p.singleKeys {
		row := p.single[s]
		if row.Kind == HistoryAttributes && row.Data == "" {
			continue
		}
		if !have[row] {
			store = append(store, row)
		}
	}
	for _, row := range p.hashed {
		if !have[row] {
			store = append(store, row)
		}
	}
	return store, closeIDs
}

// ResolveRebase returns, given every row of the entity in force and the rows
// it should have (HistoryRowsOf), the rows to store and the ids of those to
// close: rows unchanged stay as they are. Hashed names are never closed.
func ResolveRebase(open, want []HistoryRow) (store []HistoryRow, closeIDs []int64) {
	wanted := make(map[string]bool, len(want))
	for i := range want {
		wanted[want[i].key()] = true
	}
	have := make(map[string]bool, len(open))
	for i := range open {
		k := open[i].key()
		if have[k] || (!wanted[k] && open[i].Kind != HistoryHashed) {
			closeIDs = append(closeIDs, open[i].ID)
			continue
		}
		have[k] = true
	}
	for i := range want {
		if k := want[i].key(); !have[k] {
			have[k] = true
			store = append(store, want[i])
		}
	}
	return store, closeIDs
}

// HistoryPolicy returns the entity's policy at revision rev from its rows in
// force then (ordered by ID unless all IDs are 0; others are skipped) and its condition sources, as
// LoadPolicy read it: p rules then g rules, each as stored, the active
// roles' names, the names of the hashed subjects the rules hold, the users'
// attributes.
func HistoryPolicy(entityID string, rev int64, created time.Time, rows []HistoryRow, conds map[string]string) (engine.Policy, error) {
	byID := func(a, b HistoryRow) int { return cmpInt(a.ID, b.ID) }
	if !slices.IsSortedFunc(rows, byID) {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, byID)
	}
	pol := engine.Policy{Revision: rev, Created: created, Rules: []rolegate.Rule{}, RoleNames: map[string]string{}}
	var gs []rolegate.Rule
	hashed := map[string]engine.HashedName{}
	for i := range rows {
		row := &rows[i]
		if !row.InForce(rev) {
			continue
		}
		switch row.Kind {
		case HistoryP:
			pol.Rules = append(pol.Rules, row.Rule(entityID))
		case HistoryG:
			gs = append(gs, row.Rule(entityID))
		case HistoryRoleName:
			if row.Values[0] == "1" {
				pol.RoleNames[row.Subject] = row.Data
			}
		case HistoryAttributes:
			attrs, err := DecodeAttributes(row.Data)
			if err != nil {
				return engine.Policy{}, fmt.Errorf("history of user %q: %w", row.Subject, err)
			}
			if attrs != nil {
				if pol.Attributes == nil {
					pol.Attributes = map[string]map[string]any{}
				}
				pol.Attributes[row.Subject] = attrs
			}
		case HistoryHashed:
			var n engine.HashedName
			if err := json.Unmarshal([]byte(row.Data), &n); err != nil {
				return engine.Policy{}, fmt.Errorf("history of hashed subject %q: %w", row.Subject, err)
			}
			hashed[row.Subject] = n
		}
	}
	pol.Rules = append(pol.Rules, gs...)
	for _, r := range pol.Rules {
		if len(r.Values) == 0 || !engine.Hashed(r.Values[0]) {
			continue
		}
		if n, ok := hashed[r.Values[0]]; ok {
			if pol.Hashed == nil {
				pol.Hashed = map[string]engine.HashedName{}
			}
			pol.Hashed[r.Values[0]] = n
		}
	}
	if len(conds) > 0 {
		pol.Conditions = conds
	}
	return pol, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// HistorySpanMeets reports whether the span [from, to) of a row (to 0: still
// in force) meets the revisions [lo, hi] (hi 0: up to now).
func HistorySpanMeets(from, to, lo, hi int64) bool {
	return (hi <= 0 || from <= hi) && (to == 0 || to > lo)
}

// HistoryDelta returns the delta that takes the entity's policy at revision
// from to its policy at revision to (either way: to before from undoes the
// revisions between, after redoes them), given the rows HistoryChanges
// returns for them (others are ignored where they change nothing). A rule
// in force at one revision and not the other is added or removed, the
// removals first, so that an assignment whose expiry changed (two rows of
// one link) ends as it stood at to; a role or user's attributes whose row
// changed is set to the row in force at to (none: the role inactive, the
// attributes nil); the hashed subjects named at to are named (Delta.Hashed
// only adds, as a snapshot's names only grow). A row in force at both
// revisions is in the policy at from already: it needs no operation.
// Conditions are none: the policy at from holds every condition the entity
// ever named (they go only with the entity).
func HistoryDelta(entityID string, from, to int64, rows []HistoryRow) (engine.Delta, error) {
	var d engine.Delta
	type ruleState struct {
		row          *HistoryRow
		atFrom, atTo bool
	}
	rules := map[string]*ruleState{}
	var order []string
	// slots: a role's or user's slot -> its row in force at to (nil: none,
	// as far as the changed rows tell).
	slots := map[string]*HistoryRow{}
	var slotOrder []string
	for i := range rows {
		row := &rows[i]
		atFrom, atTo := row.InForce(from), row.InForce(to)
		switch row.Kind {
		case HistoryP, HistoryG:
			if atFrom == atTo {
				continue
			}
			// A rule removed and stored again has two rows: it is in force
			// at both revisions if one is at each.
			k := row.key()
			st, ok := rules[k]
			if !ok {
				st = &ruleState{row: row}
				rules[k] = st
				order = append(order, k)
			}
			st.atFrom = st.atFrom || atFrom
			st.atTo = st.atTo || atTo
		case HistoryRoleName, HistoryAttributes:
			if atFrom == atTo {
				// In force at both: the slot is as it was. At neither: a
				// row of the revisions between, which changes the slot
				// only if another row is in force at from or to.
				continue
			}
			s := row.Kind + "\x00" + row.Subject // one row at a time is in force
			cur, had := slots[s]
			if !had {
				slotOrder = append(slotOrder, s)
			}
			switch {
			case atTo:
				slots[s] = row
			case !had:
				// In force at from: none at to unless another row says so
				// (the row in force then is one of these: it began after
				// from).
				slots[s] = nil
			default:
				slots[s] = cur
			}
		case HistoryHashed:
			if !atTo || !engine.Hashed(row.Subject) {
				continue
			}
			var n engine.HashedName
			if err := json.Unmarshal([]byte(row.Data), &n); err != nil {
				return engine.Delta{}, fmt.Errorf("history of hashed subject %q: %w", row.Subject, err)
			}
			if d.Hashed == nil {
				d.Hashed = map[string]engine.HashedName{}
			}
			d.Hashed[row.Subject] = n
		}
	}
	var removes, adds [][]string
	for _, k := range order {
		st := rules[k]
		if st.atFrom == st.atTo {
			continue
		}
		r := st.row.Rule(entityID)
		line := append([]string{r.PType}, r.Values...)
		if st.atTo {
			adds = append(adds, line)
		} else {
			removes = append(removes, line)
		}
	}
	if len(removes) > 0 {
		d.Ops = append(d.Ops, engine.DeltaOp{Op: engine.OpRemove, Rules: removes})
	}
	if len(adds) > 0 {
		d.Ops = append(d.Ops, engine.DeltaOp{Op: engine.OpAdd, Rules: adds})
	}
	for _, s := range slotOrder {
		kind, subject, _ := strings.Cut(s, "\x00")
		row := slots[s]
		if kind == HistoryRoleName {
			op := engine.DeltaOp{Op: engine.OpRole, RoleID: subject}
			if row != nil && row.Values[0] == "1" {
				op.Name, op.Active = row.Data, true
			}
			d.Ops = append(d.Ops, op)
			continue
		}
		op := engine.DeltaOp{Op: engine.OpAttributes, Subject: subject}
		if row != nil {
			attrs, err := DecodeAttributes(row.Data)
			if err != nil {
				return engine.Delta{}, fmt.Errorf("history of user %q: %w", subject, err)
			}
			if len(attrs) > 0 {
				op.Attributes = attrs
			}
		}
		d.Ops = append(d.Ops, op)
	}
	return d, nil
}
