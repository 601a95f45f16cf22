package memstore

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// entityHistory is one entity's history (policy.HistoryStore): its rows, as
// the SQL stores' history_rows, and its revisions. A committed one is never
// changed: a write copies it first (ownHistory).
type entityHistory struct {
	rows   []policy.HistoryRow // by ID
	revs   map[int64]policy.HistoryEntry
	nextID int64
}

// ownHistory returns the write's own copy of the entity's history.
func (t *tx) ownHistory(entityID string) *entityHistory {
	t.own(tHistory)
	if !t.ownedHistory[entityID] {
		t.ownedHistory[entityID] = true
		h := &entityHistory{revs: map[int64]policy.HistoryEntry{}}
		if old := t.st.history[entityID]; old != nil {
			h.rows = slices.Clone(old.rows)
			h.revs = maps.Clone(old.revs)
			h.nextID = old.nextID
		}
		t.st.history[entityID] = h
	}
	return t.st.history[entityID]
}

// open returns the rows in force now of the given subjects (nil: all).
func (h *entityHistory) open(subjects []string) []policy.HistoryRow {
	var want map[string]bool
	if subjects != nil {
		want = make(map[string]bool, len(subjects))
		for _, s := range subjects {
			want[s] = true
		}
	}
	var out []policy.HistoryRow
	for _, r := range h.rows {
		if r.To == 0 && (want == nil || want[r.Subject]) {
			out = append(out, r)
		}
	}
	return out
}

// last returns the entity's latest revision kept (0: none).
func (h *entityHistory) last() int64 {
	var m int64
	for r := range h.revs {
		m = max(m, r)
	}
	return m
}

func copyChangeOf(c *rolegate.HistoryChange) *rolegate.HistoryChange {
	if c == nil {
		return nil
	}
	x := *c
	return &x
}

func (t *tx) AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error {
	if err := t.writing(tHistory); err != nil {
		return err
	}
	id := rev.EntityID
	if _, ok := t.st.entities[id]; !ok { // deleted: its history goes with it
		delete(t.st.history, id)
		return nil
	}
	plan, err := policy.NewHistoryPlan(id, d)
	if err != nil {
		return err
	}
	h := t.ownHistory(id)
	var add []policy.HistoryRow
	var closeIDs []int64
	if last := h.last(); plan.Rebase() || last == 0 || last != rev.Revision-1 {
		pol, err := loadPolicy(&t.st, id)
		if err != nil {
			return err
		}
		want, err := policy.HistoryRowsOf(id, pol)
		if err != nil {
			return err
		}
		add, closeIDs = policy.ResolveRebase(h.open(nil), want)
	} else if plan.AddsOnly() {
		add, _ = plan.Resolve(nil)
	} else if !plan.Empty() {
		add, closeIDs = plan.Resolve(h.open(plan.Subjects()))
	}
	closing := make(map[int64]bool, len(closeIDs))
	for _, c := range closeIDs {
		closing[c] = true
	}
	for i := range h.rows {
		if closing[h.rows[i].ID] && h.rows[i].To == 0 {
			h.rows[i].To = rev.Revision
		}
	}
	for _, r := range add {
		h.nextID++
		r.ID, r.From, r.To = h.nextID, rev.Revision, 0
		h.rows = append(h.rows, r)
	}
	rev.At = utc(rev.At)
	h.revs[rev.Revision] = policy.HistoryEntry{Revision: rev, Change: copyChangeOf(change)}
	return nil
}

func (t *tx) HistoryRevisionAt(entityID string, at time.Time) (rolegate.Revision, error) {
	h := t.st.history[entityID]
	var best *policy.HistoryEntry
	if h != nil {
		for _, e := range h.revs {
			if e.At.After(at) {
				continue
			}
			if best == nil || e.At.After(best.At) || (e.At.Equal(best.At) && e.Revision.Revision > best.Revision.Revision) {
				e := e
				best = &e
			}
		}
	}
	if best == nil {
		return rolegate.Revision{}, notFound("history of entity %q at %s", entityID, at.Format(time.RFC3339Nano))
	}
	return best.Revision, nil
}

func (t *tx) HistoryRevisions(entityID string, revs []int64) (map[int64]policy.HistoryEntry, error) {
	out := map[int64]policy.HistoryEntry{}
	h := t.st.history[entityID]
	if h == nil {
		return out, nil
	}
	for _, r := range revs {
		if e, ok := h.revs[r]; ok {
			e.Change = copyChangeOf(e.Change)
			out[r] = e
		}
	}
	return out, nil
}

