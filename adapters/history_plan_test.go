package adapters

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// TestHistoryOpenRowsPlan: a write's read of the rows in force of the
// subjects it touches goes by idx_history_rows_subject, on a table the
// database has no statistics of yet (a tenant just made or imported, before
// PostgreSQL's autovacuum first ran). On PostgreSQL, idx_history_rows_to
// once held every row, and its planner, without statistics, read the
// entity's rows in force by it instead: every row of the tenant for each
// write (migration 00013).
func TestHistoryOpenRowsPlan(t *testing.T) {
	onEveryDatabaseURL(t, "history plan test", func(t *testing.T, newURL func(t *testing.T) string) {
		s := openOrFail(t, newURL(t))
		const ent, subjects, perSubject = "plan-ent", 2000, 20
		now := time.Now().UTC()
		err := s.Update(context.Background(), func(ptx policy.Tx) error {
			if err := ptx.InsertEntity(&rolegate.Entity{ID: ent, Name: ent, Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			rows := make([]policy.HistoryRow, 0, subjects*perSubject)
			for i := range subjects {
				for k := range perSubject {
					rows = append(rows, policy.HistoryRow{Kind: policy.HistoryP, Subject: fmt.Sprintf("r:role-%d", i),
						Values: [5]string{"", fmt.Sprintf("obj_%d", k), "read", "any", "allow"}})
				}
			}
			return ptx.(*tx).insertHistory(ent, 1, rows)
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.dialect == "postgres" {
			// The table's size known (as after CREATE INDEX or VACUUM), its
			// columns' statistics not.
			if err := s.w.Exec("VACUUM history_rows").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.w.Exec("DELETE FROM pg_statistic WHERE starelid = 'history_rows'::regclass").Error; err != nil {
				t.Skipf("cannot clear PostgreSQL's statistics (a superuser can): %v", err)
			}
		}
		query := "SELECT id, kind " + openRowsOf(2)
		args := []any{ent, "r:role-7", "role-7"}
		var plan string
		switch s.dialect {
		case "sqlite":
			var rows []struct{ Detail string }
			if err := s.w.Raw("EXPLAIN QUERY PLAN "+query, args...).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				plan += r.Detail + "\n"
			}
		case "postgres":
			var lines []string
			if err := s.w.Raw("EXPLAIN "+query, args...).Scan(&lines).Error; err != nil {
				t.Fatal(err)
			}
			plan = strings.Join(lines, "\n")
		case "mysql":
			var rows []struct{ Key *string }
			if err := s.w.Raw("EXPLAIN "+query, args...).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Key != nil {
					plan += *r.Key + "\n"
				}
			}
		}
		if !strings.Contains(plan, "idx_history_rows_subject") || strings.Contains(plan, "idx_history_rows_to") {
			t.Errorf("the rows in force of a write's subjects are not read by idx_history_rows_subject:\n%s", plan)
		}
	})
}
