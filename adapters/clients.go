package adapters

import (
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
)

// clientRow is an API client; the secret is kept as a bcrypt hash only.
type clientRow struct {
	ID         string    `gorm:"primaryKey;size:36"`
	Name       string    `gorm:"size:255;not null"`
	EntityID   string    `gorm:"size:64;not null;index:idx_clients_entity"`
	Scopes     string    `gorm:"size:64;not null"` // space-separated
	SecretHash string    `gorm:"size:100;not null"`
	CreatedAt  time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
	CreatedBy  string    `gorm:"size:255;not null"`
	// EntityIncarnation is the incarnation of the entity when the client was
	// bound to it (migration 6): a client never holds for the entity made
	// again under the same id.
	EntityIncarnation string `gorm:"size:36;not null;default:''"`
}

func (clientRow) TableName() string { return "clients" }

func clientOf(r clientRow) auth.Client {
	return auth.Client{ID: r.ID, Name: r.Name, EntityID: r.EntityID, Scopes: strings.Fields(r.Scopes),
		SecretHash: r.SecretHash, CreatedAt: utc(r.CreatedAt), CreatedBy: r.CreatedBy, EntityIncarnation: r.EntityIncarnation}
}

func (t *tx) InsertClient(c *auth.Client) error {
	row := clientRow{ID: c.ID, Name: c.Name, EntityID: c.EntityID, Scopes: strings.Join(c.Scopes, " "),
		SecretHash: c.SecretHash, CreatedAt: utc(c.CreatedAt), CreatedBy: c.CreatedBy, EntityIncarnation: c.EntityIncarnation}
	return translate(t.db.Create(&row).Error)
}

func (t *tx) GetClient(id string) (auth.Client, error) {
	var r clientRow
	if err := t.db.Where("id = ?", id).Take(&r).Error; err != nil {
		return auth.Client{}, translate(err)
	}
	return clientOf(r), nil
}

func (t *tx) ListClients(afterID string, limit int) ([]auth.Client, error) {
	var rows []clientRow
	if err := t.db.Where("id > ?", afterID).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]auth.Client, 0, len(rows))
	for _, r := range rows {
		out = append(out, clientOf(r))
	}
	return out, nil
}

func (t *tx) DeleteClient(id string) error {
	res := t.db.Where("id = ?", id).Delete(&clientRow{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return rolegate.ErrNotFound
	}
	return nil
}

func (t *tx) DeleteEntityClients(entityID string) ([]auth.Client, error) {
	var rows []clientRow
	if err := t.db.Where("entity_id = ?", entityID).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if err := t.db.Where("entity_id = ?", entityID).Delete(&clientRow{}).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]auth.Client, 0, len(rows))
	for _, r := range rows {
		out = append(out, clientOf(r))
	}
	return out, nil
}
