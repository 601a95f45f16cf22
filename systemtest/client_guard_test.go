package systemtest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

// clientLockedLog is a log destination the guards of two servers write to at once.
type clientLockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *clientLockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *clientLockedLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// A guard tells "Rolegate refused this service's check" (wrong credentials,
// a client bound to another entity: 500, an error-level log line naming
// Rolegate's code, the error hook) from "Rolegate is down" (503 with
// Retry-After, a warning, the hook): the first is fixed by configuration,
// the second by waiting. Neither ever runs the handler.
func TestClientGuardTellsRefusalFromOutage(t *testing.T) {
	// Every wrong secret answered 401 (not rationed into 429s, which are an
	// outage's to retry).
	s := testkit.Start(t, map[string]string{"ROLEGATE_TOKEN_FAILURES_PER_ADDRESS": "1000", "ROLEGATE_TOKEN_FAILURE_CPU": "4"})
	ctx := context.Background()
	adm := clientAdmin(t, s)
	for _, e := range []string{"acme", "globex"} {
		if _, err := adm.CreateEntity(ctx, e, ""); err != nil {
			t.Fatal(err)
		}
	}
	r, err := adm.CreateRole(ctx, "acme", clientApprover())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateUser(ctx, "acme", client.UserInput{ID: "u-17", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatal(err)
	}
	globex, err := adm.CreateClient(ctx, client.APIClientInput{Name: "globex-svc", EntityID: "globex", Scopes: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := client.New(s.URL, client.WithClientCredentials(globex.ClientID, globex.Secret))
	wrongSecret, _ := client.New(s.URL, client.WithClientCredentials(globex.ClientID, "wrong-secret"), client.WithRetries(0, 0))
	wrongToken, _ := client.New(s.URL, client.WithToken("wrong-token-wrong-token-wrong-token"))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	downURL := "http://" + l.Addr().String()
	l.Close()
	down, _ := client.New(downURL, client.WithToken(testkit.AdminToken), client.WithRetries(0, 0),
		client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))

	for _, tc := range []struct {
		name     string
		ch       client.Checker
		status   int
		code     string // the guard's own code
		outcome  client.Outcome
		logLevel string
		logCode  string // Rolegate's code, in the log line
	}{
		{"client bound to another entity", other, 500, "authorization_misconfigured", client.Refused, "level=ERROR", "code=entity_not_found"},
		{"wrong client secret", wrongSecret, 500, "authorization_misconfigured", client.Refused, "level=ERROR", "code=invalid_client"},
		{"wrong token", wrongToken, 500, "authorization_misconfigured", client.Refused, "level=ERROR", "status=401"},
		{"rolegate down", down, 503, "authorization_unavailable", client.Failed, "level=WARN", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log clientLockedLog
			var mu sync.Mutex
			var hooked []client.Outcome
			hook := client.WithErrorHook(func(r *http.Request, o client.Outcome, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err == nil || r == nil {
					t.Errorf("hook without the request or the error: %v %v", r, err)
				}
				hooked = append(hooked, o)
			})
			lg := client.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))
			for name, base := range clientAppsWith(t, tc.ch, hook, lg) {
				st, hdr, body := clientHitFull(t, "GET", base+"/payables", "u-17")
				if st != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
					t.Errorf("%s: %d %s, want %d %s", name, st, body, tc.status, tc.code)
				}
				if ra := hdr.Get("Retry-After"); (ra != "") != (tc.status == 503) {
					t.Errorf("%s: Retry-After %q on a %d", name, ra, st)
				}
				if strings.Contains(body, "wrong") || strings.Contains(body, tc.logCode) {
					t.Errorf("%s: Rolegate's error reached the caller: %s", name, body)
				}
				got := log.take()
				if strings.Count(got, "\n") != 1 || !strings.Contains(got, tc.logLevel) || !strings.Contains(got, tc.logCode) || !strings.Contains(got, "object_type=payable") {
					t.Errorf("%s: want one %s line with %s, logged:\n%s", name, tc.logLevel, tc.logCode, got)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hooked) != 2 || hooked[0] != tc.outcome || hooked[1] != tc.outcome {
				t.Errorf("hook saw %v, want %v twice", hooked, tc.outcome)
			}
		})
	}
}

// clientAppsWith is clientApps (client_middleware_test.go) with guard options: one route each.
func clientAppsWith(t *testing.T, ch client.Checker, opts ...client.GuardOption) map[string]string {
	t.Helper()
	return clientGuardedApps(t, ch, opts...)
}

func clientHitFull(t *testing.T, method, url, user string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("X-Tenant", "acme")
	req.Header.Set("X-User", user)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, res.Header, b.String()
}

// An explained refusal carries why: denied_by on a deny, grantable_by (the
// roles that would allow it) on not_allowed, as the API answers them.
func TestClientDecisionExplainsRefusal(t *testing.T) {
	s := testkit.Start(t, nil)
	ctx := context.Background()
	c := clientAdmin(t, s)
	if _, err := c.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, "acme", clientApprover())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-17", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-18", RoleIDs: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-17", ObjectType: "payable", Action: "delete", Explain: true})
	if err != nil || d.Allowed || len(d.DeniedBy) != 1 || d.DeniedBy[0].RoleID == nil || *d.DeniedBy[0].RoleID != r.ID || d.DeniedBy[0].Permission != "denied" {
		t.Fatalf("denied: %+v %v, want denied_by the approver role", d, err)
	}
	d, err = c.Check(ctx, client.CheckRequest{EntityID: "acme", UserID: "u-18", ObjectType: "payable", Action: "read", Explain: true})
	found := false
	for _, m := range d.GrantableBy {
		found = found || (m.RoleID != nil && *m.RoleID == r.ID)
	}
	if err != nil || d.Allowed || d.Permission != "not_allowed" || !found {
		t.Fatalf("not allowed: %+v %v, want grantable_by holding the approver role", d, err)
	}
}
