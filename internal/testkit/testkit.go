// Package testkit gives tests a real Rolegate service: the SQLite store in a
// temporary directory (closed when the test ends), the engine over it, and
// the service over both.
package testkit

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// Service returns a service over a fresh SQLite file, and its store, with the
// given entities created.
func Service(t testing.TB, entities ...string) (*policy.Service, *adapters.Store) {
	t.Helper()
	ctx := policy.Internal(context.Background())
	store, err := adapters.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	svc := policy.NewService(policy.Config{Store: store, Engine: engine})
	for _, e := range entities {
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
			t.Fatal(err)
		}
	}
	return svc, store
}
