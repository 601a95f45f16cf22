package systemtest

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// The seed documents' example requests, verbatim.
const (
	dinteroCreateRoleExample = `
{
  "scope": [
    "read:accounts",
    "read:billing",
    "admin:shopping"
  ]
}
`
	moniteCreateRoleExample = `{
"name": "name",
"permissions": {}
}`
	papershiftCreateRoleExample = `{
"data": {
"type": "role",
"attributes": {
"name": "Role"
}
}
}`
	papershiftUpdateRoleExample = `{
"data": {
"type": "role",
"attributes": {
"name": "Updated Role"
}
}
}`
)

// raw sends a request with the admin token and a raw body, and decodes any
// JSON answer (arrays too).
func (s *server) raw(method, path, body string, headers ...string) (int, http.Header, any) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			s.t.Fatalf("%s %s: %d, not JSON: %q", method, path, res.StatusCode, data)
		}
	}
	return res.StatusCode, res.Header, out
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

// get walks a decoded JSON value: keys for objects, ints for arrays.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = obj(v)[k]
		case int:
			a := arr(v)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func strs(v any) []string {
	out := []string{}
	for _, x := range arr(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// expect fails unless the status is want, and returns the body.
func (s *server) expect(want int, method, path, body string, headers ...string) any {
	s.t.Helper()
	st, _, out := s.raw(method, path, body, headers...)
	if st != want {
		s.t.Fatalf("%s %s: status %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

func (s *server) checkAllowed(entity, user, objectType, action, scope string) bool {
	s.t.Helper()
	out := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": entity, "user_id": user,
		"object_type": objectType, "action": action, "scope": scope})
	return out.Allowed
}

func newFacadeServer(t *testing.T, entity string) *server {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": entity})
	return s
}

func TestDinteroFacade(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	const base = "/v1/accounts/T12345678"

	// The seed example, verbatim: 200 and the role with its scope as given.
	role := s.expect(200, "POST", base+"/auth/roles", dinteroCreateRoleExample)
	id, _ := get(role, "id").(string)
	if len(id) != 36 || !reflect.DeepEqual(strs(get(role, "scope")), []string{"read:accounts", "read:billing", "admin:shopping"}) ||
		get(role, "created_at") == nil || get(role, "updated_at") == nil || get(role, "deleted_at") != nil {
		t.Fatalf("created role: %v", role)
	}
	if got := s.expect(200, "GET", base+"/auth/roles/"+id, ""); !reflect.DeepEqual(got, role) {
		t.Fatalf("get: %v, want %v", got, role)
	}
	named := s.expect(200, "POST", base+"/auth/roles", `{"scope":["write:accounts:/auth/users","read:accounts"],"name":"order support","description":"Administrate orders"}`)
	nid := get(named, "id").(string)
	if get(named, "name") != "order support" || get(named, "description") != "Administrate orders" {
		t.Fatalf("named role: %v", named)
	}

	// Lists are bare arrays: limit, starting_after, search, name.
	all := arr(s.expect(200, "GET", base+"/auth/roles", ""))
	if len(all) != 4 { // admin, member, and the two above
		t.Fatalf("list: %v", all)
	}
	page := arr(s.expect(200, "GET", base+"/auth/roles?limit=2", ""))
	rest := arr(s.expect(200, "GET", base+"/auth/roles?limit=2&starting_after="+get(page, 1, "id").(string), ""))
	if len(page) != 2 || len(rest) != 2 || !reflect.DeepEqual(append(page, rest...), all) {
		t.Fatalf("pages: %v / %v, want %v", page, rest, all)
	}
	if found := arr(s.expect(200, "GET", base+"/auth/roles?search=ORDERS", "")); len(found) != 1 || get(found, 0, "id") != nid {
		t.Fatalf("search: %v", found)
	}
	if found := arr(s.expect(200, "GET", base+"/auth/roles?name=order%20support", "")); len(found) != 1 {
		t.Fatalf("name: %v", found)
	}

	// PUT replaces what Dintero shows: scope, name, description.
	put := s.expect(200, "PUT", base+"/auth/roles/"+nid, `{"scope":["read:accounts"]}`)
	if !reflect.DeepEqual(strs(get(put, "scope")), []string{"read:accounts"}) || get(put, "name") != nil || get(put, "description") != nil {
		t.Fatalf("put: %v", put)
	}

	// Users: create with roles and a scope of their own, list with expand and search.
	user := s.expect(200, "POST", base+"/management/users", `{"email":"customer@example.com","name":"John Doe","scope":["receipts:write"],"roles":[{"id":"`+id+`"}]}`)
	uid := get(user, "id").(string)
	// receipts:write (the seed's own example) is Dintero's write:receipts.
	if get(user, "email") != "customer@example.com" || !reflect.DeepEqual(strs(get(user, "scope")), []string{"write:receipts"}) {
		t.Fatalf("user: %v", user)
	}
	users := arr(s.expect(200, "GET", base+"/management/users?expand=roles", ""))
	if len(users) != 1 || get(users, 0, "roles", 0, "id") != id || len(strs(get(users, 0, "roles", 0, "scope"))) != 3 {
		t.Fatalf("users expanded: %v", users)
	}
	if plain := arr(s.expect(200, "GET", base+"/management/users", "")); get(plain, 0, "roles") != nil {
		t.Fatalf("roles shown without expand: %v", plain)
	}
	if found := arr(s.expect(200, "GET", base+"/management/users?search=john", "")); len(found) != 1 {
		t.Fatalf("search by name: %v", found)
	}
	if found := arr(s.expect(200, "GET", base+"/management/users?search=nobody", "")); len(found) != 0 {
		t.Fatalf("search: %v", found)
	}

	// The role's scopes and the user's own scope decide checks.
	if !s.checkAllowed("T12345678", uid, "accounts", "read", "") || !s.checkAllowed("T12345678", uid, "shopping", "admin", "") ||
		!s.checkAllowed("T12345678", uid, "receipts", "write", "") || s.checkAllowed("T12345678", uid, "write", "receipts", "") ||
		s.checkAllowed("T12345678", uid, "accounts", "write", "") {
		t.Fatal("checks do not follow the scopes")
	}
	upd := s.expect(200, "PUT", base+"/management/users/"+uid, `{"name":"Jane","roles":[{"id":"`+nid+`"}]}`)
	if get(upd, "name") != "Jane" || get(upd, "roles", 0, "id") != nid {
		t.Fatalf("put user: %v", upd)
	}
	if s.checkAllowed("T12345678", uid, "shopping", "admin", "") || !s.checkAllowed("T12345678", uid, "accounts", "read", "") {
		t.Fatal("role change not seen by checks")
	}

	// Bad input: Dintero's 400 and error body, and nothing written.
	before := len(arr(s.expect(200, "GET", base+"/auth/roles?include_deleted=true", "")))
	for _, c := range []struct{ method, path, body, code string }{
		{"GET", "/v1/accounts/X123/auth/roles", "", "invalid_oid"},
		{"POST", "/v1/accounts/P12/auth/roles", dinteroCreateRoleExample, "invalid_oid"},
		{"POST", base + "/auth/roles", `{"name":"no scope"}`, "missing_field"},
		{"POST", base + "/auth/roles", `{"scope":["readaccounts"]}`, "invalid_scope"},
		{"POST", base + "/auth/roles", `{"scope":["read:a","read:a"]}`, "duplicate_permission"},
		{"POST", base + "/auth/roles", `{"scope":[],"colour":"red"}`, "unknown_field"},
		{"POST", base + "/auth/roles", `{"scope":`, "malformed_json"},
		{"GET", base + "/auth/roles?limit=0", "", "invalid_limit"},
		{"POST", base + "/management/users", `{"name":"no email"}`, "missing_field"},
		{"POST", base + "/management/users", `{"email":"a@b.c","roles":[{"id":"nope"}]}`, "unknown_role"},
	} {
		st, _, out := s.raw(c.method, c.path, c.body)
		if st != 400 || get(out, "error", "code") != c.code || get(out, "error", "message") == "" {
			t.Errorf("%s %s %s: %d %v, want 400 %s", c.method, c.path, c.body, st, out, c.code)
		}
	}
	if after := len(arr(s.expect(200, "GET", base+"/auth/roles?include_deleted=true", ""))); after != before {
		t.Fatalf("bad input wrote roles: %d -> %d", before, after)
	}
	if n := len(arr(s.expect(200, "GET", base+"/management/users", ""))); n != 1 {
		t.Fatalf("bad input wrote users: %d", n)
	}
	if out := s.expect(404, "GET", base+"/auth/roles/00000000-0000-0000-0000-000000000000", ""); get(out, "error", "message") == "" {
		t.Fatalf("404 body: %v", out)
	}
	s.expect(404, "GET", "/v1/accounts/T99999999/auth/roles/"+id, "")
	st, h, out := s.raw("GET", base+"/auth/roles", "", "Authorization", "")
	if st != 401 || get(out, "error", "message") == nil || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %v", st, out)
	}
	var system string
	for _, r := range all {
		if get(r, "name") == "admin" {
			system = get(r, "id").(string)
		}
	}
	if st, _, out := s.raw("PUT", base+"/auth/roles/"+system, `{"scope":[]}`); st != 403 || get(out, "error", "code") != "system_role" {
		t.Fatalf("system role: %d %v", st, out)
	}

	// DELETE answers with the deleted role and takes it from its holders.
	del := s.expect(200, "DELETE", base+"/auth/roles/"+nid, "")
	if get(del, "deleted_at") == nil || get(del, "deleted_by") != "admin" {
		t.Fatalf("deleted role: %v", del)
	}
	if s.checkAllowed("T12345678", uid, "accounts", "read", "") {
		t.Fatal("deleted role still decides")
	}
	if n := len(arr(s.expect(200, "GET", base+"/auth/roles", ""))); n != 3 {
		t.Fatalf("deleted role listed: %d", n)
	}
	s.expect(404, "PUT", base+"/auth/roles/"+nid, `{"scope":[]}`)
	gone := s.expect(200, "DELETE", base+"/management/users/"+uid, "")
	if get(gone, "id") != uid || get(gone, "deleted_at") == nil {
		t.Fatalf("deleted user: %v", gone)
	}
	s.expect(404, "GET", base+"/management/users/"+uid, "")
}

func TestMoniteFacade(t *testing.T) {
	s := newFacadeServer(t, "9d2b4c8f-2087-4738-ba91-7359683c49a4")
	hdr := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "9d2b4c8f-2087-4738-ba91-7359683c49a4"}
	call := func(want int, method, path, body string) any {
		t.Helper()
		return s.expect(want, method, path, body, hdr...)
	}

	// The seed example, verbatim.
	st, h, role := s.raw("POST", "/v1/roles", moniteCreateRoleExample, hdr...)
	if st != 200 || h.Get("x-monite-version") != "2024-05-25" || get(role, "name") != "name" || get(role, "status") != "active" ||
		len(arr(get(role, "permissions", "objects"))) != 0 || get(role, "created_at") == nil || get(role, "updated_at") == nil {
		t.Fatalf("create: %d %v %v", st, h, role)
	}
	id := get(role, "id").(string)
	approver := call(200, "POST", "/v1/roles", `{"name":"approver","permissions":{"objects":[{"object_type":"payable","actions":[
		{"action_name":"approve","permission":"allowed"},{"action_name":"read","permission":"allowed_for_own"},
		{"action_name":"pay","permission":"not_allowed"}]}]}}`)
	aid := get(approver, "id").(string)
	if get(approver, "permissions", "objects", 0, "actions", 2, "permission") != "not_allowed" {
		t.Fatalf("permissions not kept as written: %v", approver)
	}
	if got := call(200, "GET", "/v1/roles/"+aid, ""); !reflect.DeepEqual(got, approver) {
		t.Fatalf("get: %v", got)
	}

	// Search: envelope, tokens, sort, order and filters.
	page := call(200, "GET", "/v1/roles?limit=3", "")
	if len(arr(get(page, "data"))) != 3 || get(page, "next_pagination_token") == nil || get(page, "prev_pagination_token") != nil {
		t.Fatalf("page 1: %v", page)
	}
	next := call(200, "GET", "/v1/roles?limit=3&name=ignored&pagination_token="+get(page, "next_pagination_token").(string), "")
	if len(arr(get(next, "data"))) != 1 || get(next, "prev_pagination_token") == nil {
		t.Fatalf("page 2: %v", next)
	}
	ids := func(v any) []string {
		var out []string
		for _, r := range arr(get(v, "data")) {
			out = append(out, get(r, "id").(string))
		}
		return out
	}
	asc := ids(call(200, "GET", "/v1/roles", ""))
	if paged := append(ids(page), ids(next)...); !reflect.DeepEqual(paged, asc) {
		t.Fatalf("pages %v, want %v", paged, asc)
	}
	desc := ids(call(200, "GET", "/v1/roles?order=desc", ""))
	for i := range asc {
		if desc[i] != asc[len(asc)-1-i] {
			t.Fatalf("desc %v is not asc %v reversed", desc, asc)
		}
	}
	if back := ids(call(200, "GET", "/v1/roles?limit=3&pagination_token="+get(next, "prev_pagination_token").(string), "")); !reflect.DeepEqual(back, asc[:3]) {
		t.Fatalf("back to page 1: %v, want %v", back, asc[:3])
	}
	if got := arr(get(call(200, "GET", "/v1/roles?name=approver", ""), "data")); len(got) != 1 {
		t.Fatalf("name: %v", got)
	}
	if got := arr(get(call(200, "GET", "/v1/roles?id__in="+id+"&id__in="+aid, ""), "data")); len(got) != 2 {
		t.Fatalf("id__in: %v", got)
	}
	// Time filters split the roles at the approver's creation time.
	created := get(approver, "created_at").(string)
	gte := arr(get(call(200, "GET", "/v1/roles?created_at__gte="+created, ""), "data"))
	lt := arr(get(call(200, "GET", "/v1/roles?created_at__lt="+created, ""), "data"))
	eq := arr(get(call(200, "GET", "/v1/roles?created_at="+created, ""), "data"))
	if len(gte)+len(lt) != 4 || len(gte) < 1 || len(eq) != len(gte) {
		t.Fatalf("created_at filters: gte %v, lt %v, eq %v", gte, lt, eq)
	}
	at := func(v any) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, r := range lt {
		if !at(get(r, "created_at")).Before(at(created)) {
			t.Fatalf("created_at__lt gave %v", r)
		}
	}

	// PATCH: permissions replace the whole set.
	patched := call(200, "PATCH", "/v1/roles/"+aid, `{"permissions":{"objects":[{"object_type":"receipt","actions":[{"action_name":"read","permission":"allowed"}]}]}}`)
	if get(patched, "name") != "approver" || len(arr(get(patched, "permissions", "objects"))) != 1 || get(patched, "permissions", "objects", 0, "object_type") != "receipt" {
		t.Fatalf("patch: %v", patched)
	}

	// Bad input: Monite's statuses and bodies, and nothing written.
	st, _, out := s.raw("POST", "/v1/roles", moniteCreateRoleExample, "x-monite-entity-id", hdr[3])
	if st != 400 || get(out, "error", "type") != "missing_api_version" || get(out, "error", "message") == nil {
		t.Fatalf("missing version: %d %v", st, out)
	}
	st, _, out = s.raw("GET", "/v1/roles", "", "x-monite-version", "2024-05-25")
	if st != 422 || !reflect.DeepEqual(get(out, "detail", 0, "loc"), []any{"header", "x-monite-entity-id"}) || get(out, "detail", 0, "type") != "value_error.missing" {
		t.Fatalf("missing entity: %d %v", st, out)
	}
	for _, c := range []struct {
		body string
		loc  []any
		typ  string
	}{
		{`{"name":"x","permissions":{},"extra":1}`, []any{"body", "extra"}, "value_error.extra"},
		{`{"permissions":{}}`, []any{"body", "name"}, "value_error.missing"},
		{`{"name":"x"}`, []any{"body", "permissions"}, "value_error.missing"},
		{`{"name":"","permissions":{}}`, []any{"body", "name"}, "value_error.invalid_name"},
		{`{"name":"x","permissions":{"objects":[{"object_type":"spaceship","actions":[{"action_name":"read","permission":"allowed"}]}]}}`, []any{"body", "permissions"}, "value_error.unknown_object_type"},
		{`{"name":"x","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"denied"}]}]}}`, []any{"body", "permissions", "objects", 0.0, "actions", 0.0, "permission"}, "value_error.invalid_permission"},
		{`{"name":`, []any{"body"}, "value_error.jsondecode"},
	} {
		st, _, out := s.raw("POST", "/v1/roles", c.body, hdr...)
		if st != 422 || !reflect.DeepEqual(get(out, "detail", 0, "loc"), c.loc) || get(out, "detail", 0, "type") != c.typ || get(out, "detail", 0, "msg") == "" {
			t.Errorf("%s: %d %v, want 422 %v %s", c.body, st, out, c.loc, c.typ)
		}
	}
	if st, _, out := s.raw("GET", "/v1/roles?limit=101", "", hdr...); st != 422 || !reflect.DeepEqual(get(out, "detail", 0, "loc"), []any{"query", "limit"}) {
		t.Fatalf("limit: %d %v", st, out)
	}
	if st, _, out := s.raw("POST", "/v1/roles", `{"name":"approver","permissions":{}}`, hdr...); st != 409 || get(out, "error", "message") == nil {
		t.Fatalf("duplicate name: %d %v", st, out)
	}
	if n := len(arr(get(call(200, "GET", "/v1/roles", ""), "data"))); n != 4 {
		t.Fatalf("bad input wrote roles: %d", n)
	}
	if st, _, out := s.raw("GET", "/v1/roles/"+aid, "", "x-monite-version", "2024-05-25", "x-monite-entity-id", "other"); st != 404 || get(out, "error", "message") == nil {
		t.Fatalf("other entity: %d %v", st, out)
	}

	// DELETE: 409 while assigned, 204 after.
	s.must(201, "POST", "/v1/entities/"+hdr[3]+"/users", map[string]any{"id": "u1", "role_ids": []string{aid}})
	if st, _, out := s.raw("DELETE", "/v1/roles/"+aid, "", hdr...); st != 409 || get(out, "error", "message") == nil {
		t.Fatalf("delete assigned: %d %v", st, out)
	}
	s.must(204, "DELETE", "/v1/entities/"+hdr[3]+"/users/u1/roles/"+aid, nil)
	if st, _, _ := s.raw("DELETE", "/v1/roles/"+aid, "", hdr...); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if got := call(200, "GET", "/v1/roles/"+aid, ""); get(got, "status") != "deleted" {
		t.Fatalf("deleted role: %v", got)
	}
	if n := len(arr(get(call(200, "GET", "/v1/roles", ""), "data"))); n != 3 {
		t.Fatalf("deleted role listed: %d", n)
	}
}

func TestPapershiftFacade(t *testing.T) {
	s := newFacadeServer(t, "acct-1")
	ent := []string{"X-Entity-Id", "acct-1", "Content-Type", "application/vnd.api+json"}
	call := func(want int, method, path, body string) any {
		t.Helper()
		return s.expect(want, method, path, body, ent...)
	}

	// The seed examples, verbatim.
	st, h, doc := s.raw("POST", "/api/v1/roles", papershiftCreateRoleExample, ent...)
	if st != 201 || h.Get("Content-Type") != "application/vnd.api+json" || get(doc, "data", "type") != "role" {
		t.Fatalf("create: %d %v %v", st, h, doc)
	}
	attrs := obj(get(doc, "data", "attributes"))
	if attrs["name"] != "Role" || attrs["account_id"] != "acct-1" || attrs["default"] != false || attrs["discarded_at"] != nil ||
		attrs["role_type"] != "custom" || attrs["scope"] != "account" || len(obj(attrs["rights"])) != 0 ||
		get(doc, "data", "meta", "permissions", "rights", "edit") != true || get(doc, "data", "meta", "permissions", "actions", "delete") != true {
		t.Fatalf("created role: %v", doc)
	}
	id := get(doc, "data", "id").(string)
	upd := call(200, "PUT", "/api/v1/roles/"+id, papershiftUpdateRoleExample)
	if get(upd, "data", "attributes", "name") != "Updated Role" {
		t.Fatalf("update: %v", upd)
	}
	if got := call(200, "GET", "/api/v1/roles/"+id, ""); get(got, "data", "attributes", "name") != "Updated Role" {
		t.Fatalf("get: %v", got)
	}
	list := call(200, "GET", "/api/v1/roles", "")
	if n := len(arr(get(list, "data"))); n != 3 {
		t.Fatalf("list: %v", list)
	}
	for _, r := range arr(get(list, "data")) {
		if get(r, "attributes", "role_type") == "system" && get(r, "meta", "permissions", "rights", "edit") != false {
			t.Fatalf("system role's rights editable: %v", r)
		}
	}

	// Rights: only true values are kept; an update replaces the whole object.
	team := call(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"Shift lead","scope":"team",
		"rights":{"shift":{"create":true,"read":true,"delete":false},"team_membership":{"manage":true},"absence":{"read":false}}}}}`)
	tid := get(team, "data", "id").(string)
	want := map[string]any{"shift": map[string]any{"create": true, "read": true}, "team_membership": map[string]any{"manage": true}}
	if !reflect.DeepEqual(get(team, "data", "attributes", "rights"), want) || get(team, "data", "attributes", "scope") != "team" {
		t.Fatalf("rights: %v", team)
	}
	repl := call(200, "PUT", "/api/v1/roles/"+tid, `{"data":{"type":"role","id":"`+tid+`","attributes":{"rights":{"shift":{"update":true}}}}}`)
	if !reflect.DeepEqual(get(repl, "data", "attributes", "rights"), map[string]any{"shift": map[string]any{"update": true}}) {
		t.Fatalf("rights replaced: %v", repl)
	}

	// Team memberships: roles inside team:<id> only, replacing that team's roles.
	s.must(201, "POST", "/v1/entities/acct-1/users", map[string]any{"id": "u7", "role_ids": []string{}})
	tm := call(201, "POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":42,"user_id":"u7","role_ids":["`+tid+`"]}}}`)
	if get(tm, "data", "type") != "team_membership" || get(tm, "data", "attributes", "team_id") != "42" || get(tm, "data", "attributes", "role_ids", 0) != tid {
		t.Fatalf("membership: %v", tm)
	}
	if !s.checkAllowed("acct-1", "u7", "shift", "update", "team:42") || s.checkAllowed("acct-1", "u7", "shift", "update", "") ||
		s.checkAllowed("acct-1", "u7", "shift", "update", "team:43") {
		t.Fatal("team role does not decide inside its team only")
	}
	call(201, "POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":"42","user_id":"u7","role_ids":["`+id+`"]}}}`)
	if s.checkAllowed("acct-1", "u7", "shift", "update", "team:42") {
		t.Fatal("team roles were not replaced")
	}

	// Filters.
	names := func(q string) []string {
		t.Helper()
		var out []string
		for _, r := range arr(get(call(200, "GET", "/api/v1/roles?"+q, ""), "data")) {
			out = append(out, get(r, "attributes", "name").(string))
		}
		sort.Strings(out)
		return out
	}
	for q, want := range map[string][]string{
		"filter[name]=eq:Shift%20lead":                  {"Shift lead"},
		"filter[name]=pre:upd":                          {"Updated Role"},
		"filter[name]=ct:e":                             {"member", "Updated Role", "Shift lead"},
		"filter[name]=!ct:e":                            {"admin"},
		"filter[name]=suf:N":                            {"admin"},
		"filter[role_type]=eq:system":                   {"admin", "member"},
		"filter[role_type]=!eq:system":                  {"Updated Role", "Shift lead"},
		"filter[scope]=in:team,chat":                    {"Shift lead"},
		"filter[scope]=!in:team":                        {"admin", "member", "Updated Role"},
		"filter[default]=eq:true":                       {"member"},
		"filter[name]=gt:m&filter[role_type]=eq:system": {"member"},
		"filter[name]=Shift%20lead":                     {"Shift lead"},
	} {
		sort.Strings(want)
		if got := names(q); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}

	// Bad input: JSON:API error documents, and nothing written.
	for _, c := range []struct {
		method, path, body string
		headers            []string
		status             int
		code               string
	}{
		{"POST", "/api/v1/roles", papershiftCreateRoleExample, []string{"Content-Type", "application/vnd.api+json"}, 400, "missing_entity"},
		{"POST", "/api/v1/roles", papershiftCreateRoleExample, append(ent, "Content-Type", "text/plain"), 415, "unsupported_media_type"},
		{"POST", "/api/v1/roles", `{"data":{"type":"user","attributes":{"name":"x"}}}`, ent, 409, "type_mismatch"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{}}}`, ent, 422, "missing_field"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"` + strings.Repeat("x", 51) + `"}}}`, ent, 422, "invalid_name"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"x","role_type":"system"}}}`, ent, 422, "read_only_attribute"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"x","scope":"galaxy"}}}`, ent, 422, "invalid_scope"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"x","rights":{"shift":{"fly":true}}}}}`, ent, 422, "invalid_rights"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"x","rights":{"shift":{"read":"yes"}}}}}`, ent, 422, "invalid_type"},
		{"POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"x","colour":"red"}}}`, ent, 422, "unknown_field"},
		{"POST", "/api/v1/roles", `{"data":`, ent, 400, "malformed_json"},
		{"PUT", "/api/v1/roles/" + tid, `{"data":{"type":"role","attributes":{"scope":"account"}}}`, ent, 422, "immutable_field"},
		{"PUT", "/api/v1/roles/" + tid, `{"data":{"type":"role","id":"other","attributes":{"name":"y"}}}`, ent, 409, "id_mismatch"},
		{"GET", "/api/v1/roles?filter[colour]=eq:red", "", ent, 400, "invalid_filter"},
		{"GET", "/api/v1/roles?filter[discarded_at]=gt:yesterday", "", ent, 400, "invalid_filter"},
		{"POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":1,"user_id":"ghost"}}}`, ent, 422, "unknown_user"},
		{"POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"user_id":"u7"}}}`, ent, 422, "missing_field"},
		{"GET", "/api/v1/roles/" + id, "", []string{"X-Entity-Id", "other"}, 404, "role_not_found"},
	} {
		st, h, out := s.raw(c.method, c.path, c.body, c.headers...)
		if st != c.status || get(out, "errors", 0, "code") != c.code || get(out, "errors", 0, "status") == nil ||
			h.Get("Content-Type") != "application/vnd.api+json" {
			t.Errorf("%s %s %s: %d %v, want %d %s", c.method, c.path, c.body, st, out, c.status, c.code)
		}
	}
	if n := len(arr(get(call(200, "GET", "/api/v1/roles", ""), "data"))); n != 4 {
		t.Fatalf("bad input wrote roles: %d", n)
	}
	if got := get(call(200, "GET", "/api/v1/roles/"+tid, ""), "data", "attributes"); get(got, "name") != "Shift lead" || get(got, "scope") != "team" {
		t.Fatalf("bad update changed the role: %v", got)
	}

	// DELETE discards: 200 with discarded_at, still listed unless filtered.
	del := call(200, "DELETE", "/api/v1/roles/"+tid, "")
	if get(del, "data", "attributes", "discarded_at") == nil {
		t.Fatalf("delete: %v", del)
	}
	if got := names("filter[discarded_at_blank]=1"); len(got) != 3 {
		t.Fatalf("discarded_at_blank: %v", got)
	}
	if got := names("filter[discarded_at]=present"); !reflect.DeepEqual(got, []string{"Shift lead"}) {
		t.Fatalf("discarded_at present: %v", got)
	}
}

