package adapters

import (
	"github.com/rolegate/rolegate/policy"
)

// Multi-row inserts for bulk writes (the user import). Each chunk is one
// INSERT; chunks are sized so that no statement binds more than ~2,500
// variables (SQLite refuses statements of more than 32,766, PostgreSQL of more
// than 65,535).
const (
	userChunk       = 250 // 9 columns
	assignmentChunk = 500 // 5 columns
	auditChunk      = 200 // 10 columns
)

func (t *tx) InsertUsers(us []policy.User) error {
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
	return translate(t.db.CreateInBatches(rows, userChunk).Error)
}

func (t *tx) InsertAssignments(as []policy.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	rows := make([]assignmentRow, 0, len(as))
	for _, a := range as {
		rows = append(rows, assignmentRow{EntityID: a.EntityID, UserID: a.UserID, RoleID: a.RoleID, Scope: a.Scope, CreatedAt: utc(a.CreatedAt)})
	}
	return translate(t.db.CreateInBatches(rows, assignmentChunk).Error)
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
	return translate(t.db.CreateInBatches(rows, auditChunk).Error)
}
