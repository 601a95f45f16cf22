package systemtest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
)

// Attacks on the bulk user import, POST /v1/entities/{e}/users/import: each
// test sends what an adversary would and proves that nothing is written.

// tenantState is what an import could change: the users, the revision and
// the audit log of an entity.
type tenantState struct {
	users    []string
	revision float64
	events   int
}

// stateOf reads every user id (all pages), the revision and the number of
// audit events of ent.
func (s *server) stateOf(ent string) tenantState {
	s.t.Helper()
	var st tenantState
	for _, list := range []string{"users", "audit-events"} {
		path := "/v1/entities/" + ent + "/" + list + "?limit=100"
		for {
			out := s.must(200, "GET", path, nil)
			for _, row := range out["data"].([]any) {
				if list == "users" {
					st.users = append(st.users, row.(map[string]any)["id"].(string))
				} else {
					st.events++
				}
			}
			next, _ := out["next_pagination_token"].(string)
			if next == "" {
				break
			}
			path = "/v1/entities/" + ent + "/" + list + "?pagination_token=" + url.QueryEscape(next)
		}
	}
	st.revision = s.must(200, "GET", "/v1/entities/"+ent, nil)["revision"].(float64)
	return st
}

// sameState fails the test unless ent is as it was.
func (s *server) sameState(ent string, before tenantState) {
	s.t.Helper()
	after := s.stateOf(ent)
	if fmt.Sprint(after.users) != fmt.Sprint(before.users) || after.revision != before.revision || after.events != before.events {
		s.t.Fatalf("entity %s changed: before %d users, revision %v, %d events; after %d users, revision %v, %d events",
			ent, len(before.users), before.revision, before.events, len(after.users), after.revision, after.events)
	}
}

// importUsers builds n users u0000.. holding roleIDs.
func importUsers(n int, roleIDs ...string) []map[string]any {
	users := make([]map[string]any, n)
	for i := range users {
		users[i] = map[string]any{"id": fmt.Sprintf("u%04d", i), "email": fmt.Sprintf("u%d@acme.test", i), "name": "User", "role_ids": roleIDs}
	}
	return users
}

func detailFields(out map[string]any) []string {
	e, _ := out["error"].(map[string]any)
	var fields []string
	ds, _ := e["details"].([]any)
	for _, d := range ds {
		f, _ := d.(map[string]any)["field"].(string)
		fields = append(fields, f)
	}
	return fields
}

func readRole(s *server, ent, name, object string) string {
	r := mustAs[api.Role](s, 201, "POST", "/v1/entities/"+ent+"/roles", map[string]any{"name": name, "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": object, "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}})
	return r.ID
}

// Hole: an import naming another tenant's role ids would give this tenant's
// users roles (and rules) of another entity. 422, nothing written.
func TestAttackImportOtherEntitysRoles(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	mine := readRole(s, "acme", "reader", "doc")
	theirs := readRole(s, "other", "secret reader", "secret")
	before := s.stateOf("acme")
	users := importUsers(3, mine)
	users[2]["role_ids"] = []string{mine, theirs}
	out := s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "unknown_role" || strings.Join(detailFields(out), ",") != "users[2].role_ids[1]" {
		t.Fatalf("another entity's role: %v", out)
	}
	// The same inside a scope.
	users[2]["role_ids"] = []string{mine}
	users[2]["scoped_roles"] = []any{map[string]any{"scope": "team:1", "role_ids": []string{theirs}}}
	out = s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "unknown_role" || strings.Join(detailFields(out), ",") != "users[2].scoped_roles[0].role_ids[0]" {
		t.Fatalf("another entity's role in a scope: %v", out)
	}
	s.sameState("acme", before)
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u0002", "object_type": "secret", "action": "read", "scope": "team:1"}); d.Allowed {
		t.Fatalf("check: %v", d)
	}
}

// Hole: an unbounded import holds the entity's write lock and the server's
// memory for as long as the attacker likes. 1,001 users are 422 before
// anything is read or written; an empty list is 422 too.
func TestAttackImportTooManyUsers(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	before := s.stateOf("acme")
	out := s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": importUsers(1001)})
	if errCode(out) != "too_many_users" || strings.Join(detailFields(out), ",") != "users" {
		t.Fatalf("1,001 users: %v", out)
	}
	for _, body := range []string{`{"users":[]}`, `{}`, `{"users":null}`} {
		if out := s.must(422, "POST", "/v1/entities/acme/users/import", body); errCode(out) == "" {
			t.Fatalf("%s: %v", body, out)
		}
	}
	s.sameState("acme", before)
}

// Hole: a bad row in the middle of an import leaves the rows before it
// written (half an import). A bad row at index 500, whether it fails
// validation (an email) or only inside the transaction (an unknown role
// after 500 users would have been written), writes nothing; the error points
// at the row.
func TestAttackImportBadRowWritesNothing(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := readRole(s, "acme", "reader", "doc")
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u0001", "email": "old@acme.test", "role_ids": []string{}})
	before := s.stateOf("acme")

	users := importUsers(1000, role)
	users[500]["email"] = "not an address"
	out := s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "invalid_email" || strings.Join(detailFields(out), ",") != "users[500].email" {
		t.Fatalf("bad email at 500: %v", out)
	}
	users[500]["email"] = "ok@acme.test"
	users[500]["role_ids"] = []string{role, "00000000-0000-0000-0000-000000000000"}
	out = s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "unknown_role" || strings.Join(detailFields(out), ",") != "users[500].role_ids[1]" {
		t.Fatalf("unknown role at 500: %v", out)
	}
	s.sameState("acme", before)
	if u := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/u0001", nil); u.Email != "old@acme.test" || len(u.Roles) != 0 {
		t.Fatalf("existing user changed: %v", u)
	}
	// Many bad rows: the first 20 are pointed at, the message counts them all.
	for i := 100; i < 130; i++ {
		users[i]["id"] = ""
	}
	out = s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	fields := detailFields(out)
	if errCode(out) != "missing_field" || len(fields) != 20 || fields[0] != "users[100].id" || fields[19] != "users[119].id" ||
		!strings.Contains(out["error"].(map[string]any)["message"].(string), "29 more") {
		t.Fatalf("30 bad rows: %v", out)
	}
	s.sameState("acme", before)
}

