package policy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// invalidScope reports whether err is the 422 an assignment's bad scope gets.
func invalidScope(err error) bool {
	var e *rolegate.Error
	return errors.As(err, &e) && e.Kind == rolegate.KindInvalid && e.Code == "invalid_scope"
}

// TestScopeSplice: user "auth0|123" holds a role in team:42. A question
// about user "123" in scope "team:42|auth0" spells the same scoped subject
// (s:team:42|auth0|123): every entry point refuses that scope (422
// invalid_scope) and the engine, asked directly, finds no role in it.
func TestScopeSplice(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, _ := clockedService(t, c)
	ctx := auth.Internal(context.Background())
	name := "approver"
	approve := &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Allowed}}}}}
	role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: approve})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"auth0|123", "123"} {
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: u, RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.AssignRole(ctx, "acme", "auth0|123", role.ID, "team:42"); err != nil {
		t.Fatal(err)
	}
	q := policy.CheckRequest{EntityID: "acme", UserID: "auth0|123", ObjectType: "payable", Action: "approve", Scope: "team:42"}
	if d, err := svc.Check(ctx, q); err != nil || !d.Allowed {
		t.Fatalf("the holder in its scope: %+v %v", d, err)
	}
	spliced := policy.CheckRequest{EntityID: "acme", UserID: "123", ObjectType: "payable", Action: "approve", Scope: "team:42|auth0", Explain: true}
	if d, err := svc.Check(ctx, spliced); !invalidScope(err) || d.Allowed {
		t.Fatalf("check: %+v %v", d, err)
	}
	if ds, err := svc.CheckBatch(ctx, []policy.CheckRequest{q, spliced}); !invalidScope(err) || ds != nil {
		t.Fatalf("batch: %+v %v", ds, err)
	} else if e := rolegate.AsError(err); e.Details[0].Field != "checks[1].scope" {
		t.Fatalf("batch names %q", e.Details[0].Field)
	}
	if p, err := svc.UserPermissions(ctx, "acme", "123", "team:42|auth0"); !invalidScope(err) || len(p.Objects) != 0 {
		t.Fatalf("permissions: %+v %v", p, err)
	}
	if hs, err := svc.WhoCan(ctx, "acme", "payable", "approve", "team:42|auth0", "", 100, nil); !invalidScope(err) || hs != nil {
		t.Fatalf("who-can: %+v %v", hs, err)
	}
	if _, err := svc.UnassignRole(ctx, "acme", "123", role.ID, "team:42|auth0"); !invalidScope(err) {
		t.Fatalf("unassign: %v", err)
	}
	// Past the entry points: the engine finds nothing in such a scope.
	if d, err := svc.Engine().Check(ctx, engine.Request{EntityID: spliced.EntityID, UserID: spliced.UserID, ObjectType: spliced.ObjectType, Action: spliced.Action, Scope: spliced.Scope, Explain: spliced.Explain}); err != nil || d.Allowed || len(d.Matched) != 0 {
		t.Fatalf("engine check: %+v %v", d, err)
	}
	if p, _, err := svc.Engine().Effective(ctx, "acme", "123", "team:42|auth0"); err != nil || len(p.Objects) != 0 {
		t.Fatalf("engine rights: %+v %v", p, err)
	}
}

// TestScopedSubjectsDistinct: distinct (scope, user) pairs with valid scopes
// have distinct subjects, also when the ids are long enough to be hashed,
// and never one of a user's entity-wide subjects; a scope holding "|" has
// none.
func TestScopedSubjectsDistinct(t *testing.T) {
	long := strings.Repeat("x", 128)
	scopes := []string{"team:42", "team:4", "team:42:auth0", "a", long[:128]}
	users := []string{"123", "auth0|123", "|123", "42|auth0|123", "2|auth0|123", long, long + "|1", "1|" + long}
	seen := map[string][2]string{}
	for _, u := range users {
		seen[engine.UserSubject(u)] = [2]string{"", u}
	}
	for _, sc := range scopes {
		if !policy.ValidScope(sc) {
			t.Fatalf("%q is not a valid scope", sc)
		}
		for _, u := range users {
			sub := engine.ScopedSubject(sc, u)
			if len(sub) > 100 || sub == "" {
				t.Fatalf("%q in %q: subject %q", u, sc, sub)
			}
			if was, ok := seen[sub]; ok {
				t.Fatalf("%q in %q and %q in %q share subject %q", u, sc, was[1], was[0], sub)
			}
			seen[sub] = [2]string{sc, u}
		}
	}
	if sub := engine.ScopedSubject("team:42|auth0", "123"); sub != "" {
		t.Fatalf("a scope holding |: %q", sub)
	}
}

