package systemtest

import (
	"fmt"
	"strings"
	"testing"
)

// TestConsoleConstraints: on the constraints page an admin makes
// maker-checker (its two rights typed in), sees it listed and nobody in
// violation; then assigning the second right's role to a user holding the
// first is refused on the user's page, with the violation shown (who, which
// constraint, through which roles), and nothing is assigned.
func TestConsoleConstraints(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	sodRole(s, "acme", "maker", false, "payable", "create", "allowed")
	checker := sodRole(s, "acme", "checker", false, "payable", "approve", "allowed")
	maker := s.must(200, "GET", "/v1/entities/acme/roles?name=maker", nil)
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "alice", "role_ids": []string{get(maker, "data", 0, "id").(string)}})

	u.signIn(p.URL, testToken)
	u.until("the entity list", `!!document.querySelector('#entity-list a[href="#/e/acme/roles"]')`)
	u.click(`#entity-list a[href="#/e/acme/roles"]`)
	u.tab("acme", "constraints")
	u.until("no constraints", `document.querySelector('#constraint-list').innerText.includes('No constraints yet.')`)
	u.click(`a[href="#/e/acme/constraints/new"]`)
	u.until("the editor", `document.querySelectorAll('#c-rights .c-right').length === 2`)
	u.fill("#c-name", "maker-checker")
	u.fill("#c-description", "no one both creates and approves a payable")
	for i, r := range [][2]string{{"payable", "create"}, {"payable", "approve"}} {
		u.fill(fmt.Sprintf("#c-rights .c-right:nth-child(%d) .c-object-type", i+1), r[0])
		u.fill(fmt.Sprintf("#c-rights .c-right:nth-child(%d) .c-action", i+1), r[1])
	}
	u.click(`#constraint-form button[type="submit"]`)
	u.until("the saved constraint", `/^#\/e\/acme\/constraints\/[^/]+$/.test(location.hash) && location.hash !== '#/e/acme/constraints/new' && !!document.querySelector('#no-violations')`)
	u.until("its rights loaded", `document.querySelector('#c-name').value === 'maker-checker' && document.querySelectorAll('#c-rights .c-right').length === 2`)
	u.shot("constraint")
	list := s.must(200, "GET", "/v1/entities/acme/constraints", nil)
	if get(list, "data", 0, "name") != "maker-checker" || get(list, "data", 0, "mode") != "enforce" || len(arr(get(list, "data", 0, "rights"))) != 2 {
		t.Fatalf("constraints as saved: %v", list)
	}
	u.tab("acme", "constraints")
	u.until("the list", `document.querySelector('#constraint-list').innerText.includes('payable:create, payable:approve')`)

	// The refusal where an assignment is saved.
	u.tab("acme", "users")
	u.until("alice in the list", `!!document.querySelector('#user-list a[href="#/e/acme/users/alice"]')`)
	u.click(`#user-list a[href="#/e/acme/users/alice"]`)
	u.until("the role choice", `!!document.querySelector('#assign-role option[value="`+checker+`"]')`)
	u.choose("#assign-role", checker)
	u.click(`#assign-form button[type="submit"]`)
	u.until("the refusal", `!!document.querySelector('#refused-violations')`)
	got := u.textOf("#refused-violations")
	for _, want := range []string{"alice", "maker-checker", "payable:create", "role maker", "payable:approve", "role checker"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the refusal shows %q, lacking %q", got, want)
		}
	}
	if code := u.textOf(".error-code"); code != "separation_of_duties" {
		t.Fatalf("error code shown: %q", code)
	}
	u.shot("constraint-refused")
	if roles := s.must(200, "GET", "/v1/entities/acme/users/alice/roles", nil); len(arr(roles["data"])) != 1 {
		t.Fatalf("alice's roles after the refusal: %v", roles)
	}
	if probs := plog.problems(); len(probs) > 0 {
		t.Fatalf("the page logged problems: %v", probs)
	}
	for _, seen := range p.seen() {
		if strings.Contains(seen, testToken) {
			t.Fatalf("the token in a URL: %s", seen)
		}
	}
}
