package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// A store may keep a write's HistoryPlan with the write's revision, in the
// write's transaction, and file it into its rows later, in one batch with
// the plans of the revisions around it (adapters: every 32nd revision of
// an entity, and before any read of its rows). The plan is what the
// write changed, as rows: filing it later gives the rows filing it at once
// would have given.

// historyPlanJSON is a HistoryPlan as a store keeps it when a value holds
// a separator of the compact form (Encode): rows as their kind, subject,
// values and data.
type historyPlanJSON struct {
	Rules    [][8]string `json:"rules,omitempty"`
	Stored   []bool      `json:"stored,omitempty"`
	Replaced []string    `json:"replaced,omitempty"`
	Single   [][8]string `json:"single,omitempty"`
	Hashed   [][8]string `json:"hashed,omitempty"`
}

func planRowJSON(r HistoryRow) [8]string {
	return [8]string{r.Kind, r.Subject, r.Values[0], r.Values[1], r.Values[2], r.Values[3], r.Values[4], r.Data}
}

func planRowOf(a [8]string) HistoryRow {
	return HistoryRow{Kind: a[0], Subject: a[1], Values: [5]string{a[2], a[3], a[4], a[5], a[6]}, Data: a[7]}
}

// Len returns how many rows the plan names: its encoding (Encode) takes
// 10 bytes a row or more (a tag, 7 separators, a kind and a subject),
// known without making it.
func (p *HistoryPlan) Len() int {
	return len(p.order) + len(p.single) + len(p.hashed)
}

// A plan is kept in one string: a record per row or replaced subject,
// separated by planRecord, each a tag (planStored, planRemoved, ...) then
// its fields separated by planField (a row's kind, subject, values and
// data). No value holds either (rule values and names are printable,
// attributes and hashed names JSON, which escapes them); a plan one would
// be in is kept as JSON (historyPlanJSON) instead, which begins with '{'.
// Reading it costs a split, where JSON cost the writes' filing 40 µs a
// plan of a role's 20 rights.
const (
	planRecord = "\x1e"
	planField  = "\x1f"

	planStored   = 'a' // a rule the write leaves stored
	planRemoved  = 'd' // a rule the write removed
	planReplaced = 'p' // a subject whose p rules the write replaced
	planSingle   = 's' // a role's name or a user's attributes after the write
	planHashed   = 'h' // a hashed subject's name
)

// Encode returns the plan as a store keeps it (DecodeHistoryPlan reads it).
// A plan to rebase cannot be kept: it is filed at once.
func (p *HistoryPlan) Encode() ([]byte, error) {
	if p.rebase {
		return nil, fmt.Errorf("history: a plan to rebase is not kept")
	}
	var b strings.Builder
	b.Grow(64 * (p.Len() + len(p.replaced)))
	clean := true
	record := func(tag byte, fields ...string) {
		if b.Len() > 0 {
			b.WriteString(planRecord)
		}
		b.WriteByte(tag)
		for i, f := range fields {
			if i > 0 {
				b.WriteString(planField)
			}
			if strings.ContainsAny(f, planRecord+planField) {
				clean = false
			}
			b.WriteString(f)
		}
	}
	row := func(tag byte, r HistoryRow) {
		record(tag, r.Kind, r.Subject, r.Values[0], r.Values[1], r.Values[2], r.Values[3], r.Values[4], r.Data)
	}
	for _, r := range p.order {
		if p.rules[r] {
			row(planStored, r)
		} else {
			row(planRemoved, r)
		}
	}
	for _, sub := range sortedKeys(p.replaced) {
		record(planReplaced, sub)
	}
	for _, s := range p.singleKeys {
		row(planSingle, p.single[s])
	}
	for _, r := range p.hashed {
		row(planHashed, r)
	}
	if clean { // a tag first: never '{'
		return []byte(b.String()), nil
	}
	var j historyPlanJSON
	for _, r := range p.order {
		j.Rules = append(j.Rules, planRowJSON(r))
		j.Stored = append(j.Stored, p.rules[r])
	}
	j.Replaced = sortedKeys(p.replaced)
	for _, s := range p.singleKeys {
		j.Single = append(j.Single, planRowJSON(p.single[s]))
	}
	for _, r := range p.hashed {
		j.Hashed = append(j.Hashed, planRowJSON(r))
	}
	return json.Marshal(j)
}

