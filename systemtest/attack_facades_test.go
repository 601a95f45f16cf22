package systemtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Attacks on what issue 13 added to the facades: paging cursors, limits,
// Unicode names, wildcard expansion written back, read-only attributes sent
// back, and system roles whose default may now move.

// Dintero's starting_after from another account: a role id of another
// account is refused; a user id is only a position and shows nothing of the
// other account. Limits outside 1-1000 and over-long cursors are 400.
func TestAttackDinteroPagingCursors(t *testing.T) {
	s := newFacadeServer(t, "T12345678")
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T87654321"})
	other := s.expect(200, "POST", "/v1/accounts/T87654321/auth/roles", `{"name":"theirs","scope":["read:accounts"]}`)
	theirUser := s.expect(200, "POST", "/v1/accounts/T87654321/management/users", `{"email":"them@example.com"}`)
	s.expect(200, "POST", "/v1/accounts/T12345678/management/users", `{"email":"us@example.com"}`)
	base := "/v1/accounts/T12345678"
	st, _, out := s.raw("GET", base+"/auth/roles?starting_after="+get(other, "id").(string), "")
	if st != 400 || get(out, "error", "code") != "invalid_starting_after" {
		t.Fatalf("foreign role cursor: %d %v", st, out)
	}
	for _, after := range []string{get(theirUser, "id").(string), "", "0", "~~~~"} {
		st, _, out := s.raw("GET", base+"/management/users?starting_after="+after, "")
		if st != 200 {
			t.Fatalf("user cursor %q: %d %v", after, st, out)
		}
		for _, u := range arr(out) {
			if get(u, "email") != "us@example.com" {
				t.Fatalf("user cursor %q shows %v", after, u)
			}
		}
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=99999999999999999999", "limit=1e3", "limit=ten", "limit=%00",
		"starting_after=" + strings.Repeat("x", 256)} {
		for _, path := range []string{"/auth/roles", "/management/users"} {
			st, _, out := s.raw("GET", base+path+"?"+q, "")
			if st != 400 || (get(out, "error", "code") != "invalid_limit" && get(out, "error", "code") != "invalid_starting_after") {
				t.Errorf("%s?%s: %d %v", path, q, st, out)
			}
		}
	}
	if st, _, out := s.raw("GET", base+"/auth/roles?limit=1000", ""); st != 200 || len(arr(out)) != 2 {
		t.Fatalf("limit=1000: %d %v", st, out)
	}
}

