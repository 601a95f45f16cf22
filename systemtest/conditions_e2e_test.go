package systemtest

import (
	"bytes"
	"encoding/csv"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/rolegate/rolegate/api"
)

// Conditional rights end to end over HTTP: a role's condition stored and
// shown, a user's attributes, checks with a resource (allowed, refused, a
// missing attribute, a conditional deny), explain, who-can with and without
// a resource, effective rights, dry runs, the access report and an import.

const (
	condEUR   = "resource.amount <= 10000.0 && resource.currency == 'EUR'"
	condLimit = "resource.amount <= user.approval_limit"
	condBlock = "resource.region == 'sanctioned'"
)

// condRole makes a role of one right on payable.
func condRole(s *server, ent, name, action, perm, cond string) string {
	s.t.Helper()
	act := map[string]any{"action_name": action, "permission": perm}
	if cond != "" {
		act["condition"] = cond
	}
	return mustAs[api.Role](s, 201, "POST", "/v1/entities/"+ent+"/roles", map[string]any{"name": name, "permissions": map[string]any{
		"objects": []any{map[string]any{"object_type": "payable", "actions": []any{act}}}}}).ID
}

// condCheck asks one explained check.
func condCheck(s *server, token, ent, user, action string, resource map[string]any) api.Decision {
	s.t.Helper()
	q := map[string]any{"entity_id": ent, "user_id": user, "object_type": "payable", "action": action, "explain": true}
	if resource != nil {
		q["resource"] = resource
	}
	st, _, data := s.exchange(false, token, "POST", "/v1/check", q)
	if st != 200 {
		s.t.Fatalf("check %s %s %v: %d %s", user, action, resource, st, data)
	}
	return decodeAs[api.Decision](s, "POST", "/v1/check", data)
}

