package systemtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rolegate/rolegate/api"
)

// Attacks by a user of an entity (an identity provider's ES256 token) who
// tries to give itself, or someone else, a right it does not hold. The guard
// is "nobody gives a right they do not hold", where lifting a deny, taking
// away a role that carries one, deleting such a role, making a role default
// and giving a wildcard all count as giving what they unmask.

type escalationFixture struct {
	s                                    *server
	idp                                  *idp
	alice, bob                           string // tokens
	manager, noApprove, superuser, basic string // role ids
}

// newEscalationFixture: alice manages entity T100 (roles and users) and holds
// payable:* with payable:approve denied; superuser is a custom role with *:*;
// basic (payable:read) is the default role of new users; bob holds nothing.
func newEscalationFixture(t *testing.T) *escalationFixture {
	t.Helper()
	p := newIdP(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_JWKS_URL": p.srv.URL,
		"ROLEGATE_JWT_ISSUER": "https://idp.example", "ROLEGATE_JWT_AUDIENCE": "rolegate-api", "ROLEGATE_JWT_ENTITY_CLAIM": "tenant",
		"ROLEGATE_JWT_ALGORITHMS": "ES256"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T100"})
	role := func(name string, def bool, triples ...string) string {
		var objs []any
		for i := 0; i+2 < len(triples); i += 3 {
			objs = append(objs, map[string]any{"object_type": triples[i], "actions": []any{
				map[string]any{"action_name": triples[i+1], "permission": triples[i+2]}}})
		}
		return mustAs[api.Role](s, 201, "POST", "/v1/entities/T100/roles", map[string]any{"name": name, "default": def,
			"permissions": map[string]any{"objects": objs}}).ID
	}
	f := &escalationFixture{s: s, idp: p}
	f.manager = role("manager", false, "payable", "*", "allowed", "role", "*", "allowed", "user", "*", "allowed")
	f.noApprove = role("no approve", false, "payable", "approve", "denied")
	f.superuser = role("superuser", false, "*", "*", "allowed")
	f.basic = role("basic", true, "payable", "read", "allowed")
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "alice", "role_ids": []string{f.manager, f.noApprove}})
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "bob", "role_ids": []string{}})
	f.alice = p.token(t, nil)
	f.bob = p.token(t, jwt.MapClaims{"sub": "bob"})
	return f
}

// allowed asks, as the admin, whether user may do action on object type.
func (f *escalationFixture) allowed(user, obj, action, scope string) bool {
	f.s.t.Helper()
	body := map[string]any{"entity_id": "T100", "user_id": user, "object_type": obj, "action": action}
	if scope != "" {
		body["scope"] = scope
	}
	return mustAs[api.Decision](f.s, 200, "POST", "/v1/check", body).Allowed
}

// refused sends the request with alice's token and wants 403
// privilege_escalation in the native or Dintero body.
func (f *escalationFixture) refused(t *testing.T, what, method, path string, body any) {
	t.Helper()
	st, _, out := f.s.callToken(f.alice, method, path, body)
	if st != 403 || errCode(out) != "privilege_escalation" {
		t.Errorf("%s: want 403 privilege_escalation, got %d %v", what, st, out)
	}
}