// Hole: an import is a way around "nobody gives a right they do not hold": a
// user of the entity who may create and update users imports users (or
// itself) holding a role with rights it lacks. 403 privilege_escalation,
// nothing written; without the right to update users, 403.
func TestAttackImportPrivilegeEscalation(t *testing.T) {
	p := newIdP(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_JWKS_URL": p.srv.URL,
		"ROLEGATE_JWT_ISSUER": "https://idp.example", "ROLEGATE_JWT_AUDIENCE": "rolegate-api", "ROLEGATE_JWT_ENTITY_CLAIM": "tenant",
		"ROLEGATE_JWT_ALGORITHMS": "ES256"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T100"})
	right := func(obj, act string) map[string]any {
		return map[string]any{"object_type": obj, "actions": []any{map[string]any{"action_name": act, "permission": "allowed"}}}
	}
	hr := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "hr", "permissions": map[string]any{"objects": []any{
		right("user", "*"), right("doc", "read")}}}).ID
	creator := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "creator", "permissions": map[string]any{"objects": []any{
		right("user", "create"), right("user", "read")}}}).ID
	payer := mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "payer", "permissions": map[string]any{"objects": []any{
		right("payable", "pay")}}}).ID
	reader := readRole(s, "T100", "reader", "doc")
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "alice", "role_ids": []string{hr}})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "carol", "role_ids": []string{creator}})
	alice := p.token(t, jwt.MapClaims{"sub": "alice"})
	carol := p.token(t, jwt.MapClaims{"sub": "carol"})
	before := s.stateOf("T100")

	for name, body := range map[string]any{
		"a new user with the payer role": map[string]any{"users": []any{
			map[string]any{"id": "bob", "role_ids": []string{reader}},
			map[string]any{"id": "mallory", "role_ids": []string{payer}}}},
		"the payer role inside a team": map[string]any{"users": []any{
			map[string]any{"id": "mallory", "role_ids": []string{}, "scoped_roles": []any{map[string]any{"scope": "team:1", "role_ids": []string{payer}}}}}},
		"herself, with the payer role": map[string]any{"users": []any{
			map[string]any{"id": "alice", "role_ids": []string{hr, payer}}}},
	} {
		st, _, out := s.callToken(alice, "POST", "/v1/entities/T100/users/import", body)
		if st != 403 || errCode(out) != "privilege_escalation" {
			t.Errorf("%s: %d %v", name, st, out)
		}
	}
	// Carol may create users but not update them: an upsert needs both.
	if st, _, out := s.callToken(carol, "POST", "/v1/entities/T100/users/import", map[string]any{"users": importUsers(1)}); st != 403 || errCode(out) != "forbidden" {
		t.Errorf("carol without user:update: %d %v", st, out)
	}
	s.sameState("T100", before)
	if d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "T100", "user_id": "alice", "object_type": "payable", "action": "pay"}); d.Allowed {
		t.Fatal("alice escalated")
	}
	// Roles whose rights she holds, she may give.
	st, _, out := s.callToken(alice, "POST", "/v1/entities/T100/users/import", map[string]any{"users": []any{map[string]any{"id": "bob", "role_ids": []string{reader}}}})
	if st != 200 || out["created"] != float64(1) {
		t.Fatalf("alice imports a reader: %d %v", st, out)
	}
}

