package systemtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// TestGeneratedAdminToken: without ROLEGATE_ADMIN_TOKEN a token is generated,
// printed once, kept hashed, and still valid after a restart.
func TestGeneratedAdminToken(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_ADMIN_TOKEN": ""})
	m := regexp.MustCompile(`\n    (rg_[A-Za-z0-9_-]{43})\n`).FindStringSubmatch(s.terminal())
	if m == nil {
		t.Fatalf("no generated token printed to stderr:\n%s", s.terminal())
	}
	token := m[1]
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("generated token refused: %d", st)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db, "ROLEGATE_ADMIN_TOKEN": ""})
	if strings.Contains(s.output()+s.terminal(), token) {
		t.Fatal("the token was printed again")
	}
	if st, _, _ := s.callToken(token, "GET", "/v1/entities", nil); st != 200 {
		t.Fatalf("generated token refused after restart: %d", st)
	}
	if st, _, _ := s.callToken(testToken, "GET", "/v1/entities", nil); st != 401 {
		t.Fatalf("another token accepted: %d", st)
	}
}

// TestCatalogAndTemplates: with a catalog, roles naming anything else get 422
// listing the offenders; templates give every new entity their system roles.
func TestCatalogAndTemplates(t *testing.T) {
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	templates := filepath.Join(dir, "templates.json")
	os.WriteFile(catalog, []byte(`{"object_types":[{"object_type":"payable","actions":["read","approve"]},{"object_type":"receipt","actions":["read"]}]}`), 0o644)
	os.WriteFile(templates, []byte(`{"roles":[{"name":"owner","permissions":{"objects":[{"object_type":"*","actions":[{"action_name":"*","permission":"allowed"}]}]}},
		{"name":"viewer","default":true,"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"}]}]}}]}`), 0o644)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_CATALOG": catalog, "ROLEGATE_ROLE_TEMPLATES": templates})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "e"})
	roles := mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/e/roles?sort=name", nil).Data
	if len(roles) != 2 || roles[0].Name != "owner" || !roles[1].Default {
		t.Fatalf("system roles from templates: %v", roles)
	}
	out := s.must(422, "POST", "/v1/entities/e/roles", map[string]any{"name": "bad", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "pay", "permission": "allowed"}}},
		map[string]any{"object_type": "invoice", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	if errCode(out) != "unknown_object_type" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "invoice, payable.pay") {
		t.Fatalf("catalog offenders: %v", out)
	}
	s.must(201, "POST", "/v1/entities/e/roles", map[string]any{"name": "ok", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "*", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	cat := s.must(200, "GET", "/v1/object-types", nil)
	if cat["enforced"] != true || len(cat["data"].([]any)) != 2 {
		t.Fatalf("object types: %v", cat)
	}
	// New users get the template's default role.
	u := s.must(201, "POST", "/v1/entities/e/users", map[string]any{"id": "v"})
	if c := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "e", "user_id": "v", "object_type": "payable", "action": "read"}); !c.Allowed {
		t.Fatalf("default role from template: %v %v", u, c)
	}
}
