package adapters

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	gormadapter "github.com/casbin/gorm-adapter/v3"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// BenchmarkQuotaCounts compares what the quotas read on every write of an
// entity holding 200,000 users (one assignment rule each) on SQLite: the
// counters on the entity's row, and counting the rows instead.
//
//	go test -run '^$' -bench BenchmarkQuotaCounts ./adapters
func BenchmarkQuotaCounts(b *testing.B) {
	s, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "rolegate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	const users = 200_000
	err = s.Update(ctx, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: "big", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		rules := make([]rolegate.Rule, 0, users)
		for i := 0; i < users; i++ {
			rules = append(rules, engine.CompileAssignment(rolegate.Assignment{EntityID: "big", UserID: fmt.Sprintf("u%d", i), RoleID: "member"}))
		}
		return tx.AddRules(rules)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("counters", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := s.View(ctx, func(tx policy.Tx) error {
				c, err := tx.EntityCounts("big")
				if err == nil && c.Rules != users {
					err = fmt.Errorf("%+v", c)
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count(*)", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var n int64
			if err := s.r.Model(&gormadapter.CasbinRule{}).Where("ptype = 'g' AND v2 = ?", "big").Count(&n).Error; err != nil || n != users {
				b.Fatal(n, err)
			}
		}
	})
}
