package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// mapLoader serves fixed policies by entity id.
type mapLoader map[string]Policy

func (l mapLoader) LoadPolicy(_ context.Context, id string) (Policy, error) {
	p, ok := l[id]
	if !ok {
		return Policy{}, rolegate.ErrNotFound
	}
	return p, nil
}

// oracleConditions are the conditions random rights carry: some err when an
// attribute is missing or of another type.
var oracleConditions = []string{
	"resource.amount <= 100.0",
	"resource.amount <= user.limit",
	`resource.kind == "a"`,
	"user.vip == true",
	"resource.flag",
	"has(resource.amount) && resource.amount > 50.0",
	`now > timestamp("2020-01-01T00:00:00Z")`,
	`now > timestamp("2040-01-01T00:00:00Z")`,
}

// oracleAttrs returns random attributes from choices (name -> values, nil
// standing for a missing attribute).
func oracleAttrs(rng *rand.Rand, choices map[string][]any) map[string]any {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(choices)) {
		if v := choices[k][rng.IntN(len(choices[k]))]; v != nil {
			out[k] = v
		}
	}
	if len(out) == 0 && rng.IntN(2) == 0 {
		return nil
	}
	return out
}

var (
	oracleUserAttrs     = map[string][]any{"limit": {nil, 10.0, 1000.0, "lots"}, "vip": {nil, true, false, "yes"}}
	oracleResourceAttrs = map[string][]any{"amount": {nil, 5.0, 75.0, 500.0, "x"}, "kind": {nil, "a", "b", 1.0}, "flag": {nil, true, false, 3.0}}
)

