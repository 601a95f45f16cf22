package systemtest

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/client"
)

// Attacks found in the review of who-can, dry runs, explained refusals,
// expiring assignments, the access report, the changes feed and the facades.

// TestAttackExplainDoesNotListRolesToAUserWhoMayNotReadThem: bob, a user of
// the entity with no rights, may ask a check about himself; an explained
// refusal must not list the entity's roles (ids and names) he may not read.
// alice, who may read roles, still gets them.
func TestAttackExplainDoesNotListRolesToAUserWhoMayNotReadThem(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	for _, path := range []string{"/v1/check", "/v1/check/batch"} {
		body := map[string]any{"entity_id": "T100", "user_id": "bob", "object_type": "payable", "action": "pay", "explain": true}
		var req any = body
		if path == "/v1/check/batch" {
			req = map[string]any{"checks": []any{body}}
		}
		st, _, out := s.callToken(f.bob, "POST", path, req)
		if st != 200 {
			t.Fatalf("%s bob about himself: %d %v", path, st, out)
		}
		d := out
		if path == "/v1/check/batch" {
			d = out["results"].([]any)[0].(map[string]any)
		}
		if d["permission"] != "not_allowed" {
			t.Fatalf("%s: %v", path, d)
		}
		if g, ok := d["grantable_by"]; ok {
			t.Errorf("%s: bob, who may not read roles, learns the entity's roles: %v", path, g)
		}
	}
	// alice may read roles: she is told which would let bob pay.
	st, _, out := s.callToken(f.alice, "POST", "/v1/check", map[string]any{"entity_id": "T100", "user_id": "alice", "object_type": "invoice", "action": "pay", "explain": true})
	if st != 200 {
		t.Fatalf("alice: %d %v", st, out)
	}
	if g, _ := out["grantable_by"].([]any); len(g) == 0 {
		t.Errorf("alice, who may read roles, is not told which grant it: %v", out)
	}
}

