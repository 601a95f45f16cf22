package adapters

import (
	"context"
	"fmt"
	"sort"
	"time"

	gormadapter "github.com/casbin/gorm-adapter/v3"
	"gorm.io/gorm"
)

// Row structs: the tables as gorm sees them. They never leave this package.

type entityRow struct {
	ID        string    `gorm:"primaryKey;size:64"`
	Name      string    `gorm:"size:255;not null"`
	Revision  int64     `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"not null;precision:3;autoUpdateTime:false"`
	// Incarnation tells apart entities made under the same id one after the
	// other: a random id given when the row is made (migration 6).
	Incarnation string `gorm:"size:36;not null;default:''"`
	// What the entity holds, for the quotas (adapters/quota.go).
	RoleCount int64 `gorm:"not null;default:0"`
	UserCount int64 `gorm:"not null;default:0"`
	RuleCount int64 `gorm:"not null;default:0"`
}

func (entityRow) TableName() string { return "entities" }

type roleRow struct {
	ID       string `gorm:"primaryKey;size:36"`
	EntityID string `gorm:"size:64;not null;uniqueIndex:idx_roles_entity_name_key,priority:1;index:idx_roles_entity_created,priority:1"`
	Name     string `gorm:"size:255;not null"`
	// NameKey is the name while the role is active and NULL once deleted, so
	// that the unique index holds names among active roles only.
	NameKey     *string    `gorm:"size:255;uniqueIndex:idx_roles_entity_name_key,priority:2"`
	Description string     `gorm:"type:text;not null"`
	Permissions string     `gorm:"type:text;not null"`
	IsDefault   bool       `gorm:"not null"`
	RoleType    string     `gorm:"size:16;not null"`
	Scope       string     `gorm:"size:32;not null"`
	Status      string     `gorm:"size:16;not null"`
	Version     int64      `gorm:"not null"`
	CreatedAt   time.Time  `gorm:"not null;precision:3;autoCreateTime:false;index:idx_roles_entity_created,priority:2"`
	CreatedBy   string     `gorm:"size:255;not null"`
	UpdatedAt   time.Time  `gorm:"not null;precision:3;autoUpdateTime:false"`
	UpdatedBy   string     `gorm:"size:255;not null"`
	DeletedAt   *time.Time `gorm:"precision:3"`
	DeletedBy   string     `gorm:"size:255;not null"`
}

func (roleRow) TableName() string { return "roles" }

type userRow struct {
	EntityID    string     `gorm:"primaryKey;size:64"`
	ID          string     `gorm:"primaryKey;size:255"`
	Email       string     `gorm:"size:320;not null"`
	Name        string     `gorm:"size:255;not null"`
	Permissions string     `gorm:"type:text;not null"`
	CreatedAt   time.Time  `gorm:"not null;precision:3;autoCreateTime:false"`
	CreatedBy   string     `gorm:"size:255;not null"`
	UpdatedAt   time.Time  `gorm:"not null;precision:3;autoUpdateTime:false"`
	LastSeenAt  *time.Time `gorm:"precision:3"`
}

func (userRow) TableName() string { return "users" }

type assignmentRow struct {
	EntityID  string    `gorm:"primaryKey;size:64;index:idx_assignments_role,priority:1"`
	UserID    string    `gorm:"primaryKey;size:255"`
	RoleID    string    `gorm:"primaryKey;size:36;index:idx_assignments_role,priority:2"`
	Scope     string    `gorm:"primaryKey;size:128"`
	CreatedAt time.Time `gorm:"not null;precision:3;autoCreateTime:false"`
	// ExpiresAt is when an expiring assignment stops counting (migration 8).
	ExpiresAt *time.Time `gorm:"precision:3;index:idx_assignments_expires"`
}

func (assignmentRow) TableName() string { return "assignments" }

type settingRow struct {
	Name  string `gorm:"primaryKey;size:191"`
	Value string `gorm:"type:text;not null"`
}

func (settingRow) TableName() string { return "settings" }

type migrationRow struct {
	Version   int       `gorm:"primaryKey;autoIncrement:false"`
	AppliedAt time.Time `gorm:"not null;precision:3"`
}

func (migrationRow) TableName() string { return "schema_migrations" }

// migration is one versioned schema change.
type migration struct {
	version int
	name    string
	up      func(db *gorm.DB) error
}

// migrations are applied in order of version, once each; never edit a
// released one. Files of this package may add theirs from init.
var migrations = []migration{
	{1, "tables for entities, roles, users, assignments, settings and casbin_rule", func(db *gorm.DB) error {
		if err := db.AutoMigrate(&entityRow{}, &roleRow{}, &userRow{}, &assignmentRow{}, &settingRow{}); err != nil {
			return err
		}
		// casbin gorm-adapter's own table and unique index.
		if _, err := gormadapter.NewAdapterByDB(db); err != nil {
			return err
		}
		// Loading one entity reads (ptype='p' AND v1=E) and (ptype='g' AND v2=E).
		for _, ix := range []struct{ name, cols string }{
			{"idx_casbin_rule_ptype_v1", "ptype, v1"},
			{"idx_casbin_rule_ptype_v2", "ptype, v2"},
			{"idx_casbin_rule_ptype_v0_v1", "ptype, v0, v1"},
		} {
			if !db.Migrator().HasIndex(&gormadapter.CasbinRule{}, ix.name) {
				if err := db.Exec(fmt.Sprintf("CREATE INDEX %s ON casbin_rule (%s)", ix.name, ix.cols)).Error; err != nil {
					return err
				}
			}
		}
		return nil
	}},
}

// Migrate applies the migrations not applied yet. Several instances starting
// at once take turns (PostgreSQL and MySQL: an advisory lock; SQLite: the
// write connection).
func (s *Store) Migrate(ctx context.Context) error {
	db := s.w.WithContext(ctx)
	if s.dialect == "mysql" {
		// Case-sensitive, as ids and names are.
		db = db.Set("gorm:table_options", "CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	db = db.Session(&gorm.Session{}) // safe to reuse for several statements
	conn, err := s.closers[0].Conn(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer conn.Close()
	switch s.dialect {
	case "postgres":
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7426511)"); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7426511)")
	case "mysql":
		if _, err := conn.ExecContext(ctx, "SELECT GET_LOCK('rolegate_migrate', 60)"); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('rolegate_migrate')")
	case "sqlite":
		conn.Close() // SQLite has one write connection: give it back to gorm.
	}
	if !db.Migrator().HasTable(&migrationRow{}) {
		if err := db.Migrator().CreateTable(&migrationRow{}); err != nil {
			return err
		}
	}
	var applied []int
	if err := db.Model(&migrationRow{}).Pluck("version", &applied).Error; err != nil {
		return err
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	ordered := append([]migration(nil), migrations...)
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].version < ordered[j].version })
	for _, m := range ordered {
		if done[m.version] {
			continue
		}
		if err := m.up(db); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if err := db.Create(&migrationRow{Version: m.version, AppliedAt: time.Now().UTC()}).Error; err != nil {
			return fmt.Errorf("migration %d: record: %w", m.version, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.WithContext(ctx).Model(&migrationRow{}).Select("COALESCE(MAX(version), 0)").Scan(&v).Error
	return v, err
}
