package policy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// An instance behind another's writes catches up from the change log, one
// delta per revision and no reload; when the log does not reach back (an
// entry gone) it reloads the entity in full, and answers from the new policy
// either way. An entity deleted and created again under the same id is never
// patched from the new entity's log.
func TestChangeLogCatchUpAndGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := testkit.NewInstance(t, path, nil, -1) // no notifier, no sweep: only MinRevision moves o
	o := testkit.NewInstance(t, path, nil, -1)
	ctx := auth.Internal(context.Background())
	role := testkit.SeedEntity(t, a, "acme")
	if ok, _, err := testkit.MayRead(t, o, "acme", "doc", 0); !ok || err != nil {
		t.Fatalf("before: %v %v", ok, err)
	}
	st := o.Eng.Stats()
	for _, obj := range []string{"memo", "note", "file"} {
		if _, _, err := a.Svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight(obj)}, policy.Patch, 0); err != nil {
			t.Fatal(err)
		}
	}
	rev, _ := a.Eng.Revision(ctx, "acme")
	if ok, got, err := testkit.MayRead(t, o, "acme", "file", rev); !ok || got != rev || err != nil {
		t.Fatalf("after three writes: %v at %d, %v", ok, got, err)
	}
	if after := o.Eng.Stats(); after.Reloads != st.Reloads || after.Loads != st.Loads || after.Deltas-st.Deltas != 3 {
		t.Fatalf("catch-up: %d reloads, %d loads, %d deltas; want 0, 0, 3",
			after.Reloads-st.Reloads, after.Loads-st.Loads, after.Deltas-st.Deltas)
	}

	// A gap: the entry of the first of two more writes is gone.
	if _, _, err := a.Svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("doc")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	db, err := adapters.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.DB().Exec("DELETE FROM policy_changes WHERE entity_id = ? AND revision = ?", "acme", rev+1).Error; err != nil {
		t.Fatal(err)
	}
	st = o.Eng.Stats()
	if ok, got, err := testkit.MayRead(t, o, "acme", "doc", rev+2); !ok || got != rev+2 || err != nil {
		t.Fatalf("after the gap: %v at %d, %v", ok, got, err)
	}
	if ok, _, _ := testkit.MayRead(t, o, "acme", "file", 0); ok {
		t.Fatal("answered from the policy before the gap")
	}
	if after := o.Eng.Stats(); after.Reloads-st.Reloads != 1 || after.Deltas != st.Deltas {
		t.Fatalf("gap: %d reloads, %d deltas; want 1, 0", after.Reloads-st.Reloads, after.Deltas-st.Deltas)
	}

	// Deleted and created again, its revisions climbing past the one o
	// holds with a complete log of the new entity: o must not patch the old.
	held, _ := o.Eng.Revision(ctx, "acme")
	if _, err := a.Svc.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // created_at is kept in milliseconds: make it differ
	testkit.SeedEntity(t, a, "acme")
	for n, _ := a.Eng.Revision(ctx, "acme"); n <= held+1; n, _ = a.Eng.Revision(ctx, "acme") {
		if _, _, err := a.Svc.CreateUser(ctx, "acme", policy.UserInput{RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	now, _ := a.Eng.Revision(ctx, "acme")
	st = o.Eng.Stats()
	if _, got, err := testkit.MayRead(t, o, "acme", "doc", now); got != now || err != nil {
		t.Fatalf("recreated: at %d, %v", got, err)
	}
	if after := o.Eng.Stats(); after.Reloads-st.Reloads != 1 || after.Deltas != st.Deltas {
		t.Fatalf("recreated entity: %d reloads, %d deltas; want a full reload", after.Reloads-st.Reloads, after.Deltas-st.Deltas)
	}
}
