package policy_test

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

// Instances of a test over one SQLite file, kept in step by a Syncer: the
// same harness as changes/sync_test.go, for the tests here that run more
// than one instance (catching up from the change log, tokens of entities
// deleted elsewhere).

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

// unavailableStore fails every transaction as a database outage would.
type unavailableStore struct {
	policy.Store
	down *bool
}

func (s unavailableStore) View(ctx context.Context, fn func(policy.Tx) error) error {
	if *s.down {
		return fmt.Errorf("%w: connection refused", rolegate.ErrUnavailable)
	}
	return s.Store.View(ctx, fn)
}
