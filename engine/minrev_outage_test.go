package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// outageLoader is a store that can be cut: while down, every load fails as an
// unreachable database does; unknown ids are not found.
type outageLoader struct {
	down  atomic.Bool
	known map[string]bool
}

func (l *outageLoader) LoadPolicy(ctx context.Context, id string) (engine.Policy, error) {
	if l.down.Load() {
		return engine.Policy{}, fmt.Errorf("%w: connection refused", rolegate.ErrUnavailable)
	}
	if !l.known[id] {
		return engine.Policy{}, fmt.Errorf("entity %q: %w", id, rolegate.ErrNotFound)
	}
	return memLoader{3, 10, 10}.LoadPolicy(ctx, id)
}

// TestMinRevisionDuringOutageKeepsPolicy: with the store down, a check asking
// for a revision this instance cannot reach fails alone (stale_policy); the
// policy held, and an entity known not to exist, keep answering every other
// check as before, since nothing showed the store to be newer.
func TestMinRevisionDuringOutageKeepsPolicy(t *testing.T) {
	ctx := context.Background()
	l := &outageLoader{known: map[string]bool{"acme": true}}
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: l, StaleWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(id string, minRev int64) (engine.Decision, error) {
		return e.Check(ctx, engine.Request{EntityID: id, UserID: "user-1", ObjectType: "payable", Action: "read", MinRevision: minRev})
	}
	want, err := ask("acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ask("nope", 0); err != nil {
		t.Fatal(err)
	}
	l.down.Store(true)
	for _, id := range []string{"acme", "nope"} {
		for i := 0; i < 3; i++ {
			_, err := ask(id, 999999)
			var pe *rolegate.Error
			if !errors.As(err, &pe) || pe.Code != "stale_policy" {
				t.Fatalf("%s: min_revision check during the outage: %v", id, err)
			}
			got, err := ask(id, 0)
			if err != nil {
				t.Fatalf("%s: plain check after a failed catch-up: %v", id, err)
			}
			if id == "acme" && (got.Allowed != want.Allowed || got.Revision != want.Revision) {
				t.Fatalf("plain check after a failed catch-up: %+v, want %+v", got, want)
			}
			if id == "nope" && (got.Allowed || got.Revision != 0) {
				t.Fatalf("unknown entity after a failed catch-up: %+v", got)
			}
		}
	}
	if held, ok := e.Held("acme"); !ok || held != want.Revision {
		t.Fatalf("held after the outage's failed catch-ups: %d %v", held, ok)
	}
	// Evidence that the store is newer (a committed write, a notification)
	// still drops what cannot be refreshed.
	if err := e.Refresh(ctx, "acme"); err == nil {
		t.Fatal("refresh during the outage succeeded")
	}
	if _, ok := e.Held("acme"); ok {
		t.Fatal("a failed refresh on evidence kept the old policy")
	}
}