// TestOracleCasbinAndGoAgree keeps the two readings of a check equal: Casbin
// decides whether a check is allowed, while the deciding value, the matched
// rights, grantable_by, who-can and effective rights are read by Go code
// (matches, judge). Random entities (with conditional rights and users'
// attributes) and checks (with resources) must get the same answer from
// both.
func TestOracleCasbinAndGoAgree(t *testing.T) {
	objs := []string{"a", "b", "c", rolegate.Wildcard}
	acts := []string{"x", "y", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
	users := []string{"u0", "u1", "u2", "u3"}
	scopes := []string{"", "team:1", "team:2"}
	rng := rand.New(rand.NewPCG(23, 1))
	rights := func(n int) rolegate.Permissions { return oracleRights(rng, n) }
	ctx := context.Background()
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[rolegate.Permission]int{}
	conditional := map[string]int{}
	holders := map[string]int{}
	for round := range 200 {
		id := fmt.Sprintf("e%d", round)
		pol := Policy{Revision: 1, RoleNames: map[string]string{}, Conditions: map[string]string{}, Attributes: map[string]map[string]any{}}
		nroles := 1 + rng.IntN(4)
		for r := range nroles {
			rid := fmt.Sprintf("r%d", r)
			if rng.IntN(5) > 0 { // some roles are not active
				pol.RoleNames[rid] = "role " + rid
			}
			p := rights(rng.IntN(5))
			pol.Rules = append(pol.Rules, CompileRights(RoleSubject(rid), id, p)...)
			maps.Copy(pol.Conditions, Conditions(p))
		}
		for _, u := range users {
			if a := oracleAttrs(rng, oracleUserAttrs); a != nil {
				pol.Attributes[u] = a
			}
			if rng.IntN(3) == 0 {
				p := rights(2)
				pol.Rules = append(pol.Rules, CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: p})...)
				maps.Copy(pol.Conditions, Conditions(p))
			}
			for range rng.IntN(3) {
				a := rolegate.Assignment{EntityID: id, UserID: u, RoleID: fmt.Sprintf("r%d", rng.IntN(nroles)), Scope: scopes[rng.IntN(len(scopes))]}
				pol.Rules = append(pol.Rules, CompileAssignment(a))
			}
		}
		e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pol}, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.snapshot(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			req := Request{EntityID: id, UserID: users[rng.IntN(len(users))], ObjectType: objs[rng.IntN(len(objs)-1)],
				Action: acts[rng.IntN(len(acts)-1)], Scope: scopes[rng.IntN(len(scopes))]}
			if rng.IntN(2) == 0 {
				req.OwnerID = users[rng.IntN(len(users))]
			}
			req.Resource = oracleAttrs(rng, oracleResourceAttrs)
			// The Go reading: judge over the subjects the user holds, each
			// condition evaluated over the resource and the user's attributes.
			ssub := ""
			if req.Scope != "" {
				ssub = ScopedSubject(req.Scope, req.UserID)
			}
			v := s.judge(s.subjects(UserSubject(req.UserID), ssub), req.ObjectType, req.Action, s.evaluator(req.Resource, condition.WithinLimits(req.Resource), req.UserID))
			own := req.OwnerID == req.UserID
			ap := v.applying()
			want := rolegate.NotAllowed
			switch {
			case len(ap.deny) > 0:
				want = rolegate.Denied
			case len(ap.allow) > 0:
				want = rolegate.Allowed
			case own && len(ap.own) > 0:
				want = rolegate.AllowedForOwn
			}
			wantMatched := append(append(append([]Match{}, v.allow...), v.deny...), v.own...)
			if !own {
				wantMatched = append(append([]Match{}, v.allow...), v.deny...)
			}
			sortMatchesFull(wantMatched)
			for _, m := range wantMatched {
				switch {
				case m.ConditionError != "":
					conditional["error"]++
				case m.ConditionValue != nil && *m.ConditionValue:
					conditional["true"]++
				case m.ConditionValue != nil:
					conditional["false"]++
				}
			}
			// Casbin's decision, uncached then cached, then explained.
			for _, explain := range []bool{false, false, true} {
				req.Explain = explain
				d, err := e.Check(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				allowed := want == rolegate.Allowed || want == rolegate.AllowedForOwn
				if d.Allowed != allowed || d.Permission != want {
					t.Fatalf("%s: %+v: Casbin says %v (%s), Go reading %s\nrules %v", id, req, d.Allowed, d.Permission, want, pol.Rules)
				}
				if explain && !reflect.DeepEqual(d.Matched, wantMatched) {
					t.Fatalf("%s: %+v: matched %+v, Go reading %+v", id, req, d.Matched, wantMatched)
				}
				seen[d.Permission]++
			}
			whoCanOracle(t, e, id, req, users, holders)
			if d, _ := e.Check(ctx, req); d.Permission == rolegate.NotAllowed {
				if got, want := d.GrantableBy, grantableByCasbin(t, s, req); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: %+v: grantable_by %+v, Casbin with the role assigned %+v", id, req, got, want)
				}
			}
		}
	}
	if holders["listed under a condition"] < 20 || holders["listed for the resource"] < 20 {
		t.Fatalf("who-can holders %v: the case does not exercise conditions", holders)
	}
	for _, p := range vals {
		if seen[p] < 100 {
			t.Fatalf("answers by value %v: the case does not exercise every value", seen)
		}
	}
	for _, k := range []string{"true", "false", "error"} {
		if conditional[k] < 100 {
			t.Fatalf("conditions matched by outcome %v: the case does not exercise every outcome", conditional)
		}
	}
}

// grantableByCasbin asks Casbin, for each active role, whether the user
// would be allowed once assigned it entity-wide: what grantable_by lists.
func grantableByCasbin(t *testing.T, s *snapshot, req Request) []Match {
	t.Helper()
	out := []Match{}
	s.roleNames.each(func(id, name string) {
		g := CompileAssignment(rolegate.Assignment{EntityID: s.entityID, UserID: req.UserID, RoleID: id})
		d := Delta{Ops: []DeltaOp{{Op: OpAdd, Rules: [][]string{append([]string{g.PType}, g.Values...)}}}}
		next, err := s.apply(s.revision+1, d)
		if err != nil {
			t.Fatal(err)
		}
		next.engine = s.engine
		probe := req
		probe.Explain = false
		if d, err := next.check(probe); err != nil {
			t.Fatal(err)
		} else if d.Allowed {
			out = append(out, Match{RoleID: id, RoleName: name, Permission: d.Permission})
		}
	})
	sortMatches(out)
	return out
}

