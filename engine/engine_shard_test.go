package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// fixedLoader serves one stored policy for every entity id.
type fixedLoader struct{ pol engine.Policy }

func (f fixedLoader) LoadPolicy(context.Context, string) (engine.Policy, error) {
	return f.pol, nil
}

// TestEngineAgreesWithTheRules checks the engine, which holds each role's and
// each user's rules in units of their own and asks Casbin over the units the
// user holds, against a direct reading of the rules: allowed when an
// allowing right of the user, its entity-wide roles or its roles inside the
// scope matches, and no deny does. The entity has 60 object types, wildcard
// rights, denies, rights for own objects, users' own rights and scoped
// assignments.
func TestEngineAgreesWithTheRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	objects := make([]string, 60)
	for i := range objects {
		objects[i] = fmt.Sprintf("type_%d", i)
	}
	objects = append(objects, "*")
	actions := []string{"read", "update", "delete", "approve", "*"}
	perms := []rolegate.Permission{rolegate.Allowed, rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied}
	const ent = "acme"
	var rules []rolegate.Rule
	subjectRules := map[string][]rolegate.Rule{}
	rights := func(subject string, n int) {
		seen := map[string]bool{}
		var p rolegate.Permissions
		for k := 0; k < n; k++ {
			o, a := objects[rng.IntN(len(objects))], actions[rng.IntN(len(actions))]
			if seen[o+"/"+a] || (o == "*" && a == "*") {
				continue
			}
			seen[o+"/"+a] = true
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o,
				Actions: []rolegate.ActionPermission{{ActionName: a, Permission: perms[rng.IntN(len(perms))]}}})
		}
		rs := engine.CompileRights(subject, ent, p)
		subjectRules[subject] = rs
		rules = append(rules, rs...)
	}
	for r := 0; r < 12; r++ {
		rights(engine.RoleSubject(fmt.Sprintf("role-%d", r)), 40)
	}
	type held struct{ role, scope string }
	holds := map[string][]held{}
	for u := 0; u < 15; u++ {
		user := fmt.Sprintf("user-%d", u)
		if u%3 == 0 {
			rights(engine.UserSubject(user), 5)
		}
		for k := 0; k < 1+rng.IntN(3); k++ {
			h := held{role: fmt.Sprintf("role-%d", rng.IntN(12))}
			if rng.IntN(3) == 0 {
				h.scope = fmt.Sprintf("team:%d", rng.IntN(3))
			}
			holds[user] = append(holds[user], h)
			rules = append(rules, engine.CompileAssignment(rolegate.Assignment{EntityID: ent, UserID: user, RoleID: h.role, Scope: h.scope}))
		}
	}

	want := func(user, obj, act, owner, scope string) bool {
		subjects := []string{engine.UserSubject(user)}
		for _, h := range holds[user] {
			if h.scope == "" || h.scope == scope {
				subjects = append(subjects, engine.RoleSubject(h.role))
			}
		}
		allow, deny := false, false
		for _, sub := range subjects {
			for _, r := range subjectRules[sub] {
				v := r.Values
				if (v[2] != "*" && v[2] != obj) || (v[3] != "*" && v[3] != act) {
					continue
				}
				if v[5] == engine.EftDeny {
					deny = true
				} else if v[4] == engine.CondAny || owner == user {
					allow = true
				}
			}
		}
		return allow && !deny
	}
	// Without a decision cache, with one too small for the questions (entries
	// overwritten all the time), and with the default one; questions repeat.
	for _, maxDecisions := range []int{-1, 64, 0} {
		eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel,
			Loader: fixedLoader{engine.Policy{Revision: 1, Rules: rules}}, MaxDecisions: maxDecisions})
		if err != nil {
			t.Fatal(err)
		}
		qrng := rand.New(rand.NewPCG(7, 8))
		t.Run(fmt.Sprintf("decisions=%d", maxDecisions), func(t *testing.T) {
			agree(t, eng, qrng, want, objects, actions)
		})
	}
}

func agree(t *testing.T, eng *engine.Engine, rng *rand.Rand, want func(user, obj, act, owner, scope string) bool, objects, actions []string) {
	const ent = "acme"
	allowed := 0
	for i := 0; i < 20000; i++ {
		user := fmt.Sprintf("user-%d", rng.IntN(16)) // user-15 holds nothing
		obj := objects[rng.IntN(len(objects)-1)]
		act := actions[rng.IntN(len(actions)-1)]
		owner, scope := "", ""
		if rng.IntN(2) == 0 {
			owner = user
		}
		if rng.IntN(2) == 0 {
			scope = fmt.Sprintf("team:%d", rng.IntN(4))
		}
		d, err := eng.Check(context.Background(), engine.Request{EntityID: ent, UserID: user, ObjectType: obj, Action: act, OwnerID: owner, Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		if w := want(user, obj, act, owner, scope); d.Allowed != w {
			t.Fatalf("%s %s %s owner=%q scope=%q: engine %v, rules %v", user, obj, act, owner, scope, d.Allowed, w)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed < 1000 || allowed > 19000 {
		t.Fatalf("%d of 20000 allowed: the case does not exercise both answers", allowed)
	}
}

// The decision caches of all entities together stay within the budget (each
// entity holding at least 256), grow for an entity asked many questions, and
// dropped entities give theirs back.
func TestDecisionBudget(t *testing.T) {
	const budget = 4096
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: memLoader{5, 20, 20}, MaxDecisions: budget})
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.Internal(context.Background())
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := e.Check(ctx, engine.Request{EntityID: fmt.Sprintf("e%d", i), UserID: "user-1", ObjectType: "payable", Action: "read"}); err != nil {
			t.Fatal(err)
		}
		if got := e.Stats().DecisionCapacity; got > budget+256*int64(i+1) {
			t.Fatalf("after %d entities the caches hold %d decisions", i+1, got)
		}
	}
	if got := e.Stats().DecisionCapacity; got > budget+256*n || got < 256*n {
		t.Fatalf("%d entities: capacity %d", n, got)
	}
	// One entity asked thousands of different questions gets a larger table
	// while the budget allows: its repeated questions are then answered from
	// the cache.
	big, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: memLoader{5, 20, 20}, MaxDecisions: 1 << 14})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		for u := 0; u < 20; u++ {
			for o := 0; o < 10; o++ {
				for a := 0; a < 8; a++ {
					for _, owner := range []string{"", fmt.Sprintf("user-%d", u), "someone"} {
						big.Check(ctx, engine.Request{EntityID: "e0", UserID: fmt.Sprintf("user-%d", u),
							ObjectType: benchObjects[o], Action: benchActions[a], OwnerID: owner})
					}
				}
			}
		}
	}
	if got := big.Stats().DecisionCapacity; got < 4096 || got > 1<<14 {
		t.Fatalf("4,800 questions: capacity %d, want it grown within the budget", got)
	}
	for i := 0; i < n; i++ {
		e.Forget(fmt.Sprintf("e%d", i))
	}
	if got := e.Stats().DecisionCapacity; got != 0 {
		t.Fatalf("all dropped: capacity %d", got)
	}
}
