package policy

import (
	"encoding/json"
	"fmt"
	"slices"
)

// A store may keep a write's HistoryPlan with the write's revision, in the
// write's transaction, and file it into its rows later, in one batch with
// the plans of the revisions around it (adapters: every 32nd revision of
// an entity, and before any read of its rows). The plan is what the
// write changed, as rows: filing it later gives the rows filing it at once
// would have given.

// historyPlanJSON is a HistoryPlan as a store keeps it: rows as their kind,
// subject, values and data.
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
// 25 bytes a row or more, known without making it.
func (p *HistoryPlan) Len() int {
	return len(p.order) + len(p.single) + len(p.hashed)
}

// Encode returns the plan as a store keeps it (DecodeHistoryPlan reads it).
// A plan to rebase cannot be kept: it is filed at once.
func (p *HistoryPlan) Encode() ([]byte, error) {
	if p.rebase {
		return nil, fmt.Errorf("history: a plan to rebase is not kept")
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
	var j historyPlanJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("history: a kept plan: %w", err)
	}
	if len(j.Stored) != len(j.Rules) {
		return nil, fmt.Errorf("history: a kept plan has %d rules and %d flags", len(j.Rules), len(j.Stored))
	}
	p := &HistoryPlan{entityID: entityID, rules: make(map[HistoryRow]bool, len(j.Rules)), order: make([]HistoryRow, 0, len(j.Rules)),
		replaced: map[string]bool{}, single: map[historySlot]HistoryRow{}, subjects: map[string]bool{}}
	for i, a := range j.Rules {
		r := planRowOf(a)
		if _, seen := p.rules[r]; !seen {
			p.order = append(p.order, r)
		}
		p.rules[r] = j.Stored[i]
		p.subjects[r.Subject] = true
	}
	for _, s := range j.Replaced {
		p.replaced[s] = true
		p.subjects[s] = true
	}
	for _, a := range j.Single {
		r := planRowOf(a)
		s := historySlot{r.Kind, r.Subject}
		if _, seen := p.single[s]; !seen {
			p.singleKeys = append(p.singleKeys, s)
		}
		p.single[s] = r
		p.subjects[r.Subject] = true
	}
	for _, a := range j.Hashed {
		r := planRowOf(a)
		p.hashed = append(p.hashed, r)
		p.subjects[r.Subject] = true
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
