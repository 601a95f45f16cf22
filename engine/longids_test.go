package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// TestLongUserIDsAreListed: a user id too long for a rule's subject (and a
// scope and user id too long together) is stored as a hash; who-can, dry runs
// and the access report still name the user and the scope, whether the engine
// learned of the writes from their deltas, from the change log or from a full
// load.
func TestLongUserIDsAreListed(t *testing.T) {
	ctx := auth.Internal(context.Background())
	svc, store := testkit.Service(t, "acme")
	// Another instance, holding the entity before the writes: it catches up
	// from the change log.
	logged := newService(t, store)
	if _, err := logged.Engine().Revision(ctx, "acme"); err != nil {
		t.Fatal(err)
	}

	long := "u-" + strings.Repeat("l", 148)         // u#<hash>, and s#<hash> in any scope
	longScope := "team:" + strings.Repeat("t", 123) // s#<hash> with a short user id
	if len(long) != 150 || len(longScope) != 128 {
		t.Fatal("ids of the wrong length")
	}
	for _, sub := range []string{engine.UserSubject(long), engine.ScopedSubject("team:1", long), engine.ScopedSubject(longScope, "bob")} {
		if !engine.Hashed(sub) {
			t.Fatalf("subject %q is not hashed: the test proves nothing", sub)
		}
	}
	rights := func(obj string, acts ...string) *rolegate.Permissions {
		p := rolegate.ObjectPermissions{ObjectType: obj}
		for _, a := range acts {
			p.Actions = append(p.Actions, rolegate.ActionPermission{ActionName: a, Permission: rolegate.Allowed})
		}
		return &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{p}}
	}
	role := func(name string, p *rolegate.Permissions) string {
		r, _, err := svc.CreateRole(ctx, "acme", policy.RoleInput{Name: &name, Permissions: p})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	reader, writer := role("reader", rights("doc", "read")), role("writer", rights("doc", "write"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := svc.CreateUser(ctx, "acme", policy.UserInput{ID: long, RoleIDs: &[]string{reader}, Permissions: rights("report", "view")})
	must(err)
	_, _, err = svc.AssignRole(ctx, "acme", long, writer, "team:1")
	must(err)
	_, _, err = svc.CreateUser(ctx, "acme", policy.UserInput{ID: "bob"})
	must(err)
	_, _, err = svc.AssignRole(ctx, "acme", "bob", writer, longScope)
	must(err)

	must(logged.Engine().Refresh(ctx, "acme"))
	if st := logged.Engine().Stats(); st.Reloads != 0 || st.Deltas == 0 {
		t.Fatalf("the other instance reloaded (%+v): the change log did not carry the names", st)
	}
	services := []struct {
		name string
		svc  *policy.Service
	}{
		{"deltas", svc},
		{"change log", logged},
		{"full load", newService(t, store)},
	}
	for _, s := range services {
		t.Run(s.name, func(t *testing.T) {
			checkLongIDs(t, s.svc, long, longScope, reader, writer)
		})
	}
}

func newService(t *testing.T, store policy.Store) *policy.Service {
	t.Helper()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewService(policy.Config{Store: store, Engine: eng})
}

func checkLongIDs(t *testing.T, svc *policy.Service, long, longScope, reader, writer string) {
	ctx := auth.Internal(context.Background())
	via := func(ms []engine.Match) string {
		var names []string
		for _, m := range ms {
			if m.RoleID == "" {
				names = append(names, "own")
			} else {
				names = append(names, m.RoleName)
			}
		}
		return strings.Join(names, ",")
	}
	whoCan := []struct {
		obj, act, scope string
		want            []string
	}{
		{"doc", "read", "", []string{long + " allowed reader"}},
		{"doc", "read", "team:1", []string{long + " allowed reader"}},
		{"doc", "write", "", nil},
		{"doc", "write", "team:1", []string{long + " allowed writer"}},
		{"doc", "write", longScope, []string{"bob allowed writer"}},
		{"report", "view", "", []string{long + " allowed own"}},
	}
	for _, q := range whoCan {
		hs, err := svc.WhoCan(ctx, "acme", q.obj, q.act, q.scope, "", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, fmt.Sprintf("%s %s %s", h.UserID, h.Permission, via(h.Via)))
		}
		if !reflect.DeepEqual(got, q.want) {
			t.Errorf("who can %s %s (scope %.10q): %q, want %q", q.act, q.obj, q.scope, got, q.want)
		}
	}

	var rows []string
	err := svc.AccessReport(ctx, "acme", func(int64) error { return nil }, func(r engine.ReportRight) error {
		rows = append(rows, fmt.Sprintf("%s|%s|%s %s %s %s", r.UserID, r.Scope, r.ObjectType, r.Action, r.Permission, via(r.Via)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bob|" + longScope + "|doc write allowed writer",
		long + "||doc read allowed reader",
		long + "||report view allowed own",
		long + "|team:1|doc write allowed writer",
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("access report:\n%q\nwant\n%q", rows, want)
	}

	right := func(user, scope, obj, act string) engine.Right {
		return engine.Right{UserID: user, Scope: scope, ObjectType: obj, Action: act, Permission: rolegate.Allowed}
	}
	dryRuns := []struct {
		name         string
		write        func(*policy.Service) error
		gained, lost []engine.Right
	}{
		{"writer may delete too", func(d *policy.Service) error {
			_, _, err := d.UpdateRole(ctx, "acme", writer, policy.RoleInput{Permissions: &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc",
				Actions: []rolegate.ActionPermission{{ActionName: "write", Permission: rolegate.Allowed}, {ActionName: "delete", Permission: rolegate.Allowed}}}}}}, policy.Patch, 0)
			return err
		}, []engine.Right{right("bob", longScope, "doc", "delete"), right(long, "team:1", "doc", "delete")}, nil},
		{"unassign reader", func(d *policy.Service) error {
			_, err := d.UnassignRole(ctx, "acme", long, reader, "")
			return err
		}, nil, []engine.Right{right(long, "", "doc", "read")}},
		{"assign writer in a new scope", func(d *policy.Service) error {
			_, _, err := d.AssignRole(ctx, "acme", long, writer, "team:2")
			return err
		}, []engine.Right{right(long, "team:2", "doc", "write")}, nil},
		{"assign reader in the long scope", func(d *policy.Service) error {
			_, _, err := d.AssignRole(ctx, "acme", "bob", reader, longScope)
			return err
		}, []engine.Right{right("bob", longScope, "doc", "read")}, nil},
		{"delete the user", func(d *policy.Service) error {
			_, _, err := d.DeleteUser(ctx, "acme", long)
			return err
		}, nil, []engine.Right{right(long, "", "doc", "read"), right(long, "", "report", "view"), right(long, "team:1", "doc", "write")}},
	}
	for _, dr := range dryRuns {
		dry, res := svc.DryRun()
		if err := dr.write(dry); err != nil {
			t.Fatalf("dry run %q: %v", dr.name, err)
		}
		if !reflect.DeepEqual(res.Gained, dr.gained) || !reflect.DeepEqual(res.Lost, dr.lost) {
			t.Errorf("dry run %q:\n gained %+v\n lost   %+v\nwant\n gained %+v\n lost   %+v", dr.name, res.Gained, res.Lost, dr.gained, dr.lost)
		}
	}
}
