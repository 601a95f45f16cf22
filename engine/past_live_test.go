package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// policyDelta returns the delta that takes the policy from to the policy
// to, as the history's rows give it: rules removed then added, the roles
// and users' attributes that differ.
func policyDelta(from, to Policy) Delta {
	key := func(r rolegate.Rule) string { return r.String() }
	had := map[string]bool{}
	for _, r := range from.Rules {
		had[key(r)] = true
	}
	has := map[string]bool{}
	var removes, adds [][]string
	for _, r := range to.Rules {
		has[key(r)] = true
		if !had[key(r)] {
			adds = append(adds, append([]string{r.PType}, r.Values...))
		}
	}
	for _, r := range from.Rules {
		if !has[key(r)] {
			removes = append(removes, append([]string{r.PType}, r.Values...))
		}
	}
	var d Delta
	if len(removes) > 0 {
		d.Ops = append(d.Ops, DeltaOp{Op: OpRemove, Rules: removes})
	}
	if len(adds) > 0 {
		d.Ops = append(d.Ops, DeltaOp{Op: OpAdd, Rules: adds})
	}
	for _, id := range slices.Sorted(maps.Keys(from.RoleNames)) {
		if _, ok := to.RoleNames[id]; !ok {
			d.Ops = append(d.Ops, DeltaOp{Op: OpRole, RoleID: id})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(to.RoleNames)) {
		if n, ok := from.RoleNames[id]; !ok || n != to.RoleNames[id] {
			d.Ops = append(d.Ops, DeltaOp{Op: OpRole, RoleID: id, Name: to.RoleNames[id], Active: true})
		}
	}
	users := map[string]bool{}
	for u := range from.Attributes {
		users[u] = true
	}
	for u := range to.Attributes {
		users[u] = true
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		if !reflect.DeepEqual(from.Attributes[u], to.Attributes[u]) {
			d.Ops = append(d.Ops, DeltaOp{Op: OpAttributes, Subject: u, Attributes: to.Attributes[u]})
		}
	}
	return d
}

// livePolicies are pastPolicies as a store keeps them: one assignment of a
// user to a role (in a scope), and every policy holding the sources of
// every condition any of them names (a store keeps them all).
func livePolicies(rng *rand.Rand, id string, n int, base time.Time) []Policy {
	pols := pastPolicies(rng, id, n, base)
	conds := map[string]string{}
	for i := range pols {
		seen := map[string]bool{}
		pols[i].Rules = slices.DeleteFunc(pols[i].Rules, func(r rolegate.Rule) bool {
			if r.PType != "g" {
				return false
			}
			k := r.Values[0] + " " + r.Values[1]
			dup := seen[k]
			seen[k] = true
			return dup
		})
		maps.Copy(conds, pols[i].Conditions)
	}
	for i := range pols {
		pols[i].Conditions = conds
	}
	return pols
}

// dumpSnapshot lists what a snapshot holds, to tell it unchanged.
func dumpSnapshot(s *snapshot) []string {
	var out []string
	s.units.each(func(sub string, u *unit) {
		for _, r := range u.rules {
			out = append(out, r.String())
		}
	})
	s.links.each(func(link string, roles []string) { out = append(out, fmt.Sprint("link ", link, roles)) })
	s.roleNames.each(func(id, name string) { out = append(out, "role "+id+" "+name) })
	s.expiry.each(func(k string, at int64) { out = append(out, fmt.Sprint("expiry ", k, at)) })
	s.attrs.each(func(u string, a map[string]any) { out = append(out, fmt.Sprint("attrs ", u, a)) })
	g := s.grants()
	g.byObj.each(func(obj string, subs []string) { out = append(out, fmt.Sprint("grants ", obj, subs)) })
	g.holders.each(func(role string, hs *pmap[struct{}]) {
		hs.each(func(h string, _ struct{}) { out = append(out, "holder "+role+" "+h) })
	})
	slices.Sort(out)
	return out
}

// TestPastFromLiveAgreesWithLoad: a past snapshot built from the live one
// (its revision's changes undone or redone) answers as one built by
// loading that revision's policy: checks, who-can, effective rights, the
// access report and the users, at random instants; nothing is loaded; and
// the live snapshot is unchanged, still the entity's live one.
func TestPastFromLiveAgreesWithLoad(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(25, 2))
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"u0", "u1", "u2", "u3"}
	for round := range 20 {
		id := fmt.Sprintf("e%d", round)
		pols := livePolicies(rng, id, 10, base)
		cur := int64(1 + rng.IntN(len(pols))) // the live revision: some asked after it
		live, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pols[cur-1]}, MaxPast: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.Revision(ctx, id); err != nil {
			t.Fatal(err)
		}
		sl, _ := live.entities.load(id)
		held := sl.snap.Load()
		before := dumpSnapshot(held)
		byLoad, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{}})
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			rev := int64(1 + rng.IntN(len(pols)))
			load := func(context.Context) (Policy, error) { return pols[rev-1], nil }
			loads, asked := 0, 0
			p, err := live.PastFrom(ctx, id, "inc", rev, func(context.Context) (Policy, error) { loads++; return pols[rev-1], nil },
				func(_ context.Context, from int64, limit int) (Delta, time.Time, bool, error) {
					asked++
					if from != cur || limit < minPastChanges {
						t.Fatalf("changes asked from revision %d (limit %d), the live one is %d", from, limit, cur)
					}
					return policyDelta(pols[from-1], pols[rev-1]), base, true, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if loads != 0 || asked != 1 {
				t.Fatalf("revision %d from %d: %d loads, changes asked %d times", rev, cur, loads, asked)
			}
			want, err := byLoad.Past(ctx, id, "inc", rev, load)
			if err != nil {
				t.Fatal(err)
			}
			if p.s.decisions.Load() == held.decisions.Load() || p.Revision() != rev {
				t.Fatalf("revision %d: the past snapshot shares the live one's decisions, or is of revision %d", rev, p.Revision())
			}
			if g, w := p.Users(), want.Users(); !slices.Equal(g, w) {
				t.Fatalf("users at %d from %d: %v, by load %v", rev, cur, g, w)
			}
			for range 4 {
				at := base.Add(time.Duration(rng.IntN(40)-20) * time.Hour / 2)
				for range 8 {
					req := Request{EntityID: id, UserID: users[rng.IntN(len(users))], ObjectType: []string{"a", "b"}[rng.IntN(2)],
						Action: []string{"x", "y"}[rng.IntN(2)], Scope: []string{"", "team:1"}[rng.IntN(2)], Explain: rng.IntN(3) == 0}
					if rng.IntN(2) == 0 {
						req.OwnerID = users[rng.IntN(len(users))]
					}
					if rng.IntN(2) == 0 {
						req.Resource = map[string]any{"amount": float64(rng.IntN(200))}
					}
					for range 2 { // uncached, then cached
						g, gerr := p.Check(req, at)
						w, werr := want.Check(req, at)
						g.ValidUntil, w.ValidUntil = 0, 0
						if !reflect.DeepEqual(g, w) || !reflect.DeepEqual(gerr, werr) {
							t.Fatalf("check at %d from %d, %s, %+v:\nfrom live %+v %v\nby load   %+v %v", rev, cur, at, req, g, gerr, w, werr)
						}
					}
					for _, res := range []map[string]any{nil, req.Resource} {
						g, gerr := p.WhoCan(ctx, at, req.ObjectType, req.Action, req.Scope, "", 100, res)
						w, werr := want.WhoCan(ctx, at, req.ObjectType, req.Action, req.Scope, "", 100, res)
						if !reflect.DeepEqual(g, w) || !reflect.DeepEqual(gerr, werr) {
							t.Fatalf("who-can at %d from %d, %s, %+v:\nfrom live %+v\nby load   %+v", rev, cur, at, req, g, w)
						}
					}
					if g, w := p.Effective(at, req.UserID, req.Scope), want.Effective(at, req.UserID, req.Scope); !reflect.DeepEqual(g, w) {
						t.Fatalf("effective at %d from %d, %s, %+v:\nfrom live %+v\nby load   %+v", rev, cur, at, req, g, w)
					}
				}
				gr, wr := p.Report(at), want.Report(at)
				for _, u := range users {
					if g, w := gr.UserRights(u), wr.UserRights(u); !reflect.DeepEqual(g, w) {
						t.Fatalf("report at %d from %d, %s, user %s:\nfrom live %+v\nby load   %+v", rev, cur, at, u, g, w)
					}
				}
			}
		}
		if s := sl.snap.Load(); s != held || s.revision != cur {
			t.Fatalf("the live snapshot was replaced (revision %d, held %d)", s.revision, cur)
		}
		if after := dumpSnapshot(held); !slices.Equal(after, before) {
			t.Fatalf("the live snapshot changed:\n%v\nwas\n%v", after, before)
		}
		if live.Stats().Loads != 1 {
			t.Fatalf("%d loads of the live policy, want 1", live.Stats().Loads)
		}
	}
}

