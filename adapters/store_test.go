package adapters

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// The storage suite runs against SQLite always, and against PostgreSQL and
// MySQL when their URL variables name a server.

func TestStorage(t *testing.T) {
	onEveryDatabase(t, "storage suite", runSuite)
}

// onEveryDatabase runs fn as a subtest on SQLite, and on PostgreSQL and MySQL
// when ROLEGATE_TEST_POSTGRES_URL / ROLEGATE_TEST_MYSQL_URL name a server
// (skipped with a message otherwise); open gives a fresh, empty store.
func onEveryDatabase(t *testing.T, what string, fn func(t *testing.T, open func(t *testing.T) *Store)) {
	onEveryDatabaseURL(t, what, func(t *testing.T, newURL func(t *testing.T) string) {
		fn(t, func(t *testing.T) *Store { return openOrFail(t, newURL(t)) })
	})
}

// onEveryDatabaseURL is onEveryDatabase for tests that open the database
// themselves: newURL names a fresh, empty database (PostgreSQL: a schema),
// dropped after the test.
func onEveryDatabaseURL(t *testing.T, what string, fn func(t *testing.T, newURL func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "rolegate.db") })
	})
	for _, db := range []struct {
		name, env string
		newURL    func(*testing.T, string) string
	}{{"postgres", "ROLEGATE_TEST_POSTGRES_URL", postgresSchemaURL}, {"mysql", "ROLEGATE_TEST_MYSQL_URL", mysqlDatabaseURL}} {
		t.Run(db.name, func(t *testing.T) {
			base := os.Getenv(db.env)
			if base == "" {
				t.Skipf("%s not set: skipping the %s %s", db.env, db.name, what)
			}
			fn(t, func(t *testing.T) string { return db.newURL(t, base) })
		})
	}
}

