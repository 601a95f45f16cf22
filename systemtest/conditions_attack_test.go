package systemtest

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Attacks on conditional rights: conditions that would make every check slow
// or that are too long, resources and attributes past their limits (never an
// allow), values of the wrong type, another tenant's user attributes, and
// what a client that may only check learns of conditions through explain.

// condRight is a role body of one right on payable/approve.
func condRight(name, perm, cond string) map[string]any {
	return map[string]any{"name": name, "permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable",
		"actions": []any{map[string]any{"action_name": "approve", "permission": perm, "condition": cond}}}}}}
}

// Hole: a role's condition runs in every check of its holders. One that
// loops over lists inside loops, or is longer than 4 KiB, or does not
// compile, is refused at the write (422 invalid_condition, the right named
// in details) and nothing is written.
func TestAttackConditionsRefusedAtWrite(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	roles := func() int {
		return len(mustAs[api.Page[api.Role]](s, 200, "GET", "/v1/entities/acme/roles?status=all", nil).Data)
	}
	before := roles()
	long := "resource.amount <= 1.0" + strings.Repeat(" || resource.amount <= 1.0", 5*1024/26)
	for _, c := range []struct {
		name, perm, cond string
		bad              bool // the document refuses it too
		msg              string
	}{
		{"cubic loop", "allowed", "resource.tags.all(a, resource.tags.all(b, resource.tags.all(c, a + b + c != '')))", false, "cost"},
		{"string blow-up", "allowed", "resource.tags.exists(a, resource.tags.exists(b, (a + b + a + b).matches('^(x+x+)+y$')))", false, "cost"},
		{"5 KiB", "allowed", long, true, "4096"},
		{"syntax", "allowed", "resource.amount <=", false, "1:"},
		{"not a bool", "allowed", "1 + 2", false, "bool"},
		{"unknown variable", "allowed", "request.amount < 1.0", false, "1:"},
		{"on not_allowed", "not_allowed", "true", false, ""},
		{"nested depth", "allowed", strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), false, ""},
	} {
		var st int
		var out map[string]any
		if c.bad {
			st, _, out = s.callBad("POST", "/v1/entities/acme/roles", condRight(c.name, c.perm, c.cond))
		} else {
			st, _, out = s.call("POST", "/v1/entities/acme/roles", condRight(c.name, c.perm, c.cond))
		}
		e, _ := out["error"].(map[string]any)
		details, _ := e["details"].([]any)
		field := ""
		if len(details) > 0 {
			field, _ = details[0].(map[string]any)["field"].(string)
		}
		msg, _ := e["message"].(string)
		if st != 422 || errCode(out) != "invalid_condition" || field != "permissions.objects[0].actions[0].condition" || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %v", c.name, st, out)
		}
	}
	// A role's update is refused the same way, and the role keeps its right.
	id := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("ok", "allowed", "resource.amount <= 1.0")).ID
	if st, _, out := s.call("PUT", "/v1/entities/acme/roles/"+id, condRight("ok", "allowed", "resource.amount <=")); st != 422 || errCode(out) != "invalid_condition" {
		t.Fatalf("update: %d %v", st, out)
	}
	if r := mustAs[api.Role](s, 200, "GET", "/v1/entities/acme/roles/"+id, nil); r.Permissions.Objects[0].Actions[0].Condition != "resource.amount <= 1.0" {
		t.Fatalf("after a refused update: %+v", r.Permissions)
	}
	if got := roles(); got != before+1 {
		t.Fatalf("%d roles, want %d: a refused role was written", got, before+1)
	}
}

