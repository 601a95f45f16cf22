package policy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// BenchmarkWriteUnderConstraints: what the separation-of-duties hook adds
// to a write (an assignment, then its removal) on SQLite: an entity without
// constraints (one indexed query), with 20 reporting ones (the same query,
// no check) and with 20 enforcing ones (the engine's check of the users the
// write touches).
func BenchmarkWriteUnderConstraints(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
		mode string
	}{{"none", 0, ""}, {"report-20", 20, rolegate.ConstraintReport}, {"enforce-20", 20, rolegate.ConstraintEnforce}} {
		b.Run(tc.name, func(b *testing.B) {
			svc, _ := testkit.SQLiteService(b, "acme")
			ctx := auth.Internal(context.Background())
			name := "maker"
			p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{obj("payable", "create", "allowed")}}
			r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &p})
			if err != nil {
				b.Fatal(err)
			}
			for i := range 100 {
				if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: fmt.Sprintf("u%d", i), RoleIDs: &[]string{r.ID}}); err != nil {
					b.Fatal(err)
				}
			}
			for i := range tc.n {
				c := rolegate.Constraint{EntityID: "acme", Name: fmt.Sprintf("c%d", i), Mode: tc.mode, Rights: []rolegate.ConstraintRight{
					{ObjectType: "payable", Action: "create"}, {ObjectType: fmt.Sprintf("obj%d", i), Action: "approve"}}}
				if _, _, err := svc.CreateConstraint(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				u := fmt.Sprintf("u%d", i%100)
				if _, _, err := svc.AssignRole(ctx, "acme", u, r.ID, "team:1"); err != nil {
					b.Fatal(err)
				}
				if _, err := svc.UnassignRole(ctx, "acme", u, r.ID, "team:1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
