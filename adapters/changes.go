package adapters

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/rolegate/rolegate/policy"
)

// policyChangeRow is one entry of the policy change log: what the write that
// took the entity to the revision changed (policy.PolicyChange). The primary
// key serves the reads (one entity, revisions after one) and the trims.
type policyChangeRow struct {
	EntityID  string    `gorm:"primaryKey;size:64"`
	Revision  int64     `gorm:"primaryKey;autoIncrement:false"`
	Kind      string    `gorm:"size:16;not null"`
	Payload   string    `gorm:"type:text;not null"`
	CreatedAt time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
}

func (policyChangeRow) TableName() string { return "policy_changes" }

func init() {
	migrations = append(migrations, migration{5, "policy_changes", func(db *gorm.DB) error {
		if err := db.AutoMigrate(&policyChangeRow{}); err != nil {
			return err
		}
		if db.Dialector.Name() == "mysql" {
			// TEXT holds 64 KiB in MySQL; a delta may hold up to 256 KiB.
			return db.Exec("ALTER TABLE policy_changes MODIFY payload MEDIUMTEXT NOT NULL").Error
		}
		return nil
	}})
}

func (t *tx) AppendPolicyChange(c policy.PolicyChange, keep int) error {
	row := policyChangeRow{EntityID: c.EntityID, Revision: c.Revision, Kind: c.Kind, Payload: string(c.Payload), CreatedAt: utc(c.At)}
	if err := t.db.Create(&row).Error; err != nil {
		return translate(err)
	}
	// Usually one row (the one keep revisions back), found by the primary key.
	return translate(t.db.Where("entity_id = ? AND revision <= ?", c.EntityID, c.Revision-int64(keep)).Delete(&policyChangeRow{}).Error)
}

// PolicyChanges reads the change log of one entity after a revision, with the
// entity's current revision read first in the same transaction.
func (s *Store) PolicyChanges(ctx context.Context, entityID string, after int64, max int) (int64, time.Time, []policy.PolicyChange, error) {
	var rev int64
	var created time.Time
	var out []policy.PolicyChange
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
		if err := t.db.Where("entity_id = ? AND revision > ? AND revision <= ?", entityID, after, rev).
			Order("revision").Find(&rows).Error; err != nil {
			return translate(err)
		}
		out = make([]policy.PolicyChange, 0, len(rows))
		for _, r := range rows {
			out = append(out, policy.PolicyChange{EntityID: r.EntityID, Revision: r.Revision, Kind: r.Kind,
				Payload: []byte(r.Payload), At: utc(r.CreatedAt)})
		}
		return nil
	})
	return rev, created, out, err
}
