package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

var (
	deltaObjects = []string{"doc", "payable", "receipt", "user", "team", "tag", "*"}
	deltaActions = []string{"read", "update", "delete", "approve", "*"}
	deltaPerms   = []rolegate.Permission{rolegate.Allowed, rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
)

func randomRights(rng *rand.Rand, n int) *rolegate.Permissions {
	seen := map[string]bool{}
	var p rolegate.Permissions
	for k := 0; k < n; k++ {
		o, a := deltaObjects[rng.IntN(len(deltaObjects))], deltaActions[rng.IntN(len(deltaActions))]
		if seen[o+"/"+a] {
			continue
		}
		seen[o+"/"+a] = true
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o,
			Actions: []rolegate.ActionPermission{{ActionName: a, Permission: deltaPerms[rng.IntN(len(deltaPerms))]}}})
	}
	return &p
}

// readRules answers a question by a direct reading of the entity's stored
// rules: the rights of the user, its entity-wide roles and its roles inside
// the scope that match; any deny wins, else any allow.
func readRules(rules []rolegate.Rule, names map[string]string, req engine.Request) engine.Decision {
	sub := engine.UserSubject(req.UserID)
	subjects := map[string]bool{sub: true}
	for _, r := range rules {
		if r.PType == "g" && (r.Values[0] == sub || (req.Scope != "" && r.Values[0] == engine.ScopedSubject(req.Scope, req.UserID))) {
			subjects[r.Values[1]] = true
		}
	}
	var matched []engine.Match
	allow, own, deny := false, false, false
	for _, r := range rules {
		v := r.Values
		if r.PType != "p" || !subjects[v[0]] || (v[2] != "*" && v[2] != req.ObjectType) || (v[3] != "*" && v[3] != req.Action) {
			continue
		}
		if v[4] == engine.CondOwn && req.OwnerID != req.UserID {
			continue
		}
		m := engine.Match{RoleID: strings.TrimPrefix(v[0], "r:")}
		if !strings.HasPrefix(v[0], "r:") {
			m.RoleID = ""
		}
		m.RoleName = names[m.RoleID]
		switch {
		case v[5] == engine.EftDeny:
			m.Permission, deny = rolegate.Denied, true
		case v[4] == engine.CondOwn:
			m.Permission, own = rolegate.AllowedForOwn, true
		default:
			m.Permission, allow = rolegate.Allowed, true
		}
		dup := false
		for _, x := range matched {
			dup = dup || x == m
		}
		if !dup {
			matched = append(matched, m)
		}
	}
	sort.Slice(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		if a.RoleName != b.RoleName {
			return a.RoleName < b.RoleName
		}
		if a.RoleID != b.RoleID {
			return a.RoleID < b.RoleID
		}
		return a.Permission < b.Permission
	})
	d := engine.Decision{Permission: rolegate.NotAllowed, Matched: matched}
	switch {
	case deny:
		d.Permission = rolegate.Denied
	case allow:
		d.Allowed, d.Permission = true, rolegate.Allowed
	case own:
		d.Allowed, d.Permission = true, rolegate.AllowedForOwn
	}
	if d.Matched == nil {
		d.Matched = []engine.Match{}
	}
	return d
}

