package policy_test

import (
	"context"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// A user of an entity may give only rights it holds: roles, its own rights to
// another user, and team roles, through every path.
func TestNoPrivilegeEscalation(t *testing.T) {
	svc := newService(t)
	ctx := auth.Internal(context.Background())
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	name := func(s string) *string { return &s }
	reader, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("reader"),
		Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("doc", "read", "allowed", "update", "allowed_for_own")}}})
	if err != nil {
		t.Fatal(err)
	}
	approver, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("approver"),
		Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "approve", "allowed")}}})
	if err != nil {
		t.Fatal(err)
	}
	users, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("user admin"),
		Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("user", "*", "allowed")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "alice", RoleIDs: &[]string{reader.ID, users.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "bob", RoleIDs: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	alice := auth.WithActor(ctx, auth.Actor{ID: "user:alice", EntityID: "acme", UserID: "alice", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})

	escalation := func(what string, err error) {
		t.Helper()
		if e := rolegate.AsError(err); err == nil || e.Code != "privilege_escalation" || e.Kind != rolegate.KindForbidden {
			t.Errorf("%s: want 403 privilege_escalation, got %v", what, err)
		}
	}
	_, _, err = svc.CreateUser(alice, "acme", policy.UserInput{ID: "carol", RoleIDs: &[]string{approver.ID}})
	escalation("create user with a role", err)
	_, _, err = svc.AssignRole(alice, "acme", "bob", approver.ID, "")
	escalation("assign role", err)
	_, _, err = svc.AssignRole(alice, "acme", "bob", approver.ID, "team:1")
	escalation("assign role in a scope", err)
	_, _, err = svc.UpdateUser(alice, "acme", "bob", policy.UserInput{RoleIDs: &[]string{approver.ID}})
	escalation("replace roles", err)
	_, _, err = svc.SetScopedRoles(alice, "acme", "bob", "team:1", []string{approver.ID})
	escalation("team roles", err)
	_, _, err = svc.UpdateUser(alice, "acme", "bob", policy.UserInput{Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("doc", "update", "allowed")}}})
	escalation("own rights beyond allowed_for_own", err)

	// Nothing of that was written.
	if _, err := svc.GetUser(ctx, "acme", "carol"); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("carol was created: %v", err)
	}
	if roles, _ := svc.UserRoles(ctx, "acme", "bob"); len(roles) != 0 {
		t.Fatalf("bob got roles: %+v", roles)
	}
	if d, _ := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "bob", ObjectType: "payable", Action: "approve"}); d.Allowed {
		t.Fatal("bob may approve")
	}

	// What alice holds she may give, and a deny is always hers to give.
	if _, _, err := svc.AssignRole(alice, "acme", "bob", reader.ID, ""); err != nil {
		t.Fatalf("assign a held role: %v", err)
	}
	if _, _, err := svc.UpdateUser(alice, "acme", "bob", policy.UserInput{Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		obj("doc", "update", "allowed_for_own", "delete", "denied")}}}); err != nil {
		t.Fatalf("give held rights: %v", err)
	}
	// A platform caller (no user) may give anything.
	if _, _, err := svc.AssignRole(ctx, "acme", "bob", approver.ID, ""); err != nil {
		t.Fatalf("platform assign: %v", err)
	}
	// A user of another entity finds nothing here.
	other := auth.WithActor(ctx, auth.Actor{ID: "user:mallory", EntityID: "evil", UserID: "mallory", Scopes: []string{auth.ScopeManage}})
	if _, _, err := svc.AssignRole(other, "acme", "alice", reader.ID, "team:2"); !rolegate.IsKind(err, rolegate.KindNotFound) {
		t.Fatalf("other entity's user: %v", err)
	}
}
