package policy_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// randomDelta is a random write's delta to entity e: rules stored and
// removed, a role's rights replaced, roles renamed and deactivated, users'
// attributes set and cleared, hashed subjects named.
func randomDelta(rnd *rand.Rand, e string) engine.Delta {
	var d engine.Delta
	role := func() string { return fmt.Sprintf("r:role-%d", rnd.IntN(3)) }
	user := func() string { return []string{"u:alice", "u:bob", "u:carol"}[rnd.IntN(3)] }
	right := func(sub string) []string {
		return []string{"p", sub, e, []string{"doc", "invoice"}[rnd.IntN(2)], []string{"read", "pay"}[rnd.IntN(2)], "allow", "any"}
	}
	for range 1 + rnd.IntN(4) {
		switch rnd.IntN(6) {
		case 0, 1:
			op := []string{engine.OpAdd, engine.OpRemove}[rnd.IntN(2)]
			var rules [][]string
			for range 1 + rnd.IntN(3) {
				if rnd.IntN(2) == 0 {
					rules = append(rules, right([]string{role(), user()}[rnd.IntN(2)]))
				} else {
					g := []string{"g", user(), role(), e}
					if rnd.IntN(3) == 0 {
						g = append(g, fmt.Sprint(1_000_000+rnd.IntN(3)))
					}
					rules = append(rules, g)
				}
			}
			d.Ops = append(d.Ops, engine.DeltaOp{Op: op, Rules: rules})
		case 2:
			sub := role()
			var rules [][]string
			for range rnd.IntN(4) {
				rules = append(rules, right(sub))
			}
			d.Ops = append(d.Ops, engine.DeltaOp{Op: engine.OpReplace, Subject: sub, Rules: rules})
		case 3:
			d.Ops = append(d.Ops, engine.DeltaOp{Op: engine.OpRole, RoleID: role()[2:], Name: fmt.Sprintf("name %d", rnd.IntN(3)), Active: rnd.IntN(4) > 0})
		case 4:
			var attrs map[string]any
			if rnd.IntN(3) > 0 {
				attrs = map[string]any{"limit": rnd.IntN(3)}
			}
			d.Ops = append(d.Ops, engine.DeltaOp{Op: engine.OpAttributes, Subject: user()[2:], Attributes: attrs})
		case 5:
			if d.Hashed == nil {
				d.Hashed = map[string]engine.HashedName{}
			}
			n := rnd.IntN(2)
			d.Hashed[fmt.Sprintf("h:%d", n)] = engine.HashedName{UserID: fmt.Sprintf("long-user-%d", n)}
		}
	}
	return d
}

// historyTable is a store's history_rows in memory: rows by id, in order.
type historyTable struct {
	rows []policy.HistoryRow
}

func (h *historyTable) open() []policy.HistoryRow {
	var out []policy.HistoryRow
	for _, r := range h.rows {
		if r.To == 0 {
			out = append(out, r)
		}
	}
	return out
}

func (h *historyTable) close(id, rev int64) {
	for i := range h.rows {
		if h.rows[i].ID == id && h.rows[i].To == 0 {
			h.rows[i].To = rev
		}
	}
}

func (h *historyTable) store(r policy.HistoryRow) {
	r.ID = int64(len(h.rows) + 1)
	h.rows = append(h.rows, r)
}

