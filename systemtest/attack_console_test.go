package systemtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Attacks on the admin console (/console): its files are public and hold no
// data, so nothing else may be reached through its path; the API behind it
// still needs a token in the Authorization header (never one in a URL);
// every answer carries the CSP, which the browser enforces.

// consoleGet fetches a console path without a token.
func consoleGet(t *testing.T, s *server, path string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestAttackConsoleFilesPublicAPINot: the page and its files come without a
// token; the API calls it makes do not, and a token in the query string is
// not one.
func TestAttackConsoleFilesPublicAPINot(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	for _, p := range []string{"/console", "/console/", "/console/app.js", "/console/api.js", "/console/dom.js", "/console/console.css"} {
		if res, body := consoleGet(t, s, p); res.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s without a token: %d", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/v1/entities", "/v1/entities?access_token=" + testToken, "/v1/entities?token=" + testToken,
		"/v1/entities/acme/roles?authorization=Bearer+" + testToken} {
		st, _, out := s.callTokenBad("", "GET", p, nil)
		if st != 401 || strings.Contains(fmt.Sprint(out), "acme") {
			t.Errorf("GET %s without an Authorization header: %d %v", p, st, out)
		}
	}
	// The console's files answer the same with or without a token, and a
	// bad token does not change that (nothing there depends on the caller).
	_, anon := consoleGet(t, s, "/console/app.js")
	_, authed := consoleGet(t, s, "/console/app.js", "Authorization", "Bearer "+testToken)
	_, bad := consoleGet(t, s, "/console/app.js", "Authorization", "Bearer nope")
	if anon != authed || anon != bad {
		t.Fatal("the console's files depend on the caller's token")
	}
}

// TestAttackConsolePathTraversal: no path under /console reaches anything
// but the console's own files: not the API (even with a token), not the
// file system, not the source.
func TestAttackConsolePathTraversal(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "secret-entity"})
	paths := []string{
		"/console/../v1/entities", "/console/..%2fv1%2fentities", "/console/%2e%2e/v1/entities",
		"/console/../../../../etc/passwd", "/console/..%2f..%2f..%2f..%2fetc%2fpasswd", "/console/%2e%2e%2f%2e%2e%2fgo.mod",
		"/console/../go.mod", "/console//etc/passwd", "/console/./app.js/../../console.go", "/console/console/app.js",
		"/console/app.js%00.png", "/console/..\\..\\go.mod", "/console/.%2e/.%2e/console.go", "/console/index.html/..",
	}
	for _, p := range paths {
		for _, auth := range []string{"", "Authorization: Bearer " + testToken + "\r\n"} {
			res, body := hardExchange(t, s, "GET "+p+" HTTP/1.1\r\nHost: x\r\n"+auth+"Connection: close\r\n\r\n", nil)
			if res.StatusCode != 404 {
				t.Errorf("GET %s (token %v): %d %.200q", p, auth != "", res.StatusCode, body)
			}
			for _, leak := range []string{"secret-entity", "root:", "module github.com", "package handlers", "go:embed"} {
				if strings.Contains(body, leak) {
					t.Errorf("GET %s (token %v) leaks %q: %.200q", p, auth != "", leak, body)
				}
			}
		}
	}
	// Other methods serve nothing.
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		st, _, _ := s.callBad(m, "/console/app.js", `{}`)
		if st != 405 && st != 404 {
			t.Errorf("%s /console/app.js: %d", m, st)
		}
	}
}

// TestAttackConsoleHeadersOnEveryAnswer: the CSP and its companions are on
// every console answer, the unknown file's 404 included, and that 404 is
// the API's error body, not a page.
func TestAttackConsoleHeadersOnEveryAnswer(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	for _, p := range []string{"/console", "/console/app.js", "/console/nope.js", "/console/.git/config", "/console/index.html.bak"} {
		res, body := consoleGet(t, s, p)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %s", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: CSP %q allows too much", p, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: nosniff %q, referrer policy %q", p, res.Header.Get("X-Content-Type-Options"), res.Header.Get("Referrer-Policy"))
		}
		if strings.HasPrefix(p, "/console/nope") || strings.Contains(p, ".git") || strings.HasSuffix(p, ".bak") {
			if res.StatusCode != 404 || errCode(decodeJSON(t, body)) != "route_not_found" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("GET %s: %d %q %s", p, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
		}
	}
}

// TestAttackConsoleCSPInBrowser: Chromium enforces the policy on the page:
// an injected inline script does not run, an inline style attribute is not
// applied, and the page cannot call another origin (here the server itself
// on its own port, a different origin from the proxy's).
func TestAttackConsoleCSPInBrowser(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	// A token in the URL does not sign anyone in: the page reads none there.
	u.run("open the console", chromedp.Navigate(p.URL+"/console?access_token="+testToken+"&token="+testToken+"#/entities"),
		chromedp.WaitVisible(chromedp.CSS("#token")))
	if u.js(`String(sessionStorage.length)`) != "0" {
		t.Fatal("a token in the URL was kept")
	}
	u.do(`(() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1'; document.body.appendChild(s) })()`)
	u.do(`(() => { const d = document.createElement('div'); d.id = 'styled'; d.setAttribute('style', 'width: 333px'); document.body.appendChild(d) })()`)
	u.do(`(() => { const i = document.createElement('img'); i.src = 'http://198.51.100.1/x.png'; document.body.appendChild(i) })()`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(`+fmt.Sprintf("%q", s.base+"/healthz")+`).then(() => 'fetched', () => 'blocked')`, chromedp.EvalAwaitPromise))
	if err != nil || got != "blocked" {
		t.Fatalf("a call to another origin: %q %v", got, err)
	}
	if v := u.js(`String(window.pwned)`); v != "undefined" {
		t.Fatalf("an injected inline script ran: %s", v)
	}
	if w := u.js(`String(document.getElementById('styled').getBoundingClientRect().width)`); w == "333" {
		t.Fatal("an inline style attribute was applied")
	}
	// The reports arrive as events; wait for them (bounded by round trips
	// to the page, not by time).
	csp := 0
	for i := 0; i < 200 && csp < 4; i++ {
		u.js(`''`)
		csp = 0
		for _, m := range plog.all() {
			if strings.Contains(m.Text, "Content Security Policy") {
				csp++
			}
		}
	}
	if csp < 4 {
		t.Fatalf("the browser reported %d CSP violations, want the script, the style, the image and the call: %v", csp, plog.all())
	}
}

func decodeJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return out
}
