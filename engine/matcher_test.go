package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// TestCompiledMatcherIsEnforce holds a decider's compiled matcher to
// Casbin's Enforce: two engines over the same random policies (allows,
// allows for own, denies, wildcards, rights with conditions that are true,
// false or fail, users' own rights, scoped and expiring assignments,
// inactive roles), one deciding through Enforce, give the same decision,
// explained or not, to every random check (owners, scopes, resources), with
// no decision cache so that every check is decided.
func TestCompiledMatcherIsEnforce(t *testing.T) {
	objs := []string{"a", "b", "c", rolegate.Wildcard}
	acts := []string{"x", "y", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	scopes := []string{"", "team:1", "team:2"}
	rng := rand.New(rand.NewPCG(41, 7))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rights := func(n int) rolegate.Permissions { return oracleRights(rng, n) }
	ctx := context.Background()
	seen := map[rolegate.Permission]int{}
	var conditional, expiring int
	for round := range 150 {
		id := fmt.Sprintf("e%d", round)
		pol := Policy{Revision: 1, RoleNames: map[string]string{}, Conditions: map[string]string{}, Attributes: map[string]map[string]any{}}
		nroles := 1 + rng.IntN(5)
		for r := range nroles {
			rid := fmt.Sprintf("r%d", r)
			if rng.IntN(5) > 0 {
				pol.RoleNames[rid] = "role " + rid
			}
			p := rights(rng.IntN(7))
			pol.Rules = append(pol.Rules, CompileRights(RoleSubject(rid), id, p)...)
			maps.Copy(pol.Conditions, Conditions(p))
		}
		for _, u := range users {
			if a := oracleAttrs(rng, oracleUserAttrs); a != nil {
				pol.Attributes[u] = a
			}
			if rng.IntN(3) == 0 {
				p := rights(3)
				pol.Rules = append(pol.Rules, CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: p})...)
				maps.Copy(pol.Conditions, Conditions(p))
			}
			for range rng.IntN(4) {
				a := rolegate.Assignment{EntityID: id, UserID: u, RoleID: fmt.Sprintf("r%d", rng.IntN(nroles)), Scope: scopes[rng.IntN(len(scopes))]}
				if rng.IntN(4) == 0 {
					at := now.Add(time.Duration(rng.IntN(240)-120) * time.Minute)
					a.ExpiresAt = &at
					expiring++
				}
				pol.Rules = append(pol.Rules, CompileAssignment(a))
			}
		}
		engines := make([]*Engine, 2)
		for i := range engines {
			e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pol}, MaxDecisions: -1, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			e.enforceOnly = i == 1
			engines[i] = e
		}
		for range 60 {
			req := Request{EntityID: id, UserID: users[rng.IntN(len(users))], ObjectType: objs[rng.IntN(len(objs))],
				Action: acts[rng.IntN(len(acts))], Scope: scopes[rng.IntN(len(scopes))], Explain: rng.IntN(3) == 0}
			switch rng.IntN(3) {
			case 0:
				req.OwnerID = req.UserID
			case 1:
				req.OwnerID = users[rng.IntN(len(users))]
			}
			req.Resource = oracleAttrs(rng, oracleResourceAttrs)
			compiled, err1 := engines[0].Check(ctx, req)
			enforced, err2 := engines[1].Check(ctx, req)
			if fmt.Sprint(err1) != fmt.Sprint(err2) || !reflect.DeepEqual(compiled, enforced) {
				t.Fatalf("%s: %+v:\ncompiled matcher %+v (%v)\nEnforce          %+v (%v)\nrules %v", id, req, compiled, err1, enforced, err2, pol.Rules)
			}
			seen[compiled.Permission]++
			for _, m := range compiled.Matched {
				if m.Condition != "" {
					conditional++
				}
			}
		}
	}
	for _, p := range vals {
		if seen[p] < 200 {
			t.Fatalf("answers by value %v: the case does not exercise every value", seen)
		}
	}
	if conditional < 100 || expiring < 100 {
		t.Fatalf("%d conditional matches, %d expiring assignments: the case does not exercise them", conditional, expiring)
	}
}

// The compiled matcher serves Rolegate's model; a model it cannot follow
// exactly (here a matcher calling Casbin's g, which deciders do not compile)
// is decided by Enforce, and decides the same.
func TestCompiledMatcherFallsBackToEnforce(t *testing.T) {
	for _, c := range []struct {
		name, model string
		compiled    bool
	}{
		{"rolegate", rolegate.CasbinModel, true},
		{"g", strings.Replace(rolegate.CasbinModel, "(holds(r.sub, p.sub) || holds(r.ssub, p.sub))", "(holds(r.sub, p.sub) || holds(r.ssub, p.sub) || g(r.sub, p.sub, r.dom))", 1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "rolegate" && c.model == rolegate.CasbinModel {
				t.Fatal("the model's matcher was not changed")
			}
			pol := Policy{Revision: 1, RoleNames: map[string]string{"r0": "zero"}}
			pol.Rules = append(pol.Rules, CompileRights(RoleSubject("r0"), "e", rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
				{ObjectType: "a", Actions: []rolegate.ActionPermission{{ActionName: "x", Permission: rolegate.Allowed}}}}})...)
			pol.Rules = append(pol.Rules, CompileAssignment(rolegate.Assignment{EntityID: "e", UserID: "u", RoleID: "r0"}))
			e, err := New(Config{Model: c.model, Loader: mapLoader{"e": pol}, MaxDecisions: -1})
			if err != nil {
				t.Fatal(err)
			}
			dc, err := e.decider()
			if err != nil {
				t.Fatal(err)
			}
			if (dc.matcher != nil) != c.compiled {
				t.Fatalf("compiled matcher %v, want %v", dc.matcher != nil, c.compiled)
			}
			e.deciders.Put(dc)
			for user, want := range map[string]bool{"u": true, "v": false} {
				d, err := e.Check(context.Background(), Request{EntityID: "e", UserID: user, ObjectType: "a", Action: "x"})
				if err != nil || d.Allowed != want {
					t.Fatalf("%s: %+v, %v; want allowed %v", user, d, err, want)
				}
			}
		})
	}
}
