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

// TestHistoryInForcePlan: the reads of the rows in force of given subjects
// (a write's, AppendHistory; the hashed subjects' names, HistoryChanges) go
// by idx_history_rows_subject, bounded by entity, subject and valid_to, on
// a table the database knows the size of but has no statistics of yet (a
// database restored, or an index just built, before its first ANALYZE).
// On PostgreSQL, idx_history_rows_to once held every row, and its planner
// read the entity's rows in force by it instead (migration 00013); and for
// two subjects or more it bounded the scan of idx_history_rows_subject by
// the entity alone, testing the subjects on every row in force of the
// entity (inForceOf).
func TestHistoryInForcePlan(t *testing.T) {
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
		for _, q := range []historyQuery{
			inForceQuery("write's read", s.dialect, "SELECT id, kind ", ent, []string{"r:role-7", "role-7"}, ""),
			inForceQuery("hashed names' read", s.dialect, "SELECT id, kind ", ent, []string{"u:1", "u:2", "u:3"}, policy.HistoryHashed),
		} {
			plan, bounded := explainHistory(t, s, q.sql, q.args...)
			if !bounded {
				t.Errorf("%s: the rows in force are not read by idx_history_rows_subject, bounded by each subject:\n%s", q.name, plan)
			}
		}
		if s.dialect == "postgres" {
			vals := []any{ent, int64(2), time.Now().UTC(), "", "", "", "", ""}
			sql, args := openStoringQuery(vals, []string{"r:role-7", "role-7"})
			if plan, bounded := explainHistory(t, s, sql, args...); !bounded {
				t.Errorf("readOpenStoring: the rows in force are not read by idx_history_rows_subject, bounded by each subject:\n%s", plan)
			}
		}
	})
}

// historyQuery is a named query and its arguments.
type historyQuery struct {
	name, sql string
	args      []any
}

// inForceQuery is the query sel of the rows in force of subjects (inForceOf).
func inForceQuery(name, dialect, sel, entityID string, subjects []string, kind string) historyQuery {
	rest, args := inForceOf(dialect, entityID, subjects, kind)
	return historyQuery{name, sel + rest, args}
}

// explainHistory returns the plan of query on s's database, and whether it
// reads history_rows only by idx_history_rows_subject with entity and
// subject both bounding each scan (SQLite: the search's terms; PostgreSQL:
// every index condition on valid_to names subject too; MySQL: its estimate
// of the rows read, which for an entity-bound scan would be the entity's
// rows in force).
func explainHistory(t *testing.T, s *Store, query string, args ...any) (string, bool) {
	t.Helper()
	var plan string
	bounded := true
	switch s.dialect {
	case "sqlite":
		var rows []struct{ Detail string }
		if err := s.w.Raw("EXPLAIN QUERY PLAN "+query, args...).Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			plan += r.Detail + "\n"
			if strings.Contains(r.Detail, "history_rows") && !strings.Contains(r.Detail, "USING INDEX idx_history_rows_subject (entity_id=? AND subject=? AND valid_to=?)") {
				bounded = false
			}
		}
	case "postgres":
		var lines []string
		if err := s.w.Raw("EXPLAIN "+query, args...).Scan(&lines).Error; err != nil {
			t.Fatal(err)
		}
		plan = strings.Join(lines, "\n")
		for _, l := range lines {
			seq := strings.Contains(l, "Seq Scan on history_rows")
			other := strings.Contains(l, "idx_history_rows") && !strings.Contains(l, "idx_history_rows_subject")
			unbounded := strings.Contains(l, "Cond:") && strings.Contains(l, "valid_to") && !strings.Contains(l, "subject")
			if seq || other || unbounded {
				bounded = false
			}
		}
		bounded = bounded && strings.Contains(plan, "idx_history_rows_subject")
	case "mysql":
		var rows []struct {
			Table *string
			Key   *string
			Rows  *int64
		}
		if err := s.w.Raw("EXPLAIN "+query, args...).Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Table == nil || *r.Table != "history_rows" {
				continue
			}
			key, n := "", int64(-1)
			if r.Key != nil {
				key = *r.Key
			}
			if r.Rows != nil {
				n = *r.Rows
			}
			plan += fmt.Sprintf("key %s, rows %d\n", key, n)
			if key != "idx_history_rows_subject" || n < 0 || n > 1000 {
				bounded = false
			}
		}
	}
	return plan, bounded && plan != ""
}
