package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestExample runs the example service against a real Rolegate server.
func TestExample(t *testing.T) {
	s := testkit.Start(t, nil)
	rg, _ := client.New(s.URL, client.WithToken(testkit.AdminToken))
	ctx := context.Background()
	if _, err := rg.CreateEntity(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	name := "approver"
	r, err := rg.CreateRole(ctx, "acme", client.RoleInput{Name: &name, Permissions: &client.Permissions{Objects: []client.ObjectPermissions{
		{ObjectType: "payable", Actions: []client.ActionPermission{{ActionName: "read", Permission: "allowed"}, {ActionName: "approve", Permission: "allowed_for_own"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rg.CreateUser(ctx, "acme", client.UserInput{ID: "u-17", RoleIDs: &[]string{r.ID}}); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	t.Setenv("ROLEGATE_SERVER", s.URL)
	t.Setenv("ROLEGATE_TOKEN", testkit.AdminToken)
	t.Setenv("ROLEGATE_CLIENT_ID", "")
	t.Setenv("ADDR", addr)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(method, path, user string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("X-Tenant", "acme")
		req.Header.Set("X-User", user)
		var res *http.Response
		var err error
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if res, err = http.DefaultClient.Do(req); err == nil || time.Now().After(end) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := get("GET", "/payables", "u-17"); st != 200 {
		t.Fatalf("allowed read: %d %s", st, body)
	}
	if st, _ := get("GET", "/payables", "stranger"); st != 403 {
		t.Fatalf("stranger: %d", st)
	}
	if st, body := get("POST", "/payables/p-1/approve?owner=u-17", "u-17"); st != 200 || body != "{\"approved\":\"p-1\",\"as\":\"allowed_for_own\"}\n" {
		t.Fatalf("own approve: %d %s", st, body)
	}
	if st, _ := get("POST", "/payables/p-1/approve?owner=u-9", "u-17"); st != 403 {
		t.Fatalf("approve of another's: %d", st)
	}
}
