package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// testDoctor: the consistency check's queries (EntityRules,
// StrayRuleEntities), and the check itself finding and fixing what they show.
func testDoctor(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "f")
	r := NewRole("reader", "e", ms(time.Now()))
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
	a := rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r.ID, CreatedAt: ms(time.Now())}
	u := rolegate.User{ID: "ada", EntityID: "e", CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt}
	orphan := rolegate.Rule{PType: "g", Values: []string{"u:eve", engine.RoleSubject(r.ID), "e"}}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		if err := tx.InsertUser(&u); err != nil {
			return err
		}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		// The role's rule is missing; an orphan g rule and rules of entities
		// that do not exist ("gone-1".."gone-3"; "f" exists) are there.
		rules := []rolegate.Rule{engine.CompileAssignment(a), orphan, {PType: "p", Values: []string{"r:x", "f", "doc", "read", "any", "allow"}}}
		for i := 1; i <= 3; i++ {
			gone := fmt.Sprintf("gone-%d", i)
			rules = append(rules, rolegate.Rule{PType: "p", Values: []string{"r:x", gone, "doc", "read", "any", "allow"}},
				rolegate.Rule{PType: "g", Values: []string{"u:x", "r:x", gone}})
		}
		return tx.AddRules(append(rules, rolegate.Rule{PType: "g", Values: []string{"u:x", "r:x", "gone-4"}}))
	})

	s.View(ctx, func(tx policy.Tx) error {
		rules, err := tx.EntityRules("e")
		var lines []string
		for _, r := range rules {
			lines = append(lines, r.String())
		}
		want := []string{engine.CompileAssignment(a).String(), orphan.String()}
		if err != nil || strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Fatalf("EntityRules: %v %v, want %v", lines, err, want)
		}
		ids, err := tx.StrayRuleEntities("", 10)
		if err != nil || strings.Join(ids, ",") != "gone-1,gone-2,gone-3,gone-4" {
			t.Fatalf("StrayRuleEntities: %v %v", ids, err)
		}
		ids, err = tx.StrayRuleEntities("gone-2", 1)
		if err != nil || strings.Join(ids, ",") != "gone-3" {
			t.Fatalf("StrayRuleEntities after gone-2: %v %v", ids, err)
		}
		return nil
	})

	rep, err := policy.Doctor(ctx, s, false)
	if err != nil {
		t.Fatal(err)
	}
	// e: the missing p rule, the orphan g rule; f: the orphan p rule of r:x;
	// gone-1..gone-4: stray rules.
	if rep.Remaining() != 7 || rep.Entities != 2 {
		t.Fatalf("doctor: %s\n%v", rep.Summary(), rep.Problems)
	}
	rep, err = policy.Doctor(ctx, s, true)
	if err != nil || rep.Remaining() != 0 || len(rep.Fixed) != 2 {
		t.Fatalf("doctor --fix: %v %s\n%v", err, rep.Summary(), rep.Problems)
	}
	rep, err = policy.Doctor(ctx, s, false)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("doctor after --fix: %v %s\n%v", err, rep.Summary(), rep.Problems)
	}
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil || pol.Revision != 2 || len(pol.Rules) != 2 {
		t.Fatalf("entity e after --fix: %+v %v", pol, err)
	}
}
