package policy_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// TestConstraintOracle compares the service with an oracle that computes
// violations directly from the rules the test wrote (its own model of the
// roles' rights, the users' own rights and the assignments), over random
// writes against two enforcing constraints (one with an exception in force):
//
//   - soundness: after every write, accepted or refused, the oracle finds no
//     violation (nothing slipped through);
//   - completeness: a refused write, made again with the constraints in
//     report mode, leaves a violation the oracle finds, of a user and a
//     constraint the refusal named (nothing was refused for nothing); it is
//     then undone and the constraints switched back to enforce;
//   - the violations listing of a reporting constraint is the oracle's.
func TestConstraintOracle(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { oracleRun(t, seed, 150) })
	}
}

type oracleRight struct{ obj, act string }

type oracleModel struct {
	roleRights map[string]rolegate.Permissions // by role id
	own        map[string]rolegate.Permissions // by user
	held       map[[3]string]bool              // user, role id, scope
}

var (
	oracleObjects = []string{"payable", "vendor"}
	oracleActions = []string{"create", "approve", "pay"}
	oracleUsers   = []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	oracleScopes  = []string{"", "team:1", "team:2"}
)

func randomRights(r *rand.Rand) rolegate.Permissions {
	var p rolegate.Permissions
	for _, o := range append([]string{"*"}, oracleObjects...) {
		op := rolegate.ObjectPermissions{ObjectType: o}
		for _, a := range append([]string{"*"}, oracleActions...) {
			chance := 0.15
			if o == "*" || a == "*" {
				chance = 0.04
			}
			if r.Float64() >= chance {
				continue
			}
			perm := rolegate.Allowed
			switch x := r.IntN(10); {
			case x < 2:
				perm = rolegate.Denied
			case x < 4:
				perm = rolegate.AllowedForOwn
			}
			op.Actions = append(op.Actions, rolegate.ActionPermission{ActionName: a, Permission: perm})
		}
		if len(op.Actions) > 0 {
			p.Objects = append(p.Objects, op)
		}
	}
	return p
}

// holds reports whether rights sets together hold (obj, act): some right
// covering it allows it (or for own), and no deny covering it masks it.
func holds(sets []rolegate.Permissions, want oracleRight) bool {
	allowed := false
	for _, p := range sets {
		for _, o := range p.Objects {
			if o.ObjectType != "*" && o.ObjectType != want.obj {
				continue
			}
			for _, a := range o.Actions {
				if a.ActionName != "*" && a.ActionName != want.act {
					continue
				}
				switch a.Permission {
				case rolegate.Denied:
					return false
				case rolegate.Allowed, rolegate.AllowedForOwn:
					allowed = true
				}
			}
		}
	}
	return allowed
}

// violations returns the oracle's violations: constraint id, user, scope.
func (m *oracleModel) violations(cs []rolegate.Constraint, now time.Time) map[[3]string]bool {
	out := map[[3]string]bool{}
	for _, u := range oracleUsers {
		for _, scope := range oracleScopes {
			sets := []rolegate.Permissions{m.own[u]}
			inScope := scope == ""
			for k := range m.held {
				if k[0] == u && (k[2] == "" || k[2] == scope) {
					sets = append(sets, m.roleRights[k[1]])
					inScope = inScope || k[2] == scope
				}
			}
			if !inScope {
				continue
			}
			for _, c := range cs {
				if slices.ContainsFunc(c.Exceptions, func(e rolegate.ConstraintException) bool { return e.UserID == u && now.Before(e.ExpiresAt) }) {
					continue
				}
				n := 0
				for _, r := range c.Rights {
					if holds(sets, oracleRight{r.ObjectType, r.Action}) {
						n++
					}
				}
				if n >= 2 {
					out[[3]string{c.ID, u, scope}] = true
				}
			}
		}
	}
	return out
}

func (m *oracleModel) clone() *oracleModel {
	return &oracleModel{roleRights: maps.Clone(m.roleRights), own: maps.Clone(m.own), held: maps.Clone(m.held)}
}

// pairsOf returns the (constraint, user) pairs of a violation set.
func pairsOf(vs map[[3]string]bool) map[[2]string]bool {
	out := map[[2]string]bool{}
	for k := range vs {
		out[[2]string{k[0], k[1]}] = true
	}
	return out
}

