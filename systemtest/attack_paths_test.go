package systemtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/rolegate/rolegate/api"
	"github.com/rolegate/rolegate/internal/app"
)

// Attacks on paths (issue 21): a dot segment or a trailing slash turned into
// a write on the entity, and ids no route could reach.

// followingClient follows redirects, as browsers' fetch and most HTTP
// clients do (Go's resends the method, the body and the token on a 307 to
// the same host). It has a transport of its own, so that what it is
// answered is what the server does, not what the contract check makes of
// it (contract_test.go).
func followingClient() *http.Client { return &http.Client{Transport: &http.Transport{}} }

// rawCall sends one request with the admin token through hc and decodes the
// JSON answer (when there is one).
func rawCall(t *testing.T, hc *http.Client, method, rawURL, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return res.StatusCode, res.Header, out
}

// TestAttackTrailingSlashAndDotSegmentDeleteNothing: "DELETE
// /v1/entities/acme/" was redirected (307) to the entity, and a client that
// follows redirects deleted it; a console deleting the user ".." sent
// ".../users/..", which the browser resolves to the same path. No route
// answers a redirect any more: an unmatched path is 404 route_not_found,
// and the entity, its users and its roles are all still there.
func TestAttackTrailingSlashAndDotSegmentDeleteNothing(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "ann"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "viewer"}).ID

	hc := followingClient()
	base, _ := url.Parse(s.base)
	// What a browser sends for ".../users/.." (the URL parser resolves dot
	// segments, %2E%2E included).
	browser := base.ResolveReference(&url.URL{Path: "/v1/entities/acme/users/.."}).String()
	if !strings.HasSuffix(browser, "/v1/entities/acme/") {
		t.Fatalf("the browser's path: %s", browser)
	}
	for _, c := range []struct{ method, url string }{
		{"DELETE", s.base + "/v1/entities/acme/"},
		{"DELETE", browser},
		{"DELETE", s.base + "/v1/entities/acme/users/ann/"},
		{"DELETE", s.base + "/v1/entities/acme/roles/" + role + "/"},
		{"DELETE", s.base + "/v1/entities/acme/users/ann/roles/" + role + "/"},
		{"PATCH", s.base + "/v1/entities/acme/roles/" + role + "/"},
		{"GET", s.base + "/v1/entities/acme/roles/"},
		{"DELETE", s.base + "/V1/ENTITIES/ACME"},
		{"DELETE", s.base + "//v1/entities/acme"},
		{"DELETE", s.base + "/v1//entities/acme"},
		{"DELETE", s.base + "/v1/roles/" + role + "/"},                    // Monite
		{"DELETE", s.base + "/v1/accounts/acme/auth/roles/" + role + "/"}, // Dintero
		{"DELETE", s.base + "/api/v1/roles/" + role + "/"},                // Papershift
	} {
		body := ""
		if c.method == "PATCH" {
			body = `{"name":"renamed"}`
		}
		st, h, out := rawCall(t, hc, c.method, c.url, body)
		if st != 404 {
			t.Errorf("%s %s: %d %v, want 404", c.method, c.url, st, out)
		}
		if strings.HasPrefix(c.url, s.base+"/v1/entities") && errCode(out) != "route_not_found" {
			t.Errorf("%s %s: %v, want route_not_found", c.method, c.url, out)
		}
		if h.Get("Location") != "" {
			t.Errorf("%s %s: Location %q", c.method, c.url, h.Get("Location"))
		}
	}
	// Without following: the answer itself is the 404, never a 3xx.
	noFollow := &http.Client{Transport: &http.Transport{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if st, h, _ := rawCall(t, noFollow, "DELETE", s.base+"/v1/entities/acme/", ""); st != 404 || h.Get("Location") != "" {
		t.Fatalf("DELETE /v1/entities/acme/ not followed: %d %v", st, h)
	}
	// The literal dot segment, as Go sends it: no user ".." exists.
	if st, _, out := rawCall(t, hc, "DELETE", s.base+"/v1/entities/acme/users/..", ""); st/100 == 2 {
		t.Fatalf("DELETE .../users/..: %d %v", st, out)
	}
	s.must(200, "GET", "/v1/entities/acme", nil)
	s.must(200, "GET", "/v1/entities/acme/users/ann", nil)
	if got := s.must(200, "GET", "/v1/entities/acme/roles/"+role, nil)["name"]; got != "viewer" {
		t.Fatalf("the role was changed: %v", got)
	}
}

// TestAttackDotIDsRefused: "." and ".." are refused as entity, user and
// scope ids by every API and the import (422 with the id's usual code), so
// no path names one; role and client ids are UUIDs the server makes.
func TestAttackDotIDsRefused(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T123"})
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "ann"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/T123/roles", map[string]any{"name": "viewer"}).ID
	// Dots inside an id stay allowed.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme.eu"})
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "a.b"})
	s.must(201, "POST", "/v1/entities/T123/users", map[string]any{"id": "..."})
	for _, id := range []string{".", ".."} {
		if st, _, out := s.callBad("POST", "/v1/entities", map[string]any{"id": id}); st != 422 || errCode(out) != "invalid_entity_id" {
			t.Errorf("entity %q: %d %v", id, st, out)
		}
		if st, _, out := s.callBad("POST", "/v1/entities/T123/users", map[string]any{"id": id}); st != 422 || errCode(out) != "invalid_user_id" {
			t.Errorf("user %q: %d %v", id, st, out)
		}
		st, _, out := s.callBad("POST", "/v1/entities/T123/users/import", map[string]any{"users": []any{map[string]any{"id": id}}})
		if st != 422 || errCode(out) != "invalid_import" && !strings.Contains(mustJSON(out), "invalid_user_id") {
			t.Errorf("imported user %q: %d %v", id, st, out)
		}
		st, _, out = s.callBad("POST", "/v1/entities/T123/users/import", map[string]any{"users": []any{map[string]any{"id": "bob",
			"scoped_roles": []any{map[string]any{"scope": id, "role_ids": []string{role}}}}}})
		if st != 422 || !strings.Contains(mustJSON(out), "invalid_scope") {
			t.Errorf("imported scope %q: %d %v", id, st, out)
		}
		if st, _, out := s.callBad("PUT", "/v1/entities/T123/users/ann/roles/"+role, map[string]any{"scope": id}); st != 422 || errCode(out) != "invalid_scope" {
			t.Errorf("assignment scope %q: %d %v", id, st, out)
		}
		if st, _, out := s.callBad("POST", "/v1/clients", map[string]any{"name": "c", "scopes": []string{"check"}, "entity_id": id}); st/100 != 4 {
			t.Errorf("client of entity %q: %d %v", id, st, out)
		}
		// The facades' entity headers.
		if st, _, _ := s.raw("GET", "/v1/roles", "", "x-monite-version", "2024-05-25", "x-monite-entity-id", id); st != 422 {
			t.Errorf("Monite entity %q: %d", id, st)
		}
		if st, _, _ := s.raw("GET", "/api/v1/roles", "", "X-Entity-Id", id); st != 400 {
			t.Errorf("Papershift entity %q: %d", id, st)
		}
	}
	users := mustAs[api.Page[api.User]](s, 200, "GET", "/v1/entities/T123/users", nil).Data
	for _, u := range users {
		if id := u.ID; id == "." || id == ".." {
			t.Fatalf("user %q was created", id)
		}
	}
	if st, _, _ := s.call("GET", "/v1/entities/..", nil); st != 404 {
		t.Fatalf("entity ..: %d", st)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAttackSlashIDsManageable: a user id may hold "/" and any other
// printable ASCII character (an identity provider's subject); such a user
// is read, assigned, unassigned and deleted through its escaped form (%2F)
// in the native API, the Dintero facade and the CLI, and the Location of its
// creation is escaped. Before, "a/b" was created and then no route reached
// it, and the Go client (the CLI) escaped ids twice.
func TestAttackSlashIDsManageable(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "T123"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/T123/roles", map[string]any{"name": "viewer",
		"permissions": map[string]any{"objects": []any{map[string]any{"object_type": "payable", "actions": []any{map[string]any{"action_name": "read", "permission": "allowed"}}}}}}).ID
	for _, id := range []string{"a/b", "a/../b", "/", "auth0|x+y", "a%2Fb", "a?b#c", "./x", "x/.."} {
		p := "/v1/entities/T123/users/" + url.PathEscape(id)
		st, h, out := s.call("POST", "/v1/entities/T123/users", map[string]any{"id": id, "role_ids": []string{}})
		if st != 201 || h.Get("Location") != p {
			t.Fatalf("create %q: %d Location %q %v; want Location %q", id, st, h.Get("Location"), out, p)
		}
		if got := s.must(200, "GET", p, nil)["id"]; got != id {
			t.Fatalf("GET %s: id %v, want %q", p, got, id)
		}
		s.must(200, "PUT", p+"/roles/"+role, map[string]any{})
		if !s.checkAllowed("T123", id, "payable", "read", "") {
			t.Fatalf("%q: not allowed after the assignment", id)
		}
		if n := len(mustAs[api.Page[api.UserRole]](s, 200, "GET", p+"/roles", nil).Data); n != 1 {
			t.Fatalf("%q holds %d roles", id, n)
		}
		s.must(200, "GET", p+"/permissions", nil)
		s.must(200, "PATCH", p, map[string]any{"name": "Renamed"})
		if got := get(s.expect(200, "GET", "/v1/accounts/T123/management/users/"+url.PathEscape(id), ""), "id"); got != id {
			t.Fatalf("Dintero GET %q: %v", id, got)
		}
		if st, _, out := s.call("DELETE", p+"/roles/"+role, nil); st != 204 {
			t.Fatalf("unassign %q: %d %v", id, st, out)
		}
		if s.checkAllowed("T123", id, "payable", "read", "") {
			t.Fatalf("%q: still allowed after the unassignment", id)
		}
		if st, _, out := s.call("DELETE", p, nil); st != 204 {
			t.Fatalf("delete %q: %d %v", id, st, out)
		}
		if st, _, _ := s.call("GET", p, nil); st != 404 {
			t.Fatalf("%q after delete: %d", id, st)
		}
	}

	// The CLI (the Go client): the same ids by their plain names.
	env := map[string]string{"ROLEGATE_SERVER": s.base, "ROLEGATE_TOKEN": testToken, "ROLEGATE_ENTITY": "T123"}
	cli := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := app.Run(t.Context(), append(args, "-o", "json"), func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
			t.Fatalf("rolegate %v: %v %s", args, err, stderr.String())
		}
		return stdout.String()
	}
	for _, id := range []string{"a/b", "auth0|x+y", "a%2Fb", "x/.."} {
		cli("users", "create", id)
		if out := cli("users", "get", id); !strings.Contains(out, mustJSON(id)) {
			t.Fatalf("CLI users get %q: %s", id, out)
		}
		cli("users", "assign", id, "viewer")
		if !s.checkAllowed("T123", id, "payable", "read", "") {
			t.Fatalf("CLI %q: not allowed after assign", id)
		}
		cli("users", "unassign", id, "viewer")
		if s.checkAllowed("T123", id, "payable", "read", "") {
			t.Fatalf("CLI %q: allowed after unassign", id)
		}
		cli("users", "delete", id)
		if st, _, _ := s.call("GET", "/v1/entities/T123/users/"+url.PathEscape(id), nil); st != 404 {
			t.Fatalf("CLI %q after delete: %d", id, st)
		}
	}
}