func openOrFail(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", RedactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connectOrFail opens a store without applying the migrations.
func connectOrFail(t *testing.T, url string) *Store {
	t.Helper()
	s, err := connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", RedactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresSchemaURL makes a fresh schema of the test server, dropped after.
func postgresSchemaURL(t *testing.T, base string) string {
	t.Helper()
	admin := openOrFail(t, base)
	schema := "rg_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := admin.w.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.w.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// mysqlDatabaseURL makes a fresh database of the test server, dropped after.
func mysqlDatabaseURL(t *testing.T, base string) string {
	t.Helper()
	admin := openOrFail(t, base)
	name := "rg_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if err := admin.w.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.w.Exec("DROP DATABASE " + name) })
	u := base
	q := ""
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u, q = u[:i], u[i:]
	}
	return u[:strings.LastIndexByte(u, '/')+1] + name + q
}

func runSuite(t *testing.T, open func(t *testing.T) *Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"EntitiesAndRevision", testEntities},
		{"RolesUniqueAmongActive", testRoleNames},
		{"RoleReadsBackAsWritten", testRoleRoundTrip},
		{"ListRolesPagesAndFilters", testListRoles},
		{"UsersAndAssignments", testUsers},
		{"RulesAndLoadPolicy", testRules},
		{"LoadPolicyReadsRulesAsStored", testLoadPolicyAsStored},
		{"RollbackWritesNothing", testRollback},
		{"DeleteEntityCascades", testDeleteEntity},
		{"ConcurrentWrites", testConcurrentWrites},
		{"Settings", testSettings},
		{"EntityRevisions", testEntityRevisions},
		{"MigrateTwice", func(t *testing.T, s *Store) {
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			last := knownVersion(t, s)
			if v, err := s.SchemaVersion(context.Background()); err != nil || v != last {
				t.Fatalf("schema version %d, %v", v, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func ap(action string, p rolegate.Permission) rolegate.ActionPermission {
	return rolegate.ActionPermission{ActionName: action, Permission: p}
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func mustUpdate(t *testing.T, s *Store, fn func(tx policy.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func newEntity(t *testing.T, s *Store, id string) {
	t.Helper()
	now := ms(time.Now())
	mustUpdate(t, s, func(tx policy.Tx) error {
		return tx.InsertEntity(&rolegate.Entity{ID: id, Name: "E " + id, Revision: 1, CreatedAt: now, UpdatedAt: now})
	})
}

func newRole(name string, entity string, at time.Time) rolegate.Role {
	return rolegate.Role{ID: uuid.NewString(), EntityID: entity, Name: name, RoleType: rolegate.RoleCustom, Scope: rolegate.ScopeAccount,
		Status: rolegate.StatusActive, Version: 1, CreatedAt: at, UpdatedAt: at}
}

func testEntities(t *testing.T, s *Store) {
	newEntity(t, s, "acme")
	err := s.Update(ctx, func(tx policy.Tx) error {
		return tx.InsertEntity(&rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	if !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate entity: %v", err)
	}
	var rev int64
	mustUpdate(t, s, func(tx policy.Tx) (err error) { rev, err = tx.BumpRevision("acme", time.Now()); return })
	if rev != 2 {
		t.Fatalf("revision %d, want 2", rev)
	}
	err = s.Update(ctx, func(tx policy.Tx) error { _, err := tx.BumpRevision("nope", time.Now()); return err })
	if !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("bump unknown: %v", err)
	}
	for _, id := range []string{"b", "c", "d"} {
		newEntity(t, s, id)
	}
	s.View(ctx, func(tx policy.Tx) error {
		e, err := tx.GetEntity("acme")
		if err != nil || e.Revision != 2 || e.Name != "E acme" {
			t.Fatalf("get: %+v %v", e, err)
		}
		if _, err := tx.GetEntity("zzz"); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
		list, err := tx.ListEntities("acme", 2)
		if err != nil || len(list) != 2 || list[0].ID != "b" || list[1].ID != "c" {
			t.Fatalf("list: %+v %v", list, err)
		}
		return nil
	})
}

// testEntityRevisions: the sweep's one query answers the revisions of the
// entities that exist among those asked, however many are asked.
func testEntityRevisions(t *testing.T, s *Store) {
	newEntity(t, s, "a")
	newEntity(t, s, "b")
	mustUpdate(t, s, func(tx policy.Tx) error {
		for range 3 {
			if _, err := tx.BumpRevision("b", time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	ids := []string{"a", "b", "gone"}
	for i := range 997 {
		ids = append(ids, fmt.Sprintf("missing-%d", i))
	}
	var got map[string]int64
	err := s.View(ctx, func(tx policy.Tx) (err error) { got, err = tx.EntityRevisions(ids); return })
	if err != nil || len(got) != 2 || got["a"] != 1 || got["b"] != 4 {
		t.Fatalf("revisions: %v %v", got, err)
	}
	err = s.View(ctx, func(tx policy.Tx) (err error) { got, err = tx.EntityRevisions(nil); return })
	if err != nil || len(got) != 0 {
		t.Fatalf("revisions of nothing: %v %v", got, err)
	}
}

func testRoleNames(t *testing.T, s *Store) {
	newEntity(t, s, "e1")
	newEntity(t, s, "e2")
	now := ms(time.Now())
	a := newRole("Admin", "e1", now)
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&a) })
	dup := newRole("Admin", "e1", now)
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.InsertRole(&dup) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate active name: %v", err)
	}
	// Case-sensitive, and per entity.
	lower := newRole("admin", "e1", now)
	other := newRole("Admin", "e2", now)
	mustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&lower); err != nil {
			return err
		}
		return tx.InsertRole(&other)
	})
	// A deleted role frees its name.
	a.Status, a.DeletedAt = rolegate.StatusDeleted, &now
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.UpdateRole(&a) })
	again := newRole("Admin", "e1", now)
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&again) })
	// Renaming onto an active name is a duplicate.
	lower.Name = "Admin"
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.UpdateRole(&lower) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	s.View(ctx, func(tx policy.Tx) error {
		if _, err := tx.GetRole("e2", a.ID); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("another entity's role: %v", err)
		}
		return nil
	})
}

func testRoleRoundTrip(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	now := ms(time.Now())
	r := newRole("order support", "e", now)
	r.Description = "Administrate orders — ünïcode"
	r.Default = true
	r.CreatedBy, r.UpdatedBy = "admin", "admin"
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("approve", rolegate.AllowedForOwn), ap("update", rolegate.NotAllowed), ap("delete", rolegate.Denied)}},
		{ObjectType: "*", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}},
	}}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&r) })
	s.View(ctx, func(tx policy.Tx) error {
		got, err := tx.GetRole("e", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", r) {
			t.Fatalf("read back:\n%+v\nwant\n%+v", got, r)
		}
		return nil
	})
}

