package systemtest

import (
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Attacks on dry runs (issue 21, item 6): a dry_run the call did not honour
// wrote for real. A role create, a user's create, change and delete and an
// import have a dry run now; any other call refuses a dry_run (422), as does
// a dry_run given twice or not true/false, and nothing is written.
func TestAttackDryRunNeverWrites(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "reader",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable",
			"actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u1", "name": "Ada", "role_ids": []string{role}})
	before := s.stateOf("acme")
	roles := func() int { return len(mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/acme/roles", nil).Data) }
	nRoles := roles()

	// Calls with a dry run answer what would change and write nothing.
	for _, c := range []struct {
		method, path string
		body         any
		gained, lost string // a user whose right is gained or lost
	}{
		{"POST", "/v1/entities/acme/roles?dry_run=true", map[string]any{"name": "writer"}, "", ""},
		{"POST", "/v1/entities/acme/users?dry_run=true", map[string]any{"id": "u2", "role_ids": []string{role}}, "u2", ""},
		{"PATCH", "/v1/entities/acme/users/u1?dry_run=true", map[string]any{"name": "Eve", "role_ids": []string{}}, "", "u1"},
		{"DELETE", "/v1/entities/acme/users/u1?dry_run=true", nil, "", "u1"},
		{"POST", "/v1/entities/acme/users/import?dry_run=true", map[string]any{"users": []any{
			map[string]any{"id": "u3", "role_ids": []string{role}}}}, "u3", ""},
	} {
		st, _, out := s.call(c.method, c.path, c.body)
		if st != 200 || out["dry_run"] != true {
			t.Fatalf("%s %s: %d %v, want a dry run", c.method, c.path, st, out)
		}
		for _, w := range []struct{ key, user string }{{"gained", c.gained}, {"lost", c.lost}} {
			rows, _ := out[w.key].([]any)
			if (w.user == "") != (len(rows) == 0) || (w.user != "" && rows[0].(map[string]any)["user_id"] != w.user) {
				t.Fatalf("%s %s: %s %v, want %q's rights", c.method, c.path, w.key, rows, w.user)
			}
		}
		s.sameState("acme", before)
	}
	if n := roles(); n != nRoles {
		t.Fatalf("a dry-run role create made a role: %d roles, were %d", n, nRoles)
	}
	if u := s.must(200, "GET", "/v1/entities/acme/users/u1", nil); u["name"] != "Ada" || len(u["roles"].([]any)) != 1 {
		t.Fatalf("a dry run changed u1: %v", u)
	}

	// A dry_run that cannot be honoured is 422 and writes nothing.
	for _, c := range []struct {
		method, path string
		body         any
		code         string
	}{
		{"DELETE", "/v1/entities/acme?dry_run=true", nil, "dry_run_unsupported"},
		{"POST", "/v1/entities?dry_run=true", map[string]any{"id": "other"}, "dry_run_unsupported"},
		{"POST", "/v1/clients?dry_run=true", map[string]any{"name": "c", "scopes": []string{"check"}}, "dry_run_unsupported"},
		{"GET", "/v1/entities/acme/roles?dry_run=true", nil, "dry_run_unsupported"},
		{"DELETE", "/v1/entities/acme/users/u1?dry_run=false&dry_run=true", nil, "invalid_dry_run"},
		{"DELETE", "/v1/entities/acme/users/u1?dry_run=true&dry_run=true", nil, "invalid_dry_run"},
		{"DELETE", "/v1/entities/acme/users/u1?dry_run=", nil, "invalid_dry_run"},
		{"DELETE", "/v1/entities/acme/users/u1?dry_run=yes", nil, "invalid_dry_run"},
		{"DELETE", "/v1/entities/acme/users/u1?x=1;dry_run=true", nil, "invalid_dry_run"},
		{"POST", "/v1/entities/acme/roles?dry_run=1&dry_run=0", map[string]any{"name": "writer"}, "invalid_dry_run"},
		{"DELETE", "/v1/entities/acme/roles/" + role + "?force=true&dry_run=false&dry_run=true", nil, "invalid_dry_run"},
	} {
		st, _, out := s.callBad(c.method, c.path, c.body)
		if st != 422 || errCode(out) != c.code {
			t.Fatalf("%s %s: %d %v, want 422 %s", c.method, c.path, st, out, c.code)
		}
		if !strings.Contains(out["error"].(map[string]any)["message"].(string), "nothing was done") {
			t.Fatalf("%s %s: %v", c.method, c.path, out)
		}
	}
	s.sameState("acme", before)
	s.must(404, "GET", "/v1/entities/other", nil)
	if cl := mustAs[api.Page[api.APIClient]](s, 200, "GET", "/v1/clients", nil).Data; len(cl) != 0 {
		t.Fatalf("a dry-run client create made a client: %v", cl)
	}

	// dry_run=false is the write itself.
	s.must(201, "POST", "/v1/entities/acme/roles?dry_run=false", map[string]any{"name": "writer"})
	if n := roles(); n != nRoles+1 {
		t.Fatalf("dry_run=false did not write: %d roles", n)
	}
}
