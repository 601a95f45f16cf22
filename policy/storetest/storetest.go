// Package storetest is the conformance suite of policy.Store: what every
// store must do, tested through the interface only. The SQL adapters run it
// on SQLite, PostgreSQL and MySQL, the in-memory store on itself; a store's
// own tests (its SQL, its migrations) stay beside it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// RunHistory runs the suite's tests of the history (HistoryStore) alone:
// a store that keeps its history in more than one way runs them in each.
func RunHistory(t *testing.T, open func(t *testing.T) policy.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s policy.Store)
	}{{"History", testHistory}, {"HistoryRebase", testHistoryRebase}, {"HistorySeparators", testHistorySeparators}} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Run runs the suite as subtests, each on a fresh, empty store from open.
func Run(t *testing.T, open func(t *testing.T) policy.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s policy.Store)
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
		{"AuditEvents", testAuditEvents},
		{"IncarnationsAndSettings", testIncarnationsAndSettings},
		{"EntityCounts", testEntityCounts},
		{"Doctor", testDoctor},
		{"ChangeLog", testChangeLog},
		{"HashedSubjectsNamed", testHashedNames},
		{"Conditions", testConditions},
		{"UserAttributes", testUserAttributes},
		{"ConditionsDoctor", testConditionsDoctor},
		{"History", testHistory},
		{"HistoryRebase", testHistoryRebase},
		{"HistorySeparators", testHistorySeparators},
		{"Constraints", testConstraints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func ap(action string, p rolegate.Permission) rolegate.ActionPermission {
	return rolegate.ActionPermission{ActionName: action, Permission: p}
}

// ms is a time as every store keeps it (PostgreSQL and MySQL: milliseconds).
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// MustUpdate runs fn in a write transaction, failing the test on an error.
func MustUpdate(t *testing.T, s policy.Store, fn func(tx policy.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// NewEntity makes entity id at revision 1.
func NewEntity(t *testing.T, s policy.Store, id string) {
	t.Helper()
	now := ms(time.Now())
	MustUpdate(t, s, func(tx policy.Tx) error {
		return tx.InsertEntity(&rolegate.Entity{ID: id, Name: "E " + id, Revision: 1, CreatedAt: now, UpdatedAt: now})
	})
}

// NewRole is an active custom role of entity, not yet stored.
func NewRole(name string, entity string, at time.Time) rolegate.Role {
	return rolegate.Role{ID: uuid.NewString(), EntityID: entity, Name: name, RoleType: rolegate.RoleCustom, Scope: rolegate.ScopeAccount,
		Status: rolegate.StatusActive, Version: 1, CreatedAt: at, UpdatedAt: at}
}
func testEntities(t *testing.T, s policy.Store) {
	NewEntity(t, s, "acme")
	err := s.Update(ctx, func(tx policy.Tx) error {
		return tx.InsertEntity(&rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	if !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate entity: %v", err)
	}
	var rev int64
	MustUpdate(t, s, func(tx policy.Tx) (err error) { rev, err = tx.BumpRevision("acme", time.Now()); return })
	if rev != 2 {
		t.Fatalf("revision %d, want 2", rev)
	}
	err = s.Update(ctx, func(tx policy.Tx) error { _, err := tx.BumpRevision("nope", time.Now()); return err })
	if !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("bump unknown: %v", err)
	}
	for _, id := range []string{"b", "c", "d"} {
		NewEntity(t, s, id)
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
func testEntityRevisions(t *testing.T, s policy.Store) {
	NewEntity(t, s, "a")
	NewEntity(t, s, "b")
	MustUpdate(t, s, func(tx policy.Tx) error {
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

func testRoleNames(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e1")
	NewEntity(t, s, "e2")
	now := ms(time.Now())
	a := NewRole("Admin", "e1", now)
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&a) })
	dup := NewRole("Admin", "e1", now)
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.InsertRole(&dup) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("duplicate active name: %v", err)
	}
	// Case-sensitive, and per entity.
	lower := NewRole("admin", "e1", now)
	other := NewRole("Admin", "e2", now)
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&lower); err != nil {
			return err
		}
		return tx.InsertRole(&other)
	})
	// A deleted role frees its name.
	a.Status, a.DeletedAt = rolegate.StatusDeleted, &now
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.UpdateRole(&a) })
	again := NewRole("Admin", "e1", now)
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&again) })
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