// Hole: a client of one tenant imports users into another. 404, as for an
// entity that does not exist; nothing written.
func TestAttackImportOtherTenantsClient(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "other"})
	cl := mustAs[api.APIClient](s, 201, "POST", "/v1/clients", map[string]any{"name": "other's", "entity_id": "other", "scopes": []string{"check", "manage"}})
	_, _, tok := s.tokenCall("/v1/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", cl.ClientID, cl.Secret)
	token := tok["access_token"].(string)
	before := s.stateOf("acme")
	body := map[string]any{"users": importUsers(2)}
	if st, _, out := s.callToken(token, "POST", "/v1/entities/acme/users/import", body); st != 404 || errCode(out) != "entity_not_found" {
		t.Fatalf("another tenant's client: %d %v", st, out)
	}
	if st, _, out := s.callToken("", "POST", "/v1/entities/acme/users/import", body); st != 401 {
		t.Fatalf("no token: %d %v", st, out)
	}
	if st, _, out := s.callToken(token, "POST", "/v1/entities/nowhere/users/import", body); st != 404 {
		t.Fatalf("unknown entity: %d %v", st, out)
	}
	s.sameState("acme", before)
	// Its own entity it may import into.
	if st, _, out := s.callToken(token, "POST", "/v1/entities/other/users/import", body); st != 200 || out["created"] != float64(2) {
		t.Fatalf("own entity: %d %v", st, out)
	}
}

// Hole: the same id twice in one import (which of the two wins?), and ids,
// emails, names, scopes and role ids of any size. 422 naming each, nothing
// written, and no huge value echoed back.
func TestAttackImportDuplicatesAndHugeStrings(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := readRole(s, "acme", "reader", "doc")
	before := s.stateOf("acme")
	users := importUsers(3, role)
	users[2]["id"] = "u0000"
	out := s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "duplicate_user" || strings.Join(detailFields(out), ",") != "users[2].id" {
		t.Fatalf("duplicate ids: %v", out)
	}
	users = importUsers(3, role)
	users[0]["scoped_roles"] = []any{map[string]any{"scope": "team:1", "role_ids": []string{role}}, map[string]any{"scope": "team:1", "role_ids": []string{}}}
	out = s.must(422, "POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if errCode(out) != "duplicate_scope" || strings.Join(detailFields(out), ",") != "users[0].scoped_roles[1].scope" {
		t.Fatalf("duplicate scopes: %v", out)
	}

	huge := strings.Repeat("x", 100_000)
	many := make([]string, 101)
	for i := range many {
		many[i] = role
	}
	users = importUsers(8, role)
	users[0]["id"] = huge
	users[1]["email"] = huge + "@acme.test"
	users[2]["name"] = huge
	users[3]["role_ids"] = []string{huge}
	users[4]["scoped_roles"] = []any{map[string]any{"scope": huge, "role_ids": []string{role}}}
	users[5]["scoped_roles"] = []any{map[string]any{"scope": "team:1", "role_ids": []string{huge}}}
	users[7]["id"] = "with space"
	st, _, out := s.call("POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	want := "users[0].id,users[1].email,users[2].name,users[3].role_ids[0],users[4].scoped_roles[0].scope,users[5].scoped_roles[0].role_ids[0],users[7].id"
	if st != 422 || strings.Join(detailFields(out), ",") != want {
		t.Fatalf("huge strings: %d %v", st, detailFields(out))
	}
	// A list past its limit is refused as the body is read, at the element
	// past it (attack_decode_test.go): alone, with the rest unread.
	users[6]["role_ids"] = many
	st, _, out = s.call("POST", "/v1/entities/acme/users/import", map[string]any{"users": users})
	if st != 422 || errCode(out) != "too_many_roles" || strings.Join(detailFields(out), ",") != "users[6].role_ids" {
		t.Fatalf("101 role ids: %d %v", st, out)
	}
	if strings.Contains(fmt.Sprint(out), "xxxxxxxxxx") {
		t.Fatal("the error echoes a huge value")
	}
	s.sameState("acme", before)
	// A body over the import's 8 MiB limit is 413 before it is read.
	big := `{"users":[{"id":"u1","name":"` + strings.Repeat("y", 8<<20) + `"}]}`
	if out := s.must(413, "POST", "/v1/entities/acme/users/import", big); errCode(out) != "payload_too_large" {
		t.Fatalf("9 MiB body: %v", out)
	}
	s.sameState("acme", before)
}
