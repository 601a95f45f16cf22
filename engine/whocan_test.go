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

// oracleRights is a user's effective rights as Engine.Effective gives them
// (entity-wide, or inside scope too), as the set of allowed and
// allowed_for_own entries.
func oracleRights(t *testing.T, eng *engine.Engine, user, scope string) map[[2]string]rolegate.Permission {
	t.Helper()
	p, _, err := eng.Effective(auth.Internal(context.Background()), "acme", user, scope)
	if err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]rolegate.Permission{}
	for _, o := range p.Objects {
		for _, a := range o.Actions {
			if a.Permission == rolegate.Allowed || a.Permission == rolegate.AllowedForOwn {
				out[[2]string{o.ObjectType, a.ActionName}] = a.Permission
			}
		}
	}
	return out
}

// oracleDiff is what a dry run must say: each user's entity-wide change,
// then each scope's change beyond the entity-wide one.
func oracleDiff(users, scopes []string, before, after map[string]map[[2]string]rolegate.Permission) (gained, lost []engine.Right) {
	diff := func(user, scope string, b, a map[[2]string]rolegate.Permission) (g, l []engine.Right) {
		for k, v := range a {
			if b[k] != v {
				g = append(g, engine.Right{UserID: user, Scope: scope, ObjectType: k[0], Action: k[1], Permission: v})
			}
		}
		for k, v := range b {
			if a[k] != v {
				l = append(l, engine.Right{UserID: user, Scope: scope, ObjectType: k[0], Action: k[1], Permission: v})
			}
		}
		return g, l
	}
	for _, u := range users {
		wg, wl := diff(u, "", before[u+"|"], after[u+"|"])
		gained, lost = append(gained, wg...), append(lost, wl...)
		for _, sc := range scopes {
			g, l := diff(u, sc, before[u+"|"+sc], after[u+"|"+sc])
			for _, r := range g {
				r2 := r
				r2.Scope = ""
				if !containsRight(wg, r2) {
					gained = append(gained, r)
				}
			}
			for _, r := range l {
				r2 := r
				r2.Scope = ""
				if !containsRight(wl, r2) {
					lost = append(lost, r)
				}
			}
		}
	}
	engine.SortRights(gained)
	engine.SortRights(lost)
	return gained, lost
}

