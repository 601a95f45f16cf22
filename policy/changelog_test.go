package policy_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// An instance behind another's writes catches up from the change log, one
// delta per revision and no reload; when the log does not reach back (an
// entry gone) it reloads the entity in full, and answers from the new policy
// either way. An entity deleted and created again under the same id is never
// patched from the new entity's log.
func TestChangeLogCatchUpAndGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := newInstance(t, path, nil, -1) // no notifier, no sweep: only MinRevision moves o
	o := newInstance(t, path, nil, -1)
	ctx := auth.Internal(context.Background())
	role := seedEntity(t, a, "acme")
	if ok, _, err := mayRead(t, o, "acme", "doc", 0); !ok || err != nil {
		t.Fatalf("before: %v %v", ok, err)
	}
	st := o.eng.Stats()
	for _, obj := range []string{"memo", "note", "file"} {
		if _, _, err := a.svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: readRight(obj)}, policy.Patch, 0); err != nil {
			t.Fatal(err)
		}
	}
	rev, _ := a.eng.Revision(ctx, "acme")
	if ok, got, err := mayRead(t, o, "acme", "file", rev); !ok || got != rev || err != nil {
		t.Fatalf("after three writes: %v at %d, %v", ok, got, err)
	}
	if after := o.eng.Stats(); after.Reloads != st.Reloads || after.Loads != st.Loads || after.Deltas-st.Deltas != 3 {
		t.Fatalf("catch-up: %d reloads, %d loads, %d deltas; want 0, 0, 3",
			after.Reloads-st.Reloads, after.Loads-st.Loads, after.Deltas-st.Deltas)
	}

	// A gap: the entry of the first of two more writes is gone.
	if _, _, err := a.svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: readRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: readRight("doc")}, policy.Patch, 0); err != nil {
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
	st = o.eng.Stats()
	if ok, got, err := mayRead(t, o, "acme", "doc", rev+2); !ok || got != rev+2 || err != nil {
		t.Fatalf("after the gap: %v at %d, %v", ok, got, err)
	}
	if ok, _, _ := mayRead(t, o, "acme", "file", 0); ok {
		t.Fatal("answered from the policy before the gap")
	}
	if after := o.eng.Stats(); after.Reloads-st.Reloads != 1 || after.Deltas != st.Deltas {
		t.Fatalf("gap: %d reloads, %d deltas; want 1, 0", after.Reloads-st.Reloads, after.Deltas-st.Deltas)
	}

	// Deleted and created again, its revisions climbing past the one o
	// holds with a complete log of the new entity: o must not patch the old.
	held, _ := o.eng.Revision(ctx, "acme")
	if _, err := a.svc.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // created_at is kept in milliseconds: make it differ
	seedEntity(t, a, "acme")
	for n, _ := a.eng.Revision(ctx, "acme"); n <= held+1; n, _ = a.eng.Revision(ctx, "acme") {
		if _, _, err := a.svc.CreateUser(ctx, "acme", policy.UserInput{RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	now, _ := a.eng.Revision(ctx, "acme")
	st = o.eng.Stats()
	if _, got, err := mayRead(t, o, "acme", "doc", now); got != now || err != nil {
		t.Fatalf("recreated: at %d, %v", got, err)
	}
	if after := o.eng.Stats(); after.Reloads-st.Reloads != 1 || after.Deltas != st.Deltas {
		t.Fatalf("recreated entity: %d reloads, %d deltas; want a full reload", after.Reloads-st.Reloads, after.Deltas-st.Deltas)
	}
}