func testListRoles(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	base := ms(time.Now())
	var roles []rolegate.Role
	mustUpdate(t, s, func(tx policy.Tx) error {
		for i := 0; i < 7; i++ {
			// Pairs share created_at, so ties are broken by id.
			r := newRole(fmt.Sprintf("role %d", i), "e", base.Add(time.Duration(i/2)*time.Second))
			if i == 3 {
				r.Description = "has 100%_off"
				r.Default = true
				r.RoleType = rolegate.RoleSystem
			}
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			roles = append(roles, r)
		}
		return nil
	})
	list := func(f policy.RoleFilter, p policy.Page) []string {
		t.Helper()
		var out []string
		s.View(ctx, func(tx policy.Tx) error {
			rs, err := tx.ListRoles("e", f, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				out = append(out, r.Name)
			}
			return nil
		})
		return out
	}
	names := func(p policy.Page, f policy.RoleFilter) []string {
		var all []string
		for {
			page := list(f, p)
			all = append(all, page...)
			if len(page) < p.Limit {
				return all
			}
			var last rolegate.Role
			for _, r := range roles {
				if r.Name == page[len(page)-1] {
					last = r
				}
			}
			v := last.CreatedAt.Format(time.RFC3339Nano)
			if p.Sort == "name" {
				v = last.Name
			}
			p.After = &policy.Cursor{Value: v, ID: last.ID}
		}
	}
	asc := names(policy.Page{Limit: 2, Sort: "created_at"}, policy.RoleFilter{})
	if len(asc) != 7 {
		t.Fatalf("paged ascending: %v", asc)
	}
	desc := names(policy.Page{Limit: 3, Sort: "created_at", Desc: true}, policy.RoleFilter{})
	for i := range asc {
		if asc[i] != desc[len(desc)-1-i] {
			t.Fatalf("descending is not ascending reversed: %v vs %v", asc, desc)
		}
	}
	if got := names(policy.Page{Limit: 4, Sort: "name", Desc: true}, policy.RoleFilter{}); strings.Join(got, ",") != "role 6,role 5,role 4,role 3,role 2,role 1,role 0" {
		t.Fatalf("by name desc: %v", got)
	}
	yes := true
	for _, c := range []struct {
		f    policy.RoleFilter
		want string
	}{
		{policy.RoleFilter{Search: "100%_OFF"}, "role 3"},
		{policy.RoleFilter{Search: "%"}, "role 3"},
		{policy.RoleFilter{Name: "role 5"}, "role 5"},
		{policy.RoleFilter{Default: &yes}, "role 3"},
		{policy.RoleFilter{RoleType: rolegate.RoleSystem}, "role 3"},
		{policy.RoleFilter{IDs: []string{roles[1].ID, roles[4].ID}}, "role 1,role 4"},
		{policy.RoleFilter{CreatedAt: []policy.TimeBound{{Op: "gte", Time: base.Add(time.Second)}, {Op: "lt", Time: base.Add(2 * time.Second)}}}, "role 2,role 3"},
		{policy.RoleFilter{Status: rolegate.StatusDeleted}, ""},
	} {
		if got := strings.Join(list(c.f, policy.Page{Limit: 100, Sort: "name"}), ","); got != c.want {
			t.Errorf("filter %+v: %q, want %q", c.f, got, c.want)
		}
	}
}

