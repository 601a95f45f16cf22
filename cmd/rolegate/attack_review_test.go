package main

import (
	"testing"
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
