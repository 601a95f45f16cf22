package adapters

import (
	"fmt"
	"sort"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// constraintRow is a separation-of-duties constraint (migration 11): its
// rights and exceptions as policy encodes them.
type constraintRow struct {
	ID          string    `gorm:"primaryKey;size:36"`
	EntityID    string    `gorm:"size:64;not null;uniqueIndex:idx_constraints_entity_name,priority:1"`
	Name        string    `gorm:"size:255;not null;uniqueIndex:idx_constraints_entity_name,priority:2"`
	Description string    `gorm:"type:text;not null"`
	Rights      string    `gorm:"type:text;not null"`
	Mode        string    `gorm:"size:16;not null"`
	Exceptions  string    `gorm:"type:text;not null"`
	CreatedAt   time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
	CreatedBy   string    `gorm:"size:255;not null"`
	UpdatedAt   time.Time `gorm:"not null;precision:3;autoUpdateTime:false"`
	UpdatedBy   string    `gorm:"size:255;not null"`
}

func (constraintRow) TableName() string { return "constraints" }

func constraintRowOf(c *rolegate.Constraint) (constraintRow, error) {
	rights, err := policy.EncodeConstraintRights(c.Rights)
	if err != nil {
		return constraintRow{}, err
	}
	exceptions, err := policy.EncodeConstraintExceptions(c.Exceptions)
	if err != nil {
		return constraintRow{}, err
	}
	return constraintRow{ID: c.ID, EntityID: c.EntityID, Name: c.Name, Description: c.Description, Rights: rights,
		Mode: c.Mode, Exceptions: exceptions, CreatedAt: utc(c.CreatedAt), CreatedBy: c.CreatedBy,
		UpdatedAt: utc(c.UpdatedAt), UpdatedBy: c.UpdatedBy}, nil
}

func constraintOf(r constraintRow) (rolegate.Constraint, error) {
	rights, err := policy.DecodeConstraintRights(r.Rights)
	if err != nil {
		return rolegate.Constraint{}, err
	}
	exceptions, err := policy.DecodeConstraintExceptions(r.Exceptions)
	if err != nil {
		return rolegate.Constraint{}, err
	}
	return rolegate.Constraint{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Description: r.Description, Rights: rights,
		Mode: r.Mode, Exceptions: exceptions, CreatedAt: utc(r.CreatedAt), CreatedBy: r.CreatedBy,
		UpdatedAt: utc(r.UpdatedAt), UpdatedBy: r.UpdatedBy}, nil
}

func (t *tx) InsertConstraint(c *rolegate.Constraint) error {
	row, err := constraintRowOf(c)
	if err != nil {
		return err
	}
	return translate(t.db.Create(&row).Error)
}

func (t *tx) UpdateConstraint(c *rolegate.Constraint) error {
	row, err := constraintRowOf(c)
	if err != nil {
		return err
	}
	res := t.db.Model(&constraintRow{}).Where("entity_id = ? AND id = ?", c.EntityID, c.ID).Select("*").
		Omit("id", "entity_id", "created_at", "created_by").Updates(&row)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		// MySQL counts rows changed, not matched: a write of what is
		// stored already changes none.
		var n int64
		if err := t.db.Model(&constraintRow{}).Where("entity_id = ? AND id = ?", c.EntityID, c.ID).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n == 0 {
			return fmt.Errorf("constraint %q: %w", c.ID, rolegate.ErrNotFound)
		}
	}
	return nil
}

func (t *tx) GetConstraint(entityID, id string) (rolegate.Constraint, error) {
	var r constraintRow
	if err := t.db.Where("entity_id = ? AND id = ?", entityID, id).Take(&r).Error; err != nil {
		return rolegate.Constraint{}, translate(err)
	}
	return constraintOf(r)
}

// ListConstraints reads the entity's constraints through the unique index
// on (entity_id, name), ordered by name as bytes here (the databases'
// collations differ).
func (t *tx) ListConstraints(entityID string) ([]rolegate.Constraint, error) {
	var rows []constraintRow
	if err := t.db.Where("entity_id = ?", entityID).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	out := make([]rolegate.Constraint, 0, len(rows))
	for _, r := range rows {
		c, err := constraintOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (t *tx) DeleteConstraint(entityID, id string) error {
	res := t.db.Where("entity_id = ? AND id = ?", entityID, id).Delete(&constraintRow{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("constraint %q: %w", id, rolegate.ErrNotFound)
	}
	return nil
}

// ConstraintRules reads the columns a write is checked against only, through
// the unique index on (entity_id, name).
func (t *tx) ConstraintRules(entityID string) ([]rolegate.Constraint, error) {
	var rows []constraintRow
	if err := t.db.Select("id", "entity_id", "name", "rights", "mode").Where("entity_id = ?", entityID).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	out := make([]rolegate.Constraint, 0, len(rows))
	for _, r := range rows {
		rights, err := policy.DecodeConstraintRights(r.Rights)
		if err != nil {
			return nil, err
		}
		out = append(out, rolegate.Constraint{ID: r.ID, EntityID: r.EntityID, Name: r.Name, Rights: rights, Mode: r.Mode})
	}
	return out, nil
}
