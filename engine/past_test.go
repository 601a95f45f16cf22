package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// pastPolicies returns random successive policies of one entity (revision
// i+1 at index i), with conditional rights (some reading now), users'
// attributes and assignments expiring around base.
func pastPolicies(rng *rand.Rand, id string, n int, base time.Time) []Policy {
	objs := []string{"a", "b", rolegate.Wildcard}
	acts := []string{"x", "y", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied}
	users := []string{"u0", "u1", "u2"}
	scopes := []string{"", "team:1"}
	rights := func(k int) rolegate.Permissions {
		var p rolegate.Permissions
		seen := map[string]bool{}
		for range k {
			o, a := objs[rng.IntN(len(objs))], acts[rng.IntN(len(acts))]
			if seen[o+"/"+a] {
				continue
			}
			seen[o+"/"+a] = true
			ap := rolegate.ActionPermission{ActionName: a, Permission: vals[rng.IntN(len(vals))]}
			if rng.IntN(4) == 0 {
				ap.Condition = []string{`now > timestamp("2030-01-01T00:00:00Z")`, "user.vip == true", "resource.amount <= 100.0"}[rng.IntN(3)]
			}
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o, Actions: []rolegate.ActionPermission{ap}})
		}
		return p
	}
	out := make([]Policy, n)
	for i := range out {
		pol := Policy{Revision: int64(i + 1), Created: base, RoleNames: map[string]string{}, Conditions: map[string]string{}, Attributes: map[string]map[string]any{}}
		for r := range 3 {
			rid := fmt.Sprintf("r%d", r)
			if rng.IntN(4) > 0 {
				pol.RoleNames[rid] = "role " + rid
			}
			p := rights(rng.IntN(4))
			pol.Rules = append(pol.Rules, CompileRights(RoleSubject(rid), id, p)...)
			maps.Copy(pol.Conditions, Conditions(p))
		}
		for _, u := range users {
			if rng.IntN(2) == 0 {
				pol.Attributes[u] = map[string]any{"vip": rng.IntN(2) == 0}
			}
			if rng.IntN(3) == 0 {
				p := rights(2)
				pol.Rules = append(pol.Rules, CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: p})...)
				maps.Copy(pol.Conditions, Conditions(p))
			}
			for range rng.IntN(3) {
				a := rolegate.Assignment{EntityID: id, UserID: u, RoleID: fmt.Sprintf("r%d", rng.IntN(3)), Scope: scopes[rng.IntN(len(scopes))]}
				if rng.IntN(2) == 0 {
					at := base.Add(time.Duration(rng.IntN(20)-10) * time.Hour)
					a.ExpiresAt = &at
				}
				pol.Rules = append(pol.Rules, CompileAssignment(a))
			}
		}
		out[i] = pol
	}
	return out
}

