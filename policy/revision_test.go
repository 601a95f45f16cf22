package policy_test

import (
	"context"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// TestWritesReturnRevision: every Service write returns the revision its
// commit took the entity to, one more than the entity's before; a dry run
// and a refused write return 0 and leave the revision alone.
func TestWritesReturnRevision(t *testing.T) {
	svc := newService(t)
	ctx := auth.Internal(context.Background())
	ent, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"})
	if err != nil || ent.Revision != 1 {
		t.Fatalf("create entity: revision %d (%v)", ent.Revision, err)
	}
	want := ent.Revision
	step := func(what string, rev int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want++
		e, err := svc.GetEntity(ctx, "acme")
		if err != nil || rev != want || e.Revision != want {
			t.Fatalf("%s returned revision %d; entity at %d, want %d (%v)", what, rev, e.Revision, want, err)
		}
	}
	name, other := "reader", "writer"
	read := &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc",
		Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
	role, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: read})
	step("create role", rev, err)
	second, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &other})
	step("create second role", rev, err)
	_, rev, err = svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Name: &name, Permissions: read}, policy.Replace, 0)
	step("update role", rev, err)
	_, rev, err = svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada"})
	step("create user", rev, err)
	email := "ada@example.com"
	_, rev, err = svc.UpdateUser(ctx, "acme", "ada", policy.UserInput{Email: &email})
	step("update user", rev, err)
	_, rev, err = svc.AssignRole(ctx, "acme", "ada", role.ID, "")
	step("assign role", rev, err)
	_, rev, err = svc.SetScopedRoles(ctx, "acme", "ada", "team:1", []string{role.ID})
	step("set scoped roles", rev, err)
	rev, err = svc.UnassignRole(ctx, "acme", "ada", role.ID, "team:1")
	step("unassign role", rev, err)
	res, err := svc.ImportUsers(ctx, "acme", []policy.ImportUser{{ID: "bob"}})
	step("import users", res.Revision, err)

	// A dry run commits nothing: 0, the revision unchanged.
	dsvc, _ := svc.DryRun()
	if _, rev, err := dsvc.DeleteRole(ctx, "acme", second.ID, true, 0); err != nil || rev != 0 {
		t.Fatalf("dry-run delete role returned %d (%v)", rev, err)
	}
	// A refused write neither.
	if _, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name}); err == nil || rev != 0 {
		t.Fatalf("a name taken: revision %d (%v)", rev, err)
	}
	if e, err := svc.GetEntity(ctx, "acme"); err != nil || e.Revision != want {
		t.Fatalf("after a dry run and a refused write the entity is at %d, want %d (%v)", e.Revision, want, err)
	}

	_, rev, err = svc.DeleteRole(ctx, "acme", second.ID, true, 0)
	step("delete role", rev, err)
	_, rev, err = svc.DeleteUser(ctx, "acme", "bob")
	step("delete user", rev, err)
	rev, err = svc.DeleteEntity(ctx, "acme")
	if err != nil || rev != want+1 {
		t.Fatalf("delete entity returned %d, want %d (%v)", rev, want+1, err)
	}
}
