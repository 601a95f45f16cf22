package systemtest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Issue 13: the facades as a client written against each public API sees
// them. Each test starts from the seeds' own examples (../shared/seeds).

var (
	moniteHdr = []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T123"}
	paperHdr  = []string{"X-Entity-Id", "T123", "Content-Type", "application/vnd.api+json"}
)

// systemRole finds a system role's id by name through the native API.
func systemRole(s *server, entity, name string) string {
	s.t.Helper()
	for _, r := range arr(s.must(200, "GET", "/v1/entities/"+entity+"/roles?limit=100", nil)["data"]) {
		if get(r, "name") == name && get(r, "role_type") == "system" {
			return get(r, "id").(string)
		}
	}
	s.t.Fatalf("no system role %q", name)
	return ""
}

// monitePairs lists "object_type.action_name=permission" of a Monite role.
func monitePairs(role any) []string {
	var out []string
	for _, o := range arr(get(role, "permissions", "objects")) {
		for _, a := range arr(get(o, "actions")) {
			out = append(out, fmt.Sprintf("%s.%s=%s", get(o, "object_type"), get(a, "action_name"), get(a, "permission")))
		}
	}
	sort.Strings(out)
	return out
}

// 1. Wildcards: Monite shows the system admin role as Monite's object types
// and actions, no "*"; a client copying it gets 200 and a role that decides
// every Monite right as admin does.
func TestCompatMoniteWildcardsExpandAndCopyBack(t *testing.T) {
	s := newFacadeServer(t, "T123")
	admin := systemRole(s, "T123", "admin")
	role := s.expect(200, "GET", "/v1/roles/"+admin, "", moniteHdr...)
	pairs := monitePairs(role)
	if len(pairs) != 31*4+10 {
		t.Fatalf("admin through Monite: %d rights, want every Monite right (134): %v", len(pairs), pairs)
	}
	for _, p := range pairs {
		if strings.Contains(p, "*") || !strings.HasSuffix(p, "=allowed") {
			t.Fatalf("admin through Monite shows %s", p)
		}
	}
	// The copy, as a typed client sends it: the permissions it read.
	perms, _ := json.Marshal(get(role, "permissions"))
	cp := s.expect(200, "POST", "/v1/roles", `{"name":"admin copy","permissions":`+string(perms)+`}`, moniteHdr...)
	if got := monitePairs(cp); !reflect.DeepEqual(got, pairs) {
		t.Fatalf("copy: %v", got)
	}
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "root", "role_ids": []string{admin}})
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "copy", "role_ids": []string{get(cp, "id").(string)}})
	for _, p := range []string{"payable.approve", "payable.create_from_mail", "receipt.delete", "accounting_tax_rate.create", "role.update"} {
		obj, act, _ := strings.Cut(p, ".")
		if !s.checkAllowed("T123", "copy", obj, act, "") || !s.checkAllowed("T123", "root", obj, act, "") {
			t.Errorf("%s: copy and admin differ", p)
		}
	}
	// The list answers the same expansion.
	for _, r := range arr(get(s.expect(200, "GET", "/v1/roles", "", moniteHdr...), "data")) {
		if get(r, "id") == admin && !reflect.DeepEqual(monitePairs(r), pairs) {
			t.Fatalf("list shows admin as %v", monitePairs(r))
		}
	}
}