// sortMatchesFull orders matches as an explained decision lists them.
func sortMatchesFull(ms []Match) {
	slices.SortFunc(ms, func(a, b Match) int {
		return cmp.Or(strings.Compare(a.RoleName, b.RoleName), strings.Compare(a.RoleID, b.RoleID), strings.Compare(string(a.Permission), string(b.Permission)),
			strings.Compare(a.Condition, b.Condition))
	})
}

// whoCanOracle compares who-can with checks (without owner, within the
// request's scope): for the request's resource, who-can lists exactly the
// users a check allows; without a resource, a user listed under a condition
// is allowed exactly when it is true, one listed without is allowed, one not
// listed is not.
func whoCanOracle(t *testing.T, e *Engine, id string, req Request, users []string, count map[string]int) {
	t.Helper()
	ctx := context.Background()
	withRes, _, err := e.WhoCanResource(ctx, id, req.ObjectType, req.Action, req.Scope, "", 100, req.Resource)
	if err != nil {
		t.Fatal(err)
	}
	if req.Resource == nil { // the checks below send an empty resource
		if withRes, _, err = e.WhoCanResource(ctx, id, req.ObjectType, req.Action, req.Scope, "", 100, map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	without, _, err := e.WhoCanResource(ctx, id, req.ObjectType, req.Action, req.Scope, "", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		probe := req
		probe.UserID, probe.OwnerID, probe.Explain = u, "", false
		if probe.Resource == nil {
			probe.Resource = map[string]any{}
		}
		d, err := e.Check(ctx, probe)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(withRes, func(h Holder) bool { return h.UserID == u })
		if listed := i >= 0 && withRes[i].Permission == rolegate.Allowed; listed != d.Allowed {
			t.Fatalf("%s: %+v: who-can for the resource lists %v, the check allows %v", id, probe, withRes, d.Allowed)
		} else if listed {
			count["listed for the resource"]++
		}
		j := slices.IndexFunc(without, func(h Holder) bool { return h.UserID == u })
		allowed := false
		if j >= 0 && without[j].Permission == rolegate.Allowed {
			allowed = true
			if c := without[j].Condition; c != "" {
				count["listed under a condition"]++
				prg, err := condition.Compile(c)
				if err != nil {
					t.Fatalf("%s: holder %+v: condition does not compile: %v", id, without[j], err)
				}
				s, _ := e.snapshot(ctx, id)
				v, err := prg.Eval(condition.Input{Resource: probe.Resource, User: s.userAttributes(u), Now: s.now()})
				allowed = v && err == nil
			}
		}
		if allowed != d.Allowed {
			t.Fatalf("%s: %+v: who-can without a resource lists %+v, the check allows %v", id, probe, without, d.Allowed)
		}
	}
}

// oracleRights returns up to n random rights over the object types a, b, c
// and any, the actions x, y and any, each allowed, allowed for own, denied
// or not allowed, a third of them under one of oracleConditions.
func oracleRights(rng *rand.Rand, n int) rolegate.Permissions {
	objs := []string{"a", "b", "c", rolegate.Wildcard}
	acts := []string{"x", "y", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
	var p rolegate.Permissions
	seen := map[string]bool{}
	for range n {
		o, a := objs[rng.IntN(len(objs))], acts[rng.IntN(len(acts))]
		if seen[o+"/"+a] {
			continue
		}
		seen[o+"/"+a] = true
		ap := rolegate.ActionPermission{ActionName: a, Permission: vals[rng.IntN(len(vals))]}
		if rng.IntN(3) == 0 {
			ap.Condition = oracleConditions[rng.IntN(len(oracleConditions))]
		}
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o, Actions: []rolegate.ActionPermission{ap}})
	}
	return p
}