// TestAttackTemporaryManagerCannotKeepItsRightsForGood: carol was made a
// manager for an hour. She may not extend or drop her own expiry, nor give the
// manager's rights (as the role or as a copy of it) to anyone for longer than
// she holds them; she may give them until her own expiry.
func TestAttackTemporaryManagerCannotKeepItsRightsForGood(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "carol", "role_ids": []string{}})
	rfc := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	mine := "/v1/entities/T100/users/carol/roles/" + f.manager
	s.must(200, "PUT", mine, map[string]any{"expires_at": rfc(time.Hour)})
	carol := f.idp.token(t, jwt.MapClaims{"sub": "carol"})
	refused := func(what, method, path string, body any) {
		t.Helper()
		st, _, out := s.callToken(carol, method, path, body)
		if st != 403 || errCode(out) != "privilege_escalation" {
			t.Errorf("%s: want 403 privilege_escalation, got %d %v", what, st, out)
		}
	}
	refused("drop her own expiry", "PUT", mine, map[string]any{})
	refused("drop her own expiry (dry run)", "PUT", mine+"?dry_run=true", map[string]any{})
	refused("extend her own expiry", "PUT", mine, map[string]any{"expires_at": rfc(2 * time.Hour)})
	refused("give bob the manager role for good", "PUT", "/v1/entities/T100/users/bob/roles/"+f.manager, map[string]any{})
	refused("give bob the manager role for longer", "PUT", "/v1/entities/T100/users/bob/roles/"+f.manager, map[string]any{"expires_at": rfc(3 * time.Hour)})
	copyPerms := map[string]any{"objects": []any{
		map[string]any{"object_type": "user", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"}}},
		map[string]any{"object_type": "role", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"}}}}}
	refused("make a copy of the role", "POST", "/v1/entities/T100/roles", map[string]any{"name": "copy", "permissions": copyPerms})
	// A copy made by the admin, which carol may not take for good either.
	copyID := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "copy", "permissions": copyPerms}).ID
	refused("take a permanent copy of the role", "PUT", "/v1/entities/T100/users/carol/roles/"+copyID, map[string]any{})
	refused("take a copy through her role list", "PATCH", "/v1/entities/T100/users/carol", map[string]any{"role_ids": []string{f.manager, copyID}})
	// Her expiry is what it was; bob holds nothing.
	got := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/T100/users/carol/roles", nil).Data
	if len(got) != 1 || got[0].ExpiresAt == nil {
		t.Fatalf("carol's assignment changed: %v", got)
	}
	if f.allowed("bob", "user", "update", "") {
		t.Fatal("bob was given the manager's rights")
	}
	// Until her own expiry, she may.
	if st, _, out := s.callToken(carol, "PUT", mine, map[string]any{"expires_at": rfc(30 * time.Minute)}); st != 200 {
		t.Errorf("shorten her own expiry: %d %v", st, out)
	}
	if st, _, out := s.callToken(carol, "PUT", "/v1/entities/T100/users/bob/roles/"+f.manager, map[string]any{"expires_at": rfc(20 * time.Minute)}); st != 200 {
		t.Errorf("give bob the role until before her expiry: %d %v", st, out)
	}
}

// TestAttackClientCacheDoesNotOutliveAnExpiry: ann's role expires in about a
// second; the sweep that would put its removal on the changes feed runs only
// hourly. A service behind the Go client's decision cache must stop letting
// her in at the expiry, as the server does, not when the sweep gets there.
func TestAttackClientCacheDoesNotOutliveAnExpiry(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_EXPIRY_SWEEP": "1h"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{}})
	exp := time.Now().Add(1500 * time.Millisecond).UTC()
	s.must(200, "PUT", "/v1/entities/acme/users/ann/roles/"+role, map[string]any{"expires_at": exp.Format(time.RFC3339Nano)})

	c, err := client.New(s.base, client.WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(c, client.CacheOptions{Wait: 1})
	defer cache.Close()
	ctx := context.Background()
	req := client.CheckRequest{EntityID: "acme", UserID: "ann", ObjectType: "payable", Action: "approve"}
	// Asked until the cache holds the answer (it keeps one once it follows
	// the entity's feed).
	for i := 0; cache.Len() == 0; i++ {
		d, err := cache.Check(ctx, req)
		if err != nil || !d.Allowed {
			t.Fatalf("before the expiry: %+v %v", d, err)
		}
		if i > 200 || !time.Now().Before(exp) {
			t.Skip("the cache did not take the answer before the expiry (machine too slow)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"}); d.Allowed {
		t.Fatalf("the server still allows after the expiry: %v", d)
	}
	d, err := cache.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed {
		t.Fatalf("the client's cache allows ann past her role's expiry: %+v", d)
	}
}

// TestAttackExpiryLiftsADeny: bob holds every right with payable:approve
// denied by the "no approve" role. alice, who may not approve, may not take
// that role from him, so she may not make it expire either (or expire
// sooner): at the expiry the deny stops masking approve.
func TestAttackExpiryLiftsADeny(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	s.must(200, "PUT", "/v1/entities/T100/users/bob/roles/"+f.superuser, nil)
	path := "/v1/entities/T100/users/bob/roles/" + f.noApprove
	s.must(200, "PUT", path, map[string]any{"expires_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
	in := func(d time.Duration) map[string]any {
		return map[string]any{"expires_at": time.Now().Add(d).UTC().Format(time.RFC3339)}
	}
	f.refused(t, "make the deny expire sooner", "PUT", path, in(time.Minute))
	f.refused(t, "make the deny expire sooner (dry run)", "PUT", path+"?dry_run=true", in(time.Minute))
	// Made permanent by the admin: alice may not give it an expiry.
	s.must(200, "PUT", path, map[string]any{})
	f.refused(t, "give the deny an expiry", "PUT", path, in(time.Hour))
	got := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/T100/users/bob/roles", nil).Data
	for _, r := range got {
		if r.Role.ID == f.noApprove && r.ExpiresAt != nil {
			t.Fatalf("bob's deny was given an expiry: %v", r)
		}
	}
	// Making it last longer masks more: she may.
	s.must(200, "PUT", path, in(time.Hour))
	if st, _, out := s.callToken(f.alice, "PUT", path, in(3*time.Hour)); st != 200 {
		t.Errorf("extend bob's deny: %d %v", st, out)
	}
	if st, _, out := s.callToken(f.alice, "PUT", path, map[string]any{}); st != 200 {
		t.Errorf("make bob's deny permanent: %d %v", st, out)
	}
}

// TestAttackRoleListGivesBackAnExpiredRole: ann's role expired a moment ago
// and the sweep has not removed it yet. Giving it back through her role list
// (or bea's through an import) gives it (for good), rather than keeping the
// expired assignment and answering as if it had.
func TestAttackRoleListGivesBackAnExpiredRole(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_EXPIRY_SWEEP": "1h"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "bea", "role_ids": []string{}})
	exp := time.Now().Add(500 * time.Millisecond).UTC()
	s.must(200, "PUT", "/v1/entities/acme/users/ann/roles/"+role, map[string]any{"expires_at": exp.Format(time.RFC3339Nano)})
	s.must(200, "PUT", "/v1/entities/acme/users/bea/roles/"+role, map[string]any{"expires_at": exp.Format(time.RFC3339Nano)})
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	check := map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"}
	// bea's is given back by an import.
	s.must(200, "POST", "/v1/entities/acme/users/import", map[string]any{"users": []any{map[string]any{"id": "bea", "email": "", "name": "", "role_ids": []string{role}}}})
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "bea", "object_type": "payable", "action": "approve"}); !d.Allowed {
		t.Errorf("bea was given her role back by an import but may not approve: %v", d)
	}
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", check); d.Allowed {
		t.Fatalf("ann still approves past her expiry: %v", d)
	}
	// A nil ExpiresAt is an absent or null expires_at, as the map's nil was.
	out := mustAs[api.User](s, 200, "PATCH", "/v1/entities/acme/users/ann", map[string]any{"role_ids": []string{role}})
	if r := out.Roles; len(r) != 1 || r[0].ExpiresAt != nil {
		t.Errorf("the answer does not show the role given back for good: %v", out.Roles)
	}
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", check); !d.Allowed {
		t.Errorf("ann was given her role back but may not approve: %v", d)
	}
}
