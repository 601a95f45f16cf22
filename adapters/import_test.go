package adapters

import (
	"context"
	"fmt"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The bulk import writes users, assignments, rules and audit events in
// multi-row inserts: 1,000 users with 3 assignments each commit on every
// database, read back as written, re-import as unchanged, and leave the
// stored rules consistent with the roles and assignments (the doctor finds
// nothing).
func TestImportUsers(t *testing.T) {
	onEveryDatabase(t, "import test", func(t *testing.T, open func(t *testing.T) *Store) {
		ctx := auth.Internal(context.Background())
		s := open(t)
		engine, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: s})
		if err != nil {
			t.Fatal(err)
		}
		svc := policy.NewService(policy.Config{Store: s, Engine: engine})
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		read := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
		var roles []string
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("r%d", i)
			r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &read})
			if err != nil {
				t.Fatal(err)
			}
			roles = append(roles, r.ID)
		}
		users := make([]policy.ImportUser, policy.MaxImportUsers)
		for i := range users {
			ids := []string{roles[i%3], roles[(i+1)%3]}
			users[i] = policy.ImportUser{ID: fmt.Sprintf("u%04d", i), Email: fmt.Sprintf("u%d@acme.test", i), Name: "User",
				RoleIDs: &ids, ScopedRoles: []policy.ScopedRoles{{Scope: "team:1", RoleIDs: []string{roles[2]}}}}
		}
		res, err := svc.ImportUsers(ctx, "acme", users)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 1000 || res.Updated != 0 || res.Revision < 2 {
			t.Fatalf("import: %+v", res)
		}
		u, err := svc.GetUser(ctx, "acme", "u0999")
		if err != nil || u.Email != "u999@acme.test" || len(u.Roles) != 3 {
			t.Fatalf("imported user: %+v %v", u, err)
		}
		d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "u0500", ObjectType: "doc", Action: "read"})
		if err != nil || !d.Allowed || d.Revision != res.Revision {
			t.Fatalf("check after import: %+v %v", d, err)
		}
		again, err := svc.ImportUsers(ctx, "acme", users)
		if err != nil || again.Created != 0 || again.Updated != 0 || again.Unchanged != 1000 {
			t.Fatalf("re-import: %+v %v", again, err)
		}
		// Every user loses its team role and changes name: 1,000 updates.
		for i := range users {
			users[i].ScopedRoles, users[i].Name = nil, "Renamed"
		}
		if res, err = svc.ImportUsers(ctx, "acme", users); err != nil || res.Updated != 1000 {
			t.Fatalf("update import: %+v %v", res, err)
		}
		events, err := svc.ListAuditEvents(ctx, "acme", policy.AuditFilter{ObjectType: policy.AuditObjectUser}, policy.Page{Limit: 3000, Sort: "time"})
		if err != nil || len(events) != 2000 {
			t.Fatalf("audit events: %d %v", len(events), err)
		}
		rep, err := policy.Doctor(ctx, s, false)
		if err != nil || rep.Remaining() != 0 {
			t.Fatalf("doctor after import: %s %v", rep.Summary(), err)
		}
	})
}