// 1 and 2. A custom role holding a wildcard: written back as read it stays
// as it was (wildcard and rights Monite cannot show); a change to what the
// wildcard shows replaces the wildcard by what the client wrote.
func TestCompatMoniteWildcardReadModifyWrite(t *testing.T) {
	s := newFacadeServer(t, "T123")
	nat := s.must(201, "POST", "/v1/entities/T123/roles", map[string]any{"name": "payables", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "*", "permission": "allowed"},
			map[string]any{"action_name": "approve", "permission": "denied"}}},
		map[string]any{"object_type": "shift", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}},
	}}})
	id := nat["id"].(string)
	before := get(nat, "permissions")
	read := s.expect(200, "GET", "/v1/roles/"+id, "", moniteHdr...)
	if got := monitePairs(read); len(got) != 9 || strings.Contains(strings.Join(got, " "), "approve") {
		t.Fatalf("payable:* less the denied approve: %v", got)
	}
	perms, _ := json.Marshal(get(read, "permissions"))
	s.expect(200, "PATCH", "/v1/roles/"+id, `{"permissions":`+string(perms)+`}`, moniteHdr...)
	if after := get(s.must(200, "GET", "/v1/entities/T123/roles/"+id, nil), "permissions"); !reflect.DeepEqual(after, before) {
		t.Fatalf("write-back changed the role:\n%v\n%v", after, before)
	}
	// Take payable.delete away: the wildcard becomes the eight rights left.
	s.expect(200, "PATCH", "/v1/roles/"+id, `{"permissions":{"objects":[{"object_type":"payable","actions":[
		{"action_name":"create","permission":"allowed"},{"action_name":"read","permission":"allowed"},{"action_name":"update","permission":"allowed"},
		{"action_name":"pay","permission":"allowed"},{"action_name":"cancel","permission":"allowed"},{"action_name":"submit","permission":"allowed"},
		{"action_name":"create_from_mail","permission":"allowed"},{"action_name":"reopen","permission":"allowed"}]}]}}`, moniteHdr...)
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "u", "role_ids": []string{id}})
	if s.checkAllowed("T123", "u", "payable", "delete", "") || !s.checkAllowed("T123", "u", "payable", "pay", "") ||
		s.checkAllowed("T123", "u", "payable", "approve", "") || !s.checkAllowed("T123", "u", "shift", "read", "") {
		t.Fatal("after the change: delete gone, pay kept, the deny and shift:read kept")
	}
}

// 1. Dintero shows *:* as Dintero's scopes; a copy is accepted and equal.
func TestCompatDinteroWildcardScopes(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	base := "/v1/accounts/T12345678"
	admin := systemRole(s, "T12345678", "admin")
	scope := strs(get(s.expect(200, "GET", base+"/auth/roles/"+admin, ""), "scope"))
	has := map[string]bool{}
	for _, sc := range scope {
		if strings.Contains(sc, "*") {
			t.Fatalf("admin through Dintero shows %s", sc)
		}
		has[sc] = true
	}
	for _, want := range []string{"read:accounts", "read:billing", "admin:shopping", "write:receipts"} { // the seeds' scopes
		if !has[want] {
			t.Errorf("admin's scopes lack %s: %v", want, scope)
		}
	}
	body, _ := json.Marshal(map[string]any{"name": "admin copy", "scope": scope})
	cp := s.expect(200, "POST", base+"/auth/roles", string(body))
	if !reflect.DeepEqual(strs(get(cp, "scope")), scope) {
		t.Fatalf("copy: %v", get(cp, "scope"))
	}
	// A user holding the copy passes the checks the scopes name.
	u := s.expect(200, "POST", base+"/management/users", `{"email":"customer@example.com","roles":[{"id":"`+get(cp, "id").(string)+`"}]}`)
	if !s.checkAllowed("T12345678", get(u, "id").(string), "shopping", "admin", "") {
		t.Fatal("copy does not give admin:shopping")
	}
}

// 1. Papershift: a client copying the system roles' groups (the documented
// way to learn them) gets 201, not 422 for {"*":{"*":true}}.
func TestCompatPapershiftWildcardGroups(t *testing.T) {
	s := newFacadeServer(t, "T123")
	admin := systemRole(s, "T123", "admin")
	got := s.expect(200, "GET", "/api/v1/roles/"+admin, "", paperHdr...)
	rights := obj(get(got, "data", "attributes", "rights"))
	if _, wild := rights["*"]; wild || len(rights) == 0 || get(rights, "team_membership", "manage") != true || get(rights, "shift", "update") != true {
		t.Fatalf("admin's groups: %v", rights)
	}
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "attributes": map[string]any{"name": "Admin copy", "rights": rights}}})
	cp := s.expect(201, "POST", "/api/v1/roles", string(b), paperHdr...)
	if !reflect.DeepEqual(get(cp, "data", "attributes", "rights"), get(got, "data", "attributes", "rights")) {
		t.Fatalf("copy: %v", get(cp, "data", "attributes", "rights"))
	}
}

