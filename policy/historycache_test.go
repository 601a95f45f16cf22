package policy_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// countingStore counts the snapshots read through it: an as-of answer the
// service took from its resolutions, over a past policy the engine holds,
// reads none.
type countingStore struct {
	policy.Store
	snapshots atomic.Int64
}

func (s *countingStore) Snapshot(ctx context.Context, fn func(tx policy.Tx) error) error {
	s.snapshots.Add(1)
	return s.Store.Snapshot(ctx, fn)
}

// asOfService is one instance over store, its service and engine on the
// clock c.
func asOfService(t testing.TB, store policy.Store, c *clock, retention time.Duration) *policy.Service {
	t.Helper()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewService(policy.Config{Store: store, Engine: eng, Now: c.now, HistoryRetention: retention})
}

// asOfStory is the history asOfSeed writes, an hour apart: the entity
// created, a role that may pay, ada created, given the role (revision
// assigned, at held and after it ada may pay) and it taken back (at
// notHeld).
type asOfStory struct {
	role             string
	created          time.Time
	assigned         int64
	held, notHeld    time.Time
	assignedAt, last time.Time
}

func asOfSeed(t testing.TB, svc *policy.Service, c *clock) asOfStory {
	t.Helper()
	ctx := auth.Internal(context.Background())
	var st asOfStory
	st.created = c.now()
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	name := "payer"
	r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "pay", Permission: rolegate.Allowed}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	st.role = r.ID
	c.add(time.Hour)
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada"}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	if _, st.assigned, err = svc.AssignRole(ctx, "acme", "ada", st.role, ""); err != nil {
		t.Fatal(err)
	}
	st.assignedAt = c.now()
	st.held = c.now().Add(30 * time.Minute)
	c.add(time.Hour)
	if _, err := svc.UnassignRole(ctx, "acme", "ada", st.role, ""); err != nil {
		t.Fatal(err)
	}
	st.last = c.now()
	st.notHeld = c.now().Add(30 * time.Minute)
	return st
}

// mayPay asks whether ada may pay as of at.
func mayPay(at rolegate.AsOf) policy.CheckRequest {
	return policy.CheckRequest{EntityID: "acme", UserID: "ada", ObjectType: "payable", Action: "pay", AsOf: at}
}

