package systemtest

import (
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// TestAttackRoleNamesLikeASystemRole: a custom role may not take a name that
// reads as a system role's ("Admin", "admin ", fullwidth "ＡＤＭＩＮ"), through
// the native API (create, PUT, PATCH) or a facade; nothing is written. Other
// names, and the system role's own name written back to it, pass.
func TestAttackRoleNamesLikeASystemRole(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	none := map[string]any{"objects": []any{}}
	for _, name := range []string{"Admin", "ADMIN", "admin ", " admin", "ＡＤＭＩＮ", "Member", "MEMBER"} {
		st, _, out := s.call("POST", "/v1/entities/acme/roles", map[string]any{"name": name, "permissions": none})
		if st != 409 || errCode(out) != "role_name_taken" || !strings.Contains(errMessage(out), "system role") {
			t.Errorf("create %q: %d %v", name, st, out)
		}
	}
	role := s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "administrator", "permissions": none})
	path := "/v1/entities/acme/roles/" + role["id"].(string)
	if st, _, out := s.call("PATCH", path, map[string]any{"name": "Admin"}); st != 409 || errCode(out) != "role_name_taken" {
		t.Errorf("PATCH to Admin: %d %v", st, out)
	}
	if st, _, out := s.call("PUT", path, map[string]any{"name": "admin\t", "permissions": none}); st != 409 && st != 422 {
		t.Errorf("PUT to \"admin\\t\": %d %v", st, out)
	}
	if got := s.must(200, "GET", path, nil); got["name"] != "administrator" || got["version"] != float64(1) {
		t.Errorf("the role after refused renames: %v", got)
	}
	// Monite's facade goes through the same rule.
	st, _, _ := s.call("POST", "/v1/roles", map[string]any{"name": "Admin", "permissions": none},
		"x-monite-version", "2024-05-25", "x-monite-entity-id", "acme")
	if st != 409 {
		t.Errorf("Monite create Admin: %d", st)
	}
	// The system role itself keeps its name when written back.
	var admin api.Role
	for _, r := range mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/acme/roles", nil).Data {
		if r.Name == "admin" {
			admin = r
		}
	}
	s.must(200, "PATCH", "/v1/entities/acme/roles/"+admin.ID, map[string]any{"name": "admin"})
}

func errMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}