// TestPastFromLiveFallsBack: a live snapshot not held is loaded (and held
// after) to build the past one from; the past snapshot is loaded instead
// when the live one cannot be (an entity the loader does not know), when
// the store's entity is another incarnation, when too many rows changed,
// and when the delta does not apply; a failure to read the changes fails
// the answer.
func TestPastFromLiveFallsBack(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(25, 3))
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pols := livePolicies(rng, "e", 4, base)
	build := func(loader mapLoader, changes PastChanges) (e *Engine, loads, asked int, err error) {
		e, err = New(Config{Model: rolegate.CasbinModel, Loader: loader, MaxPast: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.PastFrom(ctx, "e", "inc", 2, func(context.Context) (Policy, error) { loads++; return pols[1], nil },
			func(c context.Context, from int64, limit int) (Delta, time.Time, bool, error) {
				asked++
				return changes(c, from, limit)
			})
		return e, loads, asked, err
	}
	undo := func(_ context.Context, from int64, _ int) (Delta, time.Time, bool, error) {
		return policyDelta(pols[from-1], pols[1]), base, true, nil
	}
	e, loads, asked, err := build(mapLoader{"e": pols[3]}, undo)
	if rev, held := e.Held("e"); err != nil || loads != 0 || asked != 1 || e.Stats().Loads != 1 || !held || rev != 4 {
		t.Fatalf("not held: %d loads of the past policy, changes asked %d times, %d live loads, held %v at %d, %v", loads, asked, e.Stats().Loads, held, rev, err)
	}
	if _, loads, asked, err := build(mapLoader{}, undo); err != nil || loads != 1 || asked != 0 {
		t.Fatalf("no live policy: %d loads, changes asked %d times, %v", loads, asked, err)
	}
	for name, changes := range map[string]PastChanges{
		"another incarnation": func(_ context.Context, from int64, _ int) (Delta, time.Time, bool, error) {
			return policyDelta(pols[from-1], pols[1]), base.Add(time.Millisecond), true, nil
		},
		"too many changes": func(context.Context, int64, int) (Delta, time.Time, bool, error) {
			return Delta{}, base, false, nil
		},
		"a delta that does not apply": func(context.Context, int64, int) (Delta, time.Time, bool, error) {
			return Delta{Ops: []DeltaOp{{Op: OpAdd, Rules: [][]string{{"p", "u#0123", "e", "a", "x", "allow", "any"}}}}}, base, true, nil
		},
	} {
		if _, loads, asked, err := build(mapLoader{"e": pols[3]}, changes); err != nil || loads != 1 || asked != 1 {
			t.Fatalf("%s: %d loads, changes asked %d times, %v", name, loads, asked, err)
		}
	}
	boom := errors.New("boom")
	if _, _, _, err := build(mapLoader{"e": pols[3]}, func(context.Context, int64, int) (Delta, time.Time, bool, error) {
		return Delta{}, time.Time{}, false, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("a failed read of the changes: %v", err)
	}
}
