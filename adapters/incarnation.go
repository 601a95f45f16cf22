package adapters

import (
	"github.com/google/uuid"
	"gorm.io/gorm"
)

// incarnationMigration is the version of the migration below (4 and 5 are
// taken by other branches of this release).
const incarnationMigration = 6

// Migration 6 gives every entity an incarnation (a random id, new each time
// an entity is made under an id) and binds every client of an entity to its
// entity's incarnation. Clients bound to an entity that no longer exists
// (left behind by deletions before this migration) are deleted: they would
// otherwise come back to life when the id is used again.
func init() {
	migrations = append(migrations, migration{incarnationMigration, "entities.incarnation, clients.entity_incarnation", func(db *gorm.DB) error {
		for _, c := range []struct {
			model any
			field string
		}{{&entityRow{}, "Incarnation"}, {&clientRow{}, "EntityIncarnation"}} {
			if !db.Migrator().HasColumn(c.model, c.field) {
				if err := db.Migrator().AddColumn(c.model, c.field); err != nil {
					return err
				}
			}
		}
		// Existing entities get one each, in batches.
		for {
			var ids []string
			if err := db.Model(&entityRow{}).Where("incarnation = ?", "").Order("id").Limit(500).Pluck("id", &ids).Error; err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				if err := db.Model(&entityRow{}).Where("id = ? AND incarnation = ?", id, "").
					UpdateColumn("incarnation", uuid.NewString()).Error; err != nil {
					return err
				}
			}
		}
		if err := db.Exec("DELETE FROM clients WHERE entity_id <> '' AND entity_id NOT IN (SELECT id FROM entities)").Error; err != nil {
			return err
		}
		return db.Exec("UPDATE clients SET entity_incarnation = (SELECT incarnation FROM entities WHERE entities.id = clients.entity_id) " +
			"WHERE entity_id <> '' AND entity_incarnation = ''").Error
	}})
}
