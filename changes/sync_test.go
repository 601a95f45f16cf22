package changes_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// bus is an in-memory Notifier shared by the instances of a test.
type bus struct {
	mu   sync.Mutex
	subs []func(changes.Change)
	fail bool // Publish fails
	mute bool // Publish succeeds but nobody hears (a lost message)
}

type busNotifier struct{ b *bus }

func (n busNotifier) Publish(_ context.Context, c changes.Change) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if n.b.fail {
		return errors.New("bus down")
	}
	if n.b.mute {
		return nil
	}
	for _, fn := range n.b.subs {
		fn(c)
	}
	return nil
}

func (n busNotifier) Subscribe(ctx context.Context, fn func(changes.Change), up func(bool)) error {
	n.b.mu.Lock()
	n.b.subs = append(n.b.subs, fn)
	n.b.mu.Unlock()
	up(true)
	<-ctx.Done()
	return nil
}

// instance is one Rolegate instance of a test: its own engine and service
// over a store shared with the others.
type instance struct {
	svc  *policy.Service
	eng  *engine.Engine
	sync *changes.Syncer
}

// newInstance opens the SQLite file anew (as another process would) and runs
// a Syncer over it until the test ends. A nil bus means no notifier.
func newInstance(t *testing.T, path string, b *bus, sweep time.Duration) *instance {
	t.Helper()
	store, err := adapters.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, StaleWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := changes.SyncConfig{Engine: eng, Store: policy.Revisions(store), SweepInterval: sweep}
	if b != nil {
		cfg.Notifier = busNotifier{b}
	}
	sy := changes.NewSyncer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sy.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return &instance{svc: policy.NewService(policy.Config{Store: store, Engine: eng, Syncer: sy}), eng: eng, sync: sy}
}

func readRight(obj string) *rolegate.Permissions {
	return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: obj,
		Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
}

// seedEntity makes entity e with user u holding a role that may read doc,
// and returns the role.
func seedEntity(t *testing.T, in *instance, e string) rolegate.Role {
	t.Helper()
	ctx := auth.Internal(context.Background())
	if _, err := in.svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
		t.Fatal(err)
	}
	name := "reader"
	r, _, err := in.svc.CreateRole(ctx, e, policy.RoleInput{Name: &name, Permissions: readRight("doc")})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{r.ID}
	if _, _, err := in.svc.CreateUser(ctx, e, policy.UserInput{ID: "u", RoleIDs: &ids}); err != nil {
		t.Fatal(err)
	}
	return r
}

