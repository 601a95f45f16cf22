package policy_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// doctorFixture is a store with a service over it.
type doctorFixture struct {
	t     *testing.T
	store policy.Store
	svc   *policy.Service
}

func newDoctorFixture(t *testing.T) *doctorFixture {
	t.Helper()
	svc, store := testkit.Service(t)
	return &doctorFixture{t: t, store: store, svc: svc}
}

func (f *doctorFixture) update(fn func(tx policy.Tx) error) {
	f.t.Helper()
	if err := f.store.Update(context.Background(), fn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *doctorFixture) revision(entityID string) int64 {
	f.t.Helper()
	e, err := f.svc.GetEntity(auth.Internal(context.Background()), entityID)
	if err != nil {
		f.t.Fatal(err)
	}
	return e.Revision
}

func (f *doctorFixture) doctor(fix bool) policy.Report {
	f.t.Helper()
	rep, err := policy.Doctor(context.Background(), f.store, fix)
	if err != nil {
		f.t.Fatalf("doctor(fix=%v): %v", fix, err)
	}
	return rep
}

func (f *doctorFixture) allowed(entityID, userID, obj, act string) bool {
	f.t.Helper()
	f.svc.Engine().Forget(entityID) // read what is stored now
	d, err := f.svc.Check(auth.Internal(context.Background()), policy.CheckRequest{EntityID: entityID, UserID: userID, ObjectType: obj, Action: act})
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Allowed
}

func docP(sub, ent, obj, act, cond, eft string) rolegate.Rule {
	return rolegate.Rule{PType: "p", Values: []string{sub, ent, obj, act, cond, eft}}
}

func docG(user, role, ent string) rolegate.Rule {
	return rolegate.Rule{PType: "g", Values: []string{user, role, ent}}
}

func docPerms(obj string, aps ...rolegate.ActionPermission) *rolegate.Permissions {
	return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: obj, Actions: aps}}}
}

func docStr(s string) *string { return &s }

