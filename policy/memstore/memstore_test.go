package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/memstore"
	"github.com/rolegate/rolegate/policy/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) policy.Store { return memstore.New() })
}

// TestCopyOnWrite: a read sees the state of its start to its end, a write
// in a read is refused, and a write that changes an entity's rules, deletes
// the entity and makes it again stores the new one's rules.
func TestCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	now := time.Now()
	rule := rolegate.Rule{PType: "g", Values: []string{"u:ada", "r:a", "e"}}
	err := s.Update(ctx, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.AddRules([]rolegate.Rule{rule})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx policy.Tx) error {
		if err := s.Update(ctx, func(w policy.Tx) error {
			if err := w.AddRules([]rolegate.Rule{{PType: "g", Values: []string{"u:eve", "r:a", "e"}}}); err != nil {
				return err
			}
			if err := w.DeleteEntity("e"); err != nil {
				return err
			}
			if err := w.InsertEntity(&rolegate.Entity{ID: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			return w.AddRules([]rolegate.Rule{{PType: "g", Values: []string{"u:bob", "r:a", "e"}}})
		}); err != nil {
			return err
		}
		rules, err := tx.EntityRules("e")
		if err != nil || len(rules) != 1 || rules[0].String() != rule.String() {
			t.Errorf("the read saw a write committed after its start: %v %v", rules, err)
		}
		if err := tx.PutSetting("k", "v"); err == nil {
			t.Error("a write in a read was taken")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := s.LoadPolicy(ctx, "e")
	if err != nil || len(pol.Rules) != 1 || pol.Rules[0].Values[0] != "u:bob" {
		t.Fatalf("after the entity was made again: %+v %v", pol, err)
	}
	dead, cancel := context.WithDeadline(ctx, now.Add(-time.Second))
	defer cancel()
	if err := s.Update(dead, func(policy.Tx) error { return nil }); !errors.Is(err, rolegate.ErrUnavailable) {
		t.Fatalf("a write past its deadline: %v", err)
	}
}
