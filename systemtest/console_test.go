package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The admin console (/console) driven in headless Chromium against the real
// server. The browser talks to the server through a proxy in this process
// whose transport is the contract check (contract_test.go): every API call
// the page makes is checked against api/openapi.yaml, bodies included, and
// recorded, so that the tests see that no token ever appears in a URL.
//
// Chromium is /usr/bin/chromium (or ROLEGATE_TEST_CHROMIUM). Without it the
// tests skip, unless CI or ROLEGATE_TEST_BROWSER=1 is set: then they fail.
// With ROLEGATE_SCREENSHOTS=<dir> (relative to the repository root, e.g.
// docs/console) they write a PNG of each page there.

// pageLog is what the page wrote to the browser's console: exceptions,
// CSP violations, failed loads.
type pageLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (l *pageLog) all() []chromedp.ConsoleMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), l.msgs...)
}

// problems are the exceptions and the security (CSP) messages.
func (l *pageLog) problems() []string {
	var out []string
	for _, m := range l.all() {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

// consoleBrowser starts a fresh Chromium (private profile, no network
// services of its own) and returns a tab of it at 1280 x 900, and what the
// page writes to its console.
func consoleBrowser(t *testing.T) (context.Context, *pageLog) {
	t.Helper()
	bin := os.Getenv("ROLEGATE_TEST_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			bin = p
		} else {
			msg := fmt.Sprintf("no Chromium at %s (install Debian's chromium, or set ROLEGATE_TEST_CHROMIUM)", bin)
			if os.Getenv("CI") != "" || os.Getenv("ROLEGATE_TEST_BROWSER") == "1" {
				t.Fatal(msg + "; CI / ROLEGATE_TEST_BROWSER=1 requires the browser tests to run")
			}
			t.Skip(msg)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// A bound on the whole test, should the browser hang; what is asserted
	// is what the page shows, never how fast.
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("chromium does not start: %v", err)
	}
	l := &pageLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return ctx, l
}

// consoleProxy forwards the browser's requests to the server through the
// contract check and records their URLs and Authorization headers' schemes.
type consoleProxy struct {
	*httptest.Server
	mu   sync.Mutex
	urls []string
}

func (p *consoleProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.urls...)
}

func newConsoleProxy(t *testing.T, s *server) *consoleProxy {
	t.Helper()
	target, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	p := &consoleProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			// A copy of the body, so that the contract check reads it.
			if r.In.Body != nil && r.In.Body != http.NoBody {
				data, _ := io.ReadAll(r.In.Body)
				r.Out.Body = io.NopCloser(bytes.NewReader(data))
				r.Out.ContentLength = int64(len(data))
				r.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
			}
			p.mu.Lock()
			p.urls = append(p.urls, r.In.Method+" "+r.In.URL.RequestURI())
			p.mu.Unlock()
		},
		// http.DefaultTransport: the contract check (TestMain).
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t.Errorf("console %s %s: %v", r.Method, r.URL, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

// ui drives one tab; a failure names what was awaited and shows the page.
type ui struct {
	t   *testing.T
	ctx context.Context
}

func (u ui) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, actions...); err != nil {
		u.t.Fatalf("%s: %v\npage: %s", what, err, u.text())
	}
}

func (u ui) text() string {
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	return s
}

// until waits until the JavaScript expression is true.
func (u ui) until(what, expr string) {
	u.t.Helper()
	// An element the page is re-rendering is missing for a moment: an
	// exception while it is counts as "not yet", not as the end of the wait
	// (seen once in CI: #audit-table between two renders).
	guarded := `(() => { try { return !!(` + expr + `); } catch (e) { return false; } })()`
	ok, err := chromedp.Run(u.ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || !ok {
		u.t.Fatalf("waiting for %s (%s): %v\npage: %s", what, expr, err, u.text())
	}
}

// js evaluates an expression to a string.
func (u ui) js(expr string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// do runs a statement in the page.
func (u ui) do(stmt string) {
	u.t.Helper()
	u.run(stmt, chromedp.Evaluate[chromedp.Void](stmt))
}

// fill types into an input, as a user would.
func (u ui) fill(sel, text string) {
	u.t.Helper()
	c := chromedp.CSS(sel)
	// Emptied as select-all and delete would (chromedp.Clear leaves a
	// search field's text), then typed key by key.
	u.run("fill "+sel, chromedp.WaitVisible(c),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})) })()`, sel)),
		chromedp.SendKeys(c, text))
}

func (u ui) click(sel string) {
	u.t.Helper()
	c := chromedp.CSS(sel)
	u.run("click "+sel, chromedp.WaitVisible(c), chromedp.Click(c))
}

// choose picks an option of a select and tells the page, as a user's
// choice does.
func (u ui) choose(sel, value string) {
	u.t.Helper()
	c := chromedp.CSS(sel)
	u.run("choose "+value+" in "+sel, chromedp.WaitVisible(c), chromedp.SetValue(c, value),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).dispatchEvent(new Event('change', {bubbles: true}))`, sel)))
}

