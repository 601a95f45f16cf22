package systemtest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/api"
)

// TestAuditLogHTTP makes changes through the native API of the real server
// and reads them back from the audit log: who, what, before and after as the
// API showed them, the request id, filters and pages.
func TestAuditLogHTTP(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	const base = "/v1/entities/audit-co"
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "audit-co", "name": "Audit Co"}, "X-Request-Id", "req-entity")
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "elsewhere"})

	role := s.must(201, "POST", base+"/roles", map[string]any{"name": "approver",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable",
			"actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}, "X-Request-Id", "req-create-role")
	roleID := role["id"].(string)
	patched := s.must(200, "PATCH", base+"/roles/"+roleID, map[string]any{"name": "approver 2"}, "X-Request-Id", "req-patch")
	// Failed writes leave nothing.
	s.must(409, "POST", base+"/roles", map[string]any{"name": "admin"})
	s.must(422, "POST", base+"/roles", map[string]any{"name": ""})
	s.must(412, "PATCH", base+"/roles/"+roleID, map[string]any{"name": "x"}, "If-Match", `"1"`)
	s.must(201, "POST", "/v1/entities/elsewhere/roles", map[string]any{"name": "elsewhere"})

	st, h, user := s.call("POST", base+"/users", map[string]any{"id": "u-1", "email": "ada@audit.test", "role_ids": []string{roleID}})
	if st != 201 || h.Get("X-Request-Id") == "" {
		t.Fatalf("create user: %d %v", st, user)
	}
	generatedID := h.Get("X-Request-Id")
	assigned := s.must(200, "PUT", base+"/users/u-1/roles/"+roleID, map[string]any{"scope": "team:42"})
	s.must(200, "PUT", base+"/users/u-1/roles/"+roleID, map[string]any{"scope": "team:42"}) // held already: no change
	s.must(204, "DELETE", base+"/users/u-1/roles/"+roleID+"?scope=team:42", nil)
	s.must(204, "DELETE", base+"/roles/"+roleID+"?force=true", nil)

	type eventPage = api.Page[api.AuditEvent]
	list := func(query string) eventPage {
		t.Helper()
		return mustAs[eventPage](s, 200, "GET", base+"/audit-events"+query, nil)
	}
	events := func(page eventPage) []api.AuditEvent { return page.Data }
	actionsOf := func(evs []api.AuditEvent) string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Action)
		}
		return strings.Join(out, ",")
	}
	// jsonValue is a snapshot as a map reads it: compared whole with the
	// answers, unknown fields included.
	jsonValue := func(raw json.RawMessage) any {
		t.Helper()
		var v any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("snapshot %s: %v", raw, err)
			}
		}
		return v
	}
	token := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}

	page := list("")
	all := events(page)
	want := "role.delete,assignment.delete,assignment.create,user.create,role.update,role.create,entity.create"
	if got := actionsOf(all); got != want {
		t.Fatalf("events newest first:\n got %s\nwant %s", got, want)
	}
	if page.NextPaginationToken != nil || page.PrevPaginationToken != nil {
		t.Errorf("one page has tokens: %v %v", page.NextPaginationToken, page.PrevPaginationToken)
	}
	byAction := map[string]api.AuditEvent{}
	for _, e := range all {
		byAction[e.Action] = e
		if token(e.Actor) != "admin" || e.EntityID != "audit-co" {
			t.Errorf("event %v: actor or entity", e)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			t.Errorf("event time %v: %v", e.Time, err)
		}
		if len(e.ID) != 36 {
			t.Errorf("event id %v", e.ID)
		}
	}

	// Before and after are the objects as the API answered them.
	check := func(action, objectType, objectID, requestID string, before, after any) {
		t.Helper()
		e := byAction[action]
		if e.ObjectType != objectType || e.ObjectID != objectID {
			t.Errorf("%s: object %v %v, want %s %s", action, e.ObjectType, e.ObjectID, objectType, objectID)
		}
		if requestID != "" && (e.RequestID == nil || *e.RequestID != requestID) {
			t.Errorf("%s: request_id %v, want %s", action, token(e.RequestID), requestID)
		}
		if got := jsonValue(e.Before); !reflect.DeepEqual(got, before) {
			t.Errorf("%s: before\n %v\nwant %v", action, got, before)
		}
		if got := jsonValue(e.After); after != nil && !reflect.DeepEqual(got, after) {
			t.Errorf("%s: after\n %v\nwant %v", action, got, after)
		}
	}
	entity := s.must(200, "GET", base, nil)
	entity["revision"], entity["updated_at"] = 1.0, entity["created_at"]
	check("entity.create", "entity", "audit-co", "req-entity", nil, entity)
	check("role.create", "role", roleID, "req-create-role", nil, role)
	check("role.update", "role", roleID, "req-patch", role, patched)
	// A user's snapshot leaves out attributes when it has none (so that the
	// snapshots stored before users had attributes read the same).
	if a, ok := user["attributes"].(map[string]any); user["attributes"] == nil || ok && len(a) == 0 {
		delete(user, "attributes")
	}
	check("user.create", "user", "u-1", generatedID, nil, user)
	check("assignment.create", "assignment", "u-1", "", nil, assigned)
	check("assignment.delete", "assignment", "u-1", "", assigned, nil)
	deleted := s.must(200, "GET", base+"/roles/"+roleID, nil)
	check("role.delete", "role", roleID, "", patched, deleted)
	if after := jsonValue(byAction["assignment.delete"].After); after != nil {
		t.Errorf("assignment.delete after: %v", after)
	}

	// Filters.
	if got := actionsOf(events(list("?object_type=role"))); got != "role.delete,role.update,role.create" {
		t.Errorf("object_type=role: %s", got)
	}
	if got := len(events(list("?actor=admin"))); got != 7 {
		t.Errorf("actor=admin: %d events", got)
	}
	if got := events(list("?actor=user:nobody")); len(got) != 0 {
		t.Errorf("actor=user:nobody: %v", got)
	}

	// Pages of 3: forward, then back.
	p1 := list("?limit=3")
	next := token(p1.NextPaginationToken)
	if got := actionsOf(events(p1)); got != "role.delete,assignment.delete,assignment.create" || next == "" || p1.PrevPaginationToken != nil {
		t.Fatalf("page 1: %s %v", got, p1)
	}
	p2 := list("?limit=3&pagination_token=" + next)
	next = token(p2.NextPaginationToken)
	prev := token(p2.PrevPaginationToken)
	if got := actionsOf(events(p2)); got != "user.create,role.update,role.create" || next == "" || prev == "" {
		t.Fatalf("page 2: %s %v", got, p2)
	}
	p3 := list("?limit=3&pagination_token=" + next)
	if got := actionsOf(events(p3)); got != "entity.create" || p3.NextPaginationToken != nil {
		t.Fatalf("page 3: %s %v", got, p3)
	}
	back := list("?limit=3&pagination_token=" + prev)
	if got := actionsOf(events(back)); got != "role.delete,assignment.delete,assignment.create" || back.PrevPaginationToken != nil {
		t.Fatalf("back to page 1: %s %v", got, back)
	}
	// A token keeps the first request's filters.
	f1 := list("?object_type=role&limit=2")
	f2 := list("?pagination_token=" + *f1.NextPaginationToken)
	if got := actionsOf(events(f2)); got != "role.create" {
		t.Errorf("filtered page 2: %s", got)
	}

	// Bad requests.
	for _, c := range []struct {
		query string
		code  string
	}{
		{"?limit=0", "invalid_limit"},
		{"?limit=101", "invalid_limit"},
		{"?limit=x", "invalid_limit"},
		{"?pagination_token=nonsense", "invalid_pagination_token"},
		{"?pagination_token=" + *mustAs[api.Page[api.Role]](s, 200, "GET", base+"/roles?limit=1", nil).NextPaginationToken, "invalid_pagination_token"},
		{"?object_type=payable", "invalid_object_type"},
		{"?actor=" + strings.Repeat("a", 256), "invalid_actor"},
	} {
		if out := s.must(422, "GET", base+"/audit-events"+c.query, nil); errCode(out) != c.code {
			t.Errorf("%.60s: %v, want %s", c.query, out, c.code)
		}
	}
	if out := s.must(404, "GET", "/v1/entities/nope/audit-events", nil); errCode(out) != "entity_not_found" {
		t.Errorf("unknown entity: %v", out)
	}
	if st, _, _ := s.callToken("", "GET", base+"/audit-events", nil); st != 401 {
		t.Errorf("no token: %d", st)
	}

	// Another entity's log holds only its own.
	if got := actionsOf(events(mustAs[eventPage](s, 200, "GET", "/v1/entities/elsewhere/audit-events", nil))); got != "role.create,entity.create" {
		t.Errorf("the other entity's log: %s", got)
	}

	// Deleting the entity deletes its log.
	s.must(204, "DELETE", base, nil)
	s.must(404, "GET", base+"/audit-events", nil)
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "audit-co"})
	if got := actionsOf(events(list(""))); got != "entity.create" {
		t.Errorf("log of the entity made again: %s", got)
	}
	raw, _ := json.Marshal(byAction["user.create"])
	if strings.Contains(string(raw), testToken) {
		t.Errorf("an event holds the token: %s", raw)
	}
}
