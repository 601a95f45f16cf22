package adapters

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// Row structs: the tables as gorm sees them, for queries. They never leave
// this package, and never create or alter a table: the schema is the SQL in
// migrations/ (see migrations/README.md); a column added there is added here.

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
	// Attributes are the user's attributes as a JSON object, '{}' for none
	// (policy.EncodeAttributes; migration 9).
	Attributes string `gorm:"type:text;not null"`
}

func (userRow) TableName() string { return "users" }

// conditionRow is the source of one condition an entity's rules name by its
// hash (condition.Hash; migration 9).
type conditionRow struct {
	EntityID string `gorm:"primaryKey;size:64"`
	Hash     string `gorm:"primaryKey;size:64"`
	Source   string `gorm:"type:text;not null"`
}

func (conditionRow) TableName() string { return "conditions" }

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

// migrationFiles are the schema: one folder of numbered SQL files per dialect.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql migrations/mysql/*.sql
var migrationFiles embed.FS

var gooseDialects = map[string]goose.Dialect{
	"sqlite":   goose.DialectSQLite3,
	"postgres": goose.DialectPostgres,
	"mysql":    goose.DialectMySQL,
}

// migrator returns the goose provider of the store's dialect, on the write
// connections (SQLite: the single write connection).
func (s *Store) migrator() (*goose.Provider, error) {
	files, err := fs.Sub(migrationFiles, "migrations/"+s.dialect)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(gooseDialects[s.dialect], s.closers[0], files, goose.WithDisableGlobalRegistry(true))
}

// Migrate applies the migrations not applied yet. Several instances starting
// at once take turns (PostgreSQL and MySQL: an advisory lock, the one the
// previous release took too; SQLite: the single write connection in one
// process, each migration's write transaction across processes). A database
// at a version this build does not know is refused.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, math.MaxInt64)
}

// migrateTo applies the migrations up to version (tests start from an older
// schema this way).
func (s *Store) migrateTo(ctx context.Context, version int64) error {
	p, err := s.migrator()
	if err != nil {
		return err
	}
	switch s.dialect {
	case "postgres", "mysql":
		conn, err := s.closers[0].Conn(ctx)
		if err != nil {
			return unavailable(err)
		}
		defer conn.Close()
		if s.dialect == "postgres" {
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7426511)"); err != nil {
				return err
			}
			defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7426511)")
		} else {
			var got sql.NullInt64
			if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('rolegate_migrate', 60)").Scan(&got); err != nil {
				return err
			}
			if got.Int64 != 1 {
				return errors.New("another instance held the migration lock (rolegate_migrate) for 60s")
			}
			defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('rolegate_migrate')")
		}
	}
	// Creates goose's version table if there is none.
	current, known, err := p.GetVersions(ctx)
	if err != nil {
		return err
	}
	if current == 0 {
		if err := s.takeOver(ctx); err != nil {
			return fmt.Errorf("take over schema_migrations: %w", err)
		}
		if current, _, err = p.GetVersions(ctx); err != nil {
			return err
		}
	}
	if current > known {
		return fmt.Errorf("the database schema is at version %d, newer than this build of rolegate knows (%d): run a newer release", current, known)
	}
	for {
		_, err := p.UpTo(ctx, version)
		var partial *goose.PartialError
		if err == nil || s.dialect != "sqlite" || !errors.As(err, &partial) {
			return err
		}
		// SQLite has no lock but the write transaction, and goose looks
		// for what to apply before its transaction: another instance on
		// the same file may have applied the migration in between (ours
		// then failed, and was rolled back whole). If it did, carry on.
		var applied int
		if s.closers[0].QueryRowContext(ctx, "SELECT COUNT(*) FROM "+goose.DefaultTablename+" WHERE version_id = ?",
			partial.Failed.Source.Version).Scan(&applied) != nil || applied == 0 {
			return err
		}
	}
}

// takeOver records for goose the versions the previous releases' own
// migrator applied, as listed in its schema_migrations table (the same
// numbers: its migrations 1..8 are the files 00001..00008). goose then
// applies the rest. It runs when goose has recorded nothing yet, under the
// migration lock; schema_migrations is left as it was, so that an instance
// of the previous release (during a rolling update) still finds its
// migrations applied and changes nothing.
func (s *Store) takeOver(ctx context.Context) error {
	if !s.w.WithContext(ctx).Migrator().HasTable("schema_migrations") {
		return nil
	}
	store, err := database.NewStore(gooseDialects[s.dialect], goose.DefaultTablename)
	if err != nil {
		return err
	}
	tx, err := s.closers[0].BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var taken int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+goose.DefaultTablename+" WHERE version_id > 0").Scan(&taken); err != nil || taken > 0 {
		return err // another instance took over first
	}
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return err
	}
	var versions []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, v := range versions {
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.WithContext(ctx).Raw("SELECT COALESCE(MAX(version_id), 0) FROM " + goose.DefaultTablename).Scan(&v).Error
	return v, err
}
