package adapters

import (
	"reflect"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// storedRightsText is rights as the stores of earlier releases wrote them
// (adapters' own encoder, before the encoding moved into policy): text that
// existing databases hold.
const storedRightsText = `{"objects":[{"object_type":"payable","actions":[{"action_name":"read","permission":"allowed"},` +
	`{"action_name":"approve","permission":"allowed_for_own"},{"action_name":"update","permission":"not_allowed"},` +
	`{"action_name":"delete","permission":"denied"}]},{"object_type":"accounts:/auth/users","actions":[{"action_name":"write","permission":"allowed"}]},` +
	`{"object_type":"*","actions":[{"action_name":"*","permission":"allowed"}]}]}`

// TestStoredRightsByteForByte: a role's and a user's rights are stored as
// the same text as before, and text already stored reads back and is written
// again byte for byte.
func TestStoredRightsByteForByte(t *testing.T) {
	onEveryDatabase(t, "stored rights test", func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		newEntity(t, s, "e")
		raw := func(table, id string) string {
			t.Helper()
			var text string
			if err := s.w.Raw("SELECT permissions FROM "+table+" WHERE entity_id = ? AND id = ?", "e", id).Scan(&text).Error; err != nil {
				t.Fatal(err)
			}
			return text
		}
		want := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{
			{ObjectType: "payable", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed), ap("approve", rolegate.AllowedForOwn),
				ap("update", rolegate.NotAllowed), ap("delete", rolegate.Denied)}},
			{ObjectType: "accounts:/auth/users", Actions: []rolegate.ActionPermission{ap("write", rolegate.Allowed)}},
			{ObjectType: "*", Actions: []rolegate.ActionPermission{ap("*", rolegate.Allowed)}},
		}}
		now := ms(time.Now())
		r := newRole("r", "e", now)
		r.Permissions = want
		u := rolegate.User{ID: "ada", EntityID: "e", CreatedAt: now, UpdatedAt: now, Permissions: want}
		empty := rolegate.User{ID: "bob", EntityID: "e", CreatedAt: now, UpdatedAt: now}
		mustUpdate(t, s, func(tx policy.Tx) error {
			if err := tx.InsertRole(&r); err != nil {
				return err
			}
			if err := tx.InsertUser(&empty); err != nil {
				return err
			}
			return tx.InsertUser(&u)
		})
		if got := raw("roles", r.ID); got != storedRightsText {
			t.Fatalf("role stored as\n%s\nwant\n%s", got, storedRightsText)
		}
		if got := raw("users", "ada"); got != storedRightsText {
			t.Fatalf("user stored as\n%s\nwant\n%s", got, storedRightsText)
		}
		if got := raw("users", "bob"); got != `{"objects":[]}` {
			t.Fatalf("no rights stored as %s", got)
		}

		// Text already in a database: read, written back unchanged.
		if err := s.w.Exec("UPDATE roles SET permissions = ? WHERE id = ?", storedRightsText, r.ID).Error; err != nil {
			t.Fatal(err)
		}
		var got rolegate.Role
		mustUpdate(t, s, func(tx policy.Tx) error {
			var err error
			if got, err = tx.GetRole("e", r.ID); err != nil {
				return err
			}
			got.Version++
			return tx.UpdateRole(&got)
		})
		if !reflect.DeepEqual(got.Permissions, want) {
			t.Fatalf("read back %+v, want %+v", got.Permissions, want)
		}
		if text := raw("roles", r.ID); text != storedRightsText {
			t.Fatalf("written back as\n%s\nwant\n%s", text, storedRightsText)
		}
	})
}