// TestPastAgreesWithAFreshEngine: an answer from a past policy, read at an
// instant, is what a fresh engine holding that policy gives with its clock
// at that instant: checks (cached, uncached and explained), who-can (with
// and without a resource), effective rights and the access report.
func TestPastAgreesWithAFreshEngine(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(25, 1))
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"u0", "u1", "u2", "u3"}
	for round := range 20 {
		id := fmt.Sprintf("e%d", round)
		pols := pastPolicies(rng, id, 8, base)
		live, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pols[len(pols)-1]}, MaxPast: 4})
		if err != nil {
			t.Fatal(err)
		}
		for range 60 {
			rev := int64(1 + rng.IntN(len(pols)))
			at := base.Add(time.Duration(rng.IntN(40)-20) * time.Hour / 2)
			loads := 0
			p, err := live.Past(ctx, id, "inc", rev, func(context.Context) (Policy, error) { loads++; return pols[rev-1], nil })
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pols[rev-1]}, Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				req := Request{EntityID: id, UserID: users[rng.IntN(len(users))], ObjectType: []string{"a", "b"}[rng.IntN(2)],
					Action: []string{"x", "y"}[rng.IntN(2)], Scope: []string{"", "team:1"}[rng.IntN(2)], Explain: rng.IntN(3) == 0}
				if rng.IntN(2) == 0 {
					req.OwnerID = users[rng.IntN(len(users))]
				}
				if rng.IntN(2) == 0 {
					req.Resource = map[string]any{"amount": float64(rng.IntN(200))}
				}
				want, err := fresh.Check(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // uncached, then cached
					got, err := p.Check(req, at)
					if err != nil {
						t.Fatal(err)
					}
					if got.ValidUntil > time.Now().UnixMilli() {
						t.Fatalf("an as-of answer is valid until %d, after it was given", got.ValidUntil)
					}
					got.ValidUntil, want.ValidUntil = 0, 0
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("rev %d at %s %+v:\npast  %+v\nfresh %+v", rev, at, req, got, want)
					}
				}
				bs, errs := p.CheckBatch([]Request{req, req}, []time.Time{at, at})
				for i := range bs {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					bs[i].ValidUntil = 0
					if !reflect.DeepEqual(bs[i], want) {
						t.Fatalf("batch rev %d at %s %+v:\npast  %+v\nfresh %+v", rev, at, req, bs[i], want)
					}
				}
				for _, res := range []map[string]any{nil, req.Resource} {
					wh, _, err := fresh.WhoCanResource(ctx, id, req.ObjectType, req.Action, req.Scope, "", 100, res)
					if err != nil {
						t.Fatal(err)
					}
					gh, err := p.WhoCan(ctx, at, req.ObjectType, req.Action, req.Scope, "", 100, res)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(gh, wh) {
						t.Fatalf("who-can rev %d at %s %+v:\npast  %+v\nfresh %+v", rev, at, req, gh, wh)
					}
				}
				we, _, err := fresh.Effective(ctx, id, req.UserID, req.Scope)
				if err != nil {
					t.Fatal(err)
				}
				if ge := p.Effective(at, req.UserID, req.Scope); !reflect.DeepEqual(ge, we) {
					t.Fatalf("effective rev %d at %s %+v:\npast  %+v\nfresh %+v", rev, at, req, ge, we)
				}
			}
			wr, err := fresh.Report(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			gr := p.Report(at)
			if gr.Revision() != rev || wr.Revision() != rev {
				t.Fatalf("report revisions %d, %d, want %d", gr.Revision(), wr.Revision(), rev)
			}
			for _, u := range users {
				if g, w := gr.UserRights(u), wr.UserRights(u); !reflect.DeepEqual(g, w) {
					t.Fatalf("report rev %d at %s user %s:\npast  %+v\nfresh %+v", rev, at, u, g, w)
				}
			}
		}
		if live.Stats().Loads != 0 {
			t.Fatalf("answers from the past loaded the live policy %d times", live.Stats().Loads)
		}
		if n := live.past.len(); n > 4 {
			t.Fatalf("%d past snapshots held, bound 4", n)
		}
	}
}

// TestPastCacheBoundsAndKeys: a past snapshot is built once per (entity,
// incarnation, revision) while held, the cache keeps its bounds (count and
// rules), a revision whose load fails is not kept, and a past snapshot never
// becomes the live one.
func TestPastCacheBoundsAndKeys(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(25, 2))
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pols := pastPolicies(rng, "e", 6, base)
	live := pols[5]
	e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{"e": live}, MaxPast: 3, MaxPastRules: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	loads := map[string]int{}
	past := func(inc string, rev int64) *Past {
		t.Helper()
		p, err := e.Past(ctx, "e", inc, rev, func(context.Context) (Policy, error) { loads[fmt.Sprint(inc, rev)]++; return pols[rev-1], nil })
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	past("a", 1)
	past("a", 1)
	past("b", 1) // another incarnation of the entity
	if loads["a1"] != 1 || loads["b1"] != 1 {
		t.Fatalf("loads %v: want one per incarnation and revision", loads)
	}
	for rev := int64(1); rev <= 5; rev++ {
		past("a", rev)
	}
	if n := e.past.len(); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}
	if _, err := e.Past(ctx, "e", "a", 2, func(context.Context) (Policy, error) { return Policy{}, rolegate.ErrUnavailable }); err == nil {
		t.Fatal("a failed load answered")
	}
	if _, err := e.Past(ctx, "e", "a", 2, func(context.Context) (Policy, error) { return pols[0], nil }); err == nil {
		t.Fatal("a load of another revision answered")
	}
	if _, err := e.Past(ctx, "e", "a", 0, nil); err == nil {
		t.Fatal("revision 0 answered")
	}
	rev, err := e.Revision(ctx, "e")
	if err != nil || rev != live.Revision {
		t.Fatalf("live revision %d (%v), want %d", rev, err, live.Revision)
	}
	// A bound on rules: a policy larger than it is answered, not kept.
	small, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{}, MaxPastRules: 1})
	if err != nil {
		t.Fatal(err)
	}
	used := small.tableUsed.Load()
	if _, err := small.Past(ctx, "e", "a", 6, func(context.Context) (Policy, error) { return live, nil }); err != nil {
		t.Fatal(err)
	}
	if small.past.len() != 0 || small.tableUsed.Load() != used {
		t.Fatalf("a past policy over the bound is held (%d) or its table counted (%d, was %d)", small.past.len(), small.tableUsed.Load(), used)
	}
	e.ForgetPast("e")
	if e.past.len() != 0 {
		t.Fatal("ForgetPast left snapshots")
	}
}
