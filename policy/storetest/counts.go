package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// testEntityCounts: the counts the quotas read equal what the entity holds,
// as the interface lists it, after every kind of write; a rolled back write
// moves none. (That a store's counters equal its rows counted in SQL, and
// the migration that adds them, are adapters' own test.)
func testEntityCounts(t *testing.T, s policy.Store) {
	CountSteps(t, s, nil)
	now := ms(time.Now())
	// A rolled-back write moves no count.
	before := counts(t, s, "e")
	_ = s.Update(ctx, func(tx policy.Tx) error {
		r := NewRole("three", "e", now)
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		return fmt.Errorf("roll back")
	})
	if got := counts(t, s, "e"); got != before {
		t.Fatalf("rolled back: %+v, was %+v", got, before)
	}
	// Counting again changes nothing.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.RecountEntity("e") })
	if got := counts(t, s, "e"); got != before {
		t.Fatalf("recounted: %+v, was %+v", got, before)
	}
	err := s.View(ctx, func(tx policy.Tx) error { _, err := tx.EntityCounts("nope"); return err })
	if !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("counts of an unknown entity: %v", err)
	}
}

// CountSteps makes entities e and other and writes to them every kind of
// write that moves a count, asserting after each that the counts equal what
// the entity holds; after, when not nil, is called after each step, for a
// store's own check of its counters.
func CountSteps(t *testing.T, s policy.Store, after func(step string)) {
	t.Helper()
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	now := ms(time.Now())
	r1, r2 := NewRole("one", "e", now), NewRole("two", "e", now)
	r1.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc",
		Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("delete", rolegate.Denied)}}}}
	u := rolegate.User{ID: "ada", EntityID: "e", CreatedAt: now, UpdatedAt: now}
	g := engine.CompileAssignment(rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r1.ID})
	gs := engine.CompileAssignment(rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r2.ID, Scope: "team:1"})
	steps := []struct {
		name string
		fn   func(tx policy.Tx) error
		want map[string]policy.EntityCounts
	}{
		{"roles and rules", func(tx policy.Tx) error {
			for _, r := range []*rolegate.Role{&r1, &r2} {
				if err := tx.InsertRole(r); err != nil {
					return err
				}
			}
			return tx.AddRules(append(engine.Compile(r1), engine.CompileRights("r:x", "other", r1.Permissions)...))
		}, map[string]policy.EntityCounts{"e": {Roles: 2, Rules: 2}, "other": {Rules: 2}}},
		{"user and assignments", func(tx policy.Tx) error {
			if err := tx.InsertUser(&u); err != nil {
				return err
			}
			return tx.AddRules([]rolegate.Rule{g, gs})
		}, map[string]policy.EntityCounts{"e": {Roles: 2, Users: 1, Rules: 4}}},
		{"users in bulk", func(tx policy.Tx) error {
			return tx.InsertUsers([]rolegate.User{{ID: "bob", EntityID: "e", CreatedAt: now, UpdatedAt: now},
				{ID: "eve", EntityID: "other", CreatedAt: now, UpdatedAt: now}})
		}, map[string]policy.EntityCounts{"e": {Roles: 2, Users: 2, Rules: 4}, "other": {Users: 1, Rules: 2}}},
		{"replace a subject's rules", func(tx policy.Tx) error {
			return tx.ReplaceSubjectRules("e", engine.RoleSubject(r1.ID), engine.Compile(r1)[:1])
		}, map[string]policy.EntityCounts{"e": {Roles: 2, Users: 2, Rules: 3}}},
		{"remove rules, one of them absent", func(tx policy.Tx) error {
			return tx.RemoveRules([]rolegate.Rule{gs, gs})
		}, map[string]policy.EntityCounts{"e": {Roles: 2, Users: 2, Rules: 2}}},
		{"delete a role", func(tx policy.Tx) error {
			r2.Status = rolegate.StatusDeleted
			return tx.UpdateRole(&r2)
		}, map[string]policy.EntityCounts{"e": {Roles: 1, Users: 2, Rules: 2}}},
		{"update a deleted role", func(tx policy.Tx) error {
			r2.Description = "still deleted"
			return tx.UpdateRole(&r2)
		}, map[string]policy.EntityCounts{"e": {Roles: 1, Users: 2, Rules: 2}}},
		{"update an active role", func(tx policy.Tx) error {
			r1.Description = "changed"
			return tx.UpdateRole(&r1)
		}, map[string]policy.EntityCounts{"e": {Roles: 1, Users: 2, Rules: 2}}},
		{"delete the user", func(tx policy.Tx) error {
			if err := tx.RemoveRules([]rolegate.Rule{g}); err != nil {
				return err
			}
			return tx.DeleteUser("e", "ada")
		}, map[string]policy.EntityCounts{"e": {Roles: 1, Users: 1, Rules: 1}, "other": {Users: 1, Rules: 2}}},
	}
	for _, st := range steps {
		MustUpdate(t, s, st.fn)
		for id, want := range st.want {
			if got, held := counts(t, s, id), holds(t, s, id); got != want || held != want {
				t.Fatalf("after %s, entity %s: counts %+v, holds %+v, want %+v", st.name, id, got, held, want)
			}
		}
		if after != nil {
			after(st.name)
		}
	}
}

func counts(t *testing.T, s policy.Store, id string) policy.EntityCounts {
	t.Helper()
	var c policy.EntityCounts
	if err := s.View(ctx, func(tx policy.Tx) (err error) { c, err = tx.EntityCounts(id); return err }); err != nil {
		t.Fatal(err)
	}
	return c
}

// holds is what the entity holds, as the interface lists it.
func holds(t *testing.T, s policy.Store, id string) policy.EntityCounts {
	t.Helper()
	var c policy.EntityCounts
	err := s.View(ctx, func(tx policy.Tx) error {
		roles, err := tx.ListRoles(id, policy.RoleFilter{Status: rolegate.StatusActive}, policy.Page{Limit: 1000})
		if err != nil {
			return err
		}
		users, err := tx.ListUsers(id, policy.UserFilter{}, policy.Page{Limit: 1000})
		if err != nil {
			return err
		}
		rules, err := tx.EntityRules(id)
		c = policy.EntityCounts{Roles: int64(len(roles)), Users: int64(len(users)), Rules: int64(len(rules))}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
