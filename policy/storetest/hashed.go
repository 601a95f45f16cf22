package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// testHashedNames: LoadPolicy names the user (and scope) behind every hashed
// subject of the entity's rules (engine.Policy.Hashed), from its users and
// assignments, and no other; an entity without hashed subjects gets none.
func testHashedNames(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	now := ms(time.Now())
	long := strings.Repeat("l", 150)
	edge := strings.Repeat("x", 98)  // u:<98> is 100 bytes: not hashed
	over := strings.Repeat("y", 99)  // hashed
	scope := strings.Repeat("s", 94) // s:<94>|ab is 99 bytes: not hashed; with abcd, 101: hashed
	rights := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
	write := func(entity string, users []rolegate.User, as []rolegate.Assignment) {
		t.Helper()
		r := NewRole("reader", entity, now)
		r.Permissions = rights
		MustUpdate(t, s, func(tx policy.Tx) error {
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			rules := engine.Compile(r)
			for i := range users {
				users[i].EntityID, users[i].CreatedAt, users[i].UpdatedAt = entity, now, now
				if err := tx.InsertUser(&users[i]); err != nil {
					return err
				}
				rules = append(rules, engine.CompileUser(users[i])...)
			}
			for i := range as {
				as[i].EntityID, as[i].RoleID, as[i].CreatedAt = entity, r.ID, now
				if err := tx.PutAssignment(&as[i]); err != nil {
					return err
				}
				rules = append(rules, engine.CompileAssignment(as[i]))
			}
			return tx.AddRules(rules)
		})
	}
	write("e",
		[]rolegate.User{{ID: long, Permissions: rights}, {ID: edge}, {ID: over}, {ID: "ab"}, {ID: "bob"}},
		[]rolegate.Assignment{{UserID: long}, {UserID: long, Scope: "team:1"}, {UserID: edge}, {UserID: over, Scope: "t"},
			{UserID: "ab", Scope: scope}, {UserID: "abcd", Scope: scope}, {UserID: "bob", Scope: "team:1"}})
	write("other", []rolegate.User{{ID: strings.Repeat("o", 150)}}, []rolegate.Assignment{{UserID: strings.Repeat("o", 150)}})

	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]engine.HashedName{}
	for _, n := range []engine.HashedName{{UserID: long}, {UserID: long, Scope: "team:1"}, {UserID: over}, {UserID: over, Scope: "t"}, {UserID: "abcd", Scope: scope}} {
		sub, hashed := engine.HashedSubject(n.UserID, n.Scope)
		if !hashed {
			t.Fatalf("%+v: not hashed", n)
		}
		want[sub] = n
	}
	for _, n := range []engine.HashedName{{UserID: edge}, {UserID: "ab", Scope: scope}} {
		if sub, hashed := engine.HashedSubject(n.UserID, n.Scope); hashed {
			t.Fatalf("%+v: hashed as %q", n, sub)
		}
	}
	if !reflect.DeepEqual(pol.Hashed, want) {
		t.Fatalf("LoadPolicy named\n%v\nwant\n%v", pol.Hashed, want)
	}
	for _, r := range pol.Rules {
		if sub := r.Values[0]; engine.Hashed(sub) {
			if _, ok := pol.Hashed[sub]; !ok {
				t.Fatalf("rule %v: its subject is not named", r)
			}
		}
	}

	// Without hashed subjects, nothing is named (and nothing read for it).
	NewEntity(t, s, "short")
	write("short", []rolegate.User{{ID: "ada"}}, []rolegate.Assignment{{UserID: "ada", Scope: "team:1"}})
	if pol, err = s.LoadPolicy(ctx, "short"); err != nil || len(pol.Hashed) != 0 {
		t.Fatalf("short ids: named %v (%v)", pol.Hashed, err)
	}
}