// TestAttackConsoleSendsNoDotSegment: the console escapes each id into one
// path segment and does not send an id "." or ".." at all (the browser
// resolves it away, %2E%2E included: a user ".." deleted from the console
// was a DELETE of the entity). Needs Chromium (skipped without it).
func TestAttackConsoleSendsNoDotSegment(t *testing.T) {
	ctx, _ := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	u.run("open the console", chromedp.Navigate(p.URL+"/console"), chromedp.WaitVisible(chromedp.CSS("#token")))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import('/console/api.js').then((m) => {
		const out = [];
		for (const id of ['.', '..']) {
			try { out.push(m.path('entities', 'acme', 'users', id)); } catch (e) { out.push(e.code); }
		}
		out.push(m.path('entities', 'acme', 'users', 'a/b'), m.path('entities', 'acme.eu'));
		return out.join(' ');
	})`, chromedp.EvalAwaitPromise))
	if want := "dot_segment dot_segment /v1/entities/acme/users/a%2Fb /v1/entities/acme.eu"; err != nil || got != want {
		t.Fatalf("console paths: %q %v, want %q", got, err, want)
	}

	// A user "a/b" is shown, unassigned and deleted from its page.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := mustAs[api.Role](s, 201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "viewer"}).ID
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "a/b", "role_ids": []string{role}})
	u.signIn(p.URL, testToken)
	u.until("signed in", `!document.querySelector('#token')`)
	u.do(`location.hash = '#/e/acme/users/a%2Fb'`)
	u.until("the user's page", `document.body.innerText.includes('User a/b') && document.body.innerText.includes('viewer')`)
	u.click(`button[aria-label="Unassign viewer"]`)
	u.until("the role unassigned", `document.body.innerText.includes('No roles.')`)
	u.click(`#delete-user`)
	u.until("the confirmation", `!!document.querySelector('dialog[open]')`)
	u.click(`dialog[open] button[data-confirm]`)
	u.until("the users page", `location.hash === '#/e/acme/users'`)
	if st, _, _ := s.call("GET", "/v1/entities/acme/users/a%2Fb", nil); st != 404 {
		t.Fatalf("a/b after the console deleted it: %d", st)
	}
	s.must(200, "GET", "/v1/entities/acme", nil)
	for _, seen := range p.seen() {
		if strings.Contains(seen, "/users/a/b") {
			t.Fatalf("the console sent %s", seen)
		}
	}
}