// 3. Names: Unicode through the native API, Dintero and Papershift, in NFC
// (a decomposed spelling is the same name); Monite keeps ASCII.
func TestCompatUnicodeNames(t *testing.T) {
	s := newFacadeServer(t, "T123")
	if r := s.must(201, "POST", "/v1/entities/T123/roles", map[string]any{"name": "Schichtführung"}); r["name"] != "Schichtführung" {
		t.Fatalf("native: %v", r)
	}
	// The same name decomposed (u + U+0308) is taken.
	if st, _, out := s.call("POST", "/v1/entities/T123/roles", map[string]any{"name": "Schichtfu\u0308hrung"}); st != 409 || errCode(out) != "role_name_taken" {
		t.Fatalf("decomposed duplicate: %d %v", st, out)
	}
	// And a search by name in either spelling finds it, in the native API
	// and Dintero.
	for _, q := range []string{"Schichtf%C3%BChrung", "Schichtfu%CC%88hrung"} {
		if out := s.must(200, "GET", "/v1/entities/T123/roles?name="+q, nil); len(out["data"].([]any)) != 1 {
			t.Fatalf("native ?name=%s: %v", q, out)
		}
		if out := s.expect(200, "GET", "/v1/accounts/T123/auth/roles?name="+q, ""); len(arr(out)) != 1 {
			t.Fatalf("dintero ?name=%s: %v", q, out)
		}
	}
	if r := s.expect(200, "POST", "/v1/accounts/T123/auth/roles", `{"name":"Ordrestøtte","scope":["read:accounts"]}`); get(r, "name") != "Ordrestøtte" {
		t.Fatalf("dintero: %v", r)
	}
	if u := s.expect(200, "POST", "/v1/accounts/T123/management/users", `{"email":"jorgen@example.com","name":"Jørgen Ødegård"}`); get(u, "name") != "Jørgen Ødegård" {
		t.Fatalf("dintero user: %v", u)
	}
	p := s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"Schichtleitung Köln"}}}`, paperHdr...)
	if get(p, "data", "attributes", "name") != "Schichtleitung Köln" {
		t.Fatalf("papershift: %v", p)
	}
	// Lengths are characters: 50 "ü" is a Papershift name, 255 "ø" a native one.
	s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"`+strings.Repeat("ü", 50)+`"}}}`, paperHdr...)
	s.must(201, "POST", "/v1/entities/T123/roles", map[string]any{"name": strings.Repeat("ø", 255)})
	// Monite: "can contain only ASCII characters".
	st, _, out := s.raw("POST", "/v1/roles", `{"name":"Schichtführung","permissions":{}}`, moniteHdr...)
	if st != 422 || get(out, "detail", 0, "loc", 1) != "name" {
		t.Fatalf("monite: %d %v", st, out)
	}
}