// tab follows a link of the entity's navigation.
func (u ui) tab(entity, page string) {
	u.t.Helper()
	u.click(fmt.Sprintf(`#entity-nav a[href="#/e/%s/%s"]`, entity, page))
	u.until(page+" page", fmt.Sprintf(`location.hash === "#/e/%s/%s"`, entity, page))
}

// shot checks that every control of the page has a label (its own, an
// aria-label, or a button's text), then writes a PNG of the page when
// ROLEGATE_SCREENSHOTS names a folder.
func (u ui) shot(name string) {
	u.t.Helper()
	if bad := u.js(`[...document.querySelectorAll('input, select, textarea, button')]
		.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map((e) => e.outerHTML.slice(0, 120)).join('\n')`); bad != "" {
		u.t.Fatalf("page %s has controls without a label:\n%s", name, bad)
	}
	dir := os.Getenv("ROLEGATE_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // relative to the repository root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

func (u ui) textOf(sel string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.t.Fatalf("text of %s: %v\npage: %s", sel, err, u.text())
	}
	return s
}

func (u ui) signIn(base, token string) {
	u.t.Helper()
	u.run("open the console", chromedp.Navigate(base+"/console"), chromedp.WaitVisible(chromedp.CSS("#token")))
	u.fill("#token", token)
	u.click(`#sign-in button[type="submit"]`)
}

// TestConsoleFlow: an admin signs in, creates an entity, a role in the
// matrix and a user, sees a check refused, assigns the role, sees the same
// check allowed with the role that matched, finds the assignment in the
// audit log and the user in who-can, previews a change as a dry run, meets
// a 412 when someone else saved first and reapplies, deletes an entity
// after confirming, and signs out. At 390 px the page does not scroll
// sideways, only the matrix does.
func TestConsoleFlow(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	// A name that would be markup if the page wrote it as HTML.
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "globex", "name": `Globex <img src=x id=injected>`})

	// Sign in.
	u.signIn(p.URL, testToken)
	u.until("the entity list", `!!document.querySelector('#entity-list a[href="#/e/globex/roles"]')`)
	if got := u.textOf("#entity-list tbody tr td"); got != `Globex <img src=x id=injected>` || u.js(`String(!!document.getElementById('injected'))`) != "false" {
		t.Fatalf("the entity's name is shown as %q (or became markup)", got)
	}
	if u.js(`String(getComputedStyle(document.querySelector('#entity-list button.secondary')).display)`) != "none" {
		t.Fatal("Load more is shown without a next page")
	}
	stored := u.js(`sessionStorage.getItem('rolegate.console.token') + '|' + localStorage.length`)
	if stored != testToken+"|0" {
		t.Fatalf("the token is kept as %q (want sessionStorage only)", stored)
	}
	u.shot("entities")

	// An entity.
	u.fill("#entity-id", "acme")
	u.fill("#entity-name", "Acme Inc")
	u.click(`#create-entity button[type="submit"]`)
	u.until("the roles of acme", `location.hash === "#/e/acme/roles" && !!document.querySelector('#role-list table')`)
	if got := u.textOf("#role-list"); !strings.Contains(got, "admin") || !strings.Contains(got, "member") {
		t.Fatalf("acme's roles: %q, want the system roles", got)
	}

	// A user, created on the users page: the default role only.
	u.tab("acme", "users")
	u.fill("#user-id", "u-17")
	u.fill("#user-email", "ada@acme.test")
	u.click(`#create-user button[type="submit"]`)
	u.until("the user page", `location.hash === "#/e/acme/users/u-17" && !!document.querySelector('#assignments table')`)

	// The check is refused.
	check := func(want bool) {
		t.Helper()
		u.tab("acme", "check")
		u.fill("#check-user", "u-17")
		u.fill("#check-object-type", "payable")
		u.fill("#check-action", "approve")
		u.click(`#check-form button[type="submit"]`)
		u.until("the decision", `!!document.querySelector('#check-result [data-allowed]')`)
		got := u.js(`document.querySelector('#check-result [data-allowed]').dataset.allowed`)
		if got != fmt.Sprint(want) {
			t.Fatalf("check: allowed=%s, want %v: %s", got, want, u.textOf("#check-result"))
		}
	}
	check(false)
	if got := u.textOf("#check-result"); !strings.Contains(got, "not_allowed") {
		t.Fatalf("refused check shows %q", got)
	}

	// A role in the matrix: payable read and approve allowed, delete denied.
	u.tab("acme", "roles")
	u.click(`a[href="#/e/acme/roles/new"]`)
	u.until("the role editor", `!!document.querySelector('#role-form')`)
	u.fill("#role-name", "approver")
	u.fill("#role-description", "approves payables")
	u.fill("#new-object-type", "payable")
	u.click(`#role-form .axes button:nth-of-type(1)`)
	for _, a := range []string{"read", "approve", "delete"} {
		u.fill("#new-action", a)
		u.click(`#role-form .axes button:nth-of-type(2)`)
	}
	u.until("the matrix", `!!document.querySelector('select[data-cell="payable/delete"]')`)
	u.choose(`select[data-cell="payable/read"]`, "allowed")
	u.choose(`select[data-cell="payable/approve"]`, "allowed")
	u.choose(`select[data-cell="payable/delete"]`, "denied")
	u.click("#save-role")
	u.until("the saved role", `/^#\/e\/acme\/roles\/[^/]+$/.test(location.hash) && location.hash !== '#/e/acme/roles/new' && !!document.querySelector('#role-version')`)
	roleID := u.js(`decodeURIComponent(location.hash.split('/').pop())`)
	role := s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil)
	if role["name"] != "approver" || role["description"] != "approves payables" {
		t.Fatalf("role as saved: %v", role)
	}
	perms := fmt.Sprint(role["permissions"])
	for _, want := range []string{"action_name:read permission:allowed", "action_name:approve permission:allowed", "action_name:delete permission:denied"} {
		if !strings.Contains(perms, want) {
			t.Fatalf("role's rights %s lack %s", perms, want)
		}
	}
	u.shot("role-matrix")

	// Assign it on the user's page, entity-wide and in a scope.
	u.tab("acme", "users")
	u.until("u-17 in the list", `!!document.querySelector('#user-list a[href="#/e/acme/users/u-17"]')`)
	u.click(`#user-list a[href="#/e/acme/users/u-17"]`)
	u.until("the role choice", `!!document.querySelector('#assign-role option[value="`+roleID+`"]')`)
	u.choose("#assign-role", roleID)
	u.click(`#assign-form button[type="submit"]`)
	u.until("the assignment", `document.querySelector('#assignments').innerText.includes('approver')`)
	u.until("the effective rights", `document.querySelector('#rights').innerText.includes('approve (allowed)')`)
	u.choose("#assign-role", roleID)
	u.fill("#assign-scope", "team:42")
	u.click(`#assign-form button[type="submit"]`)
	u.until("the scoped assignment", `!!document.querySelector('button[aria-label="Unassign approver in team:42"]')`)
	u.shot("user")
	roles := s.must(200, "GET", "/v1/entities/acme/users/u-17/roles", nil)
	if got := fmt.Sprint(roles["data"]); !strings.Contains(got, roleID) || !strings.Contains(got, "scope:team:42") {
		t.Fatalf("u-17's roles after the assignments: %v", got)
	}

	// The users list shows roles and scoped roles; search narrows it.
	u.click(`a[href="#/e/acme/users"]:not([aria-current])`)
	u.until("the roles in the list", `document.querySelector('#user-list').innerText.includes('approver @ team:42')`)
	u.fill("#user-search", "nobody-like-this")
	u.click(`form[role="search"] button`)
	u.until("no match", `document.querySelector('#user-list').innerText.includes('No users found.') && !document.querySelector('#user-list tbody tr')`)
	u.fill("#user-search", "ada@")
	u.click(`form[role="search"] button`)
	u.until("u-17 found by email", `!!document.querySelector('#user-list a[href="#/e/acme/users/u-17"]')`)
	u.shot("users")

	// Unassign the scoped role.
	u.click(`#user-list a[href="#/e/acme/users/u-17"]`)
	u.click(`button[aria-label="Unassign approver in team:42"]`)
	u.until("the scoped assignment gone", `!document.querySelector('button[aria-label="Unassign approver in team:42"]') && !!document.querySelector('button[aria-label="Unassign approver"]')`)
	if got := fmt.Sprint(s.must(200, "GET", "/v1/entities/acme/users/u-17/roles", nil)["data"]); strings.Contains(got, "team:42") {
		t.Fatalf("u-17's roles after unassigning the scoped one: %v", got)
	}

	// The same check is now allowed, and explained.
	check(true)
	if got := u.textOf("#check-matched"); !strings.Contains(got, "approver") {
		t.Fatalf("matched: %q, want approver", got)
	}
	u.shot("check")

	// The audit log has the assignment; the filter narrows it.
	u.tab("acme", "audit")
	u.until("the assignment event", `document.querySelector('#audit-table').innerText.includes('assignment.create')`)
	u.click(`#audit-table tbody tr:first-child summary`)
	u.until("the event's before and after", `document.querySelector('#audit-table tbody tr:first-child details').open && document.querySelector('#audit-table tbody tr:first-child pre').innerText.length > 0`)
	u.shot("audit")
	u.choose("#audit-object-type", "role")
	u.click(`#audit-filters button[type="submit"]`)
	u.until("only role events", `(() => { const t = document.querySelector('#audit-table tbody').innerText; return t.includes('role.create') && !t.includes('assignment.create') })()`)

	// Who can approve payables?
	u.tab("acme", "who-can")
	u.fill("#who-object-type", "payable")
	u.fill("#who-action", "approve")
	u.click(`#who-form button[type="submit"]`)
	u.until("u-17 via approver", `(() => { const t = document.querySelector('#who-result tbody').innerText; return t.includes('u-17') && t.includes('approver') })()`)
	u.shot("who-can")

	// A dry run before saving: u-17 would lose approve; nothing is written.
	u.tab("acme", "roles")
	u.click(`#role-list a[href="#/e/acme/roles/` + roleID + `"]`)
	u.until("the matrix", `!!document.querySelector('select[data-cell="payable/approve"]')`)
	u.choose(`select[data-cell="payable/approve"]`, "not_allowed")
	u.click("#preview")
	u.until("the diff", `(() => { const l = document.querySelector('#dry-run table.lost'); return !!l && l.innerText.includes('u-17') && l.innerText.includes('approve') })()`)
	u.shot("dry-run")
	if v := s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil)["version"]; v != float64(1) {
		t.Fatalf("after the dry run the role is at version %v, want 1", v)
	}

	// Someone else saves first: the save is refused (412, as the API says)
	// and can be reapplied to the newer role.
	s.must(200, "PATCH", "/v1/entities/acme/roles/"+roleID, map[string]any{"description": "edited elsewhere"})
	u.click("#save-role")
	u.until("the conflict", `!!document.querySelector('#reapply')`)
	if got := u.textOf("#role-editor ~ .messages .error"); !strings.Contains(got, "version_mismatch") || !strings.Contains(got, "412") {
		t.Fatalf("conflict shown as %q", got)
	}
	u.shot("conflict")
	u.click("#reapply")
	u.until("the reapplied edit", `!!document.querySelector('#reapplied') && document.querySelector('select[data-cell="payable/approve"]').value === 'not_allowed' && document.querySelector('#role-description').value === 'edited elsewhere'`)
	u.click("#save-role")
	u.until("the save", `!!document.querySelector('#saved')`)
	role = s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil)
	perms = fmt.Sprint(role["permissions"])
	if role["version"] != float64(3) || role["description"] != "edited elsewhere" || strings.Contains(perms, "approve") || !strings.Contains(perms, "action_name:read permission:allowed") {
		t.Fatalf("after reapplying: %v", role)
	}
	check(false)

	// Deleting an entity asks first; cancelling keeps it.
	u.click(`a.brand`)
	u.until("the entity list", `!!document.querySelector('button[aria-label="Delete entity globex"]')`)
	u.click(`button[aria-label="Delete entity globex"]`)
	u.until("the confirmation", `!!document.querySelector('dialog[open]')`)
	u.shot("delete-confirmation")
	if f := u.js(`document.activeElement.textContent`); f != "Cancel" {
		t.Fatalf("the confirmation opens with the focus on %q, want Cancel", f)
	}
	u.run("Escape", chromedp.KeyEvent(kb.Escape))
	u.until("the dialog closed", `!document.querySelector('dialog')`)
	s.must(200, "GET", "/v1/entities/globex", nil)
	u.click(`button[aria-label="Delete entity globex"]`)
	u.click(`dialog[open] button.secondary`)
	u.until("the dialog closed", `!document.querySelector('dialog')`)
	s.must(200, "GET", "/v1/entities/globex", nil)
	u.click(`button[aria-label="Delete entity globex"]`)
	u.click(`dialog[open] button[data-confirm]`)
	u.until("globex gone", `!document.querySelector('button[aria-label="Delete entity globex"]') && !!document.querySelector('button[aria-label="Delete entity acme"]')`)
	if st, _, _ := s.call("GET", "/v1/entities/globex", nil); st != 404 {
		t.Fatalf("globex after the confirmed delete: %d", st)
	}

	// At phone width the page fits; the matrix scrolls inside its box.
	u.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	u.do(`location.hash = '#/e/acme/roles/` + roleID + `'`)
	u.until("the matrix", `!!document.querySelector('select[data-cell="payable/delete"]')`)
	if w := u.js(`document.documentElement.scrollWidth + ' ' + window.innerWidth`); w != "390 390" {
		t.Fatalf("at 390 px the page is %s wide (scrollWidth, innerWidth): it scrolls sideways", w)
	}
	if u.js(`String((() => { const m = document.querySelector('.matrix-wrap'); return m.scrollWidth > m.clientWidth && getComputedStyle(m).overflowX === 'auto' })())`) != "true" {
		t.Fatal("at 390 px the matrix does not scroll in its box")
	}
	u.shot("phone-role-matrix")
	u.run("desktop width", chromedp.EmulateViewport(1280, 900))

	// Sign out: the token is gone from the tab.
	u.click("#sign-out")
	u.until("the sign-in page", `!!document.querySelector('#token')`)
	stored = u.js(`String(sessionStorage.getItem('rolegate.console.token'))`)
	if stored != "null" {
		t.Fatalf("after signing out the tab keeps %q", stored)
	}

	// No token in any URL the browser asked for, nor in the server's log.
	urls := p.seen()
	apiCalls := 0
	for _, l := range urls {
		if strings.Contains(l, testToken) || strings.Contains(strings.ToLower(l), "token=") {
			t.Errorf("a request carries the token in its URL: %s", l)
		}
		if strings.Contains(l, " /v1/") {
			apiCalls++
		}
	}
	if apiCalls < 20 {
		t.Fatalf("only %d API calls went through the proxy: %v", apiCalls, urls)
	}
	if strings.Contains(s.output(), testToken) {
		t.Fatal("the token reached the server's log")
	}
	if bad := plog.problems(); len(bad) > 0 {
		t.Fatalf("the page reported exceptions or CSP violations:\n%s", strings.Join(bad, "\n"))
	}
}

