package systemtest

import (
	"context"
	"errors"
	"testing"

	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/client"
)

// Attacks on scopes: a scoped subject is s:<scope>|<user>, so a scope holding
// "|" could spell another user's scoped subject.

// Hole: user auth0|123 holds a role in team:42; a check for user 123 in scope
// team:42|auth0 answered allowed with that role. Every entry point that
// takes a scope (check, batch, the user's rights, who-can; the Go client and
// its cache, which go through them) now answers 422 invalid_scope, the code
// of an assignment's bad scope, and never allowed.
func TestAttackScopeSplicesAnotherUsersSubject(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "team approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	for _, u := range []string{"auth0|123", "123"} {
		s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": u, "role_ids": []string{}})
	}
	s.must(200, "PUT", urlPath("/v1/entities/acme/users/auth0|123/roles/")+role, map[string]any{"scope": "team:42"})
	holder := map[string]any{"entity_id": "acme", "user_id": "auth0|123", "object_type": "payable", "action": "approve", "scope": "team:42"}
	if out := mustAs[api.Decision](s, 200, "POST", "/v1/check", holder); !out.Allowed {
		t.Fatalf("the holder in its scope: %v", out)
	}
	spliced := map[string]any{"entity_id": "acme", "user_id": "123", "object_type": "payable", "action": "approve", "scope": "team:42|auth0", "explain": true}
	invalid := func(what string, st int, out map[string]any, field string) {
		t.Helper()
		if st != 422 || errCode(out) != "invalid_scope" || out["allowed"] != nil {
			t.Fatalf("%s: want 422 invalid_scope, got %d %v", what, st, out)
		}
		if d := out["error"].(map[string]any)["details"].([]any); d[0].(map[string]any)["field"] != field {
			t.Fatalf("%s: details %v", what, d)
		}
	}
	st, _, out := s.callBad("POST", "/v1/check", spliced)
	invalid("check", st, out, "scope")
	st, _, out = s.callBad("POST", "/v1/check/batch", map[string]any{"checks": []any{holder, spliced}})
	invalid("batch", st, out, "checks[1].scope")
	st, _, out = s.callBad("GET", "/v1/entities/acme/users/123/permissions?scope=team:42%7Cauth0", nil)
	invalid("permissions", st, out, "scope")
	st, _, out = s.callBad("GET", "/v1/entities/acme/who-can?object_type=payable&action=approve&scope=team:42%7Cauth0", nil)
	invalid("who-can", st, out, "scope")
	st, _, out = s.callBad("DELETE", "/v1/entities/acme/users/123/roles/"+role+"?scope=team:42%7Cauth0", nil)
	invalid("unassign", st, out, "scope")
	// The other scopes an assignment may not have are refused alike.
	for _, sc := range []string{"team 42", "team/42", "é", string(make([]byte, 129))} {
		q := map[string]any{"entity_id": "acme", "user_id": "123", "object_type": "payable", "action": "approve", "scope": sc}
		st, _, out = s.callBad("POST", "/v1/check", q)
		invalid("check in scope "+sc, st, out, "scope")
	}

	// Through the Go client and its cache: an error, never allowed.
	c, err := client.New(s.base, client.WithToken(testToken))
	if err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(c, client.CacheOptions{Wait: 1})
	defer cache.Close()
	req := client.CheckRequest{EntityID: "acme", UserID: "123", ObjectType: "payable", Action: "approve", Scope: "team:42|auth0"}
	var ce *client.Error
	for i, check := range []func(context.Context, client.CheckRequest) (client.Decision, error){c.Check, cache.Check, cache.Check} {
		if d, err := check(context.Background(), req); d.Allowed || !errors.As(err, &ce) || ce.Status != 422 || ce.Code != "invalid_scope" {
			t.Fatalf("client check %d: %+v %v", i, d, err)
		}
	}
	// The holder keeps its role in its own scope.
	req.UserID, req.Scope = "auth0|123", "team:42"
	if d, err := cache.Check(context.Background(), req); err != nil || !d.Allowed {
		t.Fatalf("the holder through the cache: %+v %v", d, err)
	}
}