func oracleRun(t *testing.T, seed uint64, steps int) {
	f := newSoD(t)
	rnd := rand.New(rand.NewPCG(seed, 26))
	m := &oracleModel{roleRights: map[string]rolegate.Permissions{}, own: map[string]rolegate.Permissions{}, held: map[[3]string]bool{}}
	var roles []string
	for i := range 4 {
		p := randomRights(rnd)
		name := fmt.Sprintf("r%d", i)
		r, _, err := f.svc.CreateRole(f.ctx, "acme", policy.RoleInput{Name: &name, Permissions: &p})
		if err != nil {
			t.Fatal(err)
		}
		roles = append(roles, r.ID)
		m.roleRights[r.ID] = p
	}
	for _, u := range oracleUsers {
		if _, _, err := f.svc.CreateUser(f.ctx, "acme", policy.UserInput{ID: u, RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	c1 := makerChecker("", rolegate.ConstraintException{UserID: "u5", Reason: "the two-person office", ExpiresAt: f.clock().Add(time.Hour)})
	c2 := rolegate.Constraint{EntityID: "acme", Name: "vendors and payments", Rights: []rolegate.ConstraintRight{
		{ObjectType: "vendor", Action: "create"}, {ObjectType: "payable", Action: "pay"}, {ObjectType: "vendor", Action: "approve"}}}
	cs := []rolegate.Constraint{f.constrain(c1), f.constrain(c2)}
	setMode := func(mode string) {
		t.Helper()
		for i := range cs {
			cs[i].Mode = mode
			if _, _, err := f.svc.ReplaceConstraint(f.ctx, cs[i]); err != nil {
				t.Fatalf("switch %q to %s: %v", cs[i].Name, mode, err)
			}
		}
	}

	refusedN, acceptedN := 0, 0
	for step := range steps {
		u := oracleUsers[rnd.IntN(len(oracleUsers))]
		role := roles[rnd.IntN(len(roles))]
		scope := oracleScopes[rnd.IntN(len(oracleScopes))]
		var do, undo func() error
		var apply func()
		var what string
		switch rnd.IntN(4) {
		case 0, 1:
			k := [3]string{u, role, scope}
			if m.held[k] {
				what = fmt.Sprintf("unassign %s from %s in %q", role[:8], u, scope)
				do = func() error { _, err := f.svc.UnassignRole(f.ctx, "acme", u, role, scope); return err }
				undo = func() error { _, _, err := f.svc.AssignRole(f.ctx, "acme", u, role, scope); return err }
				apply = func() { delete(m.held, k) }
			} else {
				what = fmt.Sprintf("assign %s to %s in %q", role[:8], u, scope)
				do = func() error { _, _, err := f.svc.AssignRole(f.ctx, "acme", u, role, scope); return err }
				undo = func() error { _, err := f.svc.UnassignRole(f.ctx, "acme", u, role, scope); return err }
				apply = func() { m.held[k] = true }
			}
		case 2:
			old, p := m.roleRights[role], randomRights(rnd)
			what = fmt.Sprintf("rights of %s: %+v", role[:8], p)
			set := func(p rolegate.Permissions) func() error {
				return func() error {
					_, _, err := f.svc.UpdateRole(f.ctx, "acme", role, policy.RoleInput{Permissions: &p}, policy.Patch, 0)
					return err
				}
			}
			do, undo = set(p), set(old)
			apply = func() { m.roleRights[role] = p }
		case 3:
			old, p := m.own[u], randomRights(rnd)
			what = fmt.Sprintf("own rights of %s: %+v", u, p)
			set := func(p rolegate.Permissions) func() error {
				return func() error {
					_, _, err := f.svc.UpdateUser(f.ctx, "acme", u, policy.UserInput{Permissions: &p})
					return err
				}
			}
			do, undo = set(p), set(old)
			apply = func() { m.own[u] = p }
		}
		err := do()
		switch e := rolegate.AsError(err); {
		case err == nil:
			acceptedN++
			apply()
		case e.Code == "separation_of_duties":
			refusedN++
			named := map[[2]string]bool{}
			for _, v := range e.Violations {
				named[[2]string{v.ConstraintID, v.UserID}] = true
			}
			saved := m.clone()
			setMode(rolegate.ConstraintReport)
			if err := do(); err != nil {
				t.Fatalf("step %d, %s, under report mode: %v", step, what, err)
			}
			apply()
			got := pairsOf(m.violations(cs, f.clock()))
			found := false
			for k := range named {
				found = found || got[k]
			}
			if !found {
				t.Fatalf("step %d: %s was refused naming %v; the oracle finds %v", step, what, named, got)
			}
			// The listing of each reporting constraint is the oracle's.
			for _, c := range cs {
				vs, _, err := f.svc.ConstraintViolations(f.ctx, "acme", c.ID)
				if err != nil {
					t.Fatal(err)
				}
				listed := map[[2]string]bool{}
				for _, v := range vs {
					listed[[2]string{v.ConstraintID, v.UserID}] = true
				}
				for k := range got {
					if k[0] == c.ID && !listed[k] {
						t.Fatalf("step %d: the oracle finds %v, the listing of %q does not: %+v", step, k, c.Name, vs)
					}
				}
				for k := range listed {
					if !got[k] {
						t.Fatalf("step %d: the listing of %q names %v, the oracle does not", step, c.Name, k)
					}
				}
			}
			if err := undo(); err != nil {
				t.Fatalf("step %d: undo %s: %v", step, what, err)
			}
			m = saved
			setMode(rolegate.ConstraintEnforce)
		default:
			t.Fatalf("step %d, %s: %v", step, what, err)
		}
		if vs := m.violations(cs, f.clock()); len(vs) > 0 {
			t.Fatalf("step %d, %s (%v): the oracle finds violations %v", step, what, err, vs)
		}
	}
	t.Logf("seed %d: %d writes accepted, %d refused", seed, acceptedN, refusedN)
	if refusedN == 0 || acceptedN == 0 {
		t.Fatalf("the random writes tried nothing on one side: %d accepted, %d refused", acceptedN, refusedN)
	}
}