// Hole 4 (a), (b), (c): a user holding payable:* with payable:approve denied
// cannot drop the deny from its own role, take the role carrying the deny
// from itself, or give payable:* to someone else; deleting the deny's role
// and the facades' writes that would drop the deny are refused too.
func TestAttackEscalationThroughDeniesAndWildcards(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	if f.allowed("alice", "payable", "approve", "") || !f.allowed("alice", "payable", "pay", "") {
		t.Fatal("fixture: alice should pay but not approve")
	}
	perms := func(obj, act, perm string) map[string]any {
		return map[string]any{"objects": []any{map[string]any{"object_type": obj, "actions": []any{
			map[string]any{"action_name": act, "permission": perm}}}}}
	}
	roles := "/v1/entities/T100/roles/"
	// (a) edit the role carrying the deny so that it no longer denies.
	f.refused(t, "PATCH the deny away", "PATCH", roles+f.noApprove, map[string]any{"permissions": map[string]any{"objects": []any{}}})
	f.refused(t, "PATCH the deny to not_allowed", "PATCH", roles+f.noApprove, map[string]any{"permissions": perms("payable", "approve", "not_allowed")})
	f.refused(t, "PATCH the deny to allowed_for_own", "PATCH", roles+f.noApprove, map[string]any{"permissions": perms("payable", "approve", "allowed_for_own")})
	f.refused(t, "PUT the role without the deny", "PUT", roles+f.noApprove, map[string]any{"name": "no approve", "permissions": perms("payable", "read", "denied")})
	// (b) take the role carrying the deny away from herself.
	f.refused(t, "unassign the deny's role", "DELETE", "/v1/entities/T100/users/alice/roles/"+f.noApprove, nil)
	f.refused(t, "replace her roles without it", "PATCH", "/v1/entities/T100/users/alice", map[string]any{"role_ids": []string{f.manager}})
	f.refused(t, "delete the deny's role", "DELETE", roles+f.noApprove+"?force=true", nil)
	// (c) a wildcard she does not hold whole, made or given.
	f.refused(t, "create a payable:* role", "POST", "/v1/entities/T100/roles", map[string]any{"name": "all payables", "permissions": perms("payable", "*", "allowed")})
	f.refused(t, "create a *:approve role", "POST", "/v1/entities/T100/roles", map[string]any{"name": "all approvals", "permissions": perms("*", "approve", "allowed")})
	f.refused(t, "give bob her payable:* role", "PUT", "/v1/entities/T100/users/bob/roles/"+f.manager, nil)
	f.refused(t, "make a user holding her payable:* role", "POST", "/v1/entities/T100/users", map[string]any{"id": "mallory", "role_ids": []string{f.manager}})
	f.refused(t, "give bob payable:* in a team", "PUT", "/v1/entities/T100/users/bob/roles/"+f.manager, map[string]any{"scope": "team:1"})
	// Dintero users hold rights of their own (scope): the right she is denied.
	st, _, out := s.raw("PUT", "/v1/accounts/T100/management/users/bob", `{"scope":["approve:payable"]}`, "Authorization", "Bearer "+f.alice)
	if st != 403 || get(out, "error", "code") != "privilege_escalation" {
		t.Errorf("dintero: give bob approve:payable as his own right: %d %v", st, out)
	}

	// The facades: Dintero's PUT of scopes, Papershift's PUT of rights and
	// Monite's PATCH replace what they show, and cannot show the deny: they
	// keep it. One that names the denied right itself is refused.
	st, _, out = s.raw("PUT", "/v1/accounts/T100/auth/roles/"+f.noApprove, `{"name":"no approve","scope":["read:payable"]}`, "Authorization", "Bearer "+f.alice)
	if st != 200 {
		t.Errorf("dintero PUT of scopes: %d %v", st, out)
	}
	st, _, out = s.raw("PUT", "/api/v1/roles/"+f.noApprove, `{"data":{"type":"role","attributes":{"rights":{"payable":{"update":true}}}}}`,
		"Authorization", "Bearer "+f.alice, "Content-Type", "application/vnd.api+json")
	if st != 200 {
		t.Errorf("papershift PUT of rights: %d %v", st, out)
	}
	if f.allowed("alice", "payable", "approve", "") {
		t.Fatal("a facade write dropped the deny it cannot show")
	}
	st, _, out = s.raw("PUT", "/v1/accounts/T100/auth/roles/"+f.noApprove, `{"name":"no approve","scope":["approve:payable"]}`, "Authorization", "Bearer "+f.alice)
	if st != 403 || get(out, "error", "code") != "privilege_escalation" {
		t.Errorf("dintero PUT of the denied right itself: %d %v", st, out)
	}
	st, _, out = s.raw("PATCH", "/v1/roles/"+f.noApprove, `{"permissions":{"objects":[{"object_type":"payable","actions":[{"action_name":"approve","permission":"allowed"}]}]}}`,
		"Authorization", "Bearer "+f.alice, "x-monite-version", "2024-05-25", "x-monite-entity-id", "T100", "Content-Type", "application/json")
	if st != 403 {
		t.Errorf("monite PATCH of the denied right itself: %d %v", st, out)
	}
	st, _, out = s.raw("DELETE", "/v1/accounts/T100/auth/roles/"+f.noApprove, "", "Authorization", "Bearer "+f.alice)
	if st != 403 || get(out, "error", "code") != "privilege_escalation" {
		t.Errorf("dintero DELETE of the deny's role: %d %v", st, out)
	}

	// Nothing changed: alice still may not approve, bob holds nothing.
	if f.allowed("alice", "payable", "approve", "") {
		t.Fatal("alice escalated: she may approve")
	}
	if f.allowed("bob", "payable", "approve", "") || f.allowed("bob", "payable", "pay", "") {
		t.Fatal("bob was given rights")
	}
	if r := s.must(200, "GET", roles+f.noApprove, nil); get(r, "permissions", "objects", 0, "object_type") != "payable" ||
		!strings.Contains(fmt.Sprint(r["permissions"]), "action_name:approve permission:denied") {
		t.Fatalf("the deny's role lost its deny: %v", r)
	}
	if st, _, _ := s.call("GET", "/v1/entities/T100/users/mallory", nil); st != 404 {
		t.Fatalf("mallory was created: %d", st)
	}

	// What she does hold whole she may still give, and denies are hers to add.
	if st, _, out := s.callToken(f.alice, "POST", "/v1/entities/T100/roles", map[string]any{"name": "payer", "permissions": perms("payable", "pay", "allowed")}); st != 201 {
		t.Fatalf("a role of a right she holds: %d %v", st, out)
	}
	if st, _, out := s.callToken(f.alice, "PATCH", roles+f.noApprove, map[string]any{"permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{
			map[string]any{"action_name": "approve", "permission": "denied"},
			map[string]any{"action_name": "delete", "permission": "denied"}}}}}}); st != 200 {
		t.Fatalf("adding a deny: %d %v", st, out)
	}
}

