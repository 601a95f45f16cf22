package systemtest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// The bulk import upserts: new users are created (with the default roles
// when role_ids is absent), existing ones get their email, name and roles
// replaced as a whole (scopes not named lose their roles), unchanged ones are
// counted and not written. One revision for the request, answered in the body
// and X-Rolegate-Revision; one audit event per created or changed user;
// checks see the result at once.
func TestImportUpsert(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	docs := readRole(s, "acme", "doc reader", "doc")
	memos := readRole(s, "acme", "memo reader", "memo")
	var member string
	for _, r := range mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/acme/roles?name=member", nil).Data {
		member = r.ID
	}
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ada", "email": "ada@old.test", "name": "Ada", "role_ids": []string{docs}})
	s.must(200, "PUT", "/v1/entities/acme/users/ada/roles/"+memos, map[string]any{"scope": "team:1"})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "same", "email": "same@acme.test", "name": "Same", "role_ids": []string{memos}})
	before := s.stateOf("acme")

	st, h, out := s.call("POST", "/v1/entities/acme/users/import", map[string]any{"users": []any{
		map[string]any{"id": "ada", "email": "ada@new.test", "role_ids": []string{memos}, "scoped_roles": []any{
			map[string]any{"scope": "team:2", "role_ids": []string{docs}}}},
		map[string]any{"id": "bob", "name": "Bob"},
		map[string]any{"id": "same", "email": "same@acme.test", "name": "Same", "role_ids": []string{memos, memos}},
	}})
	if st != 200 || out["created"] != float64(1) || out["updated"] != float64(1) || out["unchanged"] != float64(1) {
		t.Fatalf("import: %d %v", st, out)
	}
	rev := out["revision"].(float64)
	if rev != before.revision+1 || h.Get("X-Rolegate-Revision") != strconv.Itoa(int(rev)) {
		t.Fatalf("revision %v (was %v), header %q", rev, before.revision, h.Get("X-Rolegate-Revision"))
	}
	roles := func(u api.User) string {
		var out []string
		for _, r := range u.Roles {
			sc := ""
			if r.Scope != nil {
				sc = *r.Scope
			}
			out = append(out, r.ID+"@"+sc)
		}
		return strings.Join(out, ",")
	}
	// name is required and a string (the contract): "" is not an absent one.
	ada := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/ada", nil)
	if ada.Email != "ada@new.test" || ada.Name != "" || roles(ada) != memos+"@,"+docs+"@team:2" {
		t.Fatalf("ada replaced: %v", ada)
	}
	if bob := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/bob", nil); bob.Name != "Bob" || roles(bob) != member+"@" {
		t.Fatalf("bob with the default role: %v", bob)
	}
	for _, c := range []struct {
		user, object, scope string
		allowed             bool
	}{
		{"ada", "memo", "", true}, {"ada", "doc", "", false}, {"ada", "doc", "team:2", true}, {"ada", "memo", "team:1", true},
		{"ada", "doc", "team:1", false}, {"bob", "doc", "", false}, {"same", "memo", "", true},
	} {
		d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": c.user, "object_type": c.object,
			"action": "read", "scope": c.scope, "min_revision": rev})
		if d.Allowed != c.allowed {
			t.Errorf("check %+v: %v", c, d)
		}
	}
	// Audit: ada updated (before and after), bob created, nothing for "same".
	events := mustAs[api.Page[api.AuditEvent]](s, 200, "GET", "/v1/entities/acme/audit-events?object_type=user&limit=2", nil).Data
	got := map[string]api.AuditEvent{}
	for _, e := range events {
		got[e.ObjectID] = e
	}
	if got["ada"].Action != "user.update" || got["bob"].Action != "user.create" ||
		auditUser(t, got["ada"].Before).Email != "ada@old.test" || auditUser(t, got["ada"].After).Email != "ada@new.test" ||
		len(auditUser(t, got["ada"].Before).Roles) != 2 || !isNull(got["bob"].Before) {
		t.Fatalf("audit events: %v", events)
	}
	if after := s.stateOf("acme"); after.events != before.events+2 || len(after.users) != 3 {
		t.Fatalf("after: %+v", after)
	}
	// role_ids [] takes every entity-wide role.
	s.must(200, "POST", "/v1/entities/acme/users/import", map[string]any{"users": []any{map[string]any{"id": "bob", "name": "Bob", "role_ids": []string{}}}})
	if bob := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/bob", nil); roles(bob) != "" {
		t.Fatalf("bob without roles: %v", bob)
	}
}

// 1,000 users are one import; a body over the 1 MiB of other calls is
// accepted here (up to 8 MiB), and only here.
func TestImportLimits(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := readRole(s, "acme", "reader", "doc")
	users := importUsers(1000, role)
	for _, u := range users {
		u["name"] = strings.Repeat("n", 250) + u["id"].(string)[:5]
		u["email"] = strings.Repeat("e", 300) + "@acme.test"
		// The same role named 30 times holds it once: a large body, little to write.
		same := make([]string, 30)
		for k := range same {
			same[k] = role
		}
		u["role_ids"] = same
		u["scoped_roles"] = []any{map[string]any{"scope": "team:9", "role_ids": same}}
	}
	body, _ := json.Marshal(map[string]any{"users": users})
	if len(body) <= 1<<20 {
		t.Fatalf("the body is %d bytes, not over 1 MiB", len(body))
	}
	out := s.must(200, "POST", "/v1/entities/acme/users/import", body)
	if out["created"] != float64(1000) {
		t.Fatalf("1,000 users in a body over 1 MiB: %v", out)
	}
	if n := len(s.stateOf("acme").users); n != 1000 {
		t.Fatalf("%d users", n)
	}
	d := mustAs[api.Decision](s, 200, "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "u0999", "object_type": "doc", "action": "read", "scope": "team:9"})
	if !d.Allowed {
		t.Fatalf("check: %v", d)
	}
	// The larger limit is the import's only.
	big := fmt.Sprintf(`{"name":"x","description":"%s"}`, strings.Repeat("d", 1<<20))
	if out := s.must(413, "POST", "/v1/entities/acme/roles", big); errCode(out) != "payload_too_large" {
		t.Fatalf("1 MiB role: %v", out)
	}
}