// problemSet renders problems as "entity kind rule" lines (or "entity kind"
// when there is no rule), sorted.
func problemSet(rep policy.Report) []string {
	var out []string
	for _, p := range rep.Problems {
		s := p.EntityID + " " + p.Kind
		if p.Rule != "" {
			s += " " + p.Rule
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestDoctor corrupts the stored rules in every way the check knows, checks
// the report, repairs with fix, and finds the store consistent afterwards.
func TestDoctor(t *testing.T) {
	f := newDoctorFixture(t)
	ctx := auth.Internal(context.Background())
	for _, id := range []string{"acme", "beta"} {
		if _, err := f.svc.CreateEntity(ctx, policy.EntityInput{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	approver, _, err := f.svc.CreateRole(ctx, "acme", policy.RoleInput{Name: docStr("approver"), Permissions: docPerms("payable",
		rolegate.ActionPermission{ActionName: "read", Permission: rolegate.Allowed},
		rolegate.ActionPermission{ActionName: "approve", Permission: rolegate.AllowedForOwn},
		rolegate.ActionPermission{ActionName: "delete", Permission: rolegate.Denied})})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := f.svc.CreateRole(ctx, "acme", policy.RoleInput{Name: docStr("old"), Permissions: docPerms("receipt",
		rolegate.ActionPermission{ActionName: "read", Permission: rolegate.Allowed})})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.DeleteRole(ctx, "acme", old.ID, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateUser(ctx, "acme", policy.UserInput{ID: "u-1", RoleIDs: &[]string{approver.ID},
		Permissions: docPerms("receipt", rolegate.ActionPermission{ActionName: "read", Permission: rolegate.Allowed})}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AssignRole(ctx, "acme", "u-1", approver.ID, "team:42"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateUser(ctx, "acme", policy.UserInput{ID: "u-2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreateUser(ctx, "beta", policy.UserInput{ID: "u-1"}); err != nil {
		t.Fatal(err)
	}

	// A store written through the service is consistent.
	rep := f.doctor(false)
	if len(rep.Problems) != 0 || rep.Remaining() != 0 {
		t.Fatalf("fresh store: %v", problemSet(rep))
	}
	// 2 entities; acme: admin, member, approver, old; beta: admin, member.
	if rep.Entities != 2 || rep.Roles != 6 || rep.Users != 3 || rep.Assignments != 4 {
		t.Fatalf("counts: %+v", rep)
	}
	if !strings.HasSuffix(rep.Summary(), "consistent") {
		t.Fatalf("summary: %s", rep.Summary())
	}
	// Fixing a consistent store writes nothing.
	revAcme, revBeta := f.revision("acme"), f.revision("beta")
	if rep := f.doctor(true); len(rep.Problems) != 0 || len(rep.Fixed) != 0 {
		t.Fatalf("fix on a consistent store: %v %v", problemSet(rep), rep.Fixed)
	}
	if f.revision("acme") != revAcme || f.revision("beta") != revBeta {
		t.Fatal("fix on a consistent store bumped a revision")
	}

	ar := engine.RoleSubject(approver.ID)
	missingP := docP(ar, "acme", "payable", "read", "any", "allow")
	extraP := docP(ar, "acme", "payable", "update", "any", "allow")
	deletedP := docP(engine.RoleSubject(old.ID), "acme", "receipt", "read", "any", "allow")
	orphanP := docP("r:ghost", "acme", "*", "*", "any", "allow")
	userP := docP("u:u-1", "acme", "receipt", "read", "any", "allow")
	scopedG := docG(engine.ScopedSubject("team:42", "u-1"), ar, "acme")
	orphanG := docG("u:u-9", ar, "acme")
	danglingG := docG("u:u-2", "r:no-such-role", "acme")
	f.update(func(tx policy.Tx) error {
		if err := tx.RemoveRules([]rolegate.Rule{missingP, userP, scopedG}); err != nil {
			return err
		}
		if err := tx.AddRules([]rolegate.Rule{extraP, deletedP, orphanP, orphanG, danglingG,
			docP("r:x", "gone", "payable", "read", "any", "allow"), docG("u:a", "r:x", "gone")}); err != nil {
			return err
		}
		return tx.PutAssignment(&rolegate.Assignment{EntityID: "acme", UserID: "u-2", RoleID: "no-such-role"})
	})
	if !f.allowed("acme", "u-9", "payable", "update") {
		t.Fatal("the orphan g rule should grant u-9 the approver's extra right before the fix")
	}

	rep = f.doctor(false)
	want := []string{
		"acme dangling_assignment",
		"acme extra_rule " + deletedP.String(),
		"acme extra_rule " + extraP.String(),
		"acme missing_rule " + missingP.String(),
		"acme missing_rule " + scopedG.String(),
		"acme missing_rule " + userP.String(),
		"acme orphan_rule " + danglingG.String(),
		"acme orphan_rule " + orphanG.String(),
		"acme orphan_rule " + orphanP.String(),
		"gone stray_rules",
	}
	sort.Strings(want)
	if got := problemSet(rep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Remaining() != len(want) || len(rep.Fixed) != 0 {
		t.Fatalf("remaining %d, fixed %v", rep.Remaining(), rep.Fixed)
	}
	for _, pr := range rep.Problems {
		line := pr.String()
		if !strings.HasPrefix(line, `entity "`) || strings.Contains(line, "[fixed]") {
			t.Errorf("problem line %q", line)
		}
		if pr.Kind == policy.ProblemMissingRule && pr.Rule == missingP.String() && !strings.Contains(line, `role "approver"`) {
			t.Errorf("missing rule names no role: %q", line)
		}
		if pr.Kind == policy.ProblemDanglingAssignment && !strings.Contains(line, "the role does not exist") {
			t.Errorf("dangling assignment line: %q", line)
		}
	}
	if s := rep.Summary(); !strings.Contains(s, "10 problem(s) in 2 entities") || !strings.Contains(s, "10 remain") {
		t.Fatalf("summary: %s", s)
	}
	if f.revision("acme") != revAcme {
		t.Fatal("a check without fix bumped the revision")
	}

	rep = f.doctor(true)
	if rep.Remaining() != 0 || len(rep.Problems) != len(want) {
		t.Fatalf("after fix: remaining %d: %v", rep.Remaining(), problemSet(rep))
	}
	if len(rep.Fixed) != 1 || rep.Fixed[0].EntityID != "acme" || rep.Fixed[0].Revision != revAcme+1 {
		t.Fatalf("fixed: %+v (acme was at %d)", rep.Fixed, revAcme)
	}
	if f.revision("acme") != revAcme+1 || f.revision("beta") != revBeta {
		t.Fatalf("revisions after fix: acme %d beta %d", f.revision("acme"), f.revision("beta"))
	}
	if s := rep.Summary(); !strings.Contains(s, "10 fixed in 2 entities") || !strings.HasSuffix(s, "none remain") {
		t.Fatalf("summary: %s", s)
	}

	// Repaired: nothing left to find, the rules are exactly the compiled ones,
	// and the orphan grants nothing any more.
	if rep := f.doctor(false); len(rep.Problems) != 0 {
		t.Fatalf("after fix: %v", problemSet(rep))
	}
	pol, err := f.store.LoadPolicy(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pol.Rules {
		switch r.String() {
		case extraP.String(), deletedP.String(), orphanP.String(), orphanG.String(), danglingG.String():
			t.Errorf("rule %s still stored", r)
		}
	}
	if f.allowed("acme", "u-9", "payable", "update") || !f.allowed("acme", "u-1", "payable", "read") || !f.allowed("acme", "u-1", "receipt", "read") {
		t.Fatal("checks after the fix")
	}
	held, err := f.svc.UserRoles(ctx, "acme", "u-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, ur := range held {
		if ur.Role.ID == "no-such-role" {
			t.Fatal("the dangling assignment is still stored")
		}
	}
	var stray []rolegate.Rule
	f.update(func(tx policy.Tx) (err error) { stray, err = tx.EntityRules("gone"); return })
	if len(stray) != 0 {
		t.Fatalf("rules of the unknown entity: %v", stray)
	}
}

// TestDoctorUnreadableRow reports an entity whose rows cannot be read and
// goes on with the others; fix leaves it reported.
func TestDoctorUnreadableRow(t *testing.T) {
	svc, store := testkit.SQLiteService(t)
	f := &doctorFixture{t: t, store: store, svc: svc}
	ctx := auth.Internal(context.Background())
	for _, id := range []string{"a", "b"} {
		if _, err := f.svc.CreateEntity(ctx, policy.EntityInput{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.DB().Exec("UPDATE roles SET permissions = ? WHERE entity_id = ?", "{not json", "a").Error; err != nil {
		t.Fatal(err)
	}
	f.update(func(tx policy.Tx) error {
		return tx.AddRules([]rolegate.Rule{docP("r:ghost", "b", "x", "y", "any", "allow")})
	})
	for _, fix := range []bool{false, true} {
		rep := f.doctor(fix)
		got := problemSet(rep)
		want := []string{"a check_failed", "b orphan_rule " + docP("r:ghost", "b", "x", "y", "any", "allow").String()}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("fix=%v: %v", fix, got)
		}
		if fix && rep.Remaining() != 1 {
			t.Fatalf("remaining after fix: %d", rep.Remaining())
		}
	}
}
