package policy_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
)

// historyFixture is entity acme (and other) with role payer given to u1 for
// an hour, then taken back; the clock then moves on.
func historyFixture(t *testing.T) (*policy.Service, *memstore.Store, *fakeClock, time.Time) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := memstore.New()
	svc := historyService(t, store, clock.now)
	ctx := auth.Internal(context.Background())
	for _, e := range []string{"acme", "other"} {
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: e}); err != nil {
			t.Fatal(err)
		}
	}
	clock.add(time.Minute)
	name := "payer"
	role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: condRights(right("pay", rolegate.Allowed, ""))})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u1", "auditor"} {
		if _, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	clock.add(time.Minute)
	if _, _, err := svc.AssignRole(ctx, "acme", "u1", role.ID, ""); err != nil {
		t.Fatal(err)
	}
	held := clock.now().Add(30 * time.Minute)
	clock.add(time.Hour)
	if _, err := svc.UnassignRole(ctx, "acme", "u1", role.ID, ""); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Hour)
	return svc, store, clock, held
}

func wantHistCode(t *testing.T, what string, err error, kind rolegate.Kind, code string) {
	t.Helper()
	if !isCode(err, code) || !rolegate.IsKind(err, kind) {
		t.Fatalf("%s: got %v, want %v %s", what, err, kind, code)
	}
}

// TestHistoryAsOfAnswers: the fixture's past is answered (u1 could pay
// while it held payer, not after), as a check, in a batch mixing now and the
// past, through who-can, permissions, the report and the access history,
// which names the changes and their actor.
func TestHistoryAsOfAnswers(t *testing.T) {
	svc, _, _, held := historyFixture(t)
	ctx := auth.Internal(context.Background())
	req := policy.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: rolegate.AsOf{Time: held}}
	d, err := svc.Check(ctx, req)
	if err != nil || !d.Allowed {
		t.Fatalf("as of %s: %+v, %v: u1 held payer then", held, d, err)
	}
	if d.ValidUntil > time.Now().UnixMilli() {
		t.Fatalf("an as-of answer valid until %d: a client's cache would keep it", d.ValidUntil)
	}
	now := req
	now.AsOf = rolegate.AsOf{}
	out, err := svc.CheckBatch(ctx, []policy.CheckRequest{now, req, {EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: rolegate.AsOf{Revision: d.Revision + 1}}})
	if err != nil || out[0].Allowed || !out[1].Allowed || out[1].Revision != d.Revision || out[2].Allowed {
		t.Fatalf("batch now, then, after: %+v, %v", out, err)
	}
	hs, rev, err := svc.WhoCanAt(ctx, rolegate.AsOf{Time: held}, "acme", "payable", "pay", "", "", 10, nil)
	if err != nil || len(hs) != 1 || hs[0].UserID != "u1" || rev != d.Revision {
		t.Fatalf("who-can then: %+v at %d, %v", hs, rev, err)
	}
	p, _, err := svc.UserPermissionsAt(ctx, rolegate.AsOf{Time: held}, "acme", "u1", "")
	if err != nil || len(p.Objects) != 1 {
		t.Fatalf("permissions then: %+v, %v", p, err)
	}
	var rows []engine.ReportRight
	if err := svc.AccessReportAt(ctx, rolegate.AsOf{Time: held}, "acme", func(int64) error { return nil },
		func(r engine.ReportRight) error { rows = append(rows, r); return nil }); err != nil || len(rows) != 1 || rows[0].UserID != "u1" {
		t.Fatalf("report then: %+v, %v", rows, err)
	}
	ivs, _, err := svc.AccessHistory(ctx, "acme", "u1", policy.HistoryQuery{ObjectType: "payable", Action: "pay"})
	if err != nil || len(ivs) != 1 || ivs[0].To == nil || ivs[0].Opened == nil || ivs[0].Closed == nil ||
		len(ivs[0].Via) != 1 || ivs[0].Via[0].RoleName != "payer" || ivs[0].Permission != rolegate.Allowed {
		t.Fatalf("access history: %+v, %v", ivs, err)
	}
	if ivs[0].From.At.After(held) || !ivs[0].To.At.After(held) {
		t.Fatalf("interval %+v does not hold %s", ivs[0], held)
	}
	t.Logf("opened by %+v (actor %q), closed by %+v", *ivs[0].Opened, ivs[0].From.Actor, *ivs[0].Closed)
	// A window after the interval: nothing.
	ivs, _, err = svc.AccessHistory(ctx, "acme", "u1", policy.HistoryQuery{ObjectType: "payable", Action: "pay", From: ivs[0].To.At.Add(time.Second)})
	if err != nil || len(ivs) != 0 {
		t.Fatalf("access history after: %+v, %v", ivs, err)
	}
}

