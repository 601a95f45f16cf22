package systemtest

import (
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// Hole: an expired assignment was still listed among the role's users and
// still made a Monite-style role delete 409 role in use, until the expiry
// sweep removed it. Expired means gone from every answer at once: here the
// sweep runs hourly, so everything below is before it.
func TestAttackExpiredAssignmentGoneAtOnce(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_EXPIRY_SWEEP": "1h"})
	const e = "9d2b4c8f-2087-4738-ba91-7359683c49a4"
	monite := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", e}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": e})
	role := func(name string) string {
		return mustAs[api.Role](s, 201, "POST", "/v1/entities/"+e+"/roles", map[string]any{"name": name, "permissions": map[string]any{"objects": []any{
			map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	}
	temp, native, kept := role("temporary"), role("native"), role("kept")
	for _, u := range []string{"ann", "bob"} {
		s.must(201, "POST", "/v1/entities/"+e+"/users", map[string]any{"id": u, "role_ids": []string{}})
	}
	exp := time.Now().Add(1500 * time.Millisecond).UTC()
	until := map[string]any{"expires_at": exp.Format(time.RFC3339Nano)}
	s.must(200, "PUT", "/v1/entities/"+e+"/users/ann/roles/"+temp, until)
	s.must(200, "PUT", "/v1/entities/"+e+"/users/bob/roles/"+native, map[string]any{"scope": "team:1", "expires_at": until["expires_at"]})
	s.must(200, "PUT", "/v1/entities/"+e+"/users/bob/roles/"+kept, until)
	users := func(role string) int {
		return len(s.must(200, "GET", "/v1/entities/"+e+"/roles/"+role+"/users", nil)["data"].([]any))
	}
	if n := users(temp); n != 1 {
		t.Fatalf("before the expiry, the role's users: %d", n)
	}
	if st, _, _ := s.raw("DELETE", "/v1/roles/"+temp, "", monite...); st != 409 {
		t.Skipf("the expiry passed before the first delete (machine too slow): %d", st)
	}
	time.Sleep(time.Until(exp) + 10*time.Millisecond)

	for _, r := range []string{temp, native, kept} {
		if n := users(r); n != 0 {
			t.Fatalf("after the expiry, role %s still lists %d user(s)", r, n)
		}
	}
	if st, _, out := s.raw("DELETE", "/v1/roles/"+temp, "", monite...); st != 204 {
		t.Fatalf("Monite delete after the expiry: %d %v", st, out)
	}
	s.must(204, "DELETE", "/v1/entities/"+e+"/roles/"+native, nil)
	if st, _, out := s.call("DELETE", "/v1/entities/"+e+"/users/bob/roles/"+kept, nil); st != 404 || errCode(out) != "assignment_not_found" {
		t.Fatalf("unassign an expired assignment: %d %v", st, out)
	}
	if r := s.must(200, "GET", "/v1/entities/"+e+"/users/bob/roles", nil)["data"].([]any); len(r) != 0 {
		t.Fatalf("bob's roles: %v", r)
	}
	// Given again, it is a new assignment, listed again.
	s.must(200, "PUT", "/v1/entities/"+e+"/users/bob/roles/"+kept, map[string]any{})
	if n := users(kept); n != 1 {
		t.Fatalf("given again, the role's users: %d", n)
	}
}
