package systemtest

import (
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Hole: a client with only the check scope read the entity's role names
// through an explained check: matched and denied_by named the asked user's
// roles, grantable_by every role that would allow it. It now sees roles by id
// only (role_name null) and no grantable_by; a client that may read roles
// (manage) still sees them all, in a check and in a batch alike.
func TestAttackExplainedCheckRoleNamesForCheckOnlyClients(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := func(name, perm string) string {
		return mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": name, "permissions": map[string]any{"objects": []any{
			map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": perm}}}}}}).ID
	}
	approvers, frozen := role("Project Nightingale approvers", "allowed"), role("Fraud watchlist", "denied")
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{approvers}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "bob", "role_ids": []string{}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "cat", "role_ids": []string{approvers, frozen}})
	checker := s.clientOf("acme", "check")
	manager := s.clientOf("acme", "check", "manage")

	explain := func(token, user string) []map[string]any {
		t.Helper()
		q := map[string]any{"entity_id": "acme", "user_id": user, "object_type": "payable", "action": "approve", "explain": true}
		st, _, one := s.callToken(token, "POST", "/v1/check", q)
		if st != 200 {
			t.Fatalf("check %s: %d %v", user, st, one)
		}
		st, _, batch := s.callToken(token, "POST", "/v1/check/batch", map[string]any{"checks": []any{q}})
		if st != 200 {
			t.Fatalf("batch %s: %d %v", user, st, batch)
		}
		return []map[string]any{one, batch["results"].([]any)[0].(map[string]any)}
	}
	names := func(out map[string]any, field string) (ids, named int) {
		list, _ := out[field].([]any)
		for _, m := range list {
			m := m.(map[string]any)
			if m["role_id"] != nil {
				ids++
			}
			if m["role_name"] != nil {
				named++
			}
		}
		return ids, named
	}
	for _, out := range explain(checker, "ann") {
		if ids, named := names(out, "matched"); out["allowed"] != true || ids != 1 || named != 0 {
			t.Fatalf("check-only, ann allowed: %v", out)
		}
	}
	for _, out := range explain(checker, "bob") {
		if _, ok := out["grantable_by"]; out["allowed"] != false || ok {
			t.Fatalf("check-only, bob not allowed: %v", out)
		}
	}
	for _, out := range explain(checker, "cat") {
		mi, mn := names(out, "matched")
		di, dn := names(out, "denied_by")
		if out["permission"] != "denied" || mi != 2 || di != 1 || mn+dn != 0 {
			t.Fatalf("check-only, cat denied: %v", out)
		}
	}
	// A client that may read roles sees the names.
	for _, out := range explain(manager, "bob") {
		if _, named := names(out, "grantable_by"); named == 0 {
			t.Fatalf("manager, bob not allowed: %v", out)
		}
	}
	for _, out := range explain(manager, "cat") {
		if _, mn := names(out, "matched"); mn != 2 {
			t.Fatalf("manager, cat denied: %v", out)
		}
	}
}