func testRoleRoundTrip(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	now := ms(time.Now())
	r := NewRole("order support", "e", now)
	r.Description = "Administrate orders — ünïcode"
	r.Default = true
	r.CreatedBy, r.UpdatedBy = "admin", "admin"
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
		{ObjectType: "payable", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("approve", rolegate.AllowedForOwn), ap("update", rolegate.NotAllowed), ap("delete", rolegate.Denied)}},
		{ObjectType: "*", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}},
	}}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertRole(&r) })
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

	// A role and a user with as many rights as a caller may give, each of
	// the longest object type and with a condition: their rights (about
	// 350 KB) are kept whole, as the API accepts them.
	big := NewRole("at the limits", "e", now)
	long := strings.Repeat("o", policy.MaxObjectTypeLen-4)
	for i := range policy.MaxRights {
		big.Permissions.Objects = append(big.Permissions.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("%s%04d", long, i),
			Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Allowed,
				Condition: fmt.Sprintf("resource.amount <= %d && user.region == resource.region && resource.currency in ['EUR', 'USD', 'NOK', 'SEK', 'DKK']", i)}}})
	}
	user := rolegate.User{EntityID: "e", ID: "at-the-limits", Permissions: big.Permissions, CreatedAt: now, CreatedBy: "admin", UpdatedAt: now}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&big); err != nil {
			return err
		}
		return tx.InsertUser(&user)
	})
	s.View(ctx, func(tx policy.Tx) error {
		got, err := tx.GetRole("e", big.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Permissions, big.Permissions) {
			t.Fatalf("a role of %d rights read back with %d", policy.MaxRights, len(got.Permissions.Objects))
		}
		u, err := tx.GetUser("e", user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(u.Permissions, user.Permissions) {
			t.Fatalf("a user of %d rights read back with %d", policy.MaxRights, len(u.Permissions.Objects))
		}
		return nil
	})
}

func testListRoles(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	base := ms(time.Now())
	var roles []rolegate.Role
	MustUpdate(t, s, func(tx policy.Tx) error {
		for i := 0; i < 7; i++ {
			// Pairs share created_at, so ties are broken by id.
			r := NewRole(fmt.Sprintf("role %d", i), "e", base.Add(time.Duration(i/2)*time.Second))
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

func testUsers(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	now := ms(time.Now())
	r := NewRole("r", "e", now)
	u := rolegate.User{ID: "Ada@Example.com", EntityID: "e", Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: now, UpdatedAt: now,
		Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}}
	MustUpdate(t, s, func(tx policy.Tx) error {
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
	MustUpdate(t, s, func(tx policy.Tx) error {
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
		// Users are ordered by id alone: a cursor's value does not count.
		all, _ = tx.ListUsers("e", policy.UserFilter{}, policy.Page{Limit: 2, After: &policy.Cursor{Value: "BOB", ID: "BOB"}})
		if len(all) != 2 || all[0].ID != "bob" || all[1].ID != "carl" {
			t.Fatalf("users after BOB, the value set: %+v", all)
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
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteAssignment(scoped) })
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.DeleteAssignment(scoped) }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("delete missing assignment: %v", err)
	}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteUser("e", u.ID) })
	s.View(ctx, func(tx policy.Tx) error {
		if as, _ := tx.ListAssignments("e", policy.AssignmentFilter{UserID: u.ID}); len(as) != 0 {
			t.Fatalf("assignments survive their user: %+v", as)
		}
		return nil
	})
}

func testRules(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	now := ms(time.Now())
	r := NewRole("reader", "e", now)
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("delete", rolegate.Denied)}}}}
	g := engine.CompileAssignment(rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r.ID})
	otherRule := engine.CompileRights("r:x", "other", r.Permissions)
	MustUpdate(t, s, func(tx policy.Tx) error {
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
	MustUpdate(t, s, func(tx policy.Tx) error {
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
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules(many) })
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

// LoadedAndStored reads an entity's rules as LoadPolicy gives them (sorted)
// and as stored (EntityRules, the consistency check's read), to compare.
func LoadedAndStored(s policy.Store, entity string) (loaded, stored []rolegate.Rule, err error) {
	pol, err := s.LoadPolicy(ctx, entity)
	if err != nil {
		return nil, nil, err
	}
	err = s.View(ctx, func(tx policy.Tx) (err error) {
		stored, err = tx.EntityRules(entity)
		return err
	})
	loaded = append([]rolegate.Rule(nil), pol.Rules...)
	engine.SortRules(loaded)
	return loaded, stored, err
}

// testLoadPolicyAsStored: LoadPolicy gives back every rule as stored, as the
// consistency check's read (EntityRules) does: rules of every length, the
// longest values, and values the SQL stores' joined read cannot join (one
// holding its separator), after which they read column by column. (A NULL
// column, which only SQL has, is adapters' own test.)
func testLoadPolicyAsStored(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
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
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules(rules) })
	same := func(when string) {
		t.Helper()
		got, want, err := LoadedAndStored(s, "e")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 5007 {
			t.Fatalf("%s: LoadPolicy read\n%v\nstored\n%v", when, got, want)
		}
	}
	same("joined")
	for _, sep := range []rolegate.Rule{
		{PType: "g", Values: []string{"u:x\x1fr:a", "r:b", "e"}},
		{PType: "p", Values: []string{"r:a", "e", "doc", "read\x1eany", "any", "allow"}},
	} {
		MustUpdate(t, s, func(tx policy.Tx) error { return tx.AddRules([]rolegate.Rule{sep}) })
		same("a value holds a separator: " + sep.String())
		MustUpdate(t, s, func(tx policy.Tx) error { return tx.RemoveRules([]rolegate.Rule{sep}) })
		same("the separator gone")
	}
}

