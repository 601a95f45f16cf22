package adapters

import (
	"fmt"
	"time"

	"github.com/rolegate/rolegate/policy"
)

// auditRow is one audit event. The before and after documents are JSON,
// NULL when there is none. Listings read one entity's events ordered by
// (occurred_at, id) in either direction: the index serves them.
type auditRow struct {
	ID         string    `gorm:"primaryKey;size:36;index:idx_audit_events_entity_time,priority:3"`
	EntityID   string    `gorm:"size:64;not null;index:idx_audit_events_entity_time,priority:1"`
	OccurredAt time.Time `gorm:"not null;precision:3;autoCreateTime:false;index:idx_audit_events_entity_time,priority:2"`
	Actor      string    `gorm:"size:255;not null"`
	Action     string    `gorm:"size:32;not null"`
	ObjectType string    `gorm:"size:32;not null"`
	ObjectID   string    `gorm:"size:255;not null"`
	BeforeJSON *string   `gorm:"type:text"`
	AfterJSON  *string   `gorm:"type:text"`
	RequestID  string    `gorm:"size:128;not null"`
}

func (auditRow) TableName() string { return "audit_events" }

func jsonColumn(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func jsonOf(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

func (t *tx) InsertAuditEvent(e *policy.AuditEvent) error {
	row := auditRow{ID: e.ID, EntityID: e.EntityID, OccurredAt: utc(e.Time), Actor: e.Actor, Action: e.Action,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, BeforeJSON: jsonColumn(e.Before), AfterJSON: jsonColumn(e.After),
		RequestID: e.RequestID}
	return translate(t.db.Create(&row).Error)
}

func (t *tx) ListAuditEvents(entityID string, f policy.AuditFilter, p policy.Page) ([]policy.AuditEvent, error) {
	if p.Sort != "" && p.Sort != "time" {
		return nil, fmt.Errorf("cannot sort audit events by %q", p.Sort)
	}
	q := t.db.Where("entity_id = ?", entityID)
	if f.ObjectType != "" {
		q = q.Where("object_type = ?", f.ObjectType)
	}
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	q, err := keyset(q, "occurred_at", true, p)
	if err != nil {
		return []policy.AuditEvent{}, nil // a cursor that cannot be read starts nowhere
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]policy.AuditEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, policy.AuditEvent{ID: r.ID, EntityID: r.EntityID, Time: utc(r.OccurredAt), Actor: r.Actor,
			Action: r.Action, ObjectType: r.ObjectType, ObjectID: r.ObjectID, Before: jsonOf(r.BeforeJSON),
			After: jsonOf(r.AfterJSON), RequestID: r.RequestID})
	}
	return out, nil
}

func (t *tx) DeleteAuditEvents(entityID string) error {
	return translate(t.db.Where("entity_id = ?", entityID).Delete(&auditRow{}).Error)
}