// DecodeHistoryPlan reads a plan of entityID kept by Encode.
func DecodeHistoryPlan(entityID string, b []byte) (*HistoryPlan, error) {
	p := &HistoryPlan{entityID: entityID, rules: map[HistoryRow]bool{}, order: []HistoryRow{},
		replaced: map[string]bool{}, single: map[historySlot]HistoryRow{}, subjects: map[string]bool{}}
	if len(b) > 0 && b[0] == '{' {
		var j historyPlanJSON
		if err := json.Unmarshal(b, &j); err != nil {
			return nil, fmt.Errorf("history: a kept plan: %w", err)
		}
		if len(j.Stored) != len(j.Rules) {
			return nil, fmt.Errorf("history: a kept plan has %d rules and %d flags", len(j.Rules), len(j.Stored))
		}
		for i, a := range j.Rules {
			p.setRule(planRowOf(a), j.Stored[i])
		}
		for _, s := range j.Replaced {
			p.replaced[s] = true
			p.subjects[s] = true
		}
		for _, a := range j.Single {
			p.setSingle(planRowOf(a))
		}
		for _, a := range j.Hashed {
			r := planRowOf(a)
			p.hashed = append(p.hashed, r)
			p.subjects[r.Subject] = true
		}
		return p, nil
	}
	if len(b) == 0 {
		return p, nil
	}
	var f [8]string
	for rec := range strings.SplitSeq(string(b), planRecord) {
		if rec == "" {
			return nil, fmt.Errorf("history: a kept plan has an empty record")
		}
		tag, rest := rec[0], rec[1:]
		if tag == planReplaced {
			if rest == "" || strings.Contains(rest, planField) {
				return nil, fmt.Errorf("history: a kept plan's replaced subject %q", rest)
			}
			p.replaced[rest] = true
			p.subjects[rest] = true
			continue
		}
		n := 0
		for v := range strings.SplitSeq(rest, planField) {
			if n == len(f) {
				return nil, fmt.Errorf("history: a kept plan's row has more than %d fields", len(f))
			}
			f[n] = v
			n++
		}
		if n != len(f) {
			return nil, fmt.Errorf("history: a kept plan's row has %d fields, not %d", n, len(f))
		}
		r := planRowOf(f)
		switch tag {
		case planStored, planRemoved:
			p.setRule(r, tag == planStored)
		case planSingle:
			p.setSingle(r)
		case planHashed:
			p.hashed = append(p.hashed, r)
			p.subjects[r.Subject] = true
		default:
			return nil, fmt.Errorf("history: a kept plan's record of tag %q", tag)
		}
	}
	return p, nil
}

// FileHistoryPlans resolves the plans of revisions revs (ascending), in
// turn, over open (the rows in force before the first, with their ids, of
// at least the subjects the plans touch): it returns the rows of open each
// revision removed (id -> that revision), and the rows to store, in the
// order stored, each with its span (From, and To when a later revision of
// the batch removed it; 0 otherwise). The same as resolving each plan in
// its own write.
func FileHistoryPlans(open []HistoryRow, revs []int64, plans []*HistoryPlan) (closeAt map[int64]int64, store []HistoryRow) {
	closeAt = map[int64]int64{}
	cur := slices.Clone(open)
	for i, p := range plans {
		rev := revs[i]
		add, ids := p.Resolve(cur)
		if len(ids) > 0 {
			gone := make(map[int64]bool, len(ids))
			for _, id := range ids {
				gone[id] = true
				if id > 0 {
					closeAt[id] = rev
				} else {
					store[-id-1].To = rev
				}
			}
			cur = slices.DeleteFunc(cur, func(r HistoryRow) bool { return gone[r.ID] })
		}
		for _, r := range add {
			// Rows stored in the batch are told apart by ids below 0 until
			// the store gives them theirs.
			r.From, r.To, r.ID = rev, 0, -int64(len(store)+1)
			store = append(store, r)
			cur = append(cur, r)
		}
	}
	for i := range store {
		store[i].ID = 0
	}
	return closeAt, store
}
