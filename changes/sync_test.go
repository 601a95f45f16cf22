package changes_test

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

// TestNotifiedReload: a change written on one instance is heard by another,
// which brings that entity (and only it) up to date from the change log and
// answers from the new policy.
func TestNotifiedReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &testkit.Bus{}
	a := testkit.NewInstance(t, path, b, time.Hour)
	o := testkit.NewInstance(t, path, b, time.Hour)
	role := testkit.SeedEntity(t, a, "acme")
	testkit.SeedEntity(t, a, "other")
	for _, e := range []string{"acme", "other"} {
		if ok, _, err := testkit.MayRead(t, o, e, "doc", 0); !ok || err != nil {
			t.Fatalf("%s before the change: %v %v", e, ok, err)
		}
	}
	// Both subscribed, and the sweep each runs when its subscription comes up
	// is done (under load it could otherwise run after the write and take
	// the change before the notification does).
	testkit.Eventually(t, 5*time.Second, "both instances subscribed and swept", func() bool {
		return a.Sync.Stats().Subscribed && o.Sync.Stats().Subscribed && a.Sync.Stats().Sweeps >= 1 && o.Sync.Stats().Sweeps >= 1
	})
	// The seeding's own notifications may still be heard (and refresh an
	// entity o was loading meanwhile): count from here.
	loadsBefore, deltasBefore := o.Eng.Stats().Loads, o.Eng.Stats().Deltas
	notifiedBefore := o.Sync.Stats().Reloads["notification"]
	lagBefore := o.Sync.Lag()
	if _, _, err := a.Svc.UpdateRole(auth.Internal(context.Background()), "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	took := testkit.Eventually(t, time.Second, "the other instance reloads", func() bool {
		ok, _, _ := testkit.MayRead(t, o, "acme", "doc", 0)
		return !ok
	})
	t.Logf("the other instance answered from the new policy after %v", took)
	if ok, _, _ := testkit.MayRead(t, o, "acme", "memo", 0); !ok {
		t.Fatal("new right not answered")
	}
	// It caught up from the change log: one delta applied, nothing reloaded.
	if got := o.Eng.Stats().Loads - loadsBefore; got != 0 {
		t.Fatalf("%d loads after one change of one entity, want 0 (the delta from the change log)", got)
	}
	if got := o.Eng.Stats().Deltas - deltasBefore; got != 1 {
		t.Fatalf("%d deltas applied after one change of one entity, want 1", got)
	}
	st := o.Sync.Stats()
	if st.Received < 1 || st.Reloads["notification"]-notifiedBefore != 1 || !st.Subscribed {
		t.Fatalf("stats of the hearing instance: %+v", st)
	}
	if lag := o.Sync.Lag(); lag.Count-lagBefore.Count != 1 || lag.Sum <= lagBefore.Sum || lag.Counts[len(lag.Counts)-1]-lagBefore.Counts[len(lag.Counts)-1] != 1 {
		t.Fatalf("lag histogram: %+v", lag)
	}
	if st := a.Sync.Stats(); st.Published < 1 || st.Reloads["notification"] != 0 {
		t.Fatalf("stats of the writing instance (it ignores its own messages): %+v", st)
	}
}

