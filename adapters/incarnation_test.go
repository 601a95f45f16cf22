package adapters

import (
	"errors"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// The incarnation migration on a store made before it: the columns are added, every
// existing entity gets an incarnation of its own, clients get their entity's,
// and clients of entities deleted before the migration are deleted.
func TestIncarnationMigration(t *testing.T) {
	onEveryDatabaseURL(t, "incarnation migration", func(t *testing.T, newURL func(t *testing.T) string) {
		// A store before migration 6 (00006_incarnations.sql), with rows in
		// the columns it had.
		s := connectOrFail(t, newURL(t))
		if err := s.migrateTo(ctx, 5); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, id := range []string{"acme", "beta"} {
			if err := s.w.Exec("INSERT INTO entities (id, name, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
				id, "E "+id, 1, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []auth.Client{{ID: "c-acme", EntityID: "acme"}, {ID: "c-orphan", EntityID: "gone"}, {ID: "c-platform"}} {
			if err := s.w.Exec("INSERT INTO clients (id, name, entity_id, scopes, secret_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
				c.ID, c.ID, c.EntityID, "check", "x", now, "").Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var acme, beta rolegate.Entity
		mustUpdate(t, s, func(tx policy.Tx) (err error) {
			if acme, err = tx.GetEntity("acme"); err != nil {
				return err
			}
			beta, err = tx.GetEntity("beta")
			return err
		})
		if acme.Incarnation == "" || beta.Incarnation == "" || acme.Incarnation == beta.Incarnation {
			t.Fatalf("incarnations %q %q", acme.Incarnation, beta.Incarnation)
		}
		mustUpdate(t, s, func(tx policy.Tx) error {
			if c, err := tx.GetClient("c-acme"); err != nil || c.EntityIncarnation != acme.Incarnation {
				t.Errorf("acme's client: %+v %v", c, err)
			}
			if c, err := tx.GetClient("c-platform"); err != nil || c.EntityIncarnation != "" {
				t.Errorf("platform client: %+v %v", c, err)
			}
			if _, err := tx.GetClient("c-orphan"); !errors.Is(err, rolegate.ErrNotFound) {
				t.Errorf("the client of a deleted entity survived the migration: %v", err)
			}
			return nil
		})
	})
}
