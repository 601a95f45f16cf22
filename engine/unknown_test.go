package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// someLoader knows the entities in its set (with memLoader's policy) and
// answers ErrNotFound for any other; it counts its loads.
type someLoader struct {
	mu    sync.Mutex
	known map[string]bool
	loads atomic.Int64
}

func (l *someLoader) LoadPolicy(ctx context.Context, id string) (engine.Policy, error) {
	l.loads.Add(1)
	l.mu.Lock()
	ok := l.known[id]
	l.mu.Unlock()
	if !ok {
		return engine.Policy{}, fmt.Errorf("entity %q: %w", id, rolegate.ErrNotFound)
	}
	return memLoader{3, 10, 10}.LoadPolicy(ctx, id)
}

func (l *someLoader) add(id string) {
	l.mu.Lock()
	l.known[id] = true
	l.mu.Unlock()
}

// TestUnknownEntitiesHoldNothing: checks on thousands of entities that do not
// exist leave the entities held, their decision budget and the evictions as
// they were, and remember at most MaxEntities ids as unknown; an entity
// created later is seen.
func TestUnknownEntitiesHoldNothing(t *testing.T) {
	ctx := context.Background()
	l := &someLoader{known: map[string]bool{}}
	for i := 0; i < 10; i++ {
		l.add(fmt.Sprintf("real-%d", i))
	}
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: l, MaxEntities: 50})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(id string) engine.Decision {
		d, err := e.Check(ctx, engine.Request{EntityID: id, UserID: "user-1", ObjectType: "payable", Action: "read"})
		if err != nil {
			t.Error(err)
		}
		return d
	}
	for i := 0; i < 10; i++ {
		ask(fmt.Sprintf("real-%d", i))
	}
	before := e.Stats()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if d := ask(fmt.Sprintf("nope-%d", (g*1000+i)%6000)); d.Allowed || d.Revision != 0 {
					t.Errorf("unknown entity: %+v", d)
				}
				if i%100 == 0 {
					e.Forget(fmt.Sprintf("nope-%d", i)) // as a created entity is
				}
			}
		}()
	}
	wg.Wait()
	after := e.Stats()
	if after.Loaded != 10 || after.Evictions != 0 || after.DecisionCapacity != before.DecisionCapacity {
		t.Fatalf("after 8,000 checks on unknown entities: %+v, before %+v", after, before)
	}
	if after.Unknown < 1 || after.Unknown > 50 || len(e.Loaded()) > 60 {
		t.Fatalf("%d unknown ids remembered, %d held: want at most 50 and 60", after.Unknown, len(e.Loaded()))
	}

	// A remembered id is answered without a load.
	ask("again")
	loads := l.loads.Load()
	for i := 0; i < 100; i++ {
		ask("again")
	}
	if n := l.loads.Load() - loads; n != 0 {
		t.Fatalf("%d loads for checks on a remembered unknown entity", n)
	}
	if rev, held := e.Held("again"); !held || rev != 0 {
		t.Fatalf("an unknown entity is held at revision 0 for the sweep: %d %v", rev, held)
	}
	// Created later: Forget (this instance's write) or Refresh (a change
	// heard from another instance) makes the next check see it.
	l.add("again")
	if err := e.Refresh(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if rev, held := e.Held("again"); !held || rev != 1 {
		t.Fatalf("after Refresh: held %v at %d", held, rev)
	}
	ask("later")
	l.add("later")
	e.Forget("later")
	if d := ask("later"); d.Revision != 1 {
		t.Fatalf("after Forget: %+v", d)
	}
	if st := e.Stats(); st.Loaded != 12 {
		t.Fatalf("%d entities loaded, want 12", st.Loaded)
	}
}
