package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/client"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/internal/testkit"
)

func ptr[T any](v T) *T { return &v }

// oneToken lets the admin token in, and nothing else.
type oneToken struct{}

func (oneToken) Authenticate(token string) (auth.Actor, error) {
	if token == "admin" {
		return auth.Actor{ID: "client:ops", Scopes: []string{auth.ScopeAdmin}}, nil
	}
	return auth.Actor{}, rolegate.Errorf(rolegate.KindUnauthenticated, "invalid_token", "the bearer token is not valid")
}

// The CLI asks the past on a real server: check --as-of and --at-revision,
// users permissions --as-of, users history (table and -o json); malformed
// flags are usage errors sent nowhere.
func TestCLIHistory(t *testing.T) {
	svc, _ := testkit.Service(t, "acme")
	srv := httptest.NewServer(handlers.NewRouter(handlers.Deps{Service: svc, Auth: oneToken{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Run(t.Context(), append(args, "--server", srv.URL, "--token", "admin", "-e", "acme"), func(string) string { return "" }, &out, &errb)
		return out.String() + errb.String(), err
	}
	ctx := context.Background()
	c, err := client.New(srv.URL, client.WithToken("admin"))
	if err != nil {
		t.Fatal(err)
	}
	role, err := c.CreateRole(ctx, "acme", client.RoleInput{Name: ptr("approver"), Permissions: &client.Permissions{Objects: []client.ObjectPermissions{
		{ObjectType: "payable", Actions: []client.ActionPermission{{ActionName: "approve", Permission: "allowed"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, "acme", client.UserInput{ID: "u-1", RoleIDs: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	a, err := c.AssignRole(ctx, "acme", "u-1", role.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	held := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	if err := c.UnassignRole(ctx, "acme", "u-1", role.ID, ""); err != nil {
		t.Fatal(err)
	}

	if out, err := run("check", "u-1", "payable", "approve"); err != nil || !strings.HasPrefix(out, "denied") {
		t.Fatalf("now: %v\n%s", err, out)
	}
	if out, err := run("check", "u-1", "payable", "approve", "--as-of", held.Format(time.RFC3339Nano)); err != nil ||
		!strings.HasPrefix(out, "allowed (allowed) at revision "+strconv.FormatInt(a.Revision, 10)) {
		t.Fatalf("--as-of: %v\n%s", err, out)
	}
	if out, err := run("check", "u-1", "payable", "approve", "--at-revision", strconv.FormatInt(a.Revision, 10)); err != nil || !strings.HasPrefix(out, "allowed") {
		t.Fatalf("--at-revision: %v\n%s", err, out)
	}
	if out, err := run("users", "permissions", "u-1", "--as-of", held.Format(time.RFC3339Nano)); err != nil || !strings.Contains(out, "approve") {
		t.Fatalf("users permissions --as-of: %v\n%s", err, out)
	}
	if out, err := run("users", "permissions", "u-1"); err != nil || strings.Contains(out, "approve") {
		t.Fatalf("users permissions now: %v\n%s", err, out)
	}
	out, err := run("users", "history", "u-1", "--object-type", "payable", "--action", "approve")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM", "r" + strconv.FormatInt(a.Revision, 10), "approver", "client:ops", "assignment"} {
		if !strings.Contains(out, want) {
			t.Fatalf("users history lacks %q:\n%s", want, out)
		}
	}
	out, err = run("users", "history", "u-1", "--object-type", "payable", "--action", "approve", "-o", "json")
	var h client.AccessHistory
	if err != nil || json.Unmarshal([]byte(out), &h) != nil || len(h.Data) != 1 || h.Data[0].From.Revision != a.Revision || h.Data[0].To == nil {
		t.Fatalf("users history -o json: %v\n%s", err, out)
	}

	for _, bad := range [][]string{
		{"check", "u-1", "payable", "approve", "--as-of", "yesterday"},
		{"check", "u-1", "payable", "approve", "--as-of", held.Format(time.RFC3339), "--at-revision", "2"},
		{"check", "u-1", "payable", "approve", "--at-revision", "0"},
		{"users", "permissions", "u-1", "--at-revision", "-1"},
		{"users", "history", "u-1", "--object-type", "payable"},
		{"users", "history", "u-1", "--object-type", "payable", "--action", "approve", "--from", "monday"},
	} {
		if out, err := run(bad...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error\n%s", bad, err, out)
		}
	}
}
