package adapters

import (
	"gorm.io/gorm"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// Multi-row inserts for bulk writes (rules, and the user import's users,
// assignments and audit events). chunkRows is how many rows of so many
// columns one INSERT holds: at most 2,500 variables (SQLite refuses statements of
// more than 32,766, PostgreSQL of more than 65,535). SQLite's driver binds a
// statement's variables in time quadratic in their number (500 variables
// bind ~4x faster per row than 3,500), so its chunks are smaller; the
// servers' are larger, to save round trips.
func chunkRows(db *gorm.DB, columns int) int {
	vars := 2500
	if db.Dialector.Name() == "sqlite" {
		vars = 500
	}
	return max(1, vars/columns)
}

func (t *tx) InsertUsers(us []rolegate.User) error {
	if len(us) == 0 {
		return nil
	}
	rows := make([]userRow, 0, len(us))
	for i := range us {
		row, err := userRowOf(&us[i])
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if err := t.db.CreateInBatches(rows, chunkRows(t.db, 10)).Error; err != nil {
		return translate(err)
	}
	per := map[string]int64{} // the quota counters (quota.go)
	for _, u := range us {
		per[u.EntityID]++
	}
	for id, n := range per {
		if err := t.count(id, userCount, n); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) InsertAssignments(as []rolegate.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	rows := make([]assignmentRow, 0, len(as))
	for _, a := range as {
		rows = append(rows, assignmentRow{EntityID: a.EntityID, UserID: a.UserID, RoleID: a.RoleID, Scope: a.Scope, CreatedAt: utc(a.CreatedAt)})
	}
	return translate(t.db.CreateInBatches(rows, chunkRows(t.db, 5)).Error)
}

func (t *tx) InsertAuditEvents(es []policy.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	rows := make([]auditRow, 0, len(es))
	for _, e := range es {
		rows = append(rows, auditRow{ID: e.ID, EntityID: e.EntityID, OccurredAt: utc(e.Time), Actor: e.Actor, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, BeforeJSON: jsonColumn(e.Before), AfterJSON: jsonColumn(e.After),
			RequestID: e.RequestID})
	}
	return translate(t.db.CreateInBatches(rows, chunkRows(t.db, 10)).Error)
}