func testUsers(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	now := ms(time.Now())
	r := newRole("r", "e", now)
	u := rolegate.User{ID: "Ada@Example.com", EntityID: "e", Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: now, UpdatedAt: now,
		Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}}
	mustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		for _, id := range []string{"bob", "BOB", "carl"} {
			if err := tx.InsertUser(&rolegate.User{ID: id, EntityID: "e", Name: strings.ToUpper(id) + " x", CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return tx.InsertUser(&u)
	})
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.InsertUser(&u) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate user: %v", err)
	}
	a := rolegate.Assignment{EntityID: "e", UserID: u.ID, RoleID: r.ID, CreatedAt: now}
	scoped := a
	scoped.Scope = "team:42"
	mustUpdate(t, s, func(tx policy.Tx) error {
		for _, x := range []*rolegate.Assignment{&a, &a, &scoped} { // storing one twice is no error
			if err := tx.PutAssignment(x); err != nil {
				return err
			}
		}
		u.Name = "Ada King"
		return tx.UpdateUser(&u)
	})
	s.View(ctx, func(tx policy.Tx) error {
		got, err := tx.GetUser("e", u.ID)
		if err != nil || got.Name != "Ada King" || len(got.Permissions.Objects) != 1 {
			t.Fatalf("get user: %+v %v", got, err)
		}
		found, err := tx.ListUsers("e", policy.UserFilter{Search: "LOVELACE"}, policy.Page{Limit: 10})
		if err != nil || len(found) != 0 {
			t.Fatalf("search old name: %+v %v", found, err)
		}
		found, _ = tx.ListUsers("e", policy.UserFilter{Search: "EXAMPLE.COM"}, policy.Page{Limit: 10})
		if len(found) != 1 {
			t.Fatalf("search email: %+v", found)
		}
		all, _ := tx.ListUsers("e", policy.UserFilter{}, policy.Page{Limit: 2, After: &policy.Cursor{ID: "BOB"}})
		if len(all) != 2 || all[0].ID != "bob" || all[1].ID != "carl" {
			t.Fatalf("users after BOB: %+v", all)
		}
		wide := ""
		as, _ := tx.ListAssignments("e", policy.AssignmentFilter{UserID: u.ID, Scope: &wide})
		if len(as) != 1 || as[0].Scope != "" {
			t.Fatalf("entity-wide assignments: %+v", as)
		}
		as, _ = tx.ListAssignments("e", policy.AssignmentFilter{RoleID: r.ID})
		if len(as) != 2 {
			t.Fatalf("assignments of role: %+v", as)
		}
		return nil
	})
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteAssignment(scoped) })
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.DeleteAssignment(scoped) }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("delete missing assignment: %v", err)
	}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteUser("e", u.ID) })
	s.View(ctx, func(tx policy.Tx) error {
		if as, _ := tx.ListAssignments("e", policy.AssignmentFilter{UserID: u.ID}); len(as) != 0 {
			t.Fatalf("assignments survive their user: %+v", as)
		}
		return nil
	})
}

func testRules(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	newEntity(t, s, "other")
	now := ms(time.Now())
	r := newRole("reader", "e", now)
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("delete", rolegate.Denied)}}}}
	g := engine.CompileAssignment(rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r.ID})
	otherRule := engine.CompileRights("r:x", "other", r.Permissions)
	mustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		return tx.AddRules(append(append(engine.Compile(r), g), otherRule...))
	})
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, rule := range pol.Rules {
		lines = append(lines, rule.String())
	}
	want := []string{"p, r:" + r.ID + ", e, doc, delete, any, deny", "p, r:" + r.ID + ", e, doc, read, any, allow", "g, u:ada, r:" + r.ID + ", e"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || pol.Revision != 1 || pol.RoleNames[r.ID] != "reader" {
		t.Fatalf("LoadPolicy: %+v\nwant %v", pol, want)
	}
	if _, err := s.LoadPolicy(ctx, "nope"); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("LoadPolicy of unknown entity: %v", err)
	}
	// Replace one subject's rules, remove exactly one rule.
	mustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.ReplaceSubjectRules("e", engine.RoleSubject(r.ID), engine.Compile(r)[:1]); err != nil {
			return err
		}
		return tx.RemoveRules([]rolegate.Rule{g})
	})
	pol, _ = s.LoadPolicy(ctx, "e")
	if len(pol.Rules) != 1 || pol.Rules[0].String() != engine.Compile(r)[0].String() {
		t.Fatalf("after replace and remove: %+v", pol.Rules)
	}
	// Many rules at once: chunked inserts.
	var many []rolegate.Rule
	for i := 0; i < 6000; i++ {
		many = append(many, rolegate.Rule{PType: "p", Values: []string{"r:bulk", "e", fmt.Sprintf("o%d", i), "read", "any", "allow"}})
	}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules(many) })
	if pol, _ = s.LoadPolicy(ctx, "e"); len(pol.Rules) != 6001 {
		t.Fatalf("after bulk insert: %d rules", len(pol.Rules))
	}
	// A duplicate rule is refused by casbin_rule's unique index.
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.AddRules(many[:1]) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate rule: %v", err)
	}
	// Empty fields are refused before they reach the table.
	if err := s.Update(ctx, func(tx policy.Tx) error {
		return tx.AddRules([]rolegate.Rule{{PType: "p", Values: []string{"r:a", "e", "", "read", "any", "allow"}}})
	}); err == nil {
		t.Fatal("a rule with an empty field was stored")
	}
}