// TestExplainedCheckRoleNames: a client with only the check scope sees an
// explained check's roles by id only (no names) and no grantable_by; a
// client that may manage sees names; a user of the entity asking about itself
// sees its own roles' names.
func TestExplainedCheckRoleNames(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, _ := clockedService(t, c)
	ctx := auth.Internal(context.Background())
	perms := func(p rolegate.Permission) *rolegate.Permissions {
		return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: p}}}}}
	}
	names := map[string]string{}
	for n, p := range map[string]rolegate.Permission{"secret approvers": rolegate.Allowed, "secret blockers": rolegate.Denied} {
		r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &n, Permissions: perms(p)})
		if err != nil {
			t.Fatal(err)
		}
		names[n] = r.ID
	}
	for u, roles := range map[string][]string{"ann": {names["secret approvers"]}, "bob": {}, "cat": {names["secret approvers"], names["secret blockers"]}} {
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: u, RoleIDs: &roles}); err != nil {
			t.Fatal(err)
		}
	}
	ask := func(ctx context.Context, user string) engine.Decision {
		t.Helper()
		d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: user, ObjectType: "payable", Action: "approve", Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := svc.CheckBatch(ctx, []policy.CheckRequest{{EntityID: "acme", UserID: user, ObjectType: "payable", Action: "approve", Explain: true}})
		if err != nil || len(ds) != 1 {
			t.Fatal(err)
		}
		if !sameMatches(d.Matched, ds[0].Matched) || !sameMatches(d.DeniedBy, ds[0].DeniedBy) || (d.GrantableBy == nil) != (ds[0].GrantableBy == nil) {
			t.Fatalf("check and batch differ: %+v %+v", d, ds[0])
		}
		return d
	}
	named := func(ms ...[]engine.Match) bool {
		for _, l := range ms {
			for _, m := range l {
				if m.RoleName != "" {
					return true
				}
			}
		}
		return false
	}
	checker := auth.WithActor(context.Background(), auth.Actor{ID: "client:chk", ClientID: "chk", Scopes: []string{auth.ScopeCheck}})
	manager := auth.WithActor(context.Background(), auth.Actor{ID: "client:mgr", ClientID: "mgr", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})
	// ann is allowed: matched by id only.
	if d := ask(checker, "ann"); !d.Allowed || len(d.Matched) != 1 || d.Matched[0].RoleID != names["secret approvers"] || named(d.Matched) {
		t.Fatalf("check-only, allowed: %+v", d)
	}
	// bob is not allowed: no grantable_by.
	if d := ask(checker, "bob"); d.Allowed || d.GrantableBy != nil {
		t.Fatalf("check-only, not allowed: %+v", d)
	}
	// cat is denied: denied_by and matched by id only.
	if d := ask(checker, "cat"); d.Permission != rolegate.Denied || len(d.DeniedBy) != 1 || len(d.Matched) != 2 || named(d.Matched, d.DeniedBy) {
		t.Fatalf("check-only, denied: %+v", d)
	}
	// A client that may manage sees the names and grantable_by.
	if d := ask(manager, "bob"); !slices.Contains(d.GrantableBy, engine.Match{RoleID: names["secret approvers"], RoleName: "secret approvers", Permission: rolegate.Allowed}) {
		t.Fatalf("manager, not allowed: %+v", d)
	}
	if d := ask(manager, "cat"); !named(d.Matched) || !named(d.DeniedBy) {
		t.Fatalf("manager, denied: %+v", d)
	}
	// cat, a user without role:read asking about itself: its own roles by
	// name, no grantable_by; about ann: ids only.
	cat := auth.WithActor(context.Background(), auth.Actor{ID: "user:cat", EntityID: "acme", UserID: "cat", Scopes: []string{auth.ScopeCheck}})
	if d := ask(cat, "cat"); !named(d.Matched) || !named(d.DeniedBy) {
		t.Fatalf("cat about itself: %+v", d)
	}
}

func sameMatches(a, b []engine.Match) bool { return slices.Equal(a, b) }

// TestExpiredAssignmentGoneAtOnce: from its expiry on, before any sweep, an
// assignment no longer lists among the role's users, no longer blocks a
// role delete (role_in_use), and cannot be unassigned (404); assigning the
// role again makes a new one.
func TestExpiredAssignmentGoneAtOnce(t *testing.T) {
	c := &clock{}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.set(start)
	svc, _ := clockedService(t, c)
	ctx := auth.Internal(context.Background())
	name, other := "temp", "other"
	perms := &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Allowed}}}}}
	role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	role2, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &other, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "bob"} {
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: u, RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	exp := start.Add(10 * time.Second)
	for _, a := range []struct{ user, role, scope string }{{"ann", role.ID, ""}, {"bob", role.ID, "team:1"}, {"ann", role2.ID, ""}} {
		if _, _, err := svc.AssignRoleUntil(ctx, "acme", a.user, a.role, a.scope, &exp); err != nil {
			t.Fatal(err)
		}
	}
	users := func(roleID string) []string {
		t.Helper()
		us, err := svc.ListRoleUsers(ctx, "acme", roleID, policy.Page{Limit: 100, Sort: "id"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return ids
	}
	if got := users(role.ID); len(got) != 2 {
		t.Fatalf("before the expiry: %v", got)
	}
	if _, _, err := svc.DeleteRole(ctx, "acme", role.ID, false, 0); !rolegate.IsKind(err, rolegate.KindConflict) {
		t.Fatalf("delete before the expiry: %v", err)
	}
	c.set(exp)
	if got := users(role.ID); len(got) != 0 {
		t.Fatalf("at the expiry, the role's users: %v", got)
	}
	if _, err := svc.UnassignRole(ctx, "acme", "ann", role2.ID, ""); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("unassign an expired assignment: %v", err)
	}
	if _, _, err := svc.DeleteRole(ctx, "acme", role.ID, false, 0); err != nil {
		t.Fatalf("delete at the expiry: %v", err)
	}
	// Assigned again, the expired one is replaced by a new one, for good.
	a, _, err := svc.AssignRole(ctx, "acme", "ann", role2.ID, "")
	if err != nil || a.ExpiresAt != nil || !a.CreatedAt.Equal(exp) {
		t.Fatalf("assigned again: %+v %v", a, err)
	}
	if got := users(role2.ID); len(got) != 1 || got[0] != "ann" {
		t.Fatalf("assigned again, the role's users: %v", got)
	}
	c.add(time.Hour)
	if d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "ann", ObjectType: "payable", Action: "approve"}); err != nil || !d.Allowed {
		t.Fatalf("assigned again, the check: %+v %v", d, err)
	}
}