// TestAsOfCacheAnswersAsTheStore: an as-of answer asked again is the same
// and reads nothing from the store (the resolution and the past policy both
// held), for an instant (in any time zone), a revision, a check, who-can
// and the effective rights; it is the answer of an instance that holds
// nothing. A refusal is not kept: a revision past the entity's is refused,
// and answered once a write has made it.
func TestAsOfCacheAnswersAsTheStore(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &countingStore{Store: memstore.New()}
	svc := asOfService(t, store, c, 0)
	st := asOfSeed(t, svc, c)
	c.add(time.Hour)
	ctx := auth.Internal(context.Background())
	for _, at := range []rolegate.AsOf{
		{Time: st.held}, {Time: st.notHeld}, {Time: st.held.In(time.FixedZone("UTC+5", 5*3600))},
		{Revision: st.assigned}, {Revision: st.assigned + 1}, {Revision: 1},
	} {
		want, err := asOfService(t, store, c, 0).Check(ctx, mayPay(at))
		if err != nil {
			t.Fatalf("as of %+v, holding nothing: %v", at, err)
		}
		wantHolders, wantRev, err := asOfService(t, store, c, 0).WhoCanAt(ctx, at, "acme", "payable", "pay", "", "", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			n := store.snapshots.Load()
			got, err := svc.Check(ctx, mayPay(at))
			if err != nil {
				t.Fatalf("as of %+v (%d): %v", at, i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("as of %+v (%d):\ngot  %+v\nwant %+v", at, i, got, want)
			}
			holders, rev, err := svc.WhoCanAt(ctx, at, "acme", "payable", "pay", "", "", 10, nil)
			if err != nil || rev != wantRev || !reflect.DeepEqual(holders, wantHolders) {
				t.Fatalf("who-can as of %+v (%d): %v %d %v, want %v %d", at, i, holders, rev, err, wantHolders, wantRev)
			}
			if i > 0 && store.snapshots.Load() != n {
				t.Fatalf("as of %+v asked again: %d snapshots read", at, store.snapshots.Load()-n)
			}
		}
	}
	if d, _ := svc.Check(ctx, mayPay(rolegate.AsOf{Time: st.held})); !d.Allowed {
		t.Fatalf("ada could pay at %s: %+v", st.held, d)
	}
	if d, _ := svc.Check(ctx, mayPay(rolegate.AsOf{Time: st.notHeld})); d.Allowed {
		t.Fatalf("ada could not pay at %s: %+v", st.notHeld, d)
	}
	perms, rev, err := svc.UserPermissionsAt(ctx, rolegate.AsOf{Revision: st.assigned}, "acme", "ada", "")
	if err != nil || rev != st.assigned || len(perms.Objects) != 1 {
		t.Fatalf("ada's rights at revision %d: %+v %d %v", st.assigned, perms, rev, err)
	}

	// A refusal is resolved again at each ask.
	next := rolegate.AsOf{Revision: st.assigned + 2}
	for range 2 {
		if _, err := svc.Check(ctx, mayPay(next)); !isCode(err, "invalid_revision") {
			t.Fatalf("as of revision %d, not made yet: %v", next.Revision, err)
		}
	}
	c.add(time.Minute)
	if _, _, err := svc.AssignRole(ctx, "acme", "ada", st.role, ""); err != nil {
		t.Fatal(err)
	}
	if d, err := svc.Check(ctx, mayPay(next)); err != nil || !d.Allowed {
		t.Fatalf("as of revision %d, made since: %+v %v", next.Revision, d, err)
	}
}

// TestAsOfCacheWriteInFlight: an instant a write in flight may still
// commit at or before (it took its commit time when it began) is not kept:
// such a write, committed after the instant was answered, is seen. Once no
// write can, the instant is kept.
func TestAsOfCacheWriteInFlight(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &countingStore{Store: memstore.New()}
	svc := asOfService(t, store, c, 0)
	st := asOfSeed(t, svc, c)
	ctx := auth.Internal(context.Background())
	c.add(time.Hour)
	now := c.now()
	recent := rolegate.AsOf{Time: now.Add(-30 * time.Second)}
	if d, err := svc.Check(ctx, mayPay(recent)); err != nil || d.Allowed {
		t.Fatalf("as of 30 s ago, before the write: %+v %v", d, err)
	}
	// A write that began 40 s ago commits now, its commit time before the
	// instant just answered.
	c.set(now.Add(-40 * time.Second))
	if _, _, err := svc.AssignRole(ctx, "acme", "ada", st.role, ""); err != nil {
		t.Fatal(err)
	}
	c.set(now)
	if d, err := svc.Check(ctx, mayPay(recent)); err != nil || !d.Allowed {
		t.Fatalf("as of 30 s ago, after the write that committed at 40 s ago: %+v %v", d, err)
	}
	// Settled: answered from what is kept.
	c.add(2 * time.Minute)
	if d, err := svc.Check(ctx, mayPay(recent)); err != nil || !d.Allowed {
		t.Fatalf("as of %s, settled: %+v %v", recent.Time, d, err)
	}
	n := store.snapshots.Load()
	if d, err := svc.Check(ctx, mayPay(recent)); err != nil || !d.Allowed || store.snapshots.Load() != n {
		t.Fatalf("as of %s, settled, again: %+v %v, %d snapshots read", recent.Time, d, err, store.snapshots.Load()-n)
	}
}

// TestAsOfCacheEntityRecreated: after DeleteEntity and CreateEntity of the
// same id on this instance, an as-of answer comes from the new entity's
// history, never from the deleted one's: a revision of the old entity is
// the new entity's revision of that number, and an instant of the old
// entity is before the new one.
func TestAsOfCacheEntityRecreated(t *testing.T) {
	historyStores(t, func(t *testing.T, open func() policy.Store) {
		c := &clock{}
		c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		svc := asOfService(t, open(), c, 0)
		st := asOfSeed(t, svc, c)
		c.add(time.Hour)
		ctx := auth.Internal(context.Background())
		for _, at := range []rolegate.AsOf{{Time: st.held}, {Revision: st.assigned}} {
			for range 2 {
				if d, err := svc.Check(ctx, mayPay(at)); err != nil || !d.Allowed {
					t.Fatalf("as of %+v: %+v %v", at, d, err)
				}
			}
		}
		if _, err := svc.DeleteEntity(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		c.add(time.Second)
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		// The new entity reaches the old one's revision without ada paying.
		for i := int64(1); i < st.assigned; i++ {
			c.add(time.Second)
			if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "user-" + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		if d, err := svc.Check(ctx, mayPay(rolegate.AsOf{Revision: st.assigned})); err != nil || d.Allowed {
			t.Fatalf("as of revision %d of the new entity: %+v %v", st.assigned, d, err)
		}
		if _, err := svc.Check(ctx, mayPay(rolegate.AsOf{Time: st.held})); !isCode(err, "before_entity") {
			t.Fatalf("as of %s, before the new entity: %v", st.held, err)
		}
	})
}

// TestAsOfCacheSweep: once the sweep has removed the history of an instant
// and a revision answered before, both are refused, beyond_retention; an
// instance told the retention takes no instant older than it from its
// cache, though another instance sweeps.
func TestAsOfCacheSweep(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &countingStore{Store: memstore.New()}
	svc := asOfService(t, store, c, 0)
	other := asOfService(t, store, c, time.Hour)
	st := asOfSeed(t, svc, c)
	c.add(time.Hour) // the last write an hour ago, held 2.5 h ago
	ctx := auth.Internal(context.Background())
	for _, at := range []rolegate.AsOf{{Time: st.held}, {Revision: st.assigned}} {
		for range 2 {
			if d, err := svc.Check(ctx, mayPay(at)); err != nil || !d.Allowed {
				t.Fatalf("as of %+v: %+v %v", at, d, err)
			}
		}
		if d, err := other.Check(ctx, mayPay(at)); err != nil || !d.Allowed {
			t.Fatalf("as of %+v, on the instance keeping an hour: %+v %v", at, d, err)
		}
		n := store.snapshots.Load()
		if d, err := other.Check(ctx, mayPay(at)); err != nil || !d.Allowed || store.snapshots.Load() == n {
			t.Fatalf("as of %+v older than the retention, again: %+v %v, answered from the cache", at, d, err)
		}
	}
	if n, err := svc.SweepHistory(ctx, time.Hour); err != nil || n == 0 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	for _, at := range []rolegate.AsOf{{Time: st.held}, {Revision: st.assigned}} {
		for _, s := range []*policy.Service{svc, other} {
			if _, err := s.Check(ctx, mayPay(at)); !isCode(err, "beyond_retention") {
				t.Fatalf("as of %+v, swept: %v", at, err)
			}
		}
	}
	// What the sweep kept is answered as before.
	if d, err := svc.Check(ctx, mayPay(rolegate.AsOf{Time: st.notHeld})); err != nil || d.Allowed {
		t.Fatalf("as of %s, kept: %+v %v", st.notHeld, d, err)
	}
}

// TestAsOfCacheExpires: another instance's DeleteEntity is not heard; a
// resolution is kept for a short while only, past which it is read again:
// the entity's new incarnation is then seen.
func TestAsOfCacheExpires(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &countingStore{Store: memstore.New()}
	a, b := asOfService(t, store, c, 0), asOfService(t, store, c, 0)
	st := asOfSeed(t, a, c)
	c.add(time.Hour)
	ctx := auth.Internal(context.Background())
	held := mayPay(rolegate.AsOf{Time: st.held})
	if d, err := b.Check(ctx, held); err != nil || !d.Allowed {
		t.Fatalf("as of %s: %+v %v", st.held, d, err)
	}
	if _, err := a.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	// Within the TTL, b answers from what it resolved.
	c.add(policy.AsOfTTL - time.Millisecond)
	n := store.snapshots.Load()
	b.Check(ctx, held)
	if store.snapshots.Load() != n {
		t.Fatalf("within the TTL, the instant was resolved again")
	}
	c.add(time.Millisecond)
	if _, err := b.Check(ctx, held); !isCode(err, "before_entity") {
		t.Fatalf("as of %s, the entity made again, past the TTL: %v", st.held, err)
	}
	if store.snapshots.Load() == n {
		t.Fatalf("past the TTL, the instant was not resolved again")
	}
}

// BenchmarkAsOfWarm measures the service's cost of one check asked again,
// as of a settled instant, of a revision and now, on a small entity in
// memory: the past policy and the decision held, what is left is the
// service's path.
//
//	go test -run '^$' -bench BenchmarkAsOfWarm -benchmem ./policy
func BenchmarkAsOfWarm(b *testing.B) {
	c := &clock{}
	c.set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	svc := asOfService(b, memstore.New(), c, 0)
	st := asOfSeed(b, svc, c)
	c.add(time.Hour)
	ctx := auth.Internal(context.Background())
	for _, bc := range []struct {
		name string
		at   rolegate.AsOf
	}{{"instant", rolegate.AsOf{Time: st.held}}, {"revision", rolegate.AsOf{Revision: st.assigned}}, {"live", rolegate.AsOf{}}} {
		b.Run(bc.name, func(b *testing.B) {
			req := mayPay(bc.at)
			for b.Loop() {
				if _, err := svc.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