// TestSweepRepairsLostNotifications: with messages lost (or no notifier at
// all), the sweep brings the instance up to date, drops a deleted entity and
// one made anew under the same id.
func TestSweepRepairsLostNotifications(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &testkit.Bus{Mute: true}
	a := testkit.NewInstance(t, path, b, time.Hour)
	o := testkit.NewInstance(t, path, nil, -1) // swept by hand below
	ctx := auth.Internal(context.Background())
	allowed := func(e string) bool {
		t.Helper()
		ok, _, err := testkit.MayRead(t, o, e, "doc", 0)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	role := testkit.SeedEntity(t, a, "acme")
	testkit.SeedEntity(t, a, "gone")
	if !allowed("acme") || !allowed("gone") || allowed("later") {
		t.Fatal("before the changes")
	}
	if _, _, err := a.Svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Svc.DeleteEntity(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	testkit.SeedEntity(t, a, "later")
	if !allowed("acme") || !allowed("gone") || allowed("later") {
		t.Fatal("the lost changes were heard")
	}
	o.Sync.Sweep(ctx)
	testkit.Eventually(t, 2*time.Second, "the sweep repairs", func() bool {
		return !allowed("acme") && !allowed("gone") && allowed("later")
	})

	// Deleted and made anew while held: the instance holds revision 5 of
	// "gone"; the new one is at revision 1 and must not be shadowed by it.
	r := testkit.SeedEntity(t, a, "gone") // revisions 1-3
	for _, d := range []string{"x", "y"} {
		if _, _, err := a.Svc.UpdateRole(ctx, "gone", r.ID, policy.RoleInput{Description: &d}, policy.Patch, 0); err != nil {
			t.Fatal(err)
		}
	}
	o.Sync.Sweep(ctx)
	testkit.Eventually(t, 2*time.Second, "the entity made anew is seen", func() bool {
		rev, _ := o.Eng.Held("gone")
		return rev == 5 && allowed("gone")
	})
	if _, err := a.Svc.DeleteEntity(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Svc.CreateEntity(ctx, policy.EntityInput{ID: "gone"}); err != nil {
		t.Fatal(err)
	}
	if !allowed("gone") {
		t.Fatal("the lost changes were heard")
	}
	o.Sync.Sweep(ctx)
	if allowed("gone") {
		t.Fatal("the policy of the deleted entity shadows the new one")
	}
	if rev, _ := o.Eng.Held("gone"); rev != 1 {
		t.Fatalf("held revision %d of the new entity, want 1", rev)
	}
	if st := o.Sync.Stats(); st.Sweeps != 3 || st.Reloads["sweep"] != 5 || st.SweepErrors != 0 || st.Reloads["notification"] != 0 {
		t.Fatalf("sweep stats: %+v", st)
	}
}

// TestSweepLoop: the periodic sweep runs by itself.
func TestSweepLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := testkit.NewInstance(t, path, nil, time.Hour)
	o := testkit.NewInstance(t, path, nil, 50*time.Millisecond)
	role := testkit.SeedEntity(t, a, "acme")
	if ok, _, _ := testkit.MayRead(t, o, "acme", "doc", 0); !ok {
		t.Fatal("before the change")
	}
	if _, _, err := a.Svc.UpdateRole(auth.Internal(context.Background()), "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	took := testkit.Eventually(t, 2*time.Second, "the sweep repairs", func() bool {
		ok, _, _ := testkit.MayRead(t, o, "acme", "doc", 0)
		return !ok
	})
	t.Logf("converged by the sweep after %v (interval 50 ms)", took)
}

// TestMinRevision: a check naming the revision a write returned is answered
// from that revision or a newer one, by an instance that heard nothing; a
// revision that never comes is 503 stale_policy after the wait.
func TestMinRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := testkit.NewInstance(t, path, nil, time.Hour)
	o := testkit.NewInstance(t, path, nil, time.Hour)
	role := testkit.SeedEntity(t, a, "acme")
	if ok, _, _ := testkit.MayRead(t, o, "acme", "doc", 0); !ok {
		t.Fatal("before the change")
	}
	ctx := auth.Internal(context.Background())
	_, rev, err := a.Svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: testkit.ReadRight("memo")}, policy.Patch, 0)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := a.Svc.GetEntity(auth.Internal(context.Background()), "acme")
	if err != nil || rev != ent.Revision || rev < 2 {
		t.Fatalf("revision returned %d, entity at %d (%v)", rev, ent.Revision, err)
	}
	if ok, held, _ := testkit.MayRead(t, o, "acme", "doc", 0); !ok || held >= rev {
		t.Fatalf("without min_revision the other instance answers from what it holds: %v at %d", ok, held)
	}
	ok, at, err := testkit.MayRead(t, o, "acme", "doc", rev)
	if err != nil || ok || at != rev {
		t.Fatalf("with min_revision %d: allowed %v at %d, %v", rev, ok, at, err)
	}
	_, _, err = testkit.MayRead(t, o, "acme", "doc", rev+5)
	if e := rolegate.AsError(err); e.Kind != rolegate.KindInvalid || e.Code != "unknown_revision" {
		t.Fatalf("a revision never written: %v", err)
	}
	if _, err := o.Svc.CheckBatch(auth.Internal(context.Background()), []policy.CheckRequest{
		{EntityID: "acme", UserID: "u", ObjectType: "memo", Action: "read", MinRevision: rev},
		{EntityID: "acme", UserID: "u", ObjectType: "memo", Action: "read", MinRevision: -1},
	}); !rolegate.IsKind(err, rolegate.KindInvalid) {
		t.Fatalf("negative min_revision in a batch: %v", err)
	}
	// Entity writes return their revisions too: creating is 1, deleting
	// the revision it bumped to.
	if e, err := a.Svc.CreateEntity(ctx, policy.EntityInput{ID: "new"}); err != nil || e.Revision != 1 {
		t.Fatalf("create entity returned %d (%v)", e.Revision, err)
	}
	if rev, err := a.Svc.DeleteEntity(ctx, "new"); err != nil || rev != 2 {
		t.Fatalf("delete entity returned %d (%v)", rev, err)
	}
}

// TestPublishFailureKeepsWrites: a notifier that fails never fails a write;
// the failures are counted.
func TestPublishFailureKeepsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &testkit.Bus{Fail: true}
	a := testkit.NewInstance(t, path, b, time.Hour)
	testkit.SeedEntity(t, a, "acme")
	testkit.Eventually(t, 2*time.Second, "failures counted", func() bool { return a.Sync.Stats().PublishErrors == 3 })
	if st := a.Sync.Stats(); st.Published != 0 {
		t.Fatalf("stats: %+v", st)
	}
}
