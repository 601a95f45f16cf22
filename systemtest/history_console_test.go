package systemtest

import (
	"strings"
	"testing"
	"time"
)

// The console asks the past: a check as of an instant when the user held a
// role is allowed (now it is not), who-can as of then lists the user, the
// History page shows the interval with its role and the changes that
// opened and closed it, and a malformed instant shows the API's
// invalid_as_of. Every call is checked against the OpenAPI document by the
// proxy.
func TestConsoleHistory(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "approve", "permission": "allowed"}}}}}})
	roleID := role["id"].(string)
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-1", "role_ids": []string{}})
	s.must(200, "PUT", "/v1/entities/acme/users/u-1/roles/"+roleID, nil)
	time.Sleep(30 * time.Millisecond)
	held := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(30 * time.Millisecond)
	s.must(204, "DELETE", "/v1/entities/acme/users/u-1/roles/"+roleID, nil)

	u.signIn(p.URL, testToken)
	u.until("the entity list", `!!document.querySelector('#entity-list a[href="#/e/acme/roles"]')`)
	u.do(`location.hash = '#/e/acme/check'`)
	u.until("the check form", `!!document.querySelector('#check-as-of')`)
	check := func(asOf string) string {
		t.Helper()
		u.fill("#check-user", "u-1")
		u.fill("#check-object-type", "payable")
		u.fill("#check-action", "approve")
		u.fill("#check-as-of", asOf)
		u.do(`document.querySelector('#check-result').replaceChildren()`)
		u.click(`#check-form button[type="submit"]`)
		u.until("the answer", `!!document.querySelector('#check-result [data-allowed], #check-result .error-code')`)
		return u.js(`(document.querySelector('#check-result [data-allowed]') || {dataset: {allowed: document.querySelector('#check-result .error-code').textContent}}).dataset.allowed`)
	}
	if got := check(held); got != "true" {
		t.Fatalf("check as of %s: %s\n%s", held, got, u.textOf("#check-result"))
	}
	if !strings.Contains(u.textOf("#check-result"), "as of "+held) {
		t.Fatalf("the answer does not say which instant: %s", u.textOf("#check-result"))
	}
	u.shot("check-as-of")
	if got := check(""); got != "false" {
		t.Fatalf("check now: %s", got)
	}
	if got := check("31.03.2026"); got != "invalid_as_of" {
		t.Fatalf("check as of a malformed instant: %s", got)
	}

	u.tab("acme", "who-can")
	u.fill("#who-object-type", "payable")
	u.fill("#who-action", "approve")
	u.fill("#who-as-of", held)
	u.click(`#who-form button[type="submit"]`)
	u.until("u-1 among the holders", `document.querySelector('#who-result').innerText.includes('u-1')`)
	u.shot("who-can-as-of")

	u.tab("acme", "history")
	u.fill("#history-user", "u-1")
	u.fill("#history-object-type", "payable")
	u.fill("#history-action", "approve")
	u.click(`#history-form button[type="submit"]`)
	u.until("the interval", `!!document.querySelector('#history-table tbody tr')`)
	row := u.textOf("#history-table tbody tr")
	for _, want := range []string{"approver", "assignment.create u-1", "assignment.delete u-1", "revision"} {
		if !strings.Contains(row, want) {
			t.Fatalf("the interval lacks %q: %s", want, row)
		}
	}
	if n := u.js(`String(document.querySelectorAll('#history-table tbody tr').length)`); n != "1" {
		t.Fatalf("%s intervals shown, want 1", n)
	}
	u.shot("history")
	if probs := plog.problems(); len(probs) > 0 {
		t.Fatalf("the page reported problems: %v", probs)
	}
	for _, seen := range p.seen() {
		if strings.Contains(seen, "token") {
			t.Fatalf("a call carried a token in its URL: %s", seen)
		}
	}
}