func (t *tx) HistoryStart(entityID string) (rolegate.Revision, error) {
	h := t.st.history[entityID]
	if h == nil || len(h.revs) == 0 {
		return rolegate.Revision{}, notFound("history of entity %q", entityID)
	}
	first := int64(-1)
	for r := range h.revs {
		if first < 0 || r < first {
			first = r
		}
	}
	return h.revs[first].Revision, nil
}

func (t *tx) PolicyAt(entityID string, rev int64) (engine.Policy, error) {
	h := t.st.history[entityID]
	e, ok := t.st.entities[entityID]
	if h == nil || !ok {
		return engine.Policy{}, notFound("history of entity %q", entityID)
	}
	if _, kept := h.revs[rev]; !kept {
		return engine.Policy{}, notFound("revision %d of entity %q", rev, entityID)
	}
	var conds map[string]string
	if c := t.st.conditions[entityID]; len(c) > 0 {
		conds = maps.Clone(c)
	}
	return policy.HistoryPolicy(entityID, rev, e.CreatedAt, h.rows, conds)
}

func (t *tx) HistoryChanges(entityID string, lo, hi int64, limit int) ([]policy.HistoryRow, bool, error) {
	h := t.st.history[entityID]
	if h == nil {
		return nil, true, nil
	}
	in := func(rev int64) bool { return rev > lo && rev <= hi }
	var out []policy.HistoryRow
	hashed := map[string]bool{}
	for _, r := range h.rows {
		if !in(r.From) && !in(r.To) {
			continue
		}
		if limit > 0 && len(out) == limit {
			return nil, false, nil
		}
		out = append(out, r)
		if engine.Hashed(r.Subject) {
			hashed[r.Subject] = true
		}
	}
	for _, r := range h.rows {
		if r.Kind == policy.HistoryHashed && hashed[r.Subject] && !in(r.From) && !in(r.To) {
			out = append(out, r)
		}
	}
	return out, true, nil
}

// spans returns the rows of the given kinds and subjects whose span meets
// [from, to], ordered by From then as stored.
func (t *tx) spans(entityID string, kinds string, subjects []string, from, to int64) []policy.HistoryRow {
	h := t.st.history[entityID]
	if h == nil {
		return nil
	}
	want := map[string]bool{}
	for _, s := range subjects {
		want[s] = true
	}
	var out []policy.HistoryRow
	for _, r := range h.rows {
		if want[r.Subject] && len(r.Kind) == 1 && containsByte(kinds, r.Kind[0]) && policy.HistorySpanMeets(r.From, r.To, from, to) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func (t *tx) RuleHistory(entityID string, subjects []string, from, to int64) ([]policy.HistoryRule, error) {
	var out []policy.HistoryRule
	for _, r := range t.spans(entityID, policy.HistoryP+policy.HistoryG, subjects, from, to) {
		out = append(out, policy.HistoryRule{Rule: r.Rule(entityID), From: r.From, To: r.To})
	}
	return out, nil
}

func (t *tx) RoleHistory(entityID string, roleIDs []string, from, to int64) ([]policy.HistoryRole, error) {
	var out []policy.HistoryRole
	for _, r := range t.spans(entityID, policy.HistoryRoleName, roleIDs, from, to) {
		out = append(out, policy.HistoryRole{RoleID: r.Subject, Name: r.Data, Active: r.Values[0] == "1", From: r.From, To: r.To})
	}
	return out, nil
}

func (t *tx) SweepHistory(before time.Time, limit int) (map[string]int, error) {
	if err := t.writing(tHistory); err != nil {
		return nil, err
	}
	out := map[string]int{}
	ids := slices.Sorted(maps.Keys(t.st.history))
	for _, id := range ids {
		if limit <= 0 {
			break
		}
		old := t.st.history[id]
		// The revision in force at before: every answer at or after it
		// needs it and the rows in force at it.
		in, err := t.HistoryRevisionAt(id, before)
		if err != nil {
			continue // none that old
		}
		cut := in.Revision
		n := 0
		for _, r := range old.rows {
			if r.To != 0 && r.To <= cut {
				n++
			}
		}
		for r := range old.revs {
			if r < cut {
				n++
			}
		}
		if n == 0 {
			continue
		}
		h := t.ownHistory(id)
		removed := 0
		kept := h.rows[:0]
		for _, r := range h.rows {
			if removed < limit && r.To != 0 && r.To <= cut {
				removed++
				continue
			}
			kept = append(kept, r)
		}
		h.rows = kept
		for _, r := range slices.Sorted(maps.Keys(h.revs)) {
			if removed >= limit || r >= cut {
				break
			}
			delete(h.revs, r)
			removed++
		}
		out[id] = removed
		limit -= removed
	}
	return out, nil
}
