package testkit

import (
	"context"
	"errors"
	"fmt"
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

// Several Rolegate instances in one test, over one SQLite file and kept in
// step by a changes.Syncer each: the harness of the changes, policy and auth
// tests that need more than one instance.

// Bus is an in-memory changes.Notifier shared by the instances of a test.
// Set Fail and Mute before the instances start.
type Bus struct {
	mu   sync.Mutex
	subs []func(changes.Change)
	Fail bool // Publish fails
	Mute bool // Publish succeeds but nobody hears (a lost message)
}

// Publish hands c to every subscriber, the publisher's own included.
func (b *Bus) Publish(_ context.Context, c changes.Change) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail {
		return errors.New("bus down")
	}
	if b.Mute {
		return nil
	}
	for _, fn := range b.subs {
		fn(c)
	}
	return nil
}

// Subscribe is up at once and stays until ctx ends.
func (b *Bus) Subscribe(ctx context.Context, fn func(changes.Change), up func(bool)) error {
	b.mu.Lock()
	b.subs = append(b.subs, fn)
	b.mu.Unlock()
	up(true)
	<-ctx.Done()
	return nil
}

// Instance is one Rolegate instance of a test: its own engine and service
// over a store shared with the others.
type Instance struct {
	Svc  *policy.Service
	Eng  *engine.Engine
	Sync *changes.Syncer
}

// NewInstance opens the SQLite file anew (as another process would) and runs
// a Syncer over it until the test ends. A nil bus means no notifier.
func NewInstance(t testing.TB, path string, b *Bus, sweep time.Duration) *Instance {
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
	if b != nil { // a nil *Bus in the interface would not be nil
		cfg.Notifier = b
	}
	sy := changes.NewSyncer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sy.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return &Instance{Svc: policy.NewService(policy.Config{Store: store, Engine: eng, Syncer: sy}), Eng: eng, Sync: sy}
}

// ReadRight is the right to read obj.
func ReadRight(obj string) *rolegate.Permissions {
	return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: obj,
		Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
}

// SeedEntity makes entity e with user u holding a role that may read doc,
// and returns the role.
func SeedEntity(t testing.TB, in *Instance, e string) rolegate.Role {
	t.Helper()
	ctx := auth.Internal(context.Background())
	if _, err := in.Svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
		t.Fatal(err)
	}
	name := "reader"
	r, _, err := in.Svc.CreateRole(ctx, e, policy.RoleInput{Name: &name, Permissions: ReadRight("doc")})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{r.ID}
	if _, _, err := in.Svc.CreateUser(ctx, e, policy.UserInput{ID: "u", RoleIDs: &ids}); err != nil {
		t.Fatal(err)
	}
	return r
}

// MayRead checks whether user u of e may read obj on in, and at which
// revision it answered.
func MayRead(t testing.TB, in *Instance, e, obj string, minRev int64) (bool, int64, error) {
	t.Helper()
	d, err := in.Svc.Check(auth.Internal(context.Background()), policy.CheckRequest{EntityID: e, UserID: "u", ObjectType: obj, Action: "read", MinRevision: minRev})
	return d.Allowed, d.Revision, err
}

// Eventually polls cond until it holds, failing the test after within; it
// returns how long it took.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
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

// UnavailableStore fails every read transaction, as a database outage
// would, while *Down is true.
type UnavailableStore struct {
	policy.Store
	Down *bool
}

func (s UnavailableStore) View(ctx context.Context, fn func(policy.Tx) error) error {
	if *s.Down {
		return fmt.Errorf("%w: connection refused", rolegate.ErrUnavailable)
	}
	return s.Store.View(ctx, fn)
}