// 4. Dintero's lists: limit and starting_after, a default that holds the
// common account, and a Link to the next page whenever one follows.
func TestCompatDinteroPaging(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	base := "/v1/accounts/T12345678"
	for i := 0; i < 12; i++ {
		s.expect(200, "POST", base+"/auth/roles", fmt.Sprintf(`{"name":"role %02d","scope":["read:accounts"]}`, i))
		s.expect(200, "POST", base+"/management/users", fmt.Sprintf(`{"email":"u%02d@example.com"}`, i))
	}
	for _, list := range []struct {
		path string
		n    int
	}{{"/auth/roles", 12 + 2}, {"/management/users", 12}} {
		st, h, all := s.raw("GET", base+list.path, "")
		if st != 200 || len(arr(all)) != list.n || h.Get("Link") != "" {
			t.Fatalf("%s default page: %d, %d items, Link %q", list.path, st, len(arr(all)), h.Get("Link"))
		}
		// Pages of 5, following Link: every item once, in order.
		var seen []string
		next := base + list.path + "?limit=5&expand=roles"
		if list.path == "/auth/roles" {
			next = base + list.path + "?limit=5"
		}
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			st, h, page := s.raw("GET", next, "")
			if st != 200 || len(arr(page)) > 5 {
				t.Fatalf("%s: %d %v", next, st, page)
			}
			for _, it := range arr(page) {
				seen = append(seen, get(it, "id").(string))
				if list.path == "/management/users" && get(it, "roles") == nil {
					t.Fatalf("expand=roles: a user without roles must carry roles: [], got %v", it)
				}
			}
			next = ""
			if l := h.Get("Link"); l != "" {
				u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`))
				if err != nil || !strings.HasSuffix(l, `>; rel="next"`) {
					t.Fatalf("Link %q", l)
				}
				next = u.String()
			}
		}
		want := []string{}
		for _, it := range arr(all) {
			want = append(want, get(it, "id").(string))
		}
		if !reflect.DeepEqual(seen, want) {
			t.Fatalf("%s pages: %v, want %v", list.path, seen, want)
		}
	}
	// starting_after alone, as Dintero's clients page.
	all := arr(s.expect(200, "GET", base+"/auth/roles?limit=3", ""))
	rest := arr(s.expect(200, "GET", base+"/auth/roles?limit=3&starting_after="+get(all, 2, "id").(string), ""))
	if len(rest) != 3 || get(rest, 0, "id") == get(all, 2, "id") {
		t.Fatalf("starting_after: %v", rest)
	}
}

// 4. Papershift documents no paging: its list is every role, past any page
// size of the store (streamed, never cut).
func TestCompatPapershiftListsEveryRole(t *testing.T) {
	s := newFacadeServer(t, "T123")
	const n = 520 // past one page of 500
	for i := 0; i < n; i++ {
		s.must(201, "POST", "/v1/entities/T123/roles", map[string]any{"name": fmt.Sprintf("r%03d", i)})
	}
	list := arr(get(s.expect(200, "GET", "/api/v1/roles", "", paperHdr...), "data"))
	if len(list) != n+2 {
		t.Fatalf("%d roles listed, want %d", len(list), n+2)
	}
	ids := map[string]bool{}
	for _, r := range list {
		ids[get(r, "id").(string)] = true
	}
	if len(ids) != n+2 {
		t.Fatalf("%d distinct roles", len(ids))
	}
	if f := arr(get(s.expect(200, "GET", "/api/v1/roles?filter[name]=pre:r51", "", paperHdr...), "data")); len(f) != 10 {
		t.Fatalf("filter across pages: %d", len(f))
	}
}

// 5. Papershift read-modify-write: the attributes just read go back with
// 200; only a change of a read-only attribute is refused, with its pointer.
func TestCompatPapershiftReadModifyWrite(t *testing.T) {
	s := newFacadeServer(t, "T123")
	created := s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"Role","rights":{"shift":{"read":true}}}}}`, paperHdr...)
	id := get(created, "data", "id").(string)
	read := s.expect(200, "GET", "/api/v1/roles/"+id, "", paperHdr...)
	attrs := obj(get(read, "data", "attributes"))
	attrs["name"] = "Updated Role" // the seed's update
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "id": id, "attributes": attrs}})
	put := s.expect(200, "PUT", "/api/v1/roles/"+id, string(b), paperHdr...)
	if get(put, "data", "attributes", "name") != "Updated Role" || get(put, "data", "attributes", "rights", "shift", "read") != true {
		t.Fatalf("put back: %v", put)
	}
	for attr, v := range map[string]any{"account_id": "T999", "role_type": "system", "discarded_at": "2024-01-15T09:30:00Z", "scope": "team"} {
		changed := map[string]any{}
		for k, x := range attrs {
			changed[k] = x
		}
		changed[attr] = v
		b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "id": id, "attributes": changed}})
		st, _, out := s.raw("PUT", "/api/v1/roles/"+id, string(b), paperHdr...)
		if st != 422 || get(out, "errors", 0, "source", "pointer") != "/data/attributes/"+attr {
			t.Errorf("%s changed: %d %v", attr, st, out)
		}
	}
	if get(s.expect(200, "GET", "/api/v1/roles/"+id, "", paperHdr...), "data", "attributes", "name") != "Updated Role" {
		t.Fatal("a refused PUT changed the role")
	}
}