// A role made through any facade is the same role through the others and the
// native API, and decides checks the same way.
func TestFacadesShareOneModel(t *testing.T) {
	s := newFacadeServer(t, "T123")
	monite := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T123"}
	paper := []string{"X-Entity-Id", "T123", "Content-Type", "application/vnd.api+json"}

	m := s.expect(200, "POST", "/v1/roles", `{"name":"approver","permissions":{"objects":[{"object_type":"payable","actions":[
		{"action_name":"approve","permission":"allowed"},{"action_name":"read","permission":"allowed_for_own"}]}]}}`, monite...)
	mid := get(m, "id").(string)
	d := s.expect(200, "POST", "/v1/accounts/T123/auth/roles", `{"name":"support","scope":["read:accounts","write:accounts:/auth/users"]}`)
	did := get(d, "id").(string)
	p := s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"planner","rights":{"shift":{"read":true,"update":true}}}}}`, paper...)
	pid := get(p, "data", "id").(string)

	// Each role through each API.
	if got := strs(get(s.expect(200, "GET", "/v1/accounts/T123/auth/roles/"+mid, ""), "scope")); !reflect.DeepEqual(got, []string{"approve:payable"}) {
		t.Errorf("monite role via dintero: %v", got)
	}
	// Each API shows only what it defines (issue 13): approve and
	// allowed_for_own are no Papershift rights, accounts and shift no Monite
	// object types; the rights stay on the role all the same.
	if got := get(s.expect(200, "GET", "/api/v1/roles/"+mid, "", paper...), "data", "attributes", "rights"); !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("monite role via papershift: %v", got)
	}
	if got := get(s.must(200, "GET", "/v1/entities/T123/roles/"+mid, nil), "permissions"); !reflect.DeepEqual(got, get(m, "permissions")) {
		t.Errorf("monite role via native: %v", got)
	}
	dm := s.expect(200, "GET", "/v1/roles/"+did, "", monite...)
	if get(dm, "name") != "support" || !reflect.DeepEqual(get(dm, "permissions", "objects"), []any{}) {
		t.Errorf("dintero role via monite: %v", dm)
	}
	if got := get(s.must(200, "GET", "/v1/entities/T123/roles/"+did, nil), "permissions", "objects", 1, "object_type"); got != "accounts:/auth/users" {
		t.Errorf("dintero role via native: %v", got)
	}
	if got := get(s.expect(200, "GET", "/api/v1/roles/"+did, "", paper...), "data", "attributes", "rights", "accounts", "read"); got != true {
		t.Errorf("dintero role via papershift: %v", got)
	}
	if got := strs(get(s.expect(200, "GET", "/v1/accounts/T123/auth/roles/"+pid, ""), "scope")); !reflect.DeepEqual(got, []string{"read:shift", "update:shift"}) {
		t.Errorf("papershift role via dintero: %v", got)
	}
	if got := get(s.expect(200, "GET", "/v1/roles/"+pid, "", monite...), "permissions", "objects"); !reflect.DeepEqual(got, []any{}) {
		t.Errorf("papershift role via monite: %v", got)
	}

	// One user holding all three decides the same through /v1/check.
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "ann", "role_ids": []string{mid, did, pid}})
	for _, c := range []struct {
		object, action string
		owner          string
		want           bool
	}{
		{"payable", "approve", "", true}, {"payable", "read", "ann", true}, {"payable", "read", "", false},
		{"accounts", "read", "", true}, {"accounts:/auth/users", "write", "", true}, {"accounts", "write", "", false},
		{"shift", "update", "", true}, {"shift", "delete", "", false},
	} {
		out := s.must(200, "POST", "/v1/check", map[string]any{"entity_id": "T123", "user_id": "ann", "object_type": c.object, "action": c.action, "owner_id": c.owner})
		if out["allowed"] != c.want {
			t.Errorf("%s %s owner=%q: %v, want %v", c.object, c.action, c.owner, out, c.want)
		}
	}
	// A change through one facade is seen by the others and by checks at once.
	s.expect(200, "PATCH", "/v1/roles/"+mid, `{"permissions":{"objects":[]}}`, monite...)
	if got := strs(get(s.expect(200, "GET", "/v1/accounts/T123/auth/roles/"+mid, ""), "scope")); len(got) != 0 {
		t.Errorf("patched role via dintero: %v", got)
	}
	if s.checkAllowed("T123", "ann", "payable", "approve", "") {
		t.Error("check did not see the change")
	}
}