// TestDeltasAgreeWithAFreshLoad is the engine's oracle under writes: random
// writes through the Service (roles created, edited, renamed and deleted;
// users created with roles and own rights, changed and deleted; assignments
// entity-wide and scoped, added, removed and replaced) are applied to the
// engine as deltas, never by reloading; after every write the engine answers
// exactly as an engine freshly loaded from the store and as a direct reading
// of the stored rules, permission and matched included, and gives the same
// effective permissions.
func TestDeltasAgreeWithAFreshLoad(t *testing.T) {
	svc, store := testkit.Service(t, "acme")
	ctx := auth.Internal(context.Background())
	eng := svc.Engine()
	rng := rand.New(rand.NewPCG(11, 12))
	name := func(s string) *string { return &s }
	var roles, users []string
	for r := 0; r < 10; r++ {
		role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name(fmt.Sprintf("role %d", r)), Permissions: randomRights(rng, 8)})
		if err != nil {
			t.Fatal(err)
		}
		roles = append(roles, role.ID)
	}
	pickRoles := func() *[]string {
		var ids []string
		for k := rng.IntN(3); k > 0; k-- {
			ids = append(ids, roles[rng.IntN(len(roles))])
		}
		return &ids
	}
	newUser := func() {
		in := policy.UserInput{ID: fmt.Sprintf("user-%d", len(users)), RoleIDs: pickRoles()}
		if rng.IntN(3) == 0 {
			in.Permissions = randomRights(rng, 3)
		}
		_, _, err := svc.CreateUser(ctx, "acme", in)
		if e := rolegate.AsError(err); err != nil && e.Code == "unknown_role" { // a deleted role
			in.RoleIDs = &[]string{}
			_, _, err = svc.CreateUser(ctx, "acme", in)
		}
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, in.ID)
	}
	for u := 0; u < 12; u++ {
		newUser()
	}
	if _, err := eng.Revision(ctx, "acme"); err != nil { // held from now on
		t.Fatal(err)
	}
	before := eng.Stats()
	scope := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return fmt.Sprintf("team:%d", rng.IntN(3))
	}
	writes := 0
	for i := 0; i < 250; i++ {
		user := users[rng.IntN(len(users))]
		role := roles[rng.IntN(len(roles))]
		var err error
		switch k := rng.IntN(10); k {
		case 0:
			_, _, err = svc.UpdateRole(ctx, "acme", role, policy.RoleInput{Permissions: randomRights(rng, 8)}, policy.Patch, 0)
		case 1:
			_, _, err = svc.UpdateRole(ctx, "acme", role, policy.RoleInput{Name: name(fmt.Sprintf("renamed %d", i))}, policy.Patch, 0)
		case 2:
			var r rolegate.Role
			if r, _, err = svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name(fmt.Sprintf("new %d", i)), Permissions: randomRights(rng, 6)}); err == nil {
				roles = append(roles, r.ID)
			}
		case 3:
			_, _, err = svc.DeleteRole(ctx, "acme", role, true, 0)
		case 4:
			_, _, err = svc.AssignRole(ctx, "acme", user, role, scope())
		case 5:
			_, err = svc.UnassignRole(ctx, "acme", user, role, scope())
		case 6:
			_, _, err = svc.SetScopedRoles(ctx, "acme", user, fmt.Sprintf("team:%d", rng.IntN(3)), *pickRoles())
		case 7:
			in := policy.UserInput{RoleIDs: pickRoles()}
			if rng.IntN(2) == 0 {
				in.Permissions = randomRights(rng, 3)
			}
			_, _, err = svc.UpdateUser(ctx, "acme", user, in)
		case 8:
			newUser()
		case 9:
			if _, _, err = svc.DeleteUser(ctx, "acme", user); err == nil {
				newUser() // keep the population
				writes++
			}
		}
		if err != nil {
			continue // a refused write (a deleted role, an assignment not held): nothing changed
		}
		writes++
		compareWithFreshLoad(t, i, eng, store, rng, users)
	}
	after := eng.Stats()
	if after.Reloads != before.Reloads || after.Loads != before.Loads {
		t.Fatalf("the engine reloaded the entity: %d reloads, %d loads", after.Reloads-before.Reloads, after.Loads-before.Loads)
	}
	if got := after.Deltas - before.Deltas; got != int64(writes) || writes < 150 {
		t.Fatalf("%d deltas applied for %d writes", got, writes)
	}
}

func compareWithFreshLoad(t *testing.T, step int, eng *engine.Engine, store policy.Store, rng *rand.Rand, users []string) {
	t.Helper()
	ctx := auth.Internal(context.Background())
	fresh, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := store.LoadPolicy(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if rev, _ := eng.Revision(ctx, "acme"); rev != pol.Revision {
		t.Fatalf("step %d: engine at revision %d, store at %d", step, rev, pol.Revision)
	}
	for q := 0; q < 40; q++ {
		user := users[rng.IntN(len(users))]
		req := engine.Request{EntityID: "acme", UserID: user, ObjectType: deltaObjects[rng.IntN(len(deltaObjects)-1)],
			Action: deltaActions[rng.IntN(len(deltaActions)-1)], Explain: q%2 == 0}
		if rng.IntN(2) == 0 {
			req.OwnerID = user
		}
		if rng.IntN(2) == 0 {
			req.Scope = fmt.Sprintf("team:%d", rng.IntN(3))
		}
		got, err := eng.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: %+v:\n deltas %+v\n fresh  %+v", step, req, got, want)
		}
		read := readRules(pol.Rules, pol.RoleNames, req)
		if got.Allowed != read.Allowed || got.Permission != read.Permission || (req.Explain && !reflect.DeepEqual(got.Matched, read.Matched)) {
			t.Fatalf("step %d: %+v:\n engine %+v\n rules  %+v", step, req, got, read)
		}
	}
	user := users[rng.IntN(len(users))]
	sc := fmt.Sprintf("team:%d", rng.IntN(3))
	got, _, err := eng.Effective(ctx, "acme", user, sc)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := fresh.Effective(ctx, "acme", user, sc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("step %d: effective rights of %s: deltas %+v, fresh %+v", step, user, got, want)
	}
}
