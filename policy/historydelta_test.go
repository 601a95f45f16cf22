package policy_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/storetest"
)

// randomHistory writes revs revisions of random changes to an entity's
// rows, as the stores keep them: at most one row of a rule, role or user's
// attributes in force at a time; a rule removed and stored again, an
// assignment's expiry changed (a row closed, another stored), roles renamed
// and deactivated, attributes set and cleared, hashed subjects named once.
func randomHistory(rnd *rand.Rand, entity string, revs int64) []policy.HistoryRow {
	var rows []policy.HistoryRow
	open := map[string]int{} // a slot (a rule's, role's or user's) -> its row in force
	var nextID int64
	store := func(slot string, row policy.HistoryRow, rev int64) {
		if i, ok := open[slot]; ok {
			rows[i].To = rev
			delete(open, slot)
		}
		nextID++
		row.ID, row.From = nextID, rev
		rows = append(rows, row)
		open[slot] = len(rows) - 1
	}
	closeSlot := func(slot string, rev int64) {
		if i, ok := open[slot]; ok {
			rows[i].To = rev
			delete(open, slot)
		}
	}
	long := strings.Repeat("x", 300)
	subjects := []string{"r:role-0", "r:role-1", "r:role-2", "u:alice", "u:bob"}
	named := map[string]bool{}
	for rev := int64(1); rev <= revs; rev++ {
		for range 1 + rnd.IntN(4) {
			user := []string{"alice", "bob", "carol", long + "1", long + "2"}[rnd.IntN(5)]
			sub, hashed := engine.HashedSubject(user, "")
			if hashed && !named[sub] {
				named[sub] = true
				nextID++
				rows = append(rows, policy.HistoryRow{ID: nextID, Kind: policy.HistoryHashed, Subject: sub,
					Data: fmt.Sprintf(`{"user_id":%q}`, user), From: rev})
			}
			role := fmt.Sprintf("role-%d", rnd.IntN(3))
			switch rnd.IntN(6) {
			case 0, 1: // a right given or taken
				s := subjects[rnd.IntN(len(subjects))]
				if rnd.IntN(3) == 0 {
					s = sub
				}
				row := policy.HistoryRow{Kind: policy.HistoryP, Subject: s,
					Values: [5]string{"", []string{"doc", "invoice"}[rnd.IntN(2)], []string{"read", "write"}[rnd.IntN(2)], "allow", "any"}}
				slot := "p" + row.Subject + row.Values[1] + row.Values[2]
				if _, in := open[slot]; in && rnd.IntN(2) == 0 {
					closeSlot(slot, rev)
				} else if !in {
					store(slot, row, rev)
				}
			case 2: // an assignment given (expiring or not), changed or taken
				slot := "g" + sub + role
				if _, in := open[slot]; in && rnd.IntN(2) == 0 {
					closeSlot(slot, rev)
					continue
				}
				row := policy.HistoryRow{Kind: policy.HistoryG, Subject: sub, Values: [5]string{"r:" + role}}
				if rnd.IntN(2) == 0 {
					row.Values[2] = fmt.Sprint(1_000_000 + rnd.IntN(5))
				}
				store(slot, row, rev)
			case 3: // a role named, renamed or deactivated
				row := policy.HistoryRow{Kind: policy.HistoryRoleName, Subject: role, Data: fmt.Sprintf("name %d", rnd.IntN(3))}
				if rnd.IntN(3) > 0 {
					row.Values[0] = "1"
				}
				if rnd.IntN(5) == 0 {
					closeSlot("r"+role, rev)
				} else {
					store("r"+role, row, rev)
				}
			case 4: // a user's attributes set or cleared
				if rnd.IntN(3) == 0 {
					closeSlot("a"+user, rev)
				} else {
					store("a"+user, policy.HistoryRow{Kind: policy.HistoryAttributes, Subject: user, Data: fmt.Sprintf(`{"limit":%d}`, rnd.IntN(3))}, rev)
				}
			case 5: // a rule removed and stored again by one revision
				for slot, i := range open {
					if rows[i].Kind == policy.HistoryP && rnd.IntN(4) == 0 {
						row := rows[i]
						store(slot, row, rev)
						break
					}
				}
			}
		}
	}
	return rows
}

// changedRows returns the rows HistoryChanges returns for (lo, hi].
func changedRows(rows []policy.HistoryRow, lo, hi int64) []policy.HistoryRow {
	in := func(rev int64) bool { return rev > lo && rev <= hi }
	var out []policy.HistoryRow
	hashed := map[string]bool{}
	for _, r := range rows {
		if in(r.From) || in(r.To) {
			out = append(out, r)
			hashed[r.Subject] = true
		}
	}
	for _, r := range rows {
		if r.Kind == policy.HistoryHashed && hashed[r.Subject] && !in(r.From) {
			out = append(out, r)
		}
	}
	return out
}

// TestHistoryDelta: over random histories, the policy at a revision c with
// the delta to a revision r applied (HistoryDelta of the rows changed
// between, either way) is the policy at r (HistoryPolicy).
func TestHistoryDelta(t *testing.T) {
	const entity = "e1"
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 25))
		const revs = 60
		rows := randomHistory(rnd, entity, revs)
		at := func(rev int64) engine.Policy {
			pol, err := policy.HistoryPolicy(entity, rev, created, rows, nil)
			if err != nil {
				t.Fatal(err)
			}
			return pol
		}
		for range 100 {
			c, r := 1+rnd.Int64N(revs), 1+rnd.Int64N(revs)
			d, err := policy.HistoryDelta(entity, c, r, changedRows(rows, min(c, r), max(c, r)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Conditions) > 0 || d.Full {
				t.Fatalf("seed %d, %d to %d: %+v", seed, c, r, d)
			}
			got, want := storetest.CanonicalPolicy(storetest.ApplyPolicyDelta(at(c), r, d)), storetest.CanonicalPolicy(at(r))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: the policy at %d with the delta to %d applied\n%+v\nthe policy at %d\n%+v\ndelta %+v", seed, c, r, got, r, want, d)
			}
		}
	}
}
