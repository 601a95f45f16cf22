package policy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// TestConstraintsCheckedAgainstTheStore: two instances over one SQLite
// file, the second told nothing of the first's writes (no notifier, no
// sweep). A write on the second is checked against what the store holds,
// not its stale policy: the assignment made and the constraint created on
// the first refuse it; a constraint created on the second over a violation
// made on the first is refused.
func TestConstraintsCheckedAgainstTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := testkit.NewInstance(t, path, nil, time.Hour)
	b := testkit.NewInstance(t, path, nil, time.Hour)
	ctx := auth.Internal(context.Background())
	if _, err := a.Svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	role := func(name, action string) rolegate.Role {
		r, _, err := a.Svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name,
			Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", action, "allowed")}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	maker, checker := role("maker", "create"), role("checker", "approve")
	for _, u := range []string{"ana", "bo"} {
		if _, _, err := a.Svc.CreateUser(ctx, "acme", policy.UserInput{ID: u, RoleIDs: &[]string{maker.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	// b loads the entity now, and hears nothing more.
	if _, err := b.Svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "bo", ObjectType: "payable", Action: "create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Svc.UnassignRole(ctx, "acme", "bo", maker.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Svc.AssignRole(ctx, "acme", "bo", checker.ID, ""); err != nil {
		t.Fatal(err)
	}
	c, _, err := a.Svc.CreateConstraint(ctx, makerChecker(""))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Svc.AssignRole(ctx, "acme", "bo", maker.ID, "")
	refused(t, "a write on an instance that missed the constraint and the assignment", err, "bo", "")

	if _, err := a.Svc.DeleteConstraint(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Svc.AssignRole(ctx, "acme", "ana", checker.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.Svc.CreateConstraint(ctx, makerChecker(""))
	refused(t, "a constraint created on an instance that missed the violation", err, "ana", "")
	if list, err := b.Svc.ListConstraints(ctx, "acme"); err != nil || len(list) != 0 {
		t.Fatalf("stored: %+v %v", list, err)
	}
}
