package policy_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// clock is a settable clock for the engine and the service.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// clockedService is a service over a fresh store in memory whose engine and
// service read the given clock.
func clockedService(t *testing.T, c *clock) (*policy.Service, *memstore.Store) {
	t.Helper()
	ctx := auth.Internal(context.Background())
	store := memstore.New()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	svc := policy.NewService(policy.Config{Store: store, Engine: eng, Now: c.now})
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	return svc, store
}

// TestExpiringAssignment: an assignment with an expiry counts up to the
// millisecond before it and not from that instant on, in a check answered
// from the cache just before, in a freshly loaded engine, in who-can, in the
// effective rights and in the user's roles, without any sweep; renewing it
// moves the instant; the sweep then removes it from the store with an
// assignment.expire audit event and a change-log entry, and the engine after
// the sweep's delta agrees with a fresh load.
func TestExpiringAssignment(t *testing.T) {
	c := &clock{}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.set(start)
	svc, store := clockedService(t, c)
	ctx := auth.Internal(context.Background())
	eng := svc.Engine()
	name := func(s string) *string { return &s }
	approve := &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Allowed}}}}}
	role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: name("approver"), Permissions: approve})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "bob"} {
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: u, RoleIDs: &[]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	exp := start.Add(10 * time.Second)
	if _, _, err := svc.AssignRoleUntil(ctx, "acme", "ann", role.ID, "", &exp); err != nil {
		t.Fatal(err)
	}
	scopedExp := start.Add(20 * time.Second)
	if _, _, err := svc.AssignRoleUntil(ctx, "acme", "bob", role.ID, "team:1", &scopedExp); err != nil {
		t.Fatal(err)
	}
	allowed := func(e *engine.Engine, user, scope string) bool {
		t.Helper()
		d, err := e.Check(ctx, engine.Request{EntityID: "acme", UserID: user, ObjectType: "payable", Action: "approve", Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	fresh := func() *engine.Engine {
		e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	whoCan := func() []string {
		hs, err := svc.WhoCan(ctx, "acme", "payable", "approve", "team:1", "", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.UserID)
		}
		return out
	}
	c.set(exp.Add(-time.Millisecond))
	if !allowed(eng, "ann", "") || !allowed(eng, "ann", "") || !allowed(fresh(), "ann", "") {
		t.Fatal("the assignment does not count before its expiry")
	}
	if got := whoCan(); len(got) != 2 {
		t.Fatalf("who-can before ann's expiry: %v", got)
	}
	c.set(exp)
	if allowed(eng, "ann", "") {
		t.Fatal("the cache served an answer past the expiry it depends on")
	}
	if allowed(fresh(), "ann", "") {
		t.Fatal("a freshly loaded engine counts an expired assignment")
	}
	if got := whoCan(); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("who-can after ann's expiry: %v", got)
	}
	if p, err := svc.UserPermissions(ctx, "acme", "ann", ""); err != nil || len(p.Objects) != 0 {
		t.Fatalf("effective rights after expiry: %+v %v", p, err)
	}
	if rs, err := svc.UserRoles(ctx, "acme", "ann"); err != nil || len(rs) != 0 {
		t.Fatalf("roles after expiry: %+v %v", rs, err)
	}
	if rs, err := svc.UserRoles(ctx, "acme", "bob"); err != nil || len(rs) != 1 || rs[0].ExpiresAt == nil || !rs[0].ExpiresAt.Equal(scopedExp) {
		t.Fatalf("bob's roles: %+v %v", rs, err)
	}
	// A scoped one, likewise.
	c.set(scopedExp.Add(-time.Millisecond))
	if !allowed(eng, "bob", "team:1") || allowed(eng, "bob", "") {
		t.Fatal("bob's scoped assignment before its expiry")
	}
	c.set(scopedExp)
	if allowed(eng, "bob", "team:1") {
		t.Fatal("bob's scoped assignment counts past its expiry")
	}
	// Renewed: it counts again until the new expiry.
	renewed := scopedExp.Add(time.Minute)
	if _, _, err := svc.AssignRoleUntil(ctx, "acme", "bob", role.ID, "team:1", &renewed); err != nil {
		t.Fatal(err)
	}
	if !allowed(eng, "bob", "team:1") || !allowed(fresh(), "bob", "team:1") {
		t.Fatal("a renewed assignment does not count")
	}
	// Refused expiries.
	past, far := c.now(), c.now().Add(11*366*24*time.Hour)
	for _, at := range []*time.Time{&past, &far} {
		if _, _, err := svc.AssignRoleUntil(ctx, "acme", "ann", role.ID, "", at); rolegate.AsError(err).Code != "invalid_expires_at" {
			t.Fatalf("expires_at %v: %v", at, err)
		}
	}
	// The sweep removes ann's (expired), not bob's (renewed).
	before := eng.Stats()
	n, err := svc.SweepExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d removed, %v", n, err)
	}
	if got := eng.Stats().Deltas - before.Deltas; got != 1 {
		t.Fatalf("the sweep was applied as %d deltas", got)
	}
	if n, err := svc.SweepExpired(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	var held []rolegate.Assignment
	if err := store.View(ctx, func(tx policy.Tx) error {
		held, err = tx.ListAssignments("acme", policy.AssignmentFilter{})
		return err
	}); err != nil || len(held) != 1 || held[0].UserID != "bob" {
		t.Fatalf("assignments after the sweep: %+v %v", held, err)
	}
	events, err := svc.ListAuditEvents(ctx, "acme", policy.AuditFilter{}, policy.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		found = found || (e.Action == policy.AuditAssignmentExpire && e.ObjectID == "ann")
	}
	if !found {
		t.Fatal("no assignment.expire audit event")
	}
	rev, _ := eng.Revision(ctx, "acme")
	_, _, changes, err := store.PolicyChanges(ctx, "acme", rev-1, 10)
	if err != nil || len(changes) != 1 || changes[0].Revision != rev {
		t.Fatalf("change log after the sweep: %+v %v", changes, err)
	}
	for _, u := range []string{"ann", "bob"} {
		for _, sc := range []string{"", "team:1"} {
			if allowed(eng, u, sc) != allowed(fresh(), u, sc) {
				t.Fatalf("%s in %q: the engine after the sweep's delta and a fresh load disagree", u, sc)
			}
		}
	}
}