// TestFileHistoryPlans: plans kept (Encode, DecodeHistoryPlan) and filed in
// batches (FileHistoryPlans) give the rows each write filing its own plan
// gives, row for row, over random writes and batch sizes.
func TestFileHistoryPlans(t *testing.T) {
	const e = "acme"
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		var each, batched historyTable
		var revs []int64
		var plans []*policy.HistoryPlan
		file := func() {
			closeAt, store := policy.FileHistoryPlans(batched.open(), revs, plans)
			for id, rev := range closeAt {
				batched.close(id, rev)
			}
			for _, r := range store {
				batched.store(r)
			}
			revs, plans = nil, nil
		}
		batch := 1 + rnd.IntN(8)
		for rev := int64(1); rev <= 60; rev++ {
			d := randomDelta(rnd, e)
			plan, err := policy.NewHistoryPlan(e, d)
			if err != nil {
				t.Fatal(err)
			}
			add, closeIDs := plan.Resolve(each.open())
			for _, id := range closeIDs {
				each.close(id, rev)
			}
			for _, r := range add {
				r.From = rev
				each.store(r)
			}
			kept, err := plan.Encode()
			if err != nil {
				t.Fatal(err)
			}
			again, err := policy.DecodeHistoryPlan(e, kept)
			if err != nil {
				t.Fatal(err)
			}
			revs, plans = append(revs, rev), append(plans, again)
			if rnd.IntN(batch) == 0 {
				file()
			}
		}
		file()
		if !reflect.DeepEqual(each.rows, batched.rows) {
			for i := range max(len(each.rows), len(batched.rows)) {
				var a, b policy.HistoryRow
				if i < len(each.rows) {
					a = each.rows[i]
				}
				if i < len(batched.rows) {
					b = batched.rows[i]
				}
				if a != b {
					t.Fatalf("seed %d: row %d: filed by its write %+v, in batches %+v", seed, i, a, b)
				}
			}
		}
		if len(each.rows) < 20 || !slices.ContainsFunc(each.rows, func(r policy.HistoryRow) bool { return r.To > 0 }) {
			t.Fatalf("seed %d: the writes stored %d rows: too few to tell", seed, len(each.rows))
		}
	}
}

// TestHistoryPlanKept: a plan kept and read again is the same plan, and a
// kept plan that does not read is an error, not an empty plan.
func TestHistoryPlanKept(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		plan, err := policy.NewHistoryPlan("acme", randomDelta(rnd, "acme"))
		if err != nil {
			t.Fatal(err)
		}
		kept, err := plan.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := policy.DecodeHistoryPlan("acme", kept)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(plan, again) {
			t.Fatalf("kept %s: read %+v, was %+v", kept, again, plan)
		}
		if len(kept) < 10*plan.Len() {
			t.Fatalf("a plan of %d rows kept in %d bytes: Len does not bound it", plan.Len(), len(kept))
		}
	}
	full, _ := policy.NewHistoryPlan("acme", engine.Delta{Full: true})
	if _, err := full.Encode(); err == nil {
		t.Fatal("a plan to rebase was kept")
	}
	for _, bad := range []string{`{`, `{"rules":[["p","r:x","","doc","read","allow","any",""]]}`, `[]`,
		"ap\x1fr:x\x1f\x1fdoc\x1fread\x1fallow\x1fany",             // a field short
		"ap\x1fr:x\x1f\x1fdoc\x1fread\x1fallow\x1fany\x1f\x1fmore", // a field over
		"xp\x1fr:x\x1f\x1fdoc\x1fread\x1fallow\x1fany\x1f",         // no such tag
		"pr:x\x1e\x1epr:y", "p", "pr:x\x1fr:y"} { // an empty record, an empty or split subject
		if _, err := policy.DecodeHistoryPlan("acme", []byte(bad)); err == nil {
			t.Fatalf("%q read as a plan", bad)
		}
	}
	// A value holding a separator of the compact form: kept as JSON, and
	// read back the same.
	d := engine.Delta{Ops: []engine.DeltaOp{{Op: engine.OpRole, RoleID: "r1", Name: "odd\x1fname\x1e", Active: true},
		{Op: engine.OpAdd, Rules: [][]string{{"p", "r:r1", "acme", "doc", "read", "allow", "any"}}}}}
	plan, err := policy.NewHistoryPlan("acme", d)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := plan.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := policy.DecodeHistoryPlan("acme", kept)
	if err != nil || kept[0] != '{' || !reflect.DeepEqual(plan, again) {
		t.Fatalf("kept %q: read %+v (%v), was %+v", kept, again, err, plan)
	}
}