// Hole 4, team scope: bob manages the entity but may not approve; inside
// team 7 he holds superuser and the deny. Replacing his team roles
// (Papershift's team membership) without the deny would let him approve
// there: refused, as he does not hold payable:approve himself.
func TestAttackEscalationThroughTeamMemberships(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	s.must(200, "PATCH", "/v1/entities/T100/users/bob", map[string]any{"role_ids": []string{f.manager, f.noApprove}})
	s.must(200, "PUT", "/v1/entities/T100/users/bob/roles/"+f.superuser, map[string]any{"scope": "team:7"})
	s.must(200, "PUT", "/v1/entities/T100/users/bob/roles/"+f.noApprove, map[string]any{"scope": "team:7"})
	if f.allowed("bob", "payable", "approve", "team:7") || !f.allowed("bob", "receipt", "delete", "team:7") {
		t.Fatal("fixture: in team 7 bob should do all but approve")
	}
	body := `{"data":{"type":"team_membership","attributes":{"team_id":7,"user_id":"bob","role_ids":["` + f.superuser + `"]}}}`
	st, _, out := s.raw("POST", "/api/v1/team_memberships", body, "Authorization", "Bearer "+f.bob, "Content-Type", "application/vnd.api+json")
	if st != 403 || get(out, "errors", 0, "code") != "privilege_escalation" {
		t.Fatalf("papershift team membership dropping bob's team deny: %d %v", st, out)
	}
	if f.allowed("bob", "payable", "approve", "team:7") {
		t.Fatal("bob escalated inside team 7")
	}
}

// Hole 5: a user with role:update marks an admin-like role default; every
// user made afterwards without role_ids, and every team membership with
// empty role_ids, would get it. Making a role default is guarded like an
// assignment of it.
func TestAttackDefaultRoleBackDoor(t *testing.T) {
	f := newEscalationFixture(t)
	s := f.s
	f.refused(t, "PATCH superuser default", "PATCH", "/v1/entities/T100/roles/"+f.superuser, map[string]any{"default": true})
	st, _, out := s.raw("PUT", "/api/v1/roles/"+f.superuser, `{"data":{"type":"role","attributes":{"default":true}}}`,
		"Authorization", "Bearer "+f.alice, "Content-Type", "application/vnd.api+json")
	if st == 200 {
		t.Errorf("papershift: superuser made default: %d %v", st, out)
	}
	// A user made now, and a team membership with no roles, get only basic.
	s.must(201, "POST", "/v1/entities/T100/users", map[string]any{"id": "carol"})
	if f.allowed("carol", "payable", "delete", "") || !f.allowed("carol", "payable", "read", "") {
		t.Fatal("carol did not get exactly the default role")
	}
	if st, _, out := s.raw("POST", "/api/v1/team_memberships", `{"data":{"type":"team_membership","attributes":{"team_id":3,"user_id":"bob","role_ids":[]}}}`,
		"Authorization", "Bearer "+f.alice, "Content-Type", "application/vnd.api+json"); st != 201 && st != 200 {
		t.Fatalf("team membership with the default roles: %d %v", st, out)
	}
	if f.allowed("bob", "role", "delete", "team:3") {
		t.Fatal("bob got the superuser role through the default")
	}
	// A default role of rights alice holds whole she may make.
	payer := s.must(201, "POST", "/v1/entities/T100/roles", map[string]any{"name": "payer", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "pay", "permission": "allowed"}}}}}})
	if st, _, out := s.callToken(f.alice, "PATCH", "/v1/entities/T100/roles/"+payer["id"].(string), map[string]any{"default": true}); st != 200 {
		t.Fatalf("default role of held rights: %d %v", st, out)
	}
	// Stopping a default role that carries a deny lifts it for new users.
	s.must(200, "PATCH", "/v1/entities/T100/roles/"+f.noApprove, map[string]any{"default": true})
	f.refused(t, "un-default the deny's role", "PATCH", "/v1/entities/T100/roles/"+f.noApprove, map[string]any{"default": false})
}
