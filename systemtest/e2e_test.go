package systemtest

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// TestEndToEnd drives every route of the native API on the real server, then
// restarts it on the same SQLite file and finds everything unchanged.
func TestEndToEnd(t *testing.T) {
	db := sqliteURL(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})

	// Health needs no token; everything else does.
	if st, _, _ := s.callToken("", "GET", "/healthz", nil); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if st, _, _ := s.callToken("", "GET", "/readyz", nil); st != 200 {
		t.Fatalf("readyz: %d", st)
	}
	st, h, out := s.callToken("", "GET", "/v1/entities", nil)
	if st != 401 || errCode(out) == "" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %v %v", st, h, out)
	}
	if st, _, out := s.callToken("wrong", "GET", "/v1/entities", nil); st != 401 || errCode(out) != "invalid_token" {
		t.Fatalf("bad token: %d %v", st, out)
	}

	// Entities.
	ent := mustAs[api.Entity](s, 201, "POST", "/v1/entities", map[string]any{"id": "acme", "name": "Acme"})
	if ent.ID != "acme" || ent.Name != "Acme" {
		t.Fatalf("entity: %v", ent)
	}
	if out := s.must(409, "POST", "/v1/entities", map[string]any{"id": "acme"}); errCode(out) != "entity_exists" {
		t.Fatalf("duplicate entity: %v", out)
	}
	gen := mustAs[api.Entity](s, 201, "POST", "/v1/entities", map[string]any{})
	if len(gen.ID) != 36 {
		t.Fatalf("generated entity id: %v", gen)
	}
	s.must(200, "GET", "/v1/entities/acme", nil)
	s.must(404, "GET", "/v1/entities/nope", nil)
	page := mustAs[api.Page[api.Entity]](s, 200, "GET", "/v1/entities?limit=1", nil)
	if len(page.Data) != 1 || page.NextPaginationToken == nil {
		t.Fatalf("entities page 1: %v", page)
	}
	page = mustAs[api.Page[api.Entity]](s, 200, "GET", "/v1/entities?limit=1&pagination_token="+*page.NextPaginationToken, nil)
	if len(page.Data) != 1 {
		t.Fatalf("entities page 2: %v", page)
	}

	// System roles from the templates.
	roles := mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/acme/roles", nil).Data
	sys := map[string]api.Role{}
	for _, r := range roles {
		sys[r.Name] = r
	}
	if sys["admin"].RoleType != "system" || !sys["member"].Default {
		t.Fatalf("system roles: %v", roles)
	}
	memberID := sys["member"].ID
	if out := s.must(403, "PATCH", "/v1/entities/acme/roles/"+memberID, map[string]any{"name": "x"}); errCode(out) != "system_role" {
		t.Fatalf("patch system role: %v", out)
	}
	if out := s.must(403, "DELETE", "/v1/entities/acme/roles/"+memberID, nil); errCode(out) != "system_role" {
		t.Fatalf("delete system role: %v", out)
	}

	// Roles.
	approverRights := api.Permissions{Objects: []api.ObjectPermissions{{ObjectType: "payable", Actions: []api.ActionPermission{
		{ActionName: "read", Permission: "allowed"},
		{ActionName: "approve", Permission: "allowed_for_own"},
		{ActionName: "update", Permission: "not_allowed"},
		{ActionName: "delete", Permission: "denied"}}}}}
	approver := map[string]any{"name": "approver", "description": "Approves payables", "permissions": approverRights}
	st, h, role := callAs[api.Role](s, "POST", "/v1/entities/acme/roles", approver)
	if st != 201 || h.Get("ETag") != `"1"` || h.Get("Location") != "/v1/entities/acme/roles/"+role.ID {
		t.Fatalf("create role: %d %v %v", st, h, role)
	}
	roleID := role.ID
	if !reflect.DeepEqual(role.Permissions, approverRights) || role.Status != "active" || role.RoleType != "custom" {
		t.Fatalf("role does not read back as written: %v", role)
	}
	if out := s.must(409, "POST", "/v1/entities/acme/roles", approver); errCode(out) != "role_name_taken" {
		t.Fatalf("duplicate name: %v", out)
	}
	got := mustAs[api.Role](s, 200, "GET", "/v1/entities/acme/roles/"+roleID, nil)
	if !reflect.DeepEqual(got.Permissions, approverRights) {
		t.Fatalf("get role: %v", got)
	}
	// Another entity's role is not found.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	s.must(404, "GET", "/v1/entities/other/roles/"+roleID, nil)

	// PATCH with a stale If-Match, then a good one.
	if out := s.must(412, "PATCH", "/v1/entities/acme/roles/"+roleID, map[string]any{"description": "x"}, "If-Match", `"7"`); errCode(out) != "version_mismatch" {
		t.Fatalf("stale If-Match: %v", out)
	}
	st, h, got = callAs[api.Role](s, "PATCH", "/v1/entities/acme/roles/"+roleID, map[string]any{"description": "Approves own payables"}, "If-Match", `"1"`)
	if st != 200 || h.Get("ETag") != `"2"` || got.Description != "Approves own payables" || got.Name != "approver" {
		t.Fatalf("patch: %d %v", st, got)
	}
	// PUT replaces everything.
	put := mustAs[api.Role](s, 200, "PUT", "/v1/entities/acme/roles/"+roleID, approver)
	if put.Description != "Approves payables" || put.Version != 3 {
		t.Fatalf("put: %v", put)
	}

	// Role listing: filters, sort and both directions.
	for i := 0; i < 3; i++ {
		s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": fmt.Sprintf("extra %d", i), "description": "spare"})
	}
	type rolePage = api.Page[api.Role]
	p1 := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?limit=2&sort=name&order=asc&search=SPARE", nil)
	names := func(p rolePage) (out []string) {
		for _, r := range p.Data {
			out = append(out, r.Name)
		}
		return out
	}
	if fmt.Sprint(names(p1)) != "[extra 0 extra 1]" || p1.PrevPaginationToken != nil {
		t.Fatalf("roles page 1: %v", p1)
	}
	p2 := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?limit=2&pagination_token="+*p1.NextPaginationToken, nil)
	if fmt.Sprint(names(p2)) != "[extra 2]" || p2.NextPaginationToken != nil {
		t.Fatalf("roles page 2: %v", p2)
	}
	back := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?limit=2&pagination_token="+*p2.PrevPaginationToken, nil)
	if fmt.Sprint(names(back)) != "[extra 0 extra 1]" {
		t.Fatalf("roles prev page: %v", back)
	}
	if out := s.must(422, "GET", "/v1/entities/acme/roles?limit=0", nil); errCode(out) != "invalid_limit" {
		t.Fatalf("limit 0: %v", out)
	}
	s.must(422, "GET", "/v1/entities/acme/roles?limit=101", nil)
	byName := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?name=approver", nil)
	if fmt.Sprint(names(byName)) != "[approver]" {
		t.Fatalf("by name: %v", byName)
	}
	if sysOnly := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?role_type=system&default=true", nil); fmt.Sprint(names(sysOnly)) != "[member]" {
		t.Fatalf("system default: %v", sysOnly)
	}
	if in := mustAs[rolePage](s, 200, "GET", "/v1/entities/acme/roles?id__in="+roleID+"&id__in="+memberID+"&sort=name", nil); fmt.Sprint(names(in)) != "[approver member]" {
		t.Fatalf("id__in: %v", in)
	}

	// Users.
	u := mustAs[api.User](s, 201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-17", "email": "ada@acme.test", "name": "Ada", "role_ids": []string{roleID}})
	if rs := u.Roles; len(rs) != 1 || rs[0].ID != roleID {
		t.Fatalf("user roles: %v", u)
	}
	if out := s.must(409, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-17"}); errCode(out) != "user_exists" {
		t.Fatalf("duplicate user: %v", out)
	}
	def := mustAs[api.User](s, 201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-18", "email": "bob@acme.test"})
	if rs := def.Roles; len(rs) != 1 || rs[0].Name != "member" {
		t.Fatalf("default role: %v", def)
	}
	if out := s.must(422, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-19", "role_ids": []string{"nope"}}); errCode(out) != "unknown_role" {
		t.Fatalf("unknown role: %v", out)
	}
	s.must(404, "GET", "/v1/entities/acme/users/u-19", nil)
	s.must(404, "GET", "/v1/entities/other/users/u-17", nil)
	found := mustAs[api.Page[api.User]](s, 200, "GET", "/v1/entities/acme/users?search=ADA&expand=roles", nil)
	if d := found.Data; len(d) != 1 || d[0].Roles[0].Role == nil {
		t.Fatalf("user search with expand: %v", found)
	}
	holders := mustAs[api.Page[api.User]](s, 200, "GET", "/v1/entities/acme/roles/"+roleID+"/users", nil)
	if d := holders.Data; len(d) != 1 || d[0].ID != "u-17" {
		t.Fatalf("role users: %v", holders)
	}

	check := func(user, obj, act, owner, scope string) api.Decision {
		t.Helper()
		return mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": user,
			"object_type": obj, "action": act, "owner_id": owner, "scope": scope, "explain": true})
	}
	if c := check("u-17", "payable", "approve", "u-17", ""); !c.Allowed || c.Permission != "allowed_for_own" ||
		len(c.Matched) != 1 || c.Matched[0].RoleName == nil || *c.Matched[0].RoleName != "approver" {
		t.Fatalf("own approve: %v", c)
	}
	if c := check("u-17", "payable", "delete", "", ""); c.Allowed || c.Permission != "denied" {
		t.Fatalf("denied: %v", c)
	}

	// Assignments, scoped.
	lead := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "team lead",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "shift", "actions": []any{
			map[string]any{"action_name": "update", "permission": "allowed"}}}}}})
	leadID := lead.ID
	a := mustAs[api.Assignment](s, 200, "PUT", "/v1/entities/acme/users/u-18/roles/"+leadID, map[string]any{"scope": "team:42"})
	if a.Scope == nil || *a.Scope != "team:42" {
		t.Fatalf("assign: %v", a)
	}
	s.must(200, "PUT", "/v1/entities/acme/users/u-18/roles/"+leadID, map[string]any{"scope": "team:42"}) // idempotent
	if c := check("u-18", "shift", "update", "", "team:42"); !c.Allowed {
		t.Fatalf("scoped allow: %v", c)
	}
	if c := check("u-18", "shift", "update", "", ""); c.Allowed {
		t.Fatalf("scoped outside scope: %v", c)
	}
	ur := mustAs[api.Page[api.UserRole]](s, 200, "GET", "/v1/entities/acme/users/u-18/roles", nil).Data
	if len(ur) != 2 {
		t.Fatalf("user roles: %v", ur)
	}
	perms := mustAs[api.Permissions](s, 200, "GET", "/v1/entities/acme/users/u-18/permissions?scope=team:42", nil)
	if len(perms.Objects) != 1 || perms.Objects[0].ObjectType != "shift" || len(perms.Objects[0].Actions) != 1 ||
		perms.Objects[0].Actions[0] != (api.ActionPermission{ActionName: "update", Permission: "allowed"}) {
		t.Fatalf("effective permissions: %v", perms)
	}
	s.must(204, "DELETE", "/v1/entities/acme/users/u-18/roles/"+leadID+"?scope=team:42", nil)
	s.must(404, "DELETE", "/v1/entities/acme/users/u-18/roles/"+leadID+"?scope=team:42", nil)
	if c := check("u-18", "shift", "update", "", "team:42"); c.Allowed {
		t.Fatalf("after unassign: %v", c)
	}

	// PATCH a user's roles replaces its entity-wide roles.
	pu := mustAs[api.User](s, 200, "PATCH", "/v1/entities/acme/users/u-18", map[string]any{"name": "Bob", "role_ids": []string{leadID}})
	if rs := pu.Roles; len(rs) != 1 || rs[0].ID != leadID || pu.Name != "Bob" {
		t.Fatalf("patch user: %v", pu)
	}
	if c := check("u-18", "shift", "update", "", ""); !c.Allowed {
		t.Fatalf("after role change: %v", c)
	}

	// Deleting a role in use needs force; a role update decides at once.
	if out := s.must(409, "DELETE", "/v1/entities/acme/roles/"+leadID, nil); errCode(out) != "role_in_use" {
		t.Fatalf("delete in use: %v", out)
	}
	s.must(204, "DELETE", "/v1/entities/acme/roles/"+leadID+"?force=true", nil)
	deleted := mustAs[api.Role](s, 200, "GET", "/v1/entities/acme/roles/"+leadID, nil)
	if deleted.Status != "deleted" || deleted.DeletedAt == nil {
		t.Fatalf("soft delete: %v", deleted)
	}
	if c := check("u-18", "shift", "update", "", ""); c.Allowed {
		t.Fatalf("after role delete: %v", c)
	}
	// The name is free again.
	s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "team lead"})

	// A user delete takes its assignments with it.
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "temp", "role_ids": []string{roleID}})
	s.must(204, "DELETE", "/v1/entities/acme/users/temp", nil)
	s.must(404, "GET", "/v1/entities/acme/users/temp", nil)
	if c := check("temp", "payable", "read", "", ""); c.Allowed {
		t.Fatalf("deleted user: %v", c)
	}

	// Batch.
	batch := mustAs[api.CheckBatchResult](s, 200, "POST", "/v1/check/batch", map[string]any{"checks": []any{
		map[string]any{"entity_id": "acme", "user_id": "u-17", "object_type": "payable", "action": "read"},
		map[string]any{"entity_id": "other", "user_id": "u-17", "object_type": "payable", "action": "read"},
	}})
	if rs := batch.Results; len(rs) != 2 || !rs[0].Allowed || rs[1].Allowed {
		t.Fatalf("batch: %v", batch)
	}
	s.must(422, "POST", "/v1/check/batch", map[string]any{"checks": []any{}})
	s.must(200, "GET", "/v1/object-types", nil)

	// Bad input changes nothing.
	before := mustAs[api.Entity](s, 200, "GET", "/v1/entities/acme", nil).Revision
	for _, bad := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/v1/entities/acme/roles", `{"name": "x",`, 400, "malformed_json"},
		{"POST", "/v1/entities/acme/roles", `{"name": "x", "colour": "red"}`, 422, "unknown_field"},
		{"POST", "/v1/entities/acme/roles", `{"name": 7}`, 422, "invalid_type"},
		{"POST", "/v1/entities/acme/roles", `{}`, 422, "missing_field"},
		{"POST", "/v1/entities/acme/roles", `{"name": ""}`, 422, "invalid_name"},
		{"POST", "/v1/entities/acme/roles", `{"name": "caf\u0007"}`, 422, "invalid_name"},
		{"POST", "/v1/entities/acme/roles", map[string]any{"name": strings.Repeat("n", 256)}, 422, "invalid_name"},
		{"POST", "/v1/entities/acme/roles", `{"name": "y", "permissions": {"objects": [{"object_type": "Payable", "actions": [{"action_name": "read", "permission": "allowed"}]}]}}`, 422, "invalid_permissions"},
		{"POST", "/v1/entities/acme/roles", `{"name": "y", "permissions": {"objects": [{"object_type": "payable", "actions": [{"action_name": "read", "permission": "maybe"}]}]}}`, 422, "invalid_permissions"},
		{"POST", "/v1/entities/acme/roles", `{"name": "y", "permissions": {"objects": [{"object_type": "payable", "actions": [{"action_name": "read", "permission": "allowed"}, {"action_name": "read", "permission": "denied"}]}]}}`, 422, "duplicate_permission"},
		{"POST", "/v1/entities/acme/roles", `{"name": "z", "description": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "payload_too_large"},
		{"POST", "/v1/entities/nope/roles", `{"name": "z"}`, 404, "entity_not_found"},
		{"POST", "/v1/entities", `{"id": "bad id!"}`, 422, "invalid_entity_id"},
		{"POST", "/v1/check", `{"entity_id": "acme"}`, 422, "missing_field"},
		{"POST", "/v1/check", `[1,2]`, 422, "invalid_type"},
		{"PUT", "/v1/entities/acme/users/u-17/roles/" + roleID, `{"scope": "team 42"}`, 422, "invalid_scope"},
	} {
		st, _, out := s.call(bad.method, bad.path, bad.body)
		if st != bad.status || errCode(out) != bad.code {
			t.Errorf("%s %s %.60v: got %d %v, want %d %s", bad.method, bad.path, bad.body, st, out, bad.status, bad.code)
		}
	}
	if after := mustAs[api.Entity](s, 200, "GET", "/v1/entities/acme", nil).Revision; after != before {
		t.Fatalf("bad input changed the revision: %v -> %v", before, after)
	}
	if st, _, out := s.call("GET", "/v1/nope", nil); st != http.StatusNotFound || errCode(out) != "route_not_found" {
		t.Fatalf("unknown route: %d %v", st, out)
	}

	// Restart on the same file: every role, assignment and answer is unchanged
	// (whole answers as maps: every field, printed without pointers).
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/v1/entities/acme/roles?status=all&sort=name", "/v1/entities/acme/users?expand=roles",
			"/v1/entities/acme/users/u-17/roles", "/v1/entities/acme"} {
			fmt.Fprintln(&b, s.must(200, "GET", p, nil))
		}
		for _, c := range [][]string{{"u-17", "payable", "approve", "u-17"}, {"u-17", "payable", "delete", ""},
			{"u-17", "payable", "read", ""}, {"u-18", "payable", "read", ""}} {
			fmt.Fprintln(&b, s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": c[0],
				"object_type": c[1], "action": c[2], "owner_id": c[3], "scope": "", "explain": true}))
		}
		return b.String()
	}
	before1 := snapshot()
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	s2 := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": db})
	s2.t, s = t, s2
	if after := snapshot(); after != before1 {
		t.Fatalf("after restart:\n%s\nbefore:\n%s", after, before1)
	}

	// Entity delete takes everything with it.
	s.must(204, "DELETE", "/v1/entities/acme", nil)
	s.must(404, "GET", "/v1/entities/acme", nil)
	if c := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u-17", "object_type": "payable", "action": "read"}); c.Allowed {
		t.Fatalf("check on deleted entity: %v", c)
	}
}