// 6. Papershift: a system role's default moves, its rights stay; meta tells
// the two apart (actions.edit true, rights.edit false).
func TestCompatPapershiftSystemRoleDefault(t *testing.T) {
	s := newFacadeServer(t, "T123")
	admin, member := systemRole(s, "T123", "admin"), systemRole(s, "T123", "member")
	got := s.expect(200, "GET", "/api/v1/roles/"+admin, "", paperHdr...)
	if get(got, "data", "meta", "permissions", "actions", "edit") != true || get(got, "data", "meta", "permissions", "rights", "edit") != false ||
		get(got, "data", "meta", "permissions", "actions", "delete") != false {
		t.Fatalf("system role meta: %v", get(got, "data", "meta"))
	}
	s.expect(200, "PUT", "/api/v1/roles/"+admin, `{"data":{"type":"role","attributes":{"default":true}}}`, paperHdr...)
	s.expect(200, "PUT", "/api/v1/roles/"+member, `{"data":{"type":"role","attributes":{"default":false}}}`, paperHdr...)
	if get(s.expect(200, "GET", "/api/v1/roles/"+member, "", paperHdr...), "data", "attributes", "default") != false {
		t.Fatal("member is still default")
	}
	// Its rights written back as read: 200; changed: 403.
	attrs := obj(get(got, "data", "attributes"))
	attrs["default"] = true
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "attributes": attrs}})
	s.expect(200, "PUT", "/api/v1/roles/"+admin, string(b), paperHdr...)
	st, _, out := s.raw("PUT", "/api/v1/roles/"+admin, `{"data":{"type":"role","attributes":{"rights":{"shift":{"read":true}}}}}`, paperHdr...)
	if st != 403 || get(out, "errors", 0, "code") != "system_role" {
		t.Fatalf("system rights changed: %d %v", st, out)
	}
	if !reflect.DeepEqual(get(s.must(200, "GET", "/v1/entities/T123/roles/"+admin, nil), "permissions", "objects", 0, "object_type"), "*") {
		t.Fatal("the system role's rights changed")
	}
	// A custom role: both true.
	c := s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"Role"}}}`, paperHdr...)
	if get(c, "data", "meta", "permissions", "rights", "edit") != true || get(c, "data", "meta", "permissions", "actions", "delete") != true {
		t.Fatalf("custom role meta: %v", get(c, "data", "meta"))
	}
}

// 6. Dintero users: roles [] under expand=roles; a deleted user is answered
// with deleted_at and deleted_by, and is gone afterwards; receipts:write (the
// seed's user scope) is write:receipts and checks agree.
func TestCompatDinteroUserShapes(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	base := "/v1/accounts/T12345678"
	u := s.expect(200, "POST", base+"/management/users", `{"email":"customer@example.com","name":"John Doe","scope":["receipts:write"],"roles":[]}`)
	uid := get(u, "id").(string)
	if r, ok := obj(u)["roles"]; !ok || !reflect.DeepEqual(r, []any{}) {
		t.Fatalf("roles must be [] when empty: %v", u)
	}
	for _, path := range []string{"/management/users/" + uid + "?expand=roles", "/management/users?expand=roles"} {
		got := s.expect(200, "GET", base+path, "")
		if l, ok := got.([]any); ok {
			got = l[0]
		}
		if r, ok := obj(got)["roles"]; !ok || !reflect.DeepEqual(r, []any{}) {
			t.Fatalf("%s: %v", path, got)
		}
	}
	if !reflect.DeepEqual(strs(get(u, "scope")), []string{"write:receipts"}) ||
		!s.checkAllowed("T12345678", uid, "receipts", "write", "") || s.checkAllowed("T12345678", uid, "write", "receipts", "") {
		t.Fatalf("receipts:write: %v", get(u, "scope"))
	}
	// Both spellings are one right: giving both is a duplicate.
	if st, _, out := s.raw("POST", base+"/auth/roles", `{"scope":["receipts:write","write:receipts"]}`); st != 400 || get(out, "error", "code") != "duplicate_permission" {
		t.Fatalf("both spellings: %d %v", st, out)
	}
	del := s.expect(200, "DELETE", base+"/management/users/"+uid, "")
	if get(del, "deleted_at") == nil || get(del, "deleted_by") != "admin" || get(del, "email") != "customer@example.com" {
		t.Fatalf("deleted user: %v", del)
	}
	if st, _, _ := s.raw("GET", base+"/management/users/"+uid, ""); st != 404 {
		t.Fatalf("deleted user still answers %d", st)
	}
}