// testLoadPolicyAsStored: LoadPolicy, which reads each rule's values joined
// in one column, gives back every rule as stored, as the consistency check's
// column by column read does: rules of every length, the longest values, and
// values its separator cannot join (one holding it, a NULL column), after
// which it reads column by column.
func testLoadPolicyAsStored(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	newEntity(t, s, "other")
	long := strings.Repeat("x", 100)
	rules := []rolegate.Rule{
		{PType: "p", Values: []string{"r:a", "e", "doc", "read", "any", "allow"}},
		{PType: "p", Values: []string{"u:" + long[2:], "e", long, "read", "own", "deny"}},
		{PType: "p", Values: []string{"r:short", "e", "doc"}}, // malformed, read as stored
		{PType: "g", Values: []string{"u:ada", "r:a", "e"}},
		{PType: "g", Values: []string{"u:ada", "r:b", "e"}},
		{PType: "g", Values: []string{"u:bob", "r:a", "e"}},
		{PType: "g", Values: []string{"u:ada", "r:c", "e"}}, // ada's rules apart
		{PType: "g", Values: []string{"s:t:1:u:bob", "r:a", "e", "extra"}},
		{PType: "p", Values: []string{"r:a", "other", "doc", "read", "any", "allow"}},
		{PType: "g", Values: []string{"u:ada", "r:a", "other"}},
	}
	for i := range 5000 { // more than one chunk of SQLite's read
		rules = append(rules, rolegate.Rule{PType: "g", Values: []string{fmt.Sprintf("u:%d", i/2), fmt.Sprintf("r:%d", i%7), "e"}})
	}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules(rules) })
	same := func(when string) {
		t.Helper()
		pol, err := s.LoadPolicy(ctx, "e")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		var want []rolegate.Rule
		s.View(ctx, func(ptx policy.Tx) error {
			want, err = ptx.(*tx).EntityRules("e")
			return err
		})
		got := append([]rolegate.Rule(nil), pol.Rules...)
		engine.SortRules(got)
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 5007 {
			t.Fatalf("%s: LoadPolicy read\n%v\nstored\n%v", when, got, want)
		}
	}
	same("joined")
	for _, sep := range []rolegate.Rule{
		{PType: "g", Values: []string{"u:x\x1fr:a", "r:b", "e"}},
		{PType: "p", Values: []string{"r:a", "e", "doc", "read\x1eany", "any", "allow"}},
	} {
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules([]rolegate.Rule{sep}) })
		same("a value holds a separator: " + sep.String())
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.RemoveRules([]rolegate.Rule{sep}) })
		same("the separator gone")
	}
	if err := s.w.Exec("UPDATE casbin_rule SET v5 = NULL WHERE ptype = 'p' AND v0 = 'r:short'").Error; err != nil {
		t.Fatal(err)
	}
	same("a NULL column")
}

func testRollback(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	now := ms(time.Now())
	r := newRole("r", "e", now)
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx policy.Tx) error {
		if _, err := tx.BumpRevision("e", now); err != nil {
			return err
		}
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		if err := tx.AddRules(engine.Compile(r)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil || pol.Revision != 1 || len(pol.Rules) != 0 || len(pol.RoleNames) != 0 {
		t.Fatalf("rolled back write left %+v %v", pol, err)
	}
}

func testDeleteEntity(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	newEntity(t, s, "keep")
	now := ms(time.Now())
	for _, ent := range []string{"e", "keep"} {
		r := newRole("r", ent, now)
		r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
		a := rolegate.Assignment{EntityID: ent, UserID: "u", RoleID: r.ID, CreatedAt: now}
		mustUpdate(t, s, func(tx policy.Tx) error {
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			if err := tx.InsertUser(&rolegate.User{ID: "u", EntityID: ent, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := tx.PutAssignment(&a); err != nil {
				return err
			}
			return tx.AddRules(append(engine.Compile(r), engine.CompileAssignment(a)))
		})
	}
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("e") })
	if _, err := s.LoadPolicy(ctx, "e"); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("deleted entity: %v", err)
	}
	for _, table := range []string{"roles", "users", "assignments"} {
		var n int64
		s.r.Table(table).Where("entity_id = ?", "e").Count(&n)
		if n != 0 {
			t.Errorf("%s of a deleted entity: %d rows", table, n)
		}
	}
	var n int64
	s.r.Table("casbin_rule").Count(&n)
	if pol, _ := s.LoadPolicy(ctx, "keep"); n != 2 || len(pol.Rules) != 2 {
		t.Fatalf("rules left: %d in the table, %+v of the other entity", n, pol.Rules)
	}
}

