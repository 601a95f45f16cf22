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

// An entity made again under an id has another incarnation; deleting an
// entity's clients returns them; a setting is replaced only from the value
// read.
func TestIncarnationsAndSettings(t *testing.T) {
	onEveryDatabase(t, "incarnations and settings", func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		e := rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertEntity(&e) })
		first := e.Incarnation
		c := auth.Client{ID: "c1", Name: "c", EntityID: "acme", EntityIncarnation: first, Scopes: []string{"check"}, SecretHash: "x", CreatedAt: time.Now()}
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertClient(&c) })
		mustUpdate(t, s, func(tx policy.Tx) error {
			gone, err := tx.DeleteEntityClients("acme")
			if err != nil || len(gone) != 1 || gone[0].ID != "c1" {
				t.Errorf("deleted clients: %+v %v", gone, err)
			}
			return tx.DeleteEntity("acme")
		})
		e = rolegate.Entity{ID: "acme", Revision: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertEntity(&e) })
		if e.Incarnation == "" || e.Incarnation == first {
			t.Fatalf("made again: incarnation %q, first %q", e.Incarnation, first)
		}

		mustUpdate(t, s, func(tx policy.Tx) error { return tx.PutSetting("k", "v1") })
		if err := s.Update(ctx, func(tx policy.Tx) error { return tx.ReplaceSetting("k", "stale", "v2") }); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("replace from a stale value: %v", err)
		}
		mustUpdate(t, s, func(tx policy.Tx) error { return tx.ReplaceSetting("k", "v1", "v2") })
		mustUpdate(t, s, func(tx policy.Tx) error {
			if v, err := tx.GetSetting("k"); v != "v2" || err != nil {
				t.Errorf("setting: %q %v", v, err)
			}
			return nil
		})
	})
}