func mayRead(t *testing.T, in *instance, e, obj string, minRev int64) (bool, int64, error) {
	t.Helper()
	d, err := in.svc.Check(auth.Internal(context.Background()), policy.CheckRequest{EntityID: e, UserID: "u", ObjectType: obj, Action: "read", MinRevision: minRev})
	return d.Allowed, d.Revision, err
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestNotifiedReload: a change written on one instance is heard by another,
// which brings that entity (and only it) up to date from the change log and
// answers from the new policy.
func TestNotifiedReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &bus{}
	a := newInstance(t, path, b, time.Hour)
	o := newInstance(t, path, b, time.Hour)
	role := seedEntity(t, a, "acme")
	seedEntity(t, a, "other")
	for _, e := range []string{"acme", "other"} {
		if ok, _, err := mayRead(t, o, e, "doc", 0); !ok || err != nil {
			t.Fatalf("%s before the change: %v %v", e, ok, err)
		}
	}
	// Both subscribed, and the sweep each runs when its subscription comes up
	// is done (under load it could otherwise run after the write and take
	// the change before the notification does).
	eventually(t, 5*time.Second, "both instances subscribed and swept", func() bool {
		return a.sync.Stats().Subscribed && o.sync.Stats().Subscribed && a.sync.Stats().Sweeps >= 1 && o.sync.Stats().Sweeps >= 1
	})
	// The seeding's own notifications may still be heard (and refresh an
	// entity o was loading meanwhile): count from here.
	loadsBefore, deltasBefore := o.eng.Stats().Loads, o.eng.Stats().Deltas
	notifiedBefore := o.sync.Stats().Reloads["notification"]
	lagBefore := o.sync.Lag()
	if _, _, err := a.svc.UpdateRole(auth.Internal(context.Background()), "acme", role.ID, policy.RoleInput{Permissions: readRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, time.Second, "the other instance reloads", func() bool {
		ok, _, _ := mayRead(t, o, "acme", "doc", 0)
		return !ok
	})
	t.Logf("the other instance answered from the new policy after %v", took)
	if ok, _, _ := mayRead(t, o, "acme", "memo", 0); !ok {
		t.Fatal("new right not answered")
	}
	// It caught up from the change log: one delta applied, nothing reloaded.
	if got := o.eng.Stats().Loads - loadsBefore; got != 0 {
		t.Fatalf("%d loads after one change of one entity, want 0 (the delta from the change log)", got)
	}
	if got := o.eng.Stats().Deltas - deltasBefore; got != 1 {
		t.Fatalf("%d deltas applied after one change of one entity, want 1", got)
	}
	st := o.sync.Stats()
	if st.Received < 1 || st.Reloads["notification"]-notifiedBefore != 1 || !st.Subscribed {
		t.Fatalf("stats of the hearing instance: %+v", st)
	}
	if lag := o.sync.Lag(); lag.Count-lagBefore.Count != 1 || lag.Sum <= lagBefore.Sum || lag.Counts[len(lag.Counts)-1]-lagBefore.Counts[len(lag.Counts)-1] != 1 {
		t.Fatalf("lag histogram: %+v", lag)
	}
	if st := a.sync.Stats(); st.Published < 1 || st.Reloads["notification"] != 0 {
		t.Fatalf("stats of the writing instance (it ignores its own messages): %+v", st)
	}
}

// TestSweepRepairsLostNotifications: with messages lost (or no notifier at
// all), the sweep brings the instance up to date, drops a deleted entity and
// one made anew under the same id.
func TestSweepRepairsLostNotifications(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &bus{mute: true}
	a := newInstance(t, path, b, time.Hour)
	o := newInstance(t, path, nil, -1) // swept by hand below
	ctx := auth.Internal(context.Background())
	allowed := func(e string) bool {
		t.Helper()
		ok, _, err := mayRead(t, o, e, "doc", 0)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	role := seedEntity(t, a, "acme")
	seedEntity(t, a, "gone")
	if !allowed("acme") || !allowed("gone") || allowed("later") {
		t.Fatal("before the changes")
	}
	if _, _, err := a.svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: readRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.DeleteEntity(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	seedEntity(t, a, "later")
	if !allowed("acme") || !allowed("gone") || allowed("later") {
		t.Fatal("the lost changes were heard")
	}
	o.sync.Sweep(ctx)
	eventually(t, 2*time.Second, "the sweep repairs", func() bool {
		return !allowed("acme") && !allowed("gone") && allowed("later")
	})

	// Deleted and made anew while held: the instance holds revision 5 of
	// "gone"; the new one is at revision 1 and must not be shadowed by it.
	r := seedEntity(t, a, "gone") // revisions 1-3
	for _, d := range []string{"x", "y"} {
		if _, _, err := a.svc.UpdateRole(ctx, "gone", r.ID, policy.RoleInput{Description: &d}, policy.Patch, 0); err != nil {
			t.Fatal(err)
		}
	}
	o.sync.Sweep(ctx)
	eventually(t, 2*time.Second, "the entity made anew is seen", func() bool {
		rev, _ := o.eng.Held("gone")
		return rev == 5 && allowed("gone")
	})
	if _, err := a.svc.DeleteEntity(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.CreateEntity(ctx, policy.EntityInput{ID: "gone"}); err != nil {
		t.Fatal(err)
	}
	if !allowed("gone") {
		t.Fatal("the lost changes were heard")
	}
	o.sync.Sweep(ctx)
	if allowed("gone") {
		t.Fatal("the policy of the deleted entity shadows the new one")
	}
	if rev, _ := o.eng.Held("gone"); rev != 1 {
		t.Fatalf("held revision %d of the new entity, want 1", rev)
	}
	if st := o.sync.Stats(); st.Sweeps != 3 || st.Reloads["sweep"] != 5 || st.SweepErrors != 0 || st.Reloads["notification"] != 0 {
		t.Fatalf("sweep stats: %+v", st)
	}
}

// TestSweepLoop: the periodic sweep runs by itself.
func TestSweepLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := newInstance(t, path, nil, time.Hour)
	o := newInstance(t, path, nil, 50*time.Millisecond)
	role := seedEntity(t, a, "acme")
	if ok, _, _ := mayRead(t, o, "acme", "doc", 0); !ok {
		t.Fatal("before the change")
	}
	if _, _, err := a.svc.UpdateRole(auth.Internal(context.Background()), "acme", role.ID, policy.RoleInput{Permissions: readRight("memo")}, policy.Patch, 0); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 2*time.Second, "the sweep repairs", func() bool {
		ok, _, _ := mayRead(t, o, "acme", "doc", 0)
		return !ok
	})
	t.Logf("converged by the sweep after %v (interval 50 ms)", took)
}

// TestMinRevision: a check naming the revision a write returned is answered
// from that revision or a newer one, by an instance that heard nothing; a
// revision that never comes is 503 stale_policy after the wait.
func TestMinRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	a := newInstance(t, path, nil, time.Hour)
	o := newInstance(t, path, nil, time.Hour)
	role := seedEntity(t, a, "acme")
	if ok, _, _ := mayRead(t, o, "acme", "doc", 0); !ok {
		t.Fatal("before the change")
	}
	ctx := auth.Internal(context.Background())
	_, rev, err := a.svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Permissions: readRight("memo")}, policy.Patch, 0)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := a.svc.GetEntity(auth.Internal(context.Background()), "acme")
	if err != nil || rev != ent.Revision || rev < 2 {
		t.Fatalf("revision returned %d, entity at %d (%v)", rev, ent.Revision, err)
	}
	if ok, held, _ := mayRead(t, o, "acme", "doc", 0); !ok || held >= rev {
		t.Fatalf("without min_revision the other instance answers from what it holds: %v at %d", ok, held)
	}
	ok, at, err := mayRead(t, o, "acme", "doc", rev)
	if err != nil || ok || at != rev {
		t.Fatalf("with min_revision %d: allowed %v at %d, %v", rev, ok, at, err)
	}
	_, _, err = mayRead(t, o, "acme", "doc", rev+5)
	if e := rolegate.AsError(err); e.Kind != rolegate.KindInvalid || e.Code != "unknown_revision" {
		t.Fatalf("a revision never written: %v", err)
	}
	if _, err := o.svc.CheckBatch(auth.Internal(context.Background()), []policy.CheckRequest{
		{EntityID: "acme", UserID: "u", ObjectType: "memo", Action: "read", MinRevision: rev},
		{EntityID: "acme", UserID: "u", ObjectType: "memo", Action: "read", MinRevision: -1},
	}); !rolegate.IsKind(err, rolegate.KindInvalid) {
		t.Fatalf("negative min_revision in a batch: %v", err)
	}
	// Entity writes return their revisions too: creating is 1, deleting
	// the revision it bumped to.
	if e, err := a.svc.CreateEntity(ctx, policy.EntityInput{ID: "new"}); err != nil || e.Revision != 1 {
		t.Fatalf("create entity returned %d (%v)", e.Revision, err)
	}
	if rev, err := a.svc.DeleteEntity(ctx, "new"); err != nil || rev != 2 {
		t.Fatalf("delete entity returned %d (%v)", rev, err)
	}
}

// TestPublishFailureKeepsWrites: a notifier that fails never fails a write;
// the failures are counted.
func TestPublishFailureKeepsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rolegate.db")
	b := &bus{fail: true}
	a := newInstance(t, path, b, time.Hour)
	seedEntity(t, a, "acme")
	eventually(t, 2*time.Second, "failures counted", func() bool { return a.sync.Stats().PublishErrors == 3 })
	if st := a.sync.Stats(); st.Published != 0 {
		t.Fatalf("stats: %+v", st)
	}
}