// TestConsoleWrongToken: a token the server refuses is shown as the API
// says (code and message), and is not kept.
func TestConsoleWrongToken(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	const wrong = "not-the-admin-token-0123456789abcdef"
	st, _, out := s.callToken(wrong, "GET", "/v1/entities?limit=1", nil)
	if st != 401 {
		t.Fatalf("the wrong token: %d", st)
	}
	e := out["error"].(map[string]any)
	// By keyboard: type, Enter.
	u.run("open the console", chromedp.Navigate(p.URL+"/console"), chromedp.WaitVisible(chromedp.CSS("#token")))
	u.run("type the token", chromedp.Focus(chromedp.CSS("#token")), chromedp.KeyEvent(wrong), chromedp.KeyEvent("\r"))
	u.until("the error", `!!document.querySelector('#sign-in .error')`)
	if code := u.textOf("#sign-in .error-code"); code != e["code"] {
		t.Fatalf("error code shown %q, the API says %q", code, e["code"])
	}
	if msg := u.textOf("#sign-in .error-message"); msg != e["message"] {
		t.Fatalf("error message shown %q, the API says %q", msg, e["message"])
	}
	kept := u.js(`String(sessionStorage.getItem('rolegate.console.token'))`)
	if kept != "null" {
		t.Fatalf("a refused token is kept: %q", kept)
	}
	focused := u.js(`document.activeElement.id`)
	if focused != "token" {
		t.Fatalf("after the refusal the focus is on %q, want the token field", focused)
	}
	// Tab reaches the button, and the focus shows.
	u.run("tab", chromedp.KeyEvent("\t"))
	if got := u.js(`document.activeElement.textContent + ' ' + getComputedStyle(document.activeElement).outlineStyle`); got != "Sign in solid" {
		t.Fatalf("after Tab the focus is on %q (text, outline style), want the visible Sign in button", got)
	}
	if u.js(`String(document.getElementById('sign-out').offsetParent === null)`) != "true" {
		t.Fatal("Sign out is offered to nobody signed in")
	}
	if bad := plog.problems(); len(bad) > 0 {
		t.Fatalf("the page reported exceptions or CSP violations:\n%s", strings.Join(bad, "\n"))
	}
	u.shot("sign-in-error")
}

