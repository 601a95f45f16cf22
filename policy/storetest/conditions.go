package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// testConditions: condition sources are stored per entity by hash (storing
// one again is no error and changes nothing), read back whole, loaded with
// the rules, rolled back with their transaction and removed with the entity;
// a rule naming one (own:<hash>) fits a rule's value.
func testConditions(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	small, eur := "resource.amount <= 1000.0", "resource.currency == 'EUR' && user.region in ['Zürich', \"Genève\"]"
	long := "resource.note == '" + strings.Repeat("é", (condition.MaxSource-20)/2) + "'"
	cond := func(srcs ...string) map[string]string {
		out := map[string]string{}
		for _, s := range srcs {
			out[condition.Hash(s)] = s
		}
		return out
	}
	read := func(entityID string) map[string]string {
		t.Helper()
		var out map[string]string
		if err := s.View(ctx, func(tx policy.Tx) error {
			var err error
			out, err = tx.EntityConditions(entityID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := read("e"); got != nil {
		t.Fatalf("conditions of a new entity: %v", got)
	}
	own := rolegate.Rule{PType: "p", Values: []string{"r:x", "e", "payable", "approve", "own:" + condition.Hash(small), "allow"}}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.PutConditions("e", cond(small, eur)); err != nil {
			return err
		}
		if err := tx.PutConditions("e", cond(small, long)); err != nil { // small again
			return err
		}
		if err := tx.PutConditions("e", nil); err != nil {
			return err
		}
		if err := tx.PutConditions("other", cond(eur)); err != nil {
			return err
		}
		return tx.AddRules([]rolegate.Rule{own})
	})
	if got, want := read("e"), cond(small, eur, long); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %v; want %v", got, want)
	}
	if got := read("other"); !reflect.DeepEqual(got, cond(eur)) {
		t.Fatalf("other's: %v", got)
	}
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pol.Conditions, cond(small, eur, long)) || len(pol.Rules) != 1 || pol.Rules[0].String() != own.String() {
		t.Fatalf("loaded %v, rules %v", pol.Conditions, pol.Rules)
	}
	// A write that fails stores none of its conditions.
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx policy.Tx) error {
		if err := tx.PutConditions("e", cond("true")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got := read("e"); len(got) != 3 {
		t.Fatalf("a rolled-back write stored conditions: %v", got)
	}
	// As many as a role may carry (policy.MaxRights), at once: chunked.
	var srcs []string
	for i := 0; i < 1000; i++ {
		srcs = append(srcs, fmt.Sprintf("resource.n == %d.0", i))
	}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.PutConditions("e", cond(srcs...)) })
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.PutConditions("e", cond(srcs...)) })
	if got := read("e"); len(got) != 1003 || got[condition.Hash(srcs[999])] != srcs[999] {
		t.Fatalf("after 1000 more: %d", len(got))
	}
	// Gone with the entity, and not there when an entity of the same id
	// is made again.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("e") })
	NewEntity(t, s, "e")
	if got := read("e"); got != nil {
		t.Fatalf("conditions outlived their entity: %v", got)
	}
	if pol, _ := s.LoadPolicy(ctx, "e"); pol.Conditions != nil {
		t.Fatalf("loaded %v", pol.Conditions)
	}
	if got := read("other"); len(got) != 1 {
		t.Fatalf("another entity's went too: %v", got)
	}
}