func TestConditionsEndToEnd(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	approver := condRole(s, "acme", "approver", "approve", "allowed", condEUR)
	payer := condRole(s, "acme", "payer", "pay", "allowed", condLimit)
	blocked := condRole(s, "acme", "blocked", "approve", "denied", condBlock)

	// The role shows its condition as written.
	r := mustAs[api.Role](s, 200, "GET", "/v1/entities/acme/roles/"+approver, nil)
	if a := r.Permissions.Objects[0].Actions[0]; a.Condition != condEUR || a.Permission != "allowed" {
		t.Fatalf("role: %+v", r.Permissions)
	}

	// Users: attributes shown, {} when none.
	ann := mustAs[api.User](s, 201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann", "role_ids": []string{approver, payer},
		"attributes": map[string]any{"approval_limit": 5000, "department": "finance"}})
	if ann.Attributes["approval_limit"] != 5000.0 || ann.Attributes["department"] != "finance" {
		t.Fatalf("ann: %+v", ann)
	}
	st, _, raw := s.exchange(false, testToken, "POST", "/v1/entities/acme/users", map[string]any{"id": "bob", "role_ids": []string{payer}})
	if st != 201 || !bytes.Contains(raw, []byte(`"attributes":{}`)) {
		t.Fatalf("bob: %d %s", st, raw)
	}
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "cat", "role_ids": []string{approver, blocked}})
	if u := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/ann", nil); u.Attributes["approval_limit"] != 5000.0 {
		t.Fatalf("GET ann: %+v", u)
	}

	eur := func(amount float64) map[string]any { return map[string]any{"amount": amount, "currency": "EUR"} }
	for _, c := range []struct {
		user, action string
		resource     map[string]any
		allowed      bool
		permission   string
	}{
		{"ann", "approve", eur(1200), true, "allowed"},
		{"ann", "approve", eur(10000), true, "allowed"},
		{"ann", "approve", eur(20000), false, "not_allowed"},
		{"ann", "approve", map[string]any{"amount": 1200, "currency": "USD"}, false, "not_allowed"},
		{"ann", "approve", map[string]any{"amount": 1200}, false, "not_allowed"}, // missing currency: the allow does not count
		{"ann", "approve", nil, false, "not_allowed"},
		{"ann", "pay", eur(4000), true, "allowed"},
		{"ann", "pay", eur(6000), false, "not_allowed"},
		{"bob", "pay", eur(10), false, "not_allowed"}, // no approval_limit
		{"cat", "approve", map[string]any{"amount": 1200, "currency": "EUR", "region": "eu"}, true, "allowed"},
		{"cat", "approve", map[string]any{"amount": 1200, "currency": "EUR", "region": "sanctioned"}, false, "denied"},
		{"cat", "approve", eur(1200), false, "denied"}, // the deny cannot be evaluated: it applies
	} {
		d := condCheck(s, testToken, "acme", c.user, c.action, c.resource)
		if d.Allowed != c.allowed || d.Permission != c.permission {
			t.Errorf("%s %s %v: %v %s, want %v %s", c.user, c.action, c.resource, d.Allowed, d.Permission, c.allowed, c.permission)
		}
	}

	// Explain: each conditional match with its value or its error.
	d := condCheck(s, testToken, "acme", "ann", "approve", eur(20000))
	if len(d.Matched) != 1 || d.Matched[0].Condition != condEUR || d.Matched[0].ConditionValue == nil || *d.Matched[0].ConditionValue || d.Matched[0].ConditionError != "" {
		t.Fatalf("explain, false: %+v", d.Matched)
	}
	d = condCheck(s, testToken, "acme", "ann", "approve", map[string]any{"amount": 1})
	if len(d.Matched) != 1 || d.Matched[0].ConditionValue != nil || !strings.Contains(d.Matched[0].ConditionError, "currency") {
		t.Fatalf("explain, missing attribute: %+v", d.Matched)
	}
	d = condCheck(s, testToken, "acme", "cat", "approve", eur(1))
	if len(d.DeniedBy) != 1 || d.DeniedBy[0].Condition != condBlock || d.DeniedBy[0].ConditionError == "" || *d.DeniedBy[0].RoleName != "blocked" {
		t.Fatalf("explain, erring deny: %+v", d)
	}
	d = condCheck(s, testToken, "acme", "ann", "approve", eur(1))
	if len(d.Matched) != 1 || d.Matched[0].ConditionValue == nil || !*d.Matched[0].ConditionValue {
		t.Fatalf("explain, true: %+v", d.Matched)
	}

	// A batch decides each check over its own resource.
	batch := mustAs[api.CheckBatchResult](s, 200, "POST", "/v1/check/batch", map[string]any{"checks": []any{
		map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "resource": eur(1)},
		map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "resource": eur(1e6)},
		map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve", "resource": eur(2)},
		map[string]any{"entity_id": "acme", "user_id": "ann", "object_type": "payable", "action": "approve"},
	}})
	if got := []bool{batch.Results[0].Allowed, batch.Results[1].Allowed, batch.Results[2].Allowed, batch.Results[3].Allowed}; got[0] != true || got[1] || !got[2] || got[3] {
		t.Fatalf("batch: %v", got)
	}

	// PATCH replaces the attributes whole; {} clears them.
	u := mustAs[api.User](s, 200, "PATCH", "/v1/entities/acme/users/ann", map[string]any{"attributes": map[string]any{"approval_limit": 10000}})
	if len(u.Attributes) != 1 || u.Attributes["approval_limit"] != 10000.0 {
		t.Fatalf("patched: %+v", u.Attributes)
	}
	if d := condCheck(s, testToken, "acme", "ann", "pay", eur(6000)); !d.Allowed {
		t.Fatalf("a raised limit: %+v", d)
	}
	u = mustAs[api.User](s, 200, "PATCH", "/v1/entities/acme/users/ann", map[string]any{"name": "Ann"})
	if u.Attributes["approval_limit"] != 10000.0 {
		t.Fatalf("a PATCH without attributes changed them: %+v", u.Attributes)
	}
	st, _, raw = s.exchange(false, testToken, "PATCH", "/v1/entities/acme/users/ann", map[string]any{"attributes": map[string]any{}})
	if st != 200 || !bytes.Contains(raw, []byte(`"attributes":{}`)) {
		t.Fatalf("cleared: %d %s", st, raw)
	}
	if d := condCheck(s, testToken, "acme", "ann", "pay", eur(1)); d.Allowed {
		t.Fatalf("cleared attributes still allow: %+v", d)
	}
	s.must(200, "PATCH", "/v1/entities/acme/users/ann", map[string]any{"attributes": map[string]any{"approval_limit": 5000}})

	// Who can: without a resource, those allowed under conditions with the
	// condition; with one, those for whom it holds.
	whoCan := func(action string, resource string) map[string]string {
		t.Helper()
		q := url.Values{"object_type": {"payable"}, "action": {action}}
		if resource != "" {
			q.Set("resource", resource)
		}
		page := mustAs[api.HolderPage](s, 200, "GET", "/v1/entities/acme/who-can?"+q.Encode(), nil)
		out := map[string]string{}
		for _, h := range page.Data {
			out[h.UserID] = h.Condition
		}
		return out
	}
	if got := whoCan("pay", ""); len(got) != 2 || got["ann"] != condLimit || got["bob"] != condLimit {
		t.Fatalf("who can pay: %v", got)
	}
	if got := whoCan("pay", `{"amount":4000}`); len(got) != 1 || got["ann"] != "" {
		t.Fatalf("who can pay 4000: %v", got)
	}
	if got := whoCan("pay", `{"amount":6000}`); len(got) != 0 {
		t.Fatalf("who can pay 6000: %v", got)
	}
	if got := whoCan("approve", `{"amount":1200,"currency":"EUR","region":"eu"}`); len(got) != 2 || got["ann"] != "" || got["cat"] != "" {
		t.Fatalf("who can approve in the eu: %v", got)
	}
	if got := whoCan("approve", `{"amount":1200,"currency":"EUR"}`); len(got) != 1 || got["ann"] != "" {
		t.Fatalf("who can approve, no region (cat's deny applies): %v", got)
	}
	if got := whoCan("approve", ""); len(got) != 2 || got["ann"] != condEUR || !strings.Contains(got["cat"], condBlock) || !strings.Contains(got["cat"], condEUR) {
		t.Fatalf("who can approve: %v", got)
	}

	// Effective rights carry the condition.
	perms := mustAs[api.Permissions](s, 200, "GET", "/v1/entities/acme/users/ann/permissions", nil)
	conds := map[string]string{}
	for _, o := range perms.Objects {
		for _, a := range o.Actions {
			conds[o.ObjectType+"/"+a.ActionName] = a.Condition
		}
	}
	if conds["payable/approve"] != condEUR || conds["payable/pay"] != condLimit {
		t.Fatalf("permissions: %+v", perms)
	}

	// The access report, JSON and CSV.
	rep := mustAs[api.AccessReport](s, 200, "GET", "/v1/entities/acme/access-report", nil)
	rows := map[string]string{}
	for _, r := range rep.Data {
		rows[r.UserID+" "+r.Action] = r.Condition
	}
	if rows["ann approve"] != condEUR || rows["bob pay"] != condLimit {
		t.Fatalf("report: %+v", rep.Data)
	}
	st, _, body := s.report(t, "acme", "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if st != 200 || err != nil || len(recs) != len(rep.Data)+1 || recs[0][7] != "condition" {
		t.Fatalf("csv: %d %v %v", st, err, recs)
	}
	csvRows := map[string]string{}
	for _, r := range recs[1:] {
		csvRows[r[0]+" "+r[3]] = r[7]
	}
	if !mapsEqual(rows, csvRows) {
		t.Fatalf("csv rows %v, json %v", csvRows, rows)
	}

	// A dry run of a changed condition: lost with the old, gained with the new.
	const condEUR2 = "resource.amount <= 500.0"
	dry := mustAs[api.DryRun](s, 200, "PATCH", "/v1/entities/acme/roles/"+approver+"?dry_run=true", map[string]any{"permissions": map[string]any{
		"objects": []any{map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed", "condition": condEUR2}}}}}})
	var lost, gained []string
	for _, r := range dry.Lost {
		lost = append(lost, r.UserID+" "+r.Condition)
	}
	for _, r := range dry.Gained {
		gained = append(gained, r.UserID+" "+r.Condition)
	}
	sort.Strings(lost)
	sort.Strings(gained)
	if !contains(lost, "ann "+condEUR) || !contains(gained, "ann "+condEUR2) {
		t.Fatalf("dry run: lost %v gained %v", lost, gained)
	}

	// An import sets attributes.
	imp := mustAs[api.ImportResult](s, 200, "POST", "/v1/entities/acme/users/import", map[string]any{"users": []any{
		map[string]any{"id": "dan", "role_ids": []string{payer}, "attributes": map[string]any{"approval_limit": 100}}}})
	if imp.Created != 1 {
		t.Fatalf("import: %+v", imp)
	}
	if u := mustAs[api.User](s, 200, "GET", "/v1/entities/acme/users/dan", nil); u.Attributes["approval_limit"] != 100.0 {
		t.Fatalf("imported: %+v", u)
	}
	if d := condCheck(s, testToken, "acme", "dan", "pay", eur(99)); !d.Allowed {
		t.Fatalf("imported user: %+v", d)
	}
	if d := condCheck(s, testToken, "acme", "dan", "pay", eur(101)); d.Allowed {
		t.Fatalf("imported user over the limit: %+v", d)
	}

	// The condition is in the audit log's role snapshot.
	st, _, raw = s.exchange(false, testToken, "GET", "/v1/entities/acme/audit-events?object_type=role", nil)
	if st != 200 || !bytes.Contains(raw, []byte(`"condition":"resource.amount \u003c= 10000.0 \u0026\u0026 resource.currency == 'EUR'"`)) {
		t.Fatalf("audit: %d %s", st, raw)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