// TestHistoryAttacks: another entity's client, a check-only client, an
// entity's user without the audit log's right, bad instants and revisions:
// each refused with the right code, nothing answered.
func TestHistoryAttacks(t *testing.T) {
	svc, store, clock, held := historyFixture(t)
	bg := context.Background()
	internal := auth.Internal(bg)
	at := rolegate.AsOf{Time: held}
	check := func(ctx context.Context, asOf rolegate.AsOf) error {
		d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: asOf})
		if err != nil && d.Allowed {
			t.Fatalf("an error allowed: %+v", d)
		}
		return err
	}
	// Another entity's client: the same 404 as an unknown entity.
	other := auth.WithActor(bg, auth.Actor{ID: "c1", EntityID: "other", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})
	wantHistCode(t, "other entity's check", check(other, at), rolegate.KindNotFound, "entity_not_found")
	_, _, err := svc.AccessHistory(other, "acme", "u1", policy.HistoryQuery{ObjectType: "payable", Action: "pay"})
	wantHistCode(t, "other entity's history", err, rolegate.KindNotFound, "entity_not_found")
	_, _, err = svc.WhoCanAt(other, at, "acme", "payable", "pay", "", "", 10, nil)
	wantHistCode(t, "other entity's who-can", err, rolegate.KindNotFound, "entity_not_found")
	// A check-only client: live checks yes, the past no.
	checker := auth.WithActor(bg, auth.Actor{ID: "c2", EntityID: "acme", Scopes: []string{auth.ScopeCheck}})
	if err := check(checker, rolegate.AsOf{}); err != nil {
		t.Fatalf("a check-only client's live check: %v", err)
	}
	wantHistCode(t, "check-only client as of", check(checker, at), rolegate.KindForbidden, "insufficient_scope")
	_, err = svc.CheckBatch(checker, []policy.CheckRequest{{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay"},
		{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: at}})
	wantHistCode(t, "check-only client's batch as of", err, rolegate.KindForbidden, "insufficient_scope")
	// An entity's user asking about itself, without the audit right.
	self := auth.WithActor(bg, auth.Actor{ID: "u", EntityID: "acme", UserID: "u1", Scopes: []string{auth.ScopeCheck, auth.ScopeManage}})
	if err := check(self, rolegate.AsOf{}); err != nil {
		t.Fatalf("a user's live check about itself: %v", err)
	}
	wantHistCode(t, "a user about itself as of", check(self, at), rolegate.KindForbidden, "forbidden")
	_, _, err = svc.AccessHistory(self, "acme", "u1", policy.HistoryQuery{ObjectType: "payable", Action: "pay"})
	if !rolegate.IsKind(err, rolegate.KindForbidden) {
		t.Fatalf("a user's own access history without the rights: %v", err)
	}
	// Bad instants and revisions: 422 naming the field.
	cur := revisionOf(t, store, "acme")
	for _, c := range []struct {
		name string
		at   rolegate.AsOf
		code string
	}{
		{"future", rolegate.AsOf{Time: clock.now().Add(time.Hour)}, "invalid_as_of"},
		{"year 9999", rolegate.AsOf{Time: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, "invalid_as_of"},
		{"both", rolegate.AsOf{Time: held, Revision: 2}, "invalid_as_of"},
		{"before the entity", rolegate.AsOf{Time: time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)}, "before_entity"},
		{"year 1", rolegate.AsOf{Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}, "before_entity"},
		{"revision -1", rolegate.AsOf{Revision: -1}, "invalid_revision"},
		{"revision past", rolegate.AsOf{Revision: cur + 1}, "invalid_revision"},
		{"revision huge", rolegate.AsOf{Revision: math.MaxInt64}, "invalid_revision"},
	} {
		err := check(internal, c.at)
		wantHistCode(t, c.name, err, rolegate.KindInvalid, c.code)
		if len(rolegate.AsError(err).Details) != 1 {
			t.Fatalf("%s: no field named: %+v", c.name, rolegate.AsError(err))
		}
		_, err = svc.CheckBatch(internal, []policy.CheckRequest{{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: c.at}})
		wantHistCode(t, c.name+" (batch)", err, rolegate.KindInvalid, c.code)
		_, _, err = svc.WhoCanAt(internal, c.at, "acme", "payable", "pay", "", "", 10, nil)
		wantHistCode(t, c.name+" (who-can)", err, rolegate.KindInvalid, c.code)
	}
	if err := check(internal, rolegate.AsOf{Revision: cur}); err != nil {
		t.Fatalf("the current revision: %v", err)
	}
	// Beyond the retention: the history swept up to an hour ago.
	if err := store.Update(internal, func(tx policy.Tx) error {
		_, err := tx.SweepHistory(clock.now().Add(-30*time.Minute), 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantHistCode(t, "swept instant", check(internal, at), rolegate.KindInvalid, "beyond_retention")
	wantHistCode(t, "swept revision", check(internal, rolegate.AsOf{Revision: 2}), rolegate.KindInvalid, "beyond_retention")
	// Access history: required fields, a window backwards, unknown users.
	for _, c := range []struct {
		q    policy.HistoryQuery
		user string
		code string
	}{
		{policy.HistoryQuery{Action: "pay"}, "u1", "missing_field"},
		{policy.HistoryQuery{ObjectType: "payable"}, "u1", "missing_field"},
		{policy.HistoryQuery{ObjectType: "*", Action: "pay"}, "u1", "invalid_object_type"},
		{policy.HistoryQuery{ObjectType: "payable", Action: "pay", Scope: "a|b"}, "u1", "invalid_scope"},
		{policy.HistoryQuery{ObjectType: "payable", Action: "pay", From: held, To: held.Add(-time.Second)}, "u1", "invalid_field"},
		{policy.HistoryQuery{ObjectType: "payable", Action: "pay"}, "nobody", "user_not_found"},
		{policy.HistoryQuery{ObjectType: "payable", Action: "pay"}, "auditor", ""},
	} {
		_, _, err := svc.AccessHistory(internal, "acme", c.user, c.q)
		if c.code == "" {
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			continue
		}
		if !isCode(err, c.code) {
			t.Fatalf("history %s %+v: %v, want %s", c.user, c.q, err, c.code)
		}
	}
}

// TestHistoryPastIsNotLive: an as-of answer leaves the live policy as it
// is: a later live check answers from the current revision.
func TestHistoryPastIsNotLive(t *testing.T) {
	svc, store, _, held := historyFixture(t)
	ctx := auth.Internal(context.Background())
	for range 3 {
		if d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay", AsOf: rolegate.AsOf{Time: held}}); err != nil || !d.Allowed {
			t.Fatal(d, err)
		}
		d, err := svc.Check(ctx, policy.CheckRequest{EntityID: "acme", UserID: "u1", ObjectType: "payable", Action: "pay"})
		if err != nil || d.Allowed || d.Revision != revisionOf(t, store, "acme") {
			t.Fatalf("live after as-of: %+v, %v", d, err)
		}
	}
}
