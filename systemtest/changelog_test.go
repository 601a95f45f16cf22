package systemtest

import (
	"context"
	"testing"

	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/api"
)

// TestInstancesCatchUpFromTheChangeLog: two rolegate processes over one
// PostgreSQL schema, no notifier and no sweep before an hour. Writes on one
// (a role edited twice, a user created, a scoped assignment made and taken
// back) are caught up by the other from the change log when a check asks for
// their revision: its metrics show one delta applied per write and no reload.
// With an entry of the log gone, the other instance reloads the entity in
// full, and answers from the new policy either way.
func TestInstancesCatchUpFromTheChangeLog(t *testing.T) {
	db := postgresURL(t)
	env := map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_SWEEP_INTERVAL": "1h"}
	a := startProcess(t, env)
	b := startProcess(t, env)
	role := seedReader(a.server, "acme")
	if !b.mayRead("acme", "doc") {
		t.Fatal("the other instance does not answer from the stored policy")
	}
	counts := func() (loads, reloads, deltas float64) {
		_, text := b.get(testToken, "/metrics")
		return metric(t, text, "rolegate_policy_loads_total"), metric(t, text, "rolegate_policy_reloads_total"),
			metric(t, text, "rolegate_policy_deltas_applied_total")
	}
	check := func(user, obj string, rev int64, scope string) bool {
		t.Helper()
		out := mustAs[api.Decision](b.server, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": user, "object_type": obj,
			"action": "read", "scope": scope, "min_revision": rev})
		if out.Revision != rev {
			t.Fatalf("check at min_revision %d answered from revision %v", rev, out.Revision)
		}
		return out.Allowed
	}
	loads0, reloads0, deltas0 := counts()

	a.must(200, "PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("memo")})
	other := mustAs[api.Role](a.server, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "filer", "permissions": rights("file")}).ID
	a.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "v", "role_ids": []string{role}})
	a.must(200, "PUT", "/v1/entities/acme/users/u/roles/"+other, map[string]any{"scope": "team:1"})
	_, h, _ := a.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("invoice")})
	rev := revisionOf(t, h)
	if !check("u", "invoice", rev, "") || check("u", "memo", rev, "") || !check("v", "invoice", rev, "") ||
		!check("u", "file", rev, "team:1") || check("u", "file", rev, "") {
		t.Fatal("the other instance does not answer from the new policy")
	}
	loads, reloads, deltas := counts()
	if loads != loads0 || reloads != reloads0 || deltas-deltas0 != 5 {
		t.Fatalf("after 5 writes the other instance made %v loads, %v full reloads and applied %v deltas; want 0, 0, 5",
			loads-loads0, reloads-reloads0, deltas-deltas0)
	}

	// A gap in the log: a full reload.
	_, h, _ = a.call("DELETE", "/v1/entities/acme/users/u/roles/"+other+"?scope=team:1", nil)
	gap := revisionOf(t, h)
	_, h, _ = a.call("PATCH", "/v1/entities/acme/roles/"+role, map[string]any{"permissions": rights("doc")})
	rev = revisionOf(t, h)
	store, err := adapters.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.DB().Exec("DELETE FROM policy_changes WHERE entity_id = ? AND revision = ?", "acme", gap).Error; err != nil {
		t.Fatal(err)
	}
	if !check("u", "doc", rev, "") || check("u", "invoice", rev, "") || check("u", "file", rev, "team:1") {
		t.Fatal("after the gap, the other instance does not answer from the new policy")
	}
	_, reloads2, deltas2 := counts()
	if reloads2-reloads != 1 || deltas2 != deltas {
		t.Fatalf("a gap in the log: %v full reloads and %v deltas; want 1, 0", reloads2-reloads, deltas2-deltas)
	}
}