func testConcurrentWrites(t *testing.T, s *Store) {
	newEntity(t, s, "e")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := newRole(fmt.Sprintf("r%d", i), "e", ms(time.Now()))
			errs <- s.Update(ctx, func(tx policy.Tx) error {
				if _, err := tx.BumpRevision("e", time.Now()); err != nil {
					return err
				}
				if err := tx.InsertRole(&r); err != nil {
					return err
				}
				return tx.AddRules(engine.CompileRights(engine.RoleSubject(r.ID), "e", rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}))
			})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil || pol.Revision != 21 || len(pol.Rules) != 20 {
		t.Fatalf("after 20 concurrent writes: revision %d, %d rules, %v", pol.Revision, len(pol.Rules), err)
	}
}

func testSettings(t *testing.T, s *Store) {
	mustUpdate(t, s, func(tx policy.Tx) error { return tx.PutSetting("k", "v") })
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.PutSetting("k", "w") }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("second put: %v", err)
	}
	s.View(ctx, func(tx policy.Tx) error {
		if v, err := tx.GetSetting("k"); v != "v" || err != nil {
			t.Fatalf("get: %q %v", v, err)
		}
		if _, err := tx.GetSetting("nope"); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("get unset: %v", err)
		}
		return nil
	})
}

func TestOpenURLs(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"mysql://root@127.0.0.1:3306/test", "root@tcp(127.0.0.1:3306)/test?"},
		{"mysql://u:p%40ss@db/rg?tls=true", "u:p@ss@tcp(db:3306)/rg?"},
	} {
		dsn, err := MySQLDSN(c.url)
		if err != nil || !strings.HasPrefix(dsn, c.want) || !strings.Contains(dsn, "parseTime=true") {
			t.Errorf("MySQLDSN(%q) = %q, %v; want prefix %q", c.url, dsn, err, c.want)
		}
	}
	if _, err := MySQLDSN("mysql://root@host"); err == nil {
		t.Error("mysql URL without a database accepted")
	}
	for _, bad := range []string{"redis://x", "rolegate.db", "sqlite://"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if p, err := SQLitePath("sqlite:///var/lib/rg.db"); err != nil || p != "/var/lib/rg.db" {
		t.Errorf("absolute sqlite path: %q %v", p, err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, rolegate.ErrUnavailable) {
		t.Fatalf("unreachable database: %v", err)
	}
}

// TestConnErrorsAreUnavailable: the errors of a connection refused, cut or
// closed, and of a server shutting down, are storage_unavailable (503), not
// internal errors.
func TestConnErrorsAreUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("begin: %w", pgconn.ErrConnClosed),
		&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"},
		&pgconn.PgError{Code: "08006", Message: "connection failure"},
		&mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"},
		mysql.ErrInvalidConn,
		driver.ErrBadConn,
	} {
		if got := translate(err); !errors.Is(got, rolegate.ErrUnavailable) {
			t.Errorf("%v: not unavailable: %v", err, got)
		}
	}
	for _, err := range []error{
		&pgconn.PgError{Code: "23505", Message: "duplicate key"},
		&pgconn.PgError{Code: "42P01", Message: "relation does not exist"},
		&mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"},
		errors.New("something else"),
	} {
		if got := translate(err); errors.Is(got, rolegate.ErrUnavailable) {
			t.Errorf("%v: unavailable", err)
		}
	}
}
