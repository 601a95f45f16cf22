package systemtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/client/ginguard"
	"github.com/rolegate/rolegate/internal/testkit"
)

// clientSubject reads the entity and user from headers a gateway would set.
func clientSubject(r *http.Request) (string, string, error) {
	e, u := r.Header.Get("X-Tenant"), r.Header.Get("X-User")
	if u == "" {
		return "", "", errors.New("no user")
	}
	return e, u, nil
}

var clientReadRule = client.Rule{ObjectType: "payable", Action: "read", Subject: clientSubject}
var clientDeleteRule = client.Rule{ObjectType: "payable", Action: "delete", Subject: clientSubject}
var clientApproveOwn = client.Rule{ObjectType: "payable", Action: "approve", Subject: clientSubject,
	Owner: func(r *http.Request) string { return r.URL.Query().Get("owner") }}

// clientApps are the same three routes in a net/http mux and a Gin app, each on a
// real port, guarded through ch.
func clientApps(t *testing.T, ch client.Checker) map[string]string {
	t.Helper()
	return clientGuardedApps(t, ch)
}

func clientGuardedApps(t *testing.T, ch client.Checker, opts ...client.GuardOption) map[string]string {
	t.Helper()
	ok := func(w http.ResponseWriter, r *http.Request) {
		d, found := client.DecisionFrom(r.Context())
		if !found || !d.Allowed {
			http.Error(w, "handler ran without an allow", 500)
			return
		}
		io.WriteString(w, "ran:"+d.Permission)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /payables", client.Middleware(ch, clientReadRule, opts...)(http.HandlerFunc(ok)))
	mux.Handle("DELETE /payables", client.Middleware(ch, clientDeleteRule, opts...)(http.HandlerFunc(ok)))
	mux.Handle("POST /approve", client.Middleware(ch, clientApproveOwn, opts...)(http.HandlerFunc(ok)))
	std := httptest.NewServer(mux)
	t.Cleanup(std.Close)

	g := gin.New()
	gh := func(c *gin.Context) { ok(c.Writer, c.Request) }
	g.GET("/payables", ginguard.Require(ch, clientReadRule, opts...), gh)
	g.DELETE("/payables", ginguard.Require(ch, clientDeleteRule, opts...), gh)
	g.POST("/approve", ginguard.Require(ch, clientApproveOwn, opts...), gh)
	gs := httptest.NewServer(g)
	t.Cleanup(gs.Close)
	return map[string]string{"net/http": std.URL, "gin": gs.URL}
}

func clientHit(t *testing.T, method, url, user string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("X-Tenant", "acme")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestClientMiddleware(t *testing.T) {
	s := testkit.Start(t, nil)
	c := clientAdmin(t, s)
	ctx := context.Background()
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
	// down: a port that takes connections and closes them unanswered. It
	// stays held for the test: a port closed here could be taken by another
	// test's server, which would then answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	downURL := "http://" + l.Addr().String()
	down, _ := client.New(downURL, client.WithToken(testkit.AdminToken), client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
	// malformed: something answers, but not Rolegate
	checkers := map[string]client.Checker{"down": down}
	for i, body := range []string{`{"allowed":true}`, `<html>ok</html>`, `{"allowed":true,"permission":"denied","revision":3}`} {
		garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body))
		}))
		defer garbage.Close()
		checkers[fmt.Sprintf("malformed%d", i)], _ = client.New(garbage.URL, client.WithToken("t"))
	}
	// (a token Rolegate refuses is a 500, not an outage: TestClientGuardTellsRefusalFromOutage)

	for name, base := range clientApps(t, c) {
		t.Run(name, func(t *testing.T) {
			if st, body := clientHit(t, "GET", base+"/payables", "u-17"); st != 200 || body != "ran:allowed" {
				t.Errorf("allow: %d %q", st, body)
			}
			if st, _ := clientHit(t, "DELETE", base+"/payables", "u-17"); st != 403 {
				t.Errorf("deny (denied): %d", st)
			}
			if st, _ := clientHit(t, "GET", base+"/payables", "stranger"); st != 403 {
				t.Errorf("deny (unknown user): %d", st)
			}
			if st, body := clientHit(t, "POST", base+"/approve?owner=u-17", "u-17"); st != 200 || body != "ran:allowed_for_own" {
				t.Errorf("own: %d %q", st, body)
			}
			if st, _ := clientHit(t, "POST", base+"/approve?owner=someone-else", "u-17"); st != 403 {
				t.Errorf("not own: %d", st)
			}
			if st, _ := clientHit(t, "GET", base+"/payables", ""); st != 401 {
				t.Errorf("no user: %d", st)
			}
		})
	}
	for cname, ch := range checkers {
		for name, base := range clientApps(t, ch) {
			t.Run(cname+"/"+name, func(t *testing.T) {
				for _, path := range []string{"/payables", "/approve?owner=u-17"} {
					method := "GET"
					if path != "/payables" {
						method = "POST"
					}
					if st, body := clientHit(t, method, base+path, "u-17"); st != 503 {
						t.Errorf("%s %s: %d %q, want 503", method, path, st, body)
					}
				}
			})
		}
	}
}
