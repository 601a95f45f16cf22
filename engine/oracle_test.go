package engine

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
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

// TestOracleCasbinAndGoAgree keeps the two readings of a check equal: Casbin
// decides whether a check is allowed, while the deciding value, the matched
// rights, grantable_by, who-can and effective rights are read by Go code
// (matches, judge). Random entities and checks must get the same answer from
// both.
func TestOracleCasbinAndGoAgree(t *testing.T) {
	objs := []string{"a", "b", "c", rolegate.Wildcard}
	acts := []string{"x", "y", rolegate.Wildcard}
	vals := []rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
	users := []string{"u0", "u1", "u2", "u3"}
	scopes := []string{"", "team:1", "team:2"}
	rng := rand.New(rand.NewPCG(23, 1))
	rights := func(n int) rolegate.Permissions {
		var p rolegate.Permissions
		seen := map[string]bool{}
		for range n {
			o, a := objs[rng.IntN(len(objs))], acts[rng.IntN(len(acts))]
			if seen[o+"/"+a] {
				continue
			}
			seen[o+"/"+a] = true
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o,
				Actions: []rolegate.ActionPermission{{ActionName: a, Permission: vals[rng.IntN(len(vals))]}}})
		}
		return p
	}
	ctx := context.Background()
	seen := map[rolegate.Permission]int{}
	for round := range 200 {
		id := fmt.Sprintf("e%d", round)
		pol := Policy{Revision: 1, RoleNames: map[string]string{}}
		nroles := 1 + rng.IntN(4)
		for r := range nroles {
			rid := fmt.Sprintf("r%d", r)
			if rng.IntN(5) > 0 { // some roles are not active
				pol.RoleNames[rid] = "role " + rid
			}
			pol.Rules = append(pol.Rules, CompileRights(RoleSubject(rid), id, rights(rng.IntN(5)))...)
		}
		for _, u := range users {
			if rng.IntN(3) == 0 {
				pol.Rules = append(pol.Rules, CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: rights(2)})...)
			}
			for range rng.IntN(3) {
				a := rolegate.Assignment{EntityID: id, UserID: u, RoleID: fmt.Sprintf("r%d", rng.IntN(nroles)), Scope: scopes[rng.IntN(len(scopes))]}
				pol.Rules = append(pol.Rules, CompileAssignment(a))
			}
		}
		e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{id: pol}})
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
			// The Go reading: judge over the subjects the user holds.
			ssub := ""
			if req.Scope != "" {
				ssub = ScopedSubject(req.Scope, req.UserID)
			}
			v := s.judge(s.subjects(UserSubject(req.UserID), ssub), req.ObjectType, req.Action)
			own := req.OwnerID == req.UserID
			want := rolegate.NotAllowed
			switch {
			case len(v.deny) > 0:
				want = rolegate.Denied
			case len(v.allow) > 0:
				want = rolegate.Allowed
			case own && len(v.own) > 0:
				want = rolegate.AllowedForOwn
			}
			wantMatched := append(append(append([]Match{}, v.allow...), v.deny...), v.own...)
			if !own {
				wantMatched = append(append([]Match{}, v.allow...), v.deny...)
			}
			sortMatchesFull(wantMatched)
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
			if d, _ := e.Check(ctx, req); d.Permission == rolegate.NotAllowed {
				if got, want := d.GrantableBy, grantableByCasbin(t, s, req); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: %+v: grantable_by %+v, Casbin with the role assigned %+v", id, req, got, want)
				}
			}
		}
	}
	for _, p := range vals {
		if seen[p] < 100 {
			t.Fatalf("answers by value %v: the case does not exercise every value", seen)
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
		return cmp.Or(strings.Compare(a.RoleName, b.RoleName), strings.Compare(a.RoleID, b.RoleID), strings.Compare(string(a.Permission), string(b.Permission)))
	})
}