// TestConsoleServed: the page and its files, with their types, the CSP and
// revalidation (ETag, 304); the page loads only its own files, with no
// inline script, style or handler, and no other origin anywhere.
func TestConsoleServed(t *testing.T) {
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	types := map[string]string{
		"/console": "text/html; charset=utf-8", "/console/": "text/html; charset=utf-8", "/console/index.html": "text/html; charset=utf-8",
		"/console/app.js": "text/javascript; charset=utf-8", "/console/api.js": "text/javascript; charset=utf-8",
		"/console/dom.js": "text/javascript; charset=utf-8", "/console/console.css": "text/css; charset=utf-8",
	}
	bodies := map[string]string{}
	for p, ct := range types {
		res, body := consoleGet(t, s, p)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ct {
			t.Fatalf("GET %s: %d %q, want 200 %q", p, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
		if res.Header.Get("Content-Security-Policy") != "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'" {
			t.Fatalf("GET %s: CSP %q", p, res.Header.Get("Content-Security-Policy"))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET %s: headers %v", p, res.Header)
		}
		etag := res.Header.Get("ETag")
		again, rest := consoleGet(t, s, p, "If-None-Match", etag)
		if etag == "" || again.StatusCode != 304 || rest != "" {
			t.Fatalf("GET %s with If-None-Match %q: %d %q", p, etag, again.StatusCode, rest)
		}
		if other, _ := consoleGet(t, s, p, "If-None-Match", `"0000"`); other.StatusCode != 200 {
			t.Fatalf("GET %s with another ETag: %d", p, other.StatusCode)
		}
		bodies[p] = body
	}
	page := bodies["/console"]
	for _, m := range regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if u := m[1]; !strings.HasPrefix(u, "/console/") && !strings.HasPrefix(u, "#") && u != "data:," {
			t.Errorf("the page loads %q", u)
		}
	}
	if regexp.MustCompile(`(?i)<script(?:\s+type="module")?>|<script[^>]*>[^<]+</script>|\sstyle=|\son[a-z]+=|<style`).MatchString(page) {
		t.Error("the page has inline script, style or event handlers")
	}
	for p, body := range bodies {
		if regexp.MustCompile(`https?://|//[a-z0-9.-]+\.[a-z]{2,}/`).MatchString(body) {
			t.Errorf("%s names another origin", p)
		}
		if strings.Contains(body, "innerHTML") || strings.Contains(body, "eval(") || strings.Contains(body, "localStorage.setItem") || strings.Contains(body, "document.cookie") {
			t.Errorf("%s writes markup from strings, evaluates code, or keeps data beyond the tab", p)
		}
	}
}

// TestConsoleClientToken: an API client's token bound to one entity signs
// in; it may not list entities (the API's 403, shown as such), opens its
// entity by id, finds nothing of another (404 as the API says), and runs
// checks.
func TestConsoleClientToken(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "globex"})
	tok := s.clientOf("acme", "manage", "check")
	_, _, listed := s.callToken(tok, "GET", "/v1/entities?limit=1", nil)
	_, _, other := s.callToken(tok, "GET", "/v1/entities/globex/roles?limit=100&sort=name", nil)

	u.signIn(p.URL, tok)
	u.until("the refusal to list", `!!document.querySelector('#entity-list .error-code')`)
	if got := u.textOf("#entity-list .error-code"); got != errCode(listed) || got == "" {
		t.Fatalf("listing entities shows %q, the API says %v", got, listed)
	}
	u.fill("#open-entity", "globex")
	u.click(`#open-entity-form button[type="submit"]`)
	u.until("the refusal", `!!document.querySelector('#role-list .error-code')`)
	if got := u.textOf("#role-list .error-code"); got != errCode(other) || got != "entity_not_found" {
		t.Fatalf("another entity shows %q, the API says %v", got, other)
	}
	u.click("a.brand")
	u.fill("#open-entity", "acme")
	u.click(`#open-entity-form button[type="submit"]`)
	u.until("acme's roles", `!!document.querySelector('#role-list a') && document.querySelector('#role-list').innerText.includes('member')`)
	u.tab("acme", "check")
	u.fill("#check-user", "u-1")
	u.fill("#check-object-type", "payable")
	u.fill("#check-action", "read")
	u.click(`#check-form button[type="submit"]`)
	u.until("the decision", `document.querySelector('#check-result [data-allowed]')?.dataset.allowed === 'false'`)
	// The client is deleted: its token is refused, and the console forgets
	// it and asks to sign in again, saying why.
	clients := s.must(200, "GET", "/v1/clients", nil)["data"].([]any)
	s.must(204, "DELETE", "/v1/clients/"+clients[0].(map[string]any)["client_id"].(string), nil)
	_, _, refused := s.callToken(tok, "GET", "/v1/entities/acme/roles", nil)
	u.tab("acme", "roles")
	u.until("the sign-in page", `!!document.querySelector('#sign-in .error-code')`)
	if got := u.textOf("#sign-in .error-code"); got != errCode(refused) || got == "" {
		t.Fatalf("a revoked token shows %q, the API says %v", got, refused)
	}
	if u.js(`String(sessionStorage.getItem('rolegate.console.token'))`) != "null" {
		t.Fatal("a refused token is kept")
	}
	for _, l := range p.seen() {
		if strings.Contains(l, tok) {
			t.Fatalf("the client's token is in a URL: %s", l)
		}
	}
	if bad := plog.problems(); len(bad) > 0 {
		t.Fatalf("the page reported exceptions or CSP violations:\n%s", strings.Join(bad, "\n"))
	}
}

