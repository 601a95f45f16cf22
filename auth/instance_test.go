package auth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Instances of Rolegate over one store, for the tests of tokens across
// instances; the same as changes' sync tests use (test helpers cannot be
// shared across packages).

// bus is an in-memory Notifier shared by the instances of a test.
type bus struct {
	mu   sync.Mutex
	subs []func(changes.Change)
}

type busNotifier struct{ b *bus }

func (n busNotifier) Publish(_ context.Context, c changes.Change) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
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
	svc *policy.Service
}

// newInstance opens the SQLite file anew (as another process would) and runs
// a Syncer over it until the test ends.
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
	sy := changes.NewSyncer(changes.SyncConfig{Engine: eng, Store: policy.Revisions(store), SweepInterval: sweep, Notifier: busNotifier{b}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sy.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return &instance{svc: policy.NewService(policy.Config{Store: store, Engine: eng, Syncer: sy})}
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
