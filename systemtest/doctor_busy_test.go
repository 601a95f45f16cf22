package systemtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// TestDoctorUnderWrites: rolegate doctor run again and again while writes
// (roles, users, assignments created, changed and deleted) go on reports no
// problem: each entity is read in one snapshot, and one that changes during
// every read is reported as not checked, never as broken. On SQLite always,
// PostgreSQL and MySQL when their URL variables are set.
func TestDoctorUnderWrites(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}, {"mysql", mysqlURL}} {
		t.Run(db.name, func(t *testing.T) { doctorUnderWrites(t, db.url(t)) })
	}
}

func doctorUnderWrites(t *testing.T, url string) {
	ctx := auth.Internal(context.Background())
	store, svc := openService(t, url)
	entities := []string{"acme", "globex", "initech"}
	for _, e := range entities {
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
			t.Fatal(err)
		}
	}
	// A larger entity takes longer to read, so that writes commit during
	// its reads: most of the writers change it.
	for i := 0; i < 50; i++ {
		name, ids := fmt.Sprintf("seed-%d", i), []string{}
		r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
			{ObjectType: "doc", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}})
		if err == nil {
			ids = append(ids, r.ID)
			_, _, err = svc.CreateUser(ctx, "acme", policy.UserInput{ID: name, RoleIDs: &ids})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const runs = 10
	var done atomic.Bool
	var writes atomic.Int64
	var wg sync.WaitGroup
	writers := []string{"acme", "acme", "acme", "globex", "initech"}
	werr := make(chan error, len(writers))
	for w, e := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := churn(ctx, svc, e, w, &done, &writes); err != nil {
				werr <- err
			}
		}()
	}
	var problems []policy.Problem
	unchecked := 0
	for i := 0; i < runs; i++ {
		rep, err := policy.Doctor(ctx, store, false)
		if err != nil {
			t.Errorf("doctor run %d: %v", i, err)
			break
		}
		problems = append(problems, rep.Problems...)
		unchecked += len(rep.Unchecked)
	}
	done.Store(true)
	wg.Wait()
	close(werr)
	for err := range werr {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("%d doctor runs during %d writes: %d problem(s), %d entity check(s) skipped as changing", runs, writes.Load(), len(problems), unchecked)
	for _, p := range problems {
		t.Errorf("false problem: %s", p)
	}
	// Quiet again: everything is checked, and consistent.
	rep, err := policy.Doctor(ctx, store, false)
	if err != nil || rep.Remaining() != 0 || len(rep.Unchecked) != 0 || rep.Entities != len(entities) {
		t.Fatalf("doctor after the writes: %v %s %v", err, rep.Summary(), rep.Problems)
	}
}

// churn writes to one entity until done: a role with a right, a user holding
// it, the role's rights changed, a second role assigned and unassigned, then
// the user and the roles deleted.
func churn(ctx context.Context, svc *policy.Service, entity string, w int, done *atomic.Bool, writes *atomic.Int64) error {
	right := func(obj string) *rolegate.Permissions {
		return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: obj,
			Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
	}
	for i := 0; !done.Load(); i++ {
		n1, n2, user := fmt.Sprintf("a-%d-%d", w, i), fmt.Sprintf("b-%d-%d", w, i), fmt.Sprintf("u-%d-%d", w, i)
		r1, _, err := svc.CreateRole(ctx, entity, policy.RoleInput{Name: &n1, Permissions: right("doc")})
		if err != nil {
			return err
		}
		r2, _, err := svc.CreateRole(ctx, entity, policy.RoleInput{Name: &n2, Permissions: right("memo")})
		if err != nil {
			return err
		}
		ids := []string{r1.ID}
		if _, _, err := svc.CreateUser(ctx, entity, policy.UserInput{ID: user, RoleIDs: &ids, Permissions: right("note")}); err != nil {
			return err
		}
		if _, _, err := svc.UpdateRole(ctx, entity, r1.ID, policy.RoleInput{Permissions: right("sheet")}, policy.Patch, 0); err != nil {
			return err
		}
		if _, _, err := svc.AssignRole(ctx, entity, user, r2.ID, "team:1"); err != nil {
			return err
		}
		if _, err := svc.UnassignRole(ctx, entity, user, r2.ID, "team:1"); err != nil {
			return err
		}
		if _, _, err := svc.DeleteUser(ctx, entity, user); err != nil {
			return err
		}
		for _, id := range []string{r1.ID, r2.ID} {
			if _, _, err := svc.DeleteRole(ctx, entity, id, true, 0); err != nil {
				return err
			}
		}
		writes.Add(9)
	}
	return nil
}