// TestConsoleCatalog: with a catalog, the matrix offers exactly its object
// types and actions (other cells are not editable, no free axes); a role
// the API refuses shows the API's error.
func TestConsoleCatalog(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	catalog := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(catalog, []byte(`{"object_types":[{"object_type":"payable","actions":["read","approve"]},{"object_type":"invoice","actions":["read","send"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t), "ROLEGATE_CATALOG": catalog})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	u.signIn(p.URL, testToken)
	u.until("the entity list", `!!document.querySelector('#entity-list a[href="#/e/acme/roles"]')`)
	u.click(`#entity-list a[href="#/e/acme/roles"]`)
	u.click(`a[href="#/e/acme/roles/new"]`)
	u.until("the matrix", `!!document.querySelector('select[data-cell="invoice/send"]')`)
	for cell, want := range map[string]string{"payable/read": "true", "payable/approve": "true", "invoice/read": "true", "invoice/send": "true", "payable/send": "false", "invoice/approve": "false"} {
		if got := u.js(fmt.Sprintf(`String(!!document.querySelector('select[data-cell="%s"]'))`, cell)); got != want {
			t.Errorf("cell %s editable: %s, want %s", cell, got, want)
		}
	}
	if u.js(`String(!!document.querySelector('#new-object-type'))`) != "false" {
		t.Error("with a catalog the matrix still offers free object types")
	}
	// A name the entity has already: the API's answer, as it says it.
	st, _, out := s.call("POST", "/v1/entities/acme/roles", map[string]any{"name": "member"})
	u.fill("#role-name", "member")
	u.click("#save-role")
	u.until("the refusal", `!!document.querySelector('#role-editor ~ .messages .error-code')`)
	if got := u.textOf("#role-editor ~ .messages .error"); !strings.Contains(got, errCode(out)) || !strings.Contains(got, fmt.Sprintf("HTTP %d", st)) || errCode(out) == "" {
		t.Fatalf("refusal shown as %q; the API says %d %v", got, st, out)
	}
	u.fill("#role-name", "sender")
	u.choose(`select[data-cell="invoice/send"]`, "allowed_for_own")
	u.click("#save-role")
	u.until("the saved role", `!!document.querySelector('#role-version')`)
	roles := s.must(200, "GET", "/v1/entities/acme/roles?name=sender", nil)
	if got := fmt.Sprint(roles["data"]); !strings.Contains(got, "action_name:send permission:allowed_for_own") {
		t.Fatalf("the role as saved: %s", got)
	}
	if bad := plog.problems(); len(bad) > 0 {
		t.Fatalf("the page reported exceptions or CSP violations:\n%s", strings.Join(bad, "\n"))
	}
}

// TestConsoleConditions: a condition written in the matrix behind a cell's
// "if…" button is saved with the role; a bad one is refused and the server's
// message (with its line:column) is shown at that cell; the user's
// attributes are edited as JSON (a refused value shown at the field); the
// check page sends a resource and shows each matched right's condition and
// its value.
func TestConsoleConditions(t *testing.T) {
	ctx, plog := consoleBrowser(t)
	s := startServer(t, map[string]string{"ROLEGATE_DATABASE_URL": sqliteURL(t)})
	p := newConsoleProxy(t, s)
	u := ui{t, ctx}
	s.must(201, "POST", "/v1/entities", map[string]any{"id": "acme"})
	role := s.must(201, "POST", "/v1/entities/acme/roles", map[string]any{"name": "approver", "permissions": map[string]any{"objects": []any{
		map[string]any{"object_type": "payable", "actions": []any{
			map[string]any{"action_name": "read", "permission": "allowed"},
			map[string]any{"action_name": "approve", "permission": "allowed"}}}}}})
	roleID := role["id"].(string)
	s.must(201, "POST", "/v1/entities/acme/users", map[string]any{"id": "u-1", "role_ids": []string{roleID}})

	u.signIn(p.URL, testToken)
	u.until("the entity list", `!!document.querySelector('#entity-list a[href="#/e/acme/roles"]')`)
	u.do(`location.hash = '#/e/acme/roles/` + roleID + `'`)
	u.until("the matrix", `!!document.querySelector('button[data-cond-toggle="payable/approve"]')`)
	if u.js(`String(document.querySelector('textarea[data-cond="payable/approve"]').closest('.cond-box').hidden)`) != "true" {
		t.Fatal("a cell without a condition shows its condition field open")
	}

	// A bad condition: refused, its message at the cell.
	u.click(`button[data-cond-toggle="payable/approve"]`)
	u.fill(`textarea[data-cond="payable/approve"]`, "resource.amount <")
	u.click("#save-role")
	u.until("the error at the cell", `!!document.querySelector('textarea[data-cond="payable/approve"]').closest('td').querySelector('.cell-error')`)
	cellErr := u.js(`document.querySelector('textarea[data-cond="payable/approve"]').closest('td').querySelector('.cell-error').textContent`)
	if !regexp.MustCompile(`\d+:\d+`).MatchString(cellErr) {
		t.Fatalf("the cell's error %q has no line:column", cellErr)
	}
	if got := u.textOf("#role-editor ~ .messages .error-code"); got != "invalid_condition" {
		t.Fatalf("the refusal is shown as %q, want invalid_condition", got)
	}
	if got := u.js(`document.querySelector('textarea[data-cond="payable/approve"]').getAttribute('aria-invalid') + ' ' + document.querySelectorAll('.cell-error').length`); got != "true 1" {
		t.Fatalf("the bad cell's field (aria-invalid, errors shown): %s", got)
	}
	if n := len(arr(get(s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil), "permissions", "objects", 0, "actions"))); n != 2 || s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil)["version"] != float64(1) {
		t.Fatal("a refused condition changed the role")
	}
	u.shot("role-condition-error")

	// A good one: saved with the role, and the field stays open showing it.
	u.fill(`textarea[data-cond="payable/approve"]`, "resource.amount < 1000 && user.level >= 2")
	u.click("#save-role")
	u.until("the save", `!!document.querySelector('#saved') && !document.querySelector('.cell-error')`)
	got := s.must(200, "GET", "/v1/entities/acme/roles/"+roleID, nil)
	if c := get(got, "permissions", "objects", 0, "actions", 1, "condition"); c != "resource.amount < 1000 && user.level >= 2" || get(got, "permissions", "objects", 0, "actions", 0, "condition") != nil {
		t.Fatalf("the role as saved: %v", got["permissions"])
	}
	if u.js(`document.querySelector('textarea[data-cond="payable/approve"]').value`) != "resource.amount < 1000 && user.level >= 2" ||
		u.js(`String(document.querySelector('button[data-cond-toggle="payable/approve"]').classList.contains('has-cond'))`) != "true" {
		t.Fatal("the saved condition is not shown at its cell")
	}
	u.shot("role-condition")

	// The user's attributes: a nested object refused at the field, then
	// saved.
	u.do(`location.hash = '#/e/acme/users/u-1'`)
	u.until("the attributes", `document.querySelector('#user-attributes').value.trim() === '{}'`)
	u.fill("#user-attributes", `{"org": {"level": 3}}`)
	u.click("#save-attributes")
	u.until("the refusal at the field", `document.querySelector('#user-attributes-error').innerText.includes('invalid_attributes')`)
	if u.js(`document.querySelector('#user-attributes').getAttribute('aria-invalid')`) != "true" {
		t.Fatal("the refused attributes' field is not marked invalid")
	}
	u.fill("#user-attributes", `{"level": 3`)
	u.click("#save-attributes")
	u.until("the JSON error at the field", `document.querySelector('#user-attributes-error').innerText.includes('Not JSON')`)
	u.fill("#user-attributes", `{"level": 3, "department": "sales"}`)
	u.click("#save-attributes")
	u.until("the saved attributes", `document.querySelector('#user-attributes-error').innerText === '' && document.querySelector('#user-attributes').value.includes('"department": "sales"')`)
	if a := get(s.must(200, "GET", "/v1/entities/acme/users/u-1", nil), "attributes"); fmt.Sprint(a) != "map[department:sales level:3]" {
		t.Fatalf("the user's attributes as saved: %v", a)
	}
	u.shot("user-attributes")

	// The check page: a resource, and the condition's value in the explain.
	check := func(resource string, want bool, value string) {
		t.Helper()
		u.tab("acme", "check")
		u.fill("#check-user", "u-1")
		u.fill("#check-object-type", "payable")
		u.fill("#check-action", "approve")
		u.fill("#check-resource", resource)
		u.click(`#check-form button[type="submit"]`)
		u.until("the decision", `!!document.querySelector('#check-result [data-allowed]')`)
		if got := u.js(`document.querySelector('#check-result [data-allowed]').dataset.allowed`); got != fmt.Sprint(want) {
			t.Fatalf("check with %s: allowed=%s, want %v: %s", resource, got, want, u.textOf("#check-result"))
		}
		if value == "" {
			return
		}
		cell := u.js(`(document.querySelector('#check-result .cond-cell') || {innerText: ''}).innerText`)
		if !strings.Contains(cell, "resource.amount < 1000") || !strings.Contains(cell, value) {
			t.Fatalf("check with %s: the matched right's condition is shown as %q, want its source and %q", resource, cell, value)
		}
	}
	check(`{"amount": 50}`, true, "true")
	u.shot("check-condition")
	check(`{"amount": 5000}`, false, "false")
	check(`{"amount": "many"}`, false, "error")
	// A resource the server refuses: at the field.
	u.fill("#check-resource", `{"a": {"b": 1}}`)
	u.click(`#check-form button[type="submit"]`)
	u.until("the refusal at the field", `document.querySelector('#check-resource-error').innerText.includes('invalid_attributes')`)

	// Who can, and the user's effective rights, say under which condition.
	u.tab("acme", "who-can")
	u.fill("#who-object-type", "payable")
	u.fill("#who-action", "approve")
	u.click(`#who-form button[type="submit"]`)
	u.until("u-1 if the condition", `(() => { const t = document.querySelector('#who-result tbody').innerText; return t.includes('u-1') && t.includes('if resource.amount < 1000') })()`)
	u.do(`location.hash = '#/e/acme/users/u-1'`)
	u.until("the conditional effective right", `document.querySelector('#rights').innerText.includes('approve (allowed if resource.amount < 1000')`)

	if bad := plog.problems(); len(bad) > 0 {
		t.Fatalf("the page reported exceptions or CSP violations:\n%s", strings.Join(bad, "\n"))
	}
}