func testRollback(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	now := ms(time.Now())
	r := NewRole("r", "e", now)
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

// Populate makes entity id with a role that may read doc, user u holding
// it, and their two rules: something in every table an entity owns.
func Populate(t *testing.T, s policy.Store, id string) {
	t.Helper()
	NewEntity(t, s, id)
	now := ms(time.Now())
	r := NewRole("r", id, now)
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
	a := rolegate.Assignment{EntityID: id, UserID: "u", RoleID: r.ID, CreatedAt: now}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		if err := tx.InsertUser(&rolegate.User{ID: "u", EntityID: id, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		return tx.AddRules(append(engine.Compile(r), engine.CompileAssignment(a)))
	})
}

func testDeleteEntity(t *testing.T, s policy.Store) {
	Populate(t, s, "e")
	Populate(t, s, "keep")
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("e") })
	if _, err := s.LoadPolicy(ctx, "e"); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("deleted entity: %v", err)
	}
	s.View(ctx, func(tx policy.Tx) error {
		for _, ent := range []string{"e", "keep"} {
			want := 1
			if ent == "e" {
				want = 0
			}
			roles, err1 := tx.ListRoles(ent, policy.RoleFilter{}, policy.Page{Limit: 100})
			users, err2 := tx.ListUsers(ent, policy.UserFilter{}, policy.Page{Limit: 100})
			as, err3 := tx.ListAssignments(ent, policy.AssignmentFilter{})
			if err := errors.Join(err1, err2, err3); err != nil || len(roles) != want || len(users) != want || len(as) != want {
				t.Errorf("entity %s: %d roles, %d users, %d assignments (%v), want %d each", ent, len(roles), len(users), len(as), err, want)
			}
		}
		// No rule of e is left, not even as another entity's stray rule.
		rules, err := tx.EntityRules("e")
		stray, err2 := tx.StrayRuleEntities("", 10)
		if len(rules) != 0 || len(stray) != 0 || err != nil || err2 != nil {
			t.Errorf("rules left: %v, stray entities %v (%v %v)", rules, stray, err, err2)
		}
		return nil
	})
	if pol, _ := s.LoadPolicy(ctx, "keep"); len(pol.Rules) != 2 {
		t.Fatalf("rules of the other entity: %+v", pol.Rules)
	}
}

func testConcurrentWrites(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := NewRole(fmt.Sprintf("r%d", i), "e", ms(time.Now()))
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

func testSettings(t *testing.T, s policy.Store) {
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.PutSetting("k", "v") })
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

// An entity made again under an id has another incarnation; deleting an
// entity's clients returns them; a setting is replaced only from the value
// read.
func testIncarnationsAndSettings(t *testing.T, s policy.Store) {
	e := rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertEntity(&e) })
	first := e.Incarnation
	c := auth.Client{ID: "c1", Name: "c", EntityID: "acme", EntityIncarnation: first, Scopes: []string{"check"}, SecretHash: "x", CreatedAt: time.Now()}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertClient(&c) })
	MustUpdate(t, s, func(tx policy.Tx) error {
		gone, err := tx.DeleteEntityClients("acme")
		if err != nil || len(gone) != 1 || gone[0].ID != "c1" {
			t.Errorf("deleted clients: %+v %v", gone, err)
		}
		return tx.DeleteEntity("acme")
	})
	e = rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertEntity(&e) })
	if e.Incarnation == "" || e.Incarnation == first {
		t.Fatalf("made again: incarnation %q, first %q", e.Incarnation, first)
	}

	MustUpdate(t, s, func(tx policy.Tx) error { return tx.PutSetting("k", "v1") })
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.ReplaceSetting("k", "stale", "v2") }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("replace from a stale value: %v", err)
	}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.ReplaceSetting("k", "v1", "v2") })
	MustUpdate(t, s, func(tx policy.Tx) error {
		if v, err := tx.GetSetting("k"); v != "v2" || err != nil {
			t.Errorf("setting: %q %v", v, err)
		}
		return nil
	})
}
