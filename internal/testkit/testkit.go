// Package testkit gives tests a real Rolegate service: the engine over a
// store (in memory, or SQLite in a temporary directory closed when the test
// ends), and the service over both.
package testkit

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// Service returns a service over a fresh in-memory store, and its store,
// with the given entities created. For the domain's tests: the store passes
// the conformance suite the SQL stores pass (policy/storetest).
func Service(t testing.TB, entities ...string) (*policy.Service, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	return serve(t, store, entities), store
}

// SQLiteService is Service over a fresh SQLite file, for tests of what SQL
// does (rows changed behind the store's back, a database that goes away).
func SQLiteService(t testing.TB, entities ...string) (*policy.Service, *adapters.Store) {
	t.Helper()
	store, err := adapters.Open(auth.Internal(context.Background()), "sqlite://"+filepath.Join(t.TempDir(), "rolegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return serve(t, store, entities), store
}

// serve builds the engine and the service over store and creates entities.
func serve(t testing.TB, store policy.Store, entities []string) *policy.Service {
	t.Helper()
	ctx := auth.Internal(context.Background())
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	svc := policy.NewService(policy.Config{Store: store, Engine: eng})
	for _, e := range entities {
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}
