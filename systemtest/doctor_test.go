package systemtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/app"
	"github.com/rolegate/rolegate/policy"
)

// openService opens the store of a database URL with a service over it, as
// the server would.
func openService(t *testing.T, url string) (*adapters.Store, *policy.Service) {
	t.Helper()
	ctx := auth.Internal(context.Background())
	store, err := adapters.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	return store, policy.NewService(policy.Config{Store: store, Engine: eng})
}

// TestDoctorCommand runs `rolegate doctor` on a store with a missing and an
// orphan rule: it reports both and fails, --fix repairs them, and a second
// run finds the store consistent.
func TestDoctorCommand(t *testing.T) {
	ctx := auth.Internal(context.Background())
	url := sqliteURL(t)
	store, svc := openService(t, url)
	if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	name := "approver"
	role, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	missing := engine.Compile(role)[0]
	orphan := rolegate.Rule{PType: "g", Values: []string{"u:mallory", engine.RoleSubject(role.ID), "acme"}}
	err = store.Update(ctx, func(tx policy.Tx) error {
		if err := tx.RemoveRules([]rolegate.Rule{missing}); err != nil {
			return err
		}
		return tx.AddRules([]rolegate.Rule{orphan})
	})
	if err != nil {
		t.Fatal(err)
	}

	doctor := func(env map[string]string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := app.Run(ctx, append([]string{"doctor"}, args...), func(k string) string { return env[k] }, &out, io.Discard)
		return out.String(), err
	}

	// Found, not fixed: exit 1 (an error that is not a usage error).
	out, err := doctor(map[string]string{"ROLEGATE_DATABASE_URL": url})
	t.Logf("rolegate doctor:\n%s", out)
	if err == nil || errors.Is(err, app.ErrUsage) || !strings.Contains(err.Error(), "2 problem(s) found") {
		t.Fatalf("doctor on a broken store: %v\n%s", err, out)
	}
	for _, want := range []string{
		`entity "acme": missing_rule: role "approver" (` + role.ID + `): ` + missing.String(),
		`entity "acme": orphan_rule: no assignment grants it: ` + orphan.String(),
		"checked 1 entity, 3 roles, 0 users, 0 assignments, 2 rules: 2 problem(s) in 1 entity, 2 remain",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rev := entityRevision(t, svc, "acme")

	// --fix repairs and succeeds; the flag wins over the variable.
	out, err = doctor(map[string]string{"ROLEGATE_DATABASE_URL": "sqlite://elsewhere.db"}, "--fix", "-database-url", url)
	if err != nil {
		t.Fatalf("doctor --fix: %v\n%s", err, out)
	}
	t.Logf("rolegate doctor --fix:\n%s", out)
	for _, want := range []string{"[fixed]", `entity "acme": repaired, now at revision`, "2 fixed in 1 entity, none remain"} {
		if !strings.Contains(out, want) {
			t.Errorf("--fix output lacks %q:\n%s", want, out)
		}
	}
	if got := entityRevision(t, svc, "acme"); got != rev+1 {
		t.Fatalf("revision after --fix: %d, want %d", got, rev+1)
	}
	// The changes feed tells its clients to fetch the repaired entity again.
	page, err := svc.Changes(ctx, "acme", changes.Query{Since: rev})
	if err != nil || len(page.Items) != 1 || page.Items[0] != (changes.Item{Revision: rev + 1, Type: changes.ItemEntity, Op: changes.ItemPut}) {
		t.Fatalf("changes feed after --fix: %+v %v", page, err)
	}

	out, err = doctor(nil, "-database-url", url)
	if err != nil || !strings.HasSuffix(out, "consistent\n") {
		t.Fatalf("doctor after --fix: %v\n%s", err, out)
	}
	if _, err := doctor(nil, "-database-url", url, "extra"); !errors.Is(err, app.ErrUsage) {
		t.Fatalf("doctor with an argument: %v", err)
	}
}

func entityRevision(t *testing.T, svc *policy.Service, id string) int64 {
	t.Helper()
	e, err := svc.GetEntity(auth.Internal(context.Background()), id)
	if err != nil {
		t.Fatal(err)
	}
	return e.Revision
}
