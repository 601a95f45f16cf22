package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// TestHistorySweep: the service's history sweep removes what is older than
// the retention, keeps the policy of every revision in force at or after
// the cutoff, and records one history.sweep audit event per entity swept;
// retention 0 keeps everything; callers other than the platform's are
// refused. The expiry sweep's removals are in the history, with their
// assignment.expire event as the revision's change.
func TestHistorySweep(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	svc, store := clockedService(t, c)
	ctx := auth.Internal(context.Background())
	var revs []int64
	var role rolegate.Role
	for i := range 10 {
		c.add(time.Hour)
		name := "role"
		if i == 0 {
			r, rev, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}})
			if err != nil {
				t.Fatal(err)
			}
			role, revs = r, append(revs, rev)
			continue
		}
		name = "role " + string(rune('a'+i))
		_, rev, err := svc.UpdateRole(ctx, "acme", role.ID, policy.RoleInput{Name: &name}, policy.Patch, 0)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	// An assignment that expires, removed by the expiry sweep.
	if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: "ada"}); err != nil {
		t.Fatal(err)
	}
	until := c.now().Add(30 * time.Minute)
	if _, _, err := svc.AssignRoleUntil(ctx, "acme", "ada", role.ID, "", &until); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	if n, err := svc.SweepExpired(ctx); err != nil || n != 1 {
		t.Fatalf("expiry sweep: %d %v", n, err)
	}
	var last rolegate.Revision
	store.View(ctx, func(tx policy.Tx) error {
		e, err := tx.GetEntity("acme")
		if err != nil {
			t.Fatal(err)
		}
		es, err := tx.HistoryRevisions("acme", []int64{e.Revision})
		if err != nil || es[e.Revision].Change == nil || es[e.Revision].Change.Action != policy.AuditAssignmentExpire {
			t.Fatalf("the expiry sweep's revision %d: %+v %v", e.Revision, es, err)
		}
		last = es[e.Revision].Revision
		return nil
	})

	if n, err := svc.SweepHistory(ctx, 0); err != nil || n != 0 {
		t.Fatalf("retention 0 swept %d %v", n, err)
	}
	user := auth.WithActor(context.Background(), auth.Actor{ID: "user:ada", EntityID: "acme", UserID: "ada", Scopes: []string{auth.ScopeManage}})
	if _, err := svc.SweepHistory(user, time.Hour); !rolegate.IsKind(err, rolegate.KindForbidden) {
		t.Fatalf("an entity's user swept history: %v", err)
	}
	// Keep 5 h 30 min: the revision committed 6 h ago is in force at the
	// cutoff, and kept with every one after it.
	retention := 5*time.Hour + 30*time.Minute
	cutoff := c.now().Add(-retention)
	var inForce int64
	store.View(ctx, func(tx policy.Tx) error {
		r, err := tx.HistoryRevisionAt("acme", cutoff)
		if err != nil {
			t.Fatal(err)
		}
		inForce = r.Revision
		return nil
	})
	want := map[int64]bool{}
	for r := inForce; r <= last.Revision; r++ {
		want[r] = true
	}
	before := map[int64]string{}
	for r := range want {
		store.View(ctx, func(tx policy.Tx) error {
			pol, err := tx.PolicyAt("acme", r)
			if err != nil {
				t.Fatalf("PolicyAt %d before the sweep: %v", r, err)
			}
			before[r] = pol.RoleNames[role.ID]
			return nil
		})
	}
	n, err := svc.SweepHistory(ctx, retention)
	if err != nil || n == 0 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	store.View(ctx, func(tx policy.Tx) error {
		start, err := tx.HistoryStart("acme")
		if err != nil || start.Revision != inForce {
			t.Fatalf("history starts at %+v %v, want %d", start, err, inForce)
		}
		for r := range want {
			pol, err := tx.PolicyAt("acme", r)
			if err != nil || pol.RoleNames[role.ID] != before[r] {
				t.Fatalf("PolicyAt %d after the sweep: %v %v, want %q", r, pol.RoleNames, err, before[r])
			}
		}
		if _, err := tx.PolicyAt("acme", inForce-1); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("PolicyAt %d, before the cutoff: %v", inForce-1, err)
		}
		return nil
	})
	events, err := svc.ListAuditEvents(ctx, "acme", policy.AuditFilter{ObjectType: policy.AuditObjectEntity}, policy.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	sweeps := 0
	for _, e := range events {
		if e.Action != policy.AuditHistorySweep {
			continue
		}
		sweeps++
		var doc struct {
			Removed int       `json:"removed"`
			Before  time.Time `json:"before"`
		}
		if err := json.Unmarshal(e.After, &doc); err != nil || doc.Removed != n || !doc.Before.Equal(cutoff) || e.ObjectID != "acme" {
			t.Fatalf("history.sweep event: %s %v", e.After, err)
		}
	}
	if sweeps != 1 {
		t.Fatalf("%d history.sweep events, want 1", sweeps)
	}
	if n, err := svc.SweepHistory(ctx, retention); err != nil || n != 0 {
		t.Fatalf("a second sweep removed %d %v", n, err)
	}
}