// Names: control and format characters (bidi overrides, zero-width
// characters, BOM, line separators) are refused by every API that takes
// Unicode; lengths are counted in characters after NFC, not in bytes; names
// equal under NFC are one name.
func TestAttackUnicodeNames(t *testing.T) {
	s := newFacadeServer(t, "T123")
	native := func(name string) (int, string) {
		st, _, out := s.call("POST", "/v1/entities/T123/roles", map[string]any{"name": name})
		return st, errCode(out)
	}
	dintero := func(name string) (int, string) {
		b, _ := json.Marshal(map[string]any{"name": name, "scope": []string{}})
		st, _, out := s.raw("POST", "/v1/accounts/T123/auth/roles", string(b))
		code, _ := get(out, "error", "code").(string)
		return st, code
	}
	dinteroUser := func(name string) (int, string) {
		b, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("x%d@example.com", len(name)), "name": name})
		st, _, out := s.raw("POST", "/v1/accounts/T123/management/users", string(b))
		code, _ := get(out, "error", "code").(string)
		return st, code
	}
	paper := func(name string) (int, string) {
		b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "attributes": map[string]any{"name": name}}})
		st, _, out := s.raw("POST", "/api/v1/roles", string(b), paperHdr...)
		code, _ := get(out, "errors", 0, "code").(string)
		return st, code
	}
	apis := []struct {
		name   string
		create func(string) (int, string)
		bad    int
	}{{"native", native, 422}, {"dintero", dintero, 400}, {"dintero user", dinteroUser, 400}, {"papershift", paper, 422}}
	for _, trick := range []string{
		"\u202Eadmin", "ad\u200Bmin", "ad\u200Dmin", "\uFEFFadmin", "ad\u2060min", "admin\u2028", "admin\u0085",
		"admin\x00", "admin\n", "admin\t", "\u061Cadmin", "admin\u00A0",
	} {
		for _, api := range apis {
			if st, code := api.create(trick); st != api.bad || code != "invalid_name" {
				t.Errorf("%s %q: %d %s", api.name, trick, st, code)
			}
		}
	}
	// Characters, not bytes: 255 four-byte characters (1020 bytes) pass
	// the native API, 256 do not; 255 "é" written decomposed (510 code
	// points) are 255 after NFC; an "e" under 300 combining marks that have
	// no precomposed form is 301 characters.
	if st, code := native(strings.Repeat("𝔘", 255)); st != 201 {
		t.Errorf("255 four-byte characters: %d %s", st, code)
	}
	if st, code := native(strings.Repeat("𝔘", 256)); st != 422 || code != "invalid_name" {
		t.Errorf("256 four-byte characters: %d %s", st, code)
	}
	if st, code := native(strings.Repeat("e\u0301", 255)); st != 201 {
		t.Errorf("255 decomposed é: %d %s", st, code)
	}
	if st, code := native("e" + strings.Repeat("\u0301\u0302", 150)); st != 422 || code != "invalid_name" {
		t.Errorf("e + 300 combining marks: %d %s", st, code)
	}
	if st, code := dinteroUser(strings.Repeat("ø", 256)); st != 400 || code != "invalid_name" {
		t.Errorf("dintero user, 256 characters: %d %s", st, code)
	}
	if st, code := paper(strings.Repeat("ü", 51)); st != 422 || code != "invalid_name" {
		t.Errorf("papershift, 51 characters: %d %s", st, code)
	}
	if st, code := paper(strings.Repeat("u\u0308", 50)); st != 201 {
		t.Errorf("papershift, 50 decomposed ü: %d %s", st, code)
	}
	// One name under NFC: the decomposed twin of an existing name is taken
	// in every API, so two roles cannot look alike by normalization.
	if st, code := native("Ordrestøtte"); st != 201 {
		t.Fatalf("Ordrestøtte: %d %s", st, code)
	}
	if st, code := dintero("Ordrest\u00f8tte"); st != 400 || code != "role_name_taken" {
		t.Errorf("dintero duplicate: %d %s", st, code)
	}
	if st, code := paper(strings.Repeat("u\u0308", 50)); st != 409 || code != "role_name_taken" {
		t.Errorf("papershift decomposed duplicate: %d %s", st, code)
	}
	// Monite keeps ASCII, for the same tricks and for letters.
	for _, name := range []string{"Schichtführung", "\u202Eadmin", "ad\u200Bmin"} {
		b, _ := json.Marshal(map[string]any{"name": name, "permissions": map[string]any{}})
		if st, _, out := s.raw("POST", "/v1/roles", string(b), moniteHdr...); st != 422 {
			t.Errorf("monite %q: %d %v", name, st, out)
		}
	}
}