// Hole: a check's resource is the caller's to fill. Past the limits (many
// attributes, long strings, long lists, nested objects, long names) the
// check is 422 invalid_attributes and never answered, let alone allowed;
// the same in a batch. So is a user's attributes (nothing created), and
// who-can's resource.
func TestAttackConditionResourceLimits(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	// A role that allows whatever the resource holds, and one that allows
	// without any condition: neither may be reached with a bad resource.
	any1 := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("anything", "allowed", "true || resource.amount > 0.0")).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{any1}})

	many := map[string]any{}
	for i := 0; i < 65; i++ {
		many[fmt.Sprintf("a%02d", i)] = i
	}
	longList := make([]any, 1025)
	for i := range longList {
		longList[i] = "x"
	}
	deep := map[string]any{"a": 1.0}
	for i := 0; i < 50; i++ {
		deep = map[string]any{"n": deep}
	}
	for _, c := range []struct {
		name string
		res  map[string]any
	}{
		{"65 attributes", many},
		{"a string of 1,025 characters", map[string]any{"s": strings.Repeat("é", 1025)}},
		{"a string of 1 MiB", map[string]any{"s": strings.Repeat("x", 900<<10)}},
		{"a list of 1,025", map[string]any{"l": longList}},
		{"a nested object", map[string]any{"o": map[string]any{"amount": 1}}},
		{"deeply nested", deep},
		{"a list of objects", map[string]any{"l": []any{map[string]any{"a": 1}}}},
		{"a list of lists", map[string]any{"l": []any{[]any{1}}}},
		{"a name of 65 bytes", map[string]any{strings.Repeat("n", 65): 1}},
		{"an empty name", map[string]any{"": 1}},
	} {
		q := map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "resource": c.res}
		st, _, out := s.callBad("POST", "/v1/check", q)
		if st != 422 || errCode(out) != "invalid_attributes" || out["allowed"] != nil {
			t.Errorf("check, %s: %d %.300v", c.name, st, out)
		}
		st, _, out = s.callBad("POST", "/v1/check/batch", map[string]any{"checks": []any{
			map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"}, q}})
		if st != 422 || errCode(out) != "invalid_attributes" || out["results"] != nil {
			t.Errorf("batch, %s: %d %.300v", c.name, st, out)
		}
		st, _, out = s.callBad("POST", "/v1/entities/acme/users", map[string]any{"id": "eve", "attributes": c.res})
		if st != 422 || errCode(out) != "invalid_attributes" {
			t.Errorf("user, %s: %d %.300v", c.name, st, out)
		}
	}
	if st, _, _ := s.call("GET", "/v1/entities/acme/users/eve", nil); st != 404 {
		t.Fatalf("a user with bad attributes was created: %d", st)
	}
	// At the limits, it is answered.
	atLimit := map[string]any{"s": strings.Repeat("é", 1024), "l": longList[:1024]}
	for i := 0; i < 62; i++ {
		atLimit[fmt.Sprintf("a%02d", i)] = i
	}
	if d := condCheck(s, testToken, "acme", "ann", "approve", atLimit); !d.Allowed {
		t.Fatalf("at the limits: %+v", d)
	}
	// who-can's resource: not an object, or past the limits.
	for _, res := range []string{`[1]`, `{"a":`, `null`, `"x"`, `{"o":{"a":1}}`, `{"` + strings.Repeat("n", 65) + `":1}`} {
		q := url.Values{"object_type": {"payable"}, "action": {"approve"}, "resource": {res}}
		st, _, out := s.callBad("GET", "/v1/entities/acme/who-can?"+q.Encode(), nil)
		if st != 422 || errCode(out) != "invalid_attributes" {
			t.Errorf("who-can %s: %d %v", res, st, out)
		}
	}
	// No token: 401 before anything.
	if st, _, out := s.callTokenBad("", "POST", "/v1/check", map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable",
		"action": "approve", "resource": many}); st != 401 {
		t.Fatalf("no token: %d %v", st, out)
	}
}

// Hole: a value of the wrong type, or a missing one, must never turn a
// deny off or an allow on.
func TestAttackConditionWrongTypes(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	allow := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("small", "allowed", "resource.amount <= 100.0")).ID
	open := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "open", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}}).ID
	deny := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("frozen", "denied", "resource.frozen")).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{allow}})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "bob", "role_ids": []string{open, deny}})
	for _, res := range []map[string]any{
		{"amount": "1"}, {"amount": true}, {"amount": nil}, {"amount": []any{1}}, {"amount": "NaN"}, {}, nil,
	} {
		if d := condCheck(s, testToken, "acme", "ann", "approve", res); d.Allowed {
			t.Errorf("ann allowed with %v: %+v", res, d)
		}
	}
	if d := condCheck(s, testToken, "acme", "ann", "approve", map[string]any{"amount": 100}); !d.Allowed {
		t.Fatalf("ann with a good amount: %+v", d)
	}
	for _, res := range []map[string]any{
		{"frozen": "false"}, {"frozen": 0}, {"frozen": nil}, {"frozen": []any{false}}, {"frozen": true}, {}, nil,
	} {
		if d := condCheck(s, testToken, "acme", "bob", "approve", res); d.Allowed || d.Permission != "denied" {
			t.Errorf("bob not denied with %v: %+v", res, d)
		}
	}
	if d := condCheck(s, testToken, "acme", "bob", "approve", map[string]any{"frozen": false}); !d.Allowed {
		t.Fatalf("bob, not frozen: %+v", d)
	}
	// Numbers past float64 are refused, not rounded into an allow.
	st, _, out := s.call("POST", "/v1/check", `{"entity_id":"acme","user_id":"ann","object_type":"payable","action":"approve","resource":{"amount":1e400}}`)
	if st == 200 && out["allowed"] == true {
		t.Fatalf("1e400: %d %v", st, out)
	}
}