func containsRight(rs []engine.Right, r engine.Right) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// whoCanOracle asks every user, one check each (and one more on its own
// object), who may do act on obj.
func whoCanOracle(t *testing.T, eng *engine.Engine, users []string, obj, act, scope string) []engine.Holder {
	t.Helper()
	ctx := auth.Internal(context.Background())
	var out []engine.Holder
	for _, u := range users {
		req := engine.Request{EntityID: "acme", UserID: u, ObjectType: obj, Action: act, Scope: scope, Explain: true}
		d, err := eng.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed {
			req.OwnerID = u
			if d, err = eng.Check(ctx, req); err != nil {
				t.Fatal(err)
			}
			if !d.Allowed {
				continue
			}
		}
		h := engine.Holder{UserID: u, Permission: d.Permission}
		for _, m := range d.Matched {
			if m.Permission == d.Permission {
				m.Permission = ""
				h.Via = append(h.Via, m)
			}
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// TestWhoCanAndDryRunAgreeWithTheOracle: over random policies and random
// writes, who-can (paged) lists exactly the users a check allows, with the
// roles that allow them; every write is first made as a dry run, which
// changes nothing (store revision, engine) and whose gained/lost equal the
// difference of every user's effective rights before and after the real
// write; a dry run the real write refuses is refused with the same code.
func TestWhoCanAndDryRunAgreeWithTheOracle(t *testing.T) {
	whoCanAndDryRunOracle(t, func(u int) string { return fmt.Sprintf("user-%02d", u) }, []string{"team:0", "team:1"})
}

// TestWhoCanAndDryRunAgreeWithTheOracleOnLongIDs is the same over user ids
// and scopes too long for a rule's subject (stored hashed), mixed with short
// ones.
func TestWhoCanAndDryRunAgreeWithTheOracleOnLongIDs(t *testing.T) {
	id := func(u int) string {
		if u%2 == 0 {
			return fmt.Sprintf("user-%02d-", u) + strings.Repeat("x", 150)
		}
		return fmt.Sprintf("user-%02d", u)
	}
	whoCanAndDryRunOracle(t, id, []string{"team:0", "team:" + strings.Repeat("1", 123)})
}

func whoCanAndDryRunOracle(t *testing.T, userID func(int) string, scopes []string) {
	svc, _ := testkit.Service(t, "acme")
	ctx := auth.Internal(context.Background())
	eng := svc.Engine()
	rng := rand.New(rand.NewPCG(16, 17))
	name := func(s string) *string { return &s }
	var roles, users []string
	for r := 0; r < 8; r++ {
		role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name(fmt.Sprintf("role %d", r)), Permissions: randomRights(rng, 8)})
		if err != nil {
			t.Fatal(err)
		}
		roles = append(roles, role.ID)
	}
	for u := 0; u < 16; u++ {
		in := policy.UserInput{ID: userID(u), RoleIDs: &[]string{roles[rng.IntN(len(roles))]}}
		if rng.IntN(3) == 0 {
			in.Permissions = randomRights(rng, 3)
		}
		if _, _, err := svc.CreateUser(ctx, "acme", in); err != nil {
			t.Fatal(err)
		}
		users = append(users, in.ID)
	}
	all := func() map[string]map[[2]string]rolegate.Permission {
		out := map[string]map[[2]string]rolegate.Permission{}
		for _, u := range users {
			out[u+"|"] = oracleRights(t, eng, u, "")
			for _, sc := range scopes {
				out[u+"|"+sc] = oracleRights(t, eng, u, sc)
			}
		}
		return out
	}
	dryRuns, changed := 0, 0
	for i := 0; i < 80; i++ {
		user, role := users[rng.IntN(len(users))], roles[rng.IntN(len(roles))]
		scope := ""
		if rng.IntN(3) == 0 {
			scope = scopes[rng.IntN(len(scopes))]
		}
		k, perms := rng.IntN(5), randomRights(rng, 8)
		write := func(svc *policy.Service) error {
			var err error
			switch k {
			case 0, 1:
				_, _, err = svc.UpdateRole(ctx, "acme", role, policy.RoleInput{Permissions: perms}, policy.Patch, 0)
			case 2:
				_, _, err = svc.AssignRole(ctx, "acme", user, role, scope)
			case 3:
				_, err = svc.UnassignRole(ctx, "acme", user, role, scope)
			case 4:
				if rng.IntN(4) == 0 {
					_, _, err = svc.DeleteRole(ctx, "acme", role, true, 0)
				} else {
					_, _, err = svc.AssignRole(ctx, "acme", user, role, scope)
				}
			}
			return err
		}
		before := all()
		rev, _ := eng.Revision(ctx, "acme")
		dsvc, res := svc.DryRun()
		seed := rng.Uint64()
		rng = rand.New(rand.NewPCG(seed, 1))
		dryErr := write(dsvc)
		rng = rand.New(rand.NewPCG(seed, 1))
		if got, _ := eng.Revision(ctx, "acme"); got != rev {
			t.Fatalf("step %d: the dry run moved the engine from revision %d to %d", i, rev, got)
		}
		if e, err := svc.GetEntity(ctx, "acme"); err != nil || e.Revision != rev {
			t.Fatalf("step %d: the dry run moved the stored revision from %d to %d (%v)", i, rev, e.Revision, err)
		}
		realErr := write(svc)
		if (dryErr == nil) != (realErr == nil) || (realErr != nil && rolegate.AsError(dryErr).Code != rolegate.AsError(realErr).Code) {
			t.Fatalf("step %d: dry run said %v, the write %v", i, dryErr, realErr)
		}
		if realErr != nil {
			continue
		}
		dryRuns++
		wantG, wantL := oracleDiff(users, scopes, before, all())
		if len(wantG)+len(wantL) > 0 {
			changed++
		}
		if !reflect.DeepEqual(res.Gained, wantG) || !reflect.DeepEqual(res.Lost, wantL) {
			t.Fatalf("step %d (write %d): dry run\n gained %+v\n lost   %+v\nwant\n gained %+v\n lost   %+v", i, k, res.Gained, res.Lost, wantG, wantL)
		}
		for q := 0; q < 3; q++ {
			obj := deltaObjects[rng.IntN(len(deltaObjects)-1)]
			act := deltaActions[rng.IntN(len(deltaActions)-1)]
			sc := ""
			if q == 2 {
				sc = scopes[rng.IntN(len(scopes))]
			}
			var got []engine.Holder
			after := ""
			for {
				page, err := svc.WhoCan(ctx, "acme", obj, act, sc, after, 3, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range page {
					for j := range h.Via {
						h.Via[j].Permission = ""
					}
				}
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				after = page[len(page)-1].UserID
			}
			if want := whoCanOracle(t, eng, users, obj, act, sc); !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d: who can %s %s (scope %q):\n got  %+v\n want %+v", i, act, obj, sc, got, want)
			}
		}
	}
	if dryRuns < 40 || changed < 15 {
		t.Fatalf("only %d dry runs compared, %d changing rights: the test proves little", dryRuns, changed)
	}
}
