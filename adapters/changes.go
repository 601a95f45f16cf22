package adapters

import (
	"context"
	"database/sql"
	"time"

	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/policy"
)

// policyChangeRow is one entry of the policy change log: what the write that
// took the entity to the revision changed (changes.Entry). The primary
// key serves the reads (one entity, revisions after one) and the trims.
type policyChangeRow struct {
	EntityID  string    `gorm:"primaryKey;size:64"`
	Revision  int64     `gorm:"primaryKey;autoIncrement:false"`
	Kind      string    `gorm:"size:16;not null"`
	Payload   string    `gorm:"type:text;not null"`
	CreatedAt time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
	// Items are what the write touched, for the changes feed (migration 7);
	// NULL in entries logged before.
	Items *string `gorm:"type:text"`
}

func (policyChangeRow) TableName() string { return "policy_changes" }

func (t *tx) AppendPolicyChange(c changes.Entry, keep int) error {
	row := policyChangeRow{EntityID: c.EntityID, Revision: c.Revision, Kind: c.Kind, Payload: string(c.Payload), CreatedAt: utc(c.At)}
	if c.Items != nil {
		items := string(c.Items)
		row.Items = &items
	}
	if err := t.db.Create(&row).Error; err != nil {
		return translate(err)
	}
	// Usually one row (the one keep revisions back), found by the primary key.
	return translate(t.db.Where("entity_id = ? AND revision <= ?", c.EntityID, c.Revision-int64(keep)).Delete(&policyChangeRow{}).Error)
}

// PolicyChanges reads the change log of one entity after a revision, with the
// entity's current revision read first in the same transaction.
func (s *Store) PolicyChanges(ctx context.Context, entityID string, after int64, max int) (int64, time.Time, []changes.Entry, error) {
	var rev int64
	var created time.Time
	var out []changes.Entry
	err := s.View(ctx, func(ptx policy.Tx) error {
		t := ptx.(*tx)
		var e entityRow
		if err := t.db.Select("revision", "created_at").Where("id = ?", entityID).Take(&e).Error; err != nil {
			return translate(err)
		}
		rev, created = e.Revision, utc(e.CreatedAt)
		if rev <= after || rev-after > int64(max) {
			return nil
		}
		var rows []policyChangeRow
		if err := t.db.Select("entity_id", "revision", "kind", "payload", "created_at").Where("entity_id = ? AND revision > ? AND revision <= ?", entityID, after, rev).
			Order("revision").Find(&rows).Error; err != nil {
			return translate(err)
		}
		out = make([]changes.Entry, 0, len(rows))
		for _, r := range rows {
			out = append(out, changes.Entry{EntityID: r.EntityID, Revision: r.Revision, Kind: r.Kind,
				Payload: []byte(r.Payload), At: utc(r.CreatedAt)})
		}
		return nil
	})
	return rev, created, out, err
}

// ReadChangeItems reads, in one read transaction, the entity's revision and
// incarnation, then streams the items of the log entries after `after` (when
// the entity's revision is past it by at most window), in order, at most
// maxRows entries, until each returns false.
func (s *Store) ReadChangeItems(ctx context.Context, entityID string, after int64, window, maxRows int,
	each func(rev int64, items []byte) bool) (int64, string, error) {
	var rev int64
	var inc string
	err := s.View(ctx, func(ptx policy.Tx) error {
		t := ptx.(*tx)
		var e entityRow
		if err := t.db.Select("revision", "incarnation").Where("id = ?", entityID).Take(&e).Error; err != nil {
			return translate(err)
		}
		rev, inc = e.Revision, e.Incarnation
		if rev <= after || rev-after > int64(window) || maxRows <= 0 {
			return nil
		}
		rows, err := t.db.Model(&policyChangeRow{}).Select("revision", "items").
			Where("entity_id = ? AND revision > ? AND revision <= ?", entityID, after, rev).
			Order("revision").Limit(maxRows).Rows()
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			var r int64
			var items sql.NullString
			if err := rows.Scan(&r, &items); err != nil {
				return translate(err)
			}
			var b []byte
			if items.Valid {
				b = []byte(items.String)
			}
			if !each(r, b) {
				return nil
			}
		}
		return translate(rows.Err())
	})
	return rev, inc, err
}