// Hole: conditions read the attributes of the user being checked. Another
// tenant's user of the same id, and its attributes, are never read: each
// entity's users are its own.
func TestAttackConditionOtherTenantsAttributes(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	for _, e := range []string{"rich", "poor"} {
		s.must(201, "POST", "/v1/entities", map[string]any{"id": e})
	}
	richRole := mustAs[api.Role](s, 201, "POST", "/v1/entities/rich/roles", condRight("payer", "allowed", "resource.amount <= user.approval_limit")).ID
	poorRole := mustAs[api.Role](s, 201, "POST", "/v1/entities/poor/roles", condRight("payer", "allowed", "resource.amount <= user.approval_limit")).ID
	s.must(201, "POST", "/v1/entities/rich/users", map[string]any{"id": "ann", "role_ids": []string{richRole}, "attributes": map[string]any{"approval_limit": 1e9}})
	s.must(201, "POST", "/v1/entities/poor/users", map[string]any{"id": "ann", "role_ids": []string{poorRole}})
	if d := condCheck(s, testToken, "rich", "ann", "approve", map[string]any{"amount": 5000}); !d.Allowed {
		t.Fatalf("rich ann: %+v", d)
	}
	if d := condCheck(s, testToken, "poor", "ann", "approve", map[string]any{"amount": 5000}); d.Allowed || len(d.Matched) != 1 || d.Matched[0].ConditionError == "" {
		t.Fatalf("poor ann read rich ann's attributes: %+v", d)
	}
	q := url.Values{"object_type": {"payable"}, "action": {"approve"}, "resource": {`{"amount":5000}`}}
	if page := mustAs[api.HolderPage](s, 200, "GET", "/v1/entities/poor/who-can?"+q.Encode(), nil); len(page.Data) != 0 {
		t.Fatalf("who-can in poor: %+v", page.Data)
	}
	// A client of poor sees nothing of rich's users and their attributes.
	tok := s.clientOf("poor", "check", "manage")
	if st, _, data := s.exchange(false, tok, "GET", "/v1/entities/rich/users/ann", nil); st != 404 || bytes.Contains(data, []byte("approval_limit")) {
		t.Fatalf("poor's client read rich's user: %d %s", st, data)
	}
	st, _, data := s.exchange(false, tok, "POST", "/v1/check", map[string]any{"entity_id": "rich", "user_id": "ann", "object_type": "payable",
		"action": "approve", "resource": map[string]any{"amount": 1}, "explain": true})
	if st != 404 || bytes.Contains(data, []byte("approval_limit")) {
		t.Fatalf("poor's client checked in rich: %d %s", st, data)
	}
}

// Hole: explain shows the rights that matched. A client that may only
// check (it may not read roles) sees role ids without names; a condition's
// text and why it could not be evaluated are the role's too: it sees
// "(hidden)" and a fixed error text, with the value. A client that may read
// roles sees them whole.
func TestAttackConditionExplainHiddenFromCheckOnlyClients(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	const secret = "resource.project == 'nightingale' && resource.amount <= 25000.0"
	approve := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("Nightingale approvers", "allowed", secret)).ID
	watch := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", condRight("Fraud watchlist", "denied", "resource.watchlist_hit")).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{approve, watch}})
	checker := s.clientOf("acme", "check")
	manager := s.clientOf("acme", "check", "manage")

	for _, res := range []map[string]any{
		{"project": "nightingale", "amount": 10, "watchlist_hit": false},
		{"project": "nightingale", "amount": 10},
		{"amount": 10, "watchlist_hit": false},
	} {
		q := map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "resource": res, "explain": true}
		st, _, one := s.exchange(false, checker, "POST", "/v1/check", q)
		st2, _, batch := s.exchange(false, checker, "POST", "/v1/check/batch", map[string]any{"checks": []any{q}})
		if st != 200 || st2 != 200 {
			t.Fatalf("%v: %d %s / %d %s", res, st, one, st2, batch)
		}
		for _, body := range [][]byte{one, batch} {
			for _, leak := range []string{"nightingale", "project", "25000", "watchlist", "Fraud", "Nightingale"} {
				if bytes.Contains(body, []byte(leak)) {
					t.Errorf("a check-only client learned %q: %s", leak, body)
				}
			}
		}
		d := condCheck(s, checker, "acme", "ann", "approve", res)
		for _, m := range append(d.Matched, d.DeniedBy...) {
			if m.RoleName != nil || m.Condition != "(hidden)" || (m.ConditionValue == nil) == (m.ConditionError == "") {
				t.Errorf("check-only match: %+v", m)
			}
		}
		// The manager sees it all, and both get the same decision.
		full := condCheck(s, manager, "acme", "ann", "approve", res)
		if full.Allowed != d.Allowed || full.Permission != d.Permission || len(full.Matched) != len(d.Matched) {
			t.Fatalf("manager %+v, check-only %+v", full, d)
		}
		found := false
		for _, m := range full.Matched {
			found = found || m.Condition == secret
		}
		if !found {
			t.Fatalf("the manager does not see the condition: %+v", full.Matched)
		}
	}
}