// testUserAttributes: a user's attributes read back as written (numbers as
// float64), nil and empty alike; LoadPolicy names the users of the entity
// that have any.
func testUserAttributes(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	now := ms(time.Now())
	attrs := map[string]any{"approval_limit": 5000.5, "department": "finance \"ü\" <b>", "regions": []any{"EU", 2.0, nil, true}, "vip": false, "none": nil}
	users := []rolegate.User{
		{ID: "ada", EntityID: "e", CreatedAt: now, UpdatedAt: now, Attributes: attrs},
		{ID: "bo", EntityID: "e", CreatedAt: now, UpdatedAt: now, Attributes: map[string]any{}},
		{ID: "cy", EntityID: "e", CreatedAt: now, UpdatedAt: now},
		{ID: "dee", EntityID: "other", CreatedAt: now, UpdatedAt: now, Attributes: map[string]any{"x": 1.0}},
	}
	long := rolegate.User{ID: strings.Repeat("u", rolegate.MaxUserIDLen), EntityID: "e", CreatedAt: now, UpdatedAt: now, Attributes: map[string]any{"y": "z"}}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertUsers(users); err != nil {
			return err
		}
		return tx.InsertUser(&long)
	})
	get := func(entityID, id string) rolegate.User {
		t.Helper()
		var u rolegate.User
		if err := s.View(ctx, func(tx policy.Tx) error {
			var err error
			u, err = tx.GetUser(entityID, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return u
	}
	if got := get("e", "ada").Attributes; !reflect.DeepEqual(got, attrs) {
		t.Fatalf("read back %#v; want %#v", got, attrs)
	}
	if got := get("e", "bo").Attributes; got != nil {
		t.Fatalf("empty attributes read back as %#v", got)
	}
	s.View(ctx, func(tx policy.Tx) error {
		us, err := tx.ListUsers("e", policy.UserFilter{}, policy.Page{Limit: 10, Sort: "id"})
		if err != nil || len(us) != 4 || !reflect.DeepEqual(us[0].Attributes, attrs) || us[2].Attributes != nil {
			t.Fatalf("listed %+v %v", us, err)
		}
		return nil
	})
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"ada": attrs, long.ID: {"y": "z"}}
	if !reflect.DeepEqual(pol.Attributes, want) {
		t.Fatalf("loaded %#v; want %#v", pol.Attributes, want)
	}
	// Replaced whole; cleared.
	MustUpdate(t, s, func(tx policy.Tx) error {
		u := get("e", "ada")
		u.Attributes = map[string]any{"department": "legal"}
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		long.Attributes = nil
		return tx.UpdateUser(&long)
	})
	if got := get("e", "ada").Attributes; !reflect.DeepEqual(got, map[string]any{"department": "legal"}) {
		t.Fatalf("after update %#v", got)
	}
	if pol, _ = s.LoadPolicy(ctx, "e"); !reflect.DeepEqual(pol.Attributes, map[string]map[string]any{"ada": {"department": "legal"}}) {
		t.Fatalf("loaded after update %#v", pol.Attributes)
	}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteUser("e", "ada") })
	if pol, _ = s.LoadPolicy(ctx, "e"); pol.Attributes != nil {
		t.Fatalf("a deleted user's attributes loaded: %#v", pol.Attributes)
	}
	if pol, _ = s.LoadPolicy(ctx, "other"); !reflect.DeepEqual(pol.Attributes, map[string]map[string]any{"dee": {"x": 1.0}}) {
		t.Fatalf("other loaded %#v", pol.Attributes)
	}
}

// testConditionsDoctor: a role and a user with conditional rights, stored as
// the service stores them, are consistent for the doctor; a rule naming a
// condition whose source is gone is reported, and --fix stores it again.
func testConditionsDoctor(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	now := ms(time.Now())
	r := NewRole("approver", "e", now)
	small, own := "resource.amount <= 1000.0", "resource.owner == user.id"
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{
		{ActionName: "approve", Permission: rolegate.Allowed, Condition: small},
		{ActionName: "pay", Permission: rolegate.Denied, Condition: small},
	}}}}
	u := rolegate.User{ID: "ada", EntityID: "e", CreatedAt: now, UpdatedAt: now, Attributes: map[string]any{"id": "ada"},
		Permissions: rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{
			{ActionName: "edit", Permission: rolegate.AllowedForOwn, Condition: own}}}}}}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			return err
		}
		if err := tx.PutConditions("e", engine.Conditions(r.Permissions)); err != nil {
			return err
		}
		if err := tx.PutConditions("e", engine.Conditions(u.Permissions)); err != nil {
			return err
		}
		return tx.AddRules(append(engine.Compile(r), engine.CompileUser(u)...))
	})
	rep, err := policy.Doctor(ctx, s, false)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("consistent entity: %v %v", rep.Problems, err)
	}
	// The user's condition is lost (a restore of part of a backup, say).
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.DeleteEntity("e"); err != nil {
			return err
		}
		e := rolegate.Entity{ID: "e", Name: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertEntity(&e); err != nil {
			return err
		}
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			return err
		}
		if err := tx.PutConditions("e", engine.Conditions(r.Permissions)); err != nil {
			return err
		}
		return tx.AddRules(append(engine.Compile(r), engine.CompileUser(u)...))
	})
	rep, err = policy.Doctor(ctx, s, false)
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != policy.ProblemMissingCondition ||
		!strings.Contains(rep.Problems[0].Source, condition.Hash(own)) || !strings.Contains(rep.Problems[0].Rule, "own:"+condition.Hash(own)) {
		t.Fatalf("a lost source: %+v %v", rep.Problems, err)
	}
	if rep, err = policy.Doctor(ctx, s, true); err != nil || rep.Remaining() != 0 {
		t.Fatalf("fix: %+v %v", rep.Problems, err)
	}
	if rep, err = policy.Doctor(ctx, s, false); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("after the fix: %+v %v", rep.Problems, err)
	}
}
