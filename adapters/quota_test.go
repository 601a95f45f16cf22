package adapters

import (
	"testing"

	gormadapter "github.com/casbin/gorm-adapter/v3"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/storetest"
)

// TestEntityCounters: the counters equal the entity's rows counted in SQL
// after every kind of write, on every database (storetest.Run checks them
// against what the interface lists, and that a rolled back write moves
// none), and the migration that adds them counts what an existing database
// holds.
func TestEntityCounters(t *testing.T) {
	onEveryDatabase(t, "entity counters", func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		storetest.CountSteps(t, s, func(step string) {
			for _, id := range []string{"e", "other"} {
				if got, want := counts(t, s, id), recount(t, s, id); got != want {
					t.Fatalf("after %s, entity %s: counters %+v, rows %+v", step, id, got, want)
				}
			}
		})
		// The migration counts what is stored.
		if err := s.w.Model(&entityRow{}).Where("1 = 1").UpdateColumns(map[string]any{"role_count": 99, "user_count": 99, "rule_count": 99}).Error; err != nil {
			t.Fatal(err)
		}
		// (Its UPDATE, on the columns it added.)
		if err := s.w.Exec(migrationStatement(t, s, "00004_entity_counters.sql", "UPDATE entities SET")).Error; err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"e", "other"} {
			if got, want := counts(t, s, id), recount(t, s, id); got != want || got.Roles == 99 {
				t.Fatalf("migrated entity %s: counters %+v, rows %+v", id, got, want)
			}
		}
		// Counters changed behind the service's back: the doctor finds them
		// and --fix counts again.
		if err := s.w.Model(&entityRow{}).Where("id = ?", "e").UpdateColumn("rule_count", 12345).Error; err != nil {
			t.Fatal(err)
		}
		// (The rows written above are not all consistent with each other: the
		// doctor finds, and fixes, those problems too.)
		counterProblems := func(rep policy.Report) (n int) {
			for _, p := range rep.Problems {
				if p.Kind == policy.ProblemCounters && p.EntityID == "e" && !p.Fixed {
					n++
				}
			}
			return n
		}
		rep, err := policy.Doctor(ctx, s, false)
		if err != nil || counterProblems(rep) != 1 {
			t.Fatalf("doctor: %v %v", rep.Problems, err)
		}
		if rep, err = policy.Doctor(ctx, s, true); err != nil || rep.Remaining() != 0 {
			t.Fatalf("doctor --fix: %v %v", rep.Problems, err)
		}
		if got, want := counts(t, s, "e"), recount(t, s, "e"); got != want {
			t.Fatalf("after doctor --fix: counters %+v, rows %+v", got, want)
		}
		if rep, err = policy.Doctor(ctx, s, false); err != nil || len(rep.Problems) != 0 {
			t.Fatalf("doctor after the fix: %v %v", rep.Problems, err)
		}
	})
}

func counts(t *testing.T, s *Store, id string) policy.EntityCounts {
	t.Helper()
	var c policy.EntityCounts
	if err := s.View(ctx, func(tx policy.Tx) (err error) { c, err = tx.EntityCounts(id); return err }); err != nil {
		t.Fatal(err)
	}
	return c
}

// recount counts an entity's rows.
func recount(t *testing.T, s *Store, id string) policy.EntityCounts {
	t.Helper()
	var c policy.EntityCounts
	var p, g int64
	for _, q := range []error{
		s.r.Model(&roleRow{}).Where("entity_id = ? AND status = ?", id, rolegate.StatusActive).Count(&c.Roles).Error,
		s.r.Model(&userRow{}).Where("entity_id = ?", id).Count(&c.Users).Error,
		s.r.Model(&gormadapter.CasbinRule{}).Where("ptype = 'p' AND v1 = ?", id).Count(&p).Error,
		s.r.Model(&gormadapter.CasbinRule{}).Where("ptype = 'g' AND v2 = ?", id).Count(&g).Error,
	} {
		if q != nil {
			t.Fatal(q)
		}
	}
	c.Rules = p + g
	return c
}