// Read-only attributes sent back to Papershift cannot move a role: another
// account, another type, a discard or another scope are refused, whatever
// their JSON type, and nothing changes.
func TestAttackPapershiftReadOnlyAttributes(t *testing.T) {
	s := newFacadeServer(t, "T123")
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T999"})
	c := s.expect(201, "POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"Role"}}}`, paperHdr...)
	id := get(c, "data", "id").(string)
	for _, attrs := range []string{
		`{"account_id":"T999"}`, `{"account_id":5}`, `{"account_id":{"id":"T123"}}`, `{"account_id":["T123"]}`,
		`{"role_type":"system"}`, `{"role_type":true}`, `{"discarded_at":"2024-01-15T09:30:00Z"}`, `{"discarded_at":0}`,
		`{"scope":"team"}`, `{"scope":"chat"}`,
	} {
		st, _, out := s.raw("PUT", "/api/v1/roles/"+id, `{"data":{"type":"role","attributes":`+attrs+`}}`, paperHdr...)
		if st != 422 || !strings.HasPrefix(fmt.Sprint(get(out, "errors", 0, "source", "pointer")), "/data/attributes/") {
			t.Errorf("%s: %d %v", attrs, st, out)
		}
		// The same on create: only the value the role would have.
		st, _, out = s.raw("POST", "/api/v1/roles", `{"data":{"type":"role","attributes":`+strings.TrimSuffix(attrs, "}")+`,"name":"x"}}}`, paperHdr...)
		if (st != 422 && attrs != `{"scope":"team"}` && attrs != `{"scope":"chat"}`) || (st == 201 && get(out, "data", "attributes", "account_id") != "T123") {
			t.Errorf("create with %s: %d %v", attrs, st, out)
		}
	}
	r := s.must(200, "GET", "/v1/entities/T123/roles/"+id, nil)
	if r["entity_id"] != "T123" || r["role_type"] != "custom" || r["status"] != "active" ||
		get(s.expect(200, "GET", "/api/v1/roles/"+id, "", paperHdr...), "data", "attributes", "scope") != "account" {
		t.Fatalf("role moved: %v", r)
	}
	if st, _, _ := s.raw("GET", "/api/v1/roles/"+id, "", "X-Entity-Id", "T999"); st != 404 {
		t.Fatalf("the role answers in T999: %d", st)
	}
}

// The escalation guard sees the new paths: copying the system admin's
// expanded rights, or making it a default role (its default may now move),
// is refused to a user who does not hold everything; writing a system role
// back as read changes nothing.
func TestAttackFacadeWildcardEscalation(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	admin := systemRole(s, "T100", "admin")
	as := []string{"Authorization", "Bearer " + f.alice}
	mon := append([]string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T100"}, as...)
	paper := append([]string{"Content-Type", "application/vnd.api+json"}, as...)

	read := s.expect(200, "GET", "/v1/roles/"+admin, "", mon...)
	perms, _ := json.Marshal(get(read, "permissions"))
	st, _, out := s.raw("POST", "/v1/roles", `{"name":"mine","permissions":`+string(perms)+`}`, mon...)
	if st != 403 {
		t.Errorf("monite copy of admin by alice: %d %v", st, out)
	}
	scope, _ := json.Marshal(strs(get(s.expect(200, "GET", "/v1/accounts/T100/auth/roles/"+admin, "", as...), "scope")))
	if st, _, out := s.raw("POST", "/v1/accounts/T100/auth/roles", `{"name":"mine","scope":`+string(scope)+`}`, as...); st != 403 || get(out, "error", "code") != "privilege_escalation" {
		t.Errorf("dintero copy of admin by alice: %d %v", st, out)
	}
	pr := s.expect(200, "GET", "/api/v1/roles/"+admin, "", paper...)
	rights, _ := json.Marshal(get(pr, "data", "attributes", "rights"))
	if st, _, out := s.raw("POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"mine","rights":`+string(rights)+`}}}`, paper...); st != 403 {
		t.Errorf("papershift copy of admin by alice: %d %v", st, out)
	}
	// Admin as the default role would give every new user everything.
	if st, _, out := s.raw("PUT", "/api/v1/roles/"+admin, `{"data":{"type":"role","attributes":{"default":true}}}`, paper...); st != 403 || get(out, "errors", 0, "code") != "privilege_escalation" {
		t.Errorf("alice makes admin default: %d %v", st, out)
	}
	// Written back as read: nothing moves, nothing is given.
	attrs := obj(get(pr, "data", "attributes"))
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": "role", "id": admin, "attributes": attrs}})
	s.expect(200, "PUT", "/api/v1/roles/"+admin, string(b), paper...)
	s.expect(200, "PATCH", "/v1/roles/"+admin, `{"permissions":`+string(perms)+`}`, mon...)
	nat := s.must(200, "GET", "/v1/entities/T100/roles/"+admin, nil)
	if nat["default"] != false || get(nat, "permissions", "objects", 0, "object_type") != "*" || len(arr(get(nat, "permissions", "objects"))) != 1 {
		t.Fatalf("admin changed: %v", nat)
	}
	// A changed copy written onto the system role is refused as such.
	if st, _, out := s.raw("PATCH", "/v1/roles/"+admin, `{"permissions":{"objects":[]}}`, mon...); st != 403 {
		t.Errorf("emptying admin through Monite: %d %v", st, out)
	}
	if s.checkAllowed("T100", "alice", "payable", "approve", "") {
		t.Fatal("alice got approve")
	}
}

// Conditional rights through the facades: a manager who holds update only
// under a condition cannot make it unconditional through any facade, on a
// new role or over a conditional one (which keeps its condition); a
// condition cannot be smuggled in through Monite's body, at any size; and
// another entity's conditional role is not reached through a facade.
func TestAttackFacadeConditionalEscalation(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	act := func(name, perm, cond string) map[string]any {
		a := map[string]any{"action_name": name, "permission": perm}
		if cond != "" {
			a["condition"] = cond
		}
		return a
	}
	const c = `resource.amount < 100`
	cm := s.must(201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "conditional manager", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "role", "actions": []any{act("*", "allowed", "")}},
		map[string]any{"object_type": "payable", "actions": []any{act("read", "allowed", ""), act("update", "allowed", c)}},
	}}})["id"].(string)
	target := s.must(201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "clerk", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{act("read", "allowed", ""), act("update", "allowed", c)}},
	}}})["id"].(string)
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "carol", "role_ids": []string{cm}})
	carol := f.idp.token(t, jwt.MapClaims{"sub": "carol"})
	as := []string{"Authorization", "Bearer " + carol}
	mon := append([]string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T100"}, as...)
	paper := append([]string{"Content-Type", "application/vnd.api+json", "X-Entity-Id", "T100"}, as...)
	before := nativeRights(s, "T100", target)

	// A new role with payable.update unconditional: refused everywhere.
	if st, _, out := s.raw("POST", "/v1/accounts/T100/auth/roles", `{"name":"mine dintero","scope":["update:payable"]}`, as...); st != 403 {
		t.Errorf("dintero: carol gives update unconditionally: %d %v", st, out)
	}
	if st, _, out := s.raw("POST", "/api/v1/roles", `{"data":{"type":"role","attributes":{"name":"mine papershift","rights":{"payable":{"update":true}}}}}`, paper...); st != 403 {
		t.Errorf("papershift: carol gives update unconditionally: %d %v", st, out)
	}
	if st, _, out := s.raw("POST", "/v1/roles", `{"name":"mine monite","permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"update","permission":"allowed"}]}]}}`, mon...); st != 403 {
		t.Errorf("monite: carol gives update unconditionally: %d %v", st, out)
	}
	// Over the conditional role: naming the right lifts its condition,
	// which is giving more; refused, the condition stays.
	if st, _, out := s.raw("PUT", "/v1/accounts/T100/auth/roles/"+target, `{"name":"clerk","scope":["read:payable","update:payable"]}`, as...); st != 403 {
		t.Errorf("dintero: carol lifts the condition: %d %v", st, out)
	}
	if st, _, out := s.raw("PUT", "/api/v1/roles/"+target, `{"data":{"type":"role","attributes":{"rights":{"payable":{"read":true,"update":true}}}}}`, paper...); st != 403 {
		t.Errorf("papershift: carol lifts the condition: %d %v", st, out)
	}
	if st, _, out := s.raw("PATCH", "/v1/roles/"+target, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"},{"action_name":"update","permission":"allowed"}]}]}}`, mon...); st != 403 {
		t.Errorf("monite: carol lifts the condition: %d %v", st, out)
	}
	// A write she may make (payable.read only, as shown) keeps the
	// condition.
	s.expect(200, "PUT", "/v1/accounts/T100/auth/roles/"+target, `{"name":"clerk","scope":["read:payable"]}`, as...)
	if got := nativeRights(s, "T100", target); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Fatalf("the conditional role after carol's writes: %v, want %v", got, before)
	}
	// A condition through Monite's body: refused at any size, the role
	// unchanged.
	for _, cond := range []string{"true", `resource.amount < 100 || true`, strings.Repeat("x", 5000), "\u0000", `"; drop table roles; --`} {
		b, _ := json.Marshal(map[string]any{"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable", "actions": []any{
			act("read", "allowed", ""), act("update", "allowed", cond)}}}}})
		if st, _, out := s.raw("PATCH", "/v1/roles/"+target, string(b), mon...); st != 422 && st != 400 {
			t.Errorf("monite condition %.40q: %d %v", cond, st, out)
		}
	}
	admin := []string{"x-monite-version", "2024-05-25", "x-monite-entity-id", "T100"}
	if st, _, out := s.raw("PATCH", "/v1/roles/"+target, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"update","permission":"allowed","condition":"true"}]}]}}`, admin...); st != 422 {
		t.Errorf("monite condition by the admin: %d %v", st, out)
	}
	if got := nativeRights(s, "T100", target); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Fatalf("the conditional role after Monite bodies with conditions: %v, want %v", got, before)
	}
	// Another entity's conditional role is not reached.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T999"})
	other := s.must(201, "POST", "/v1/entities/T999/roles", map[string]any{"name": "x", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{act("update", "allowed", c)}}}}})["id"].(string)
	for _, r := range []struct {
		method, path, body string
		h                  []string
	}{
		{"GET", "/v1/accounts/T100/auth/roles/" + other, "", as},
		{"PUT", "/v1/accounts/T100/auth/roles/" + other, `{"name":"x","scope":[]}`, as},
		{"PUT", "/api/v1/roles/" + other, `{"data":{"type":"role","attributes":{"rights":{}}}}`, paper},
		{"PATCH", "/v1/roles/" + other, `{"permissions":{"objects":[]}}`, mon},
	} {
		if st, _, out := s.raw(r.method, r.path, r.body, r.h...); st != 404 {
			t.Errorf("%s %s from T100: %d %v", r.method, r.path, st, out)
		}
	}
	if got := nativeRights(s, "T999", other); len(got) != 1 || got[0] != "payable.update=allowed if "+c {
		t.Fatalf("T999's role: %v", got)
	}
	// Without a token: nothing.
	for _, p := range []string{"/v1/accounts/T100/auth/roles/" + target, "/api/v1/roles/" + target, "/v1/roles/" + target} {
		if st, _, _ := s.raw("GET", p, "", "Authorization", "", "X-Entity-Id", "T100", "x-monite-version", "2024-05-25", "x-monite-entity-id", "T100"); st != 401 {
			t.Errorf("GET %s without a token: %d", p, st)
		}
	}
}
