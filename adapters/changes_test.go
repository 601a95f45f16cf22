package adapters

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/policy"
)

// TestChangeItems: entries logged before migration 7 read back without
// items, beside those logged after it, for the feed and for the catch-up.
// (How the log is read, its bounds and large items, storetest.Run checks on
// every database.)
func TestChangeItems(t *testing.T) {
	onEveryDatabaseURL(t, "change items test", func(t *testing.T, newURL func(t *testing.T) string) {
		// A store before migration 7 (00007_policy_change_items.sql).
		s := connectOrFail(t, newURL(t))
		ctx := context.Background()
		if err := s.migrateTo(ctx, 6); err != nil {
			t.Fatal(err)
		}
		newEntity(t, s, "acme")
		// An entry as migration 5 wrote them: no items column yet.
		now := ms(time.Now())
		if err := s.w.Exec("INSERT INTO policy_changes (entity_id, revision, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
			"acme", 2, changes.EntryDelta, `{"ops":[]}`, now).Error; err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, func(tx policy.Tx) error { _, err := tx.BumpRevision("acme", now); return err }); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		big := `[{"t":"user","o":"put","u":"` + strings.Repeat("x", 100<<10) + `"}]`
		for i, items := range []string{`[{"t":"role","o":"put","r":"r1"}]`, `[]`, big} {
			rev := int64(3 + i)
			mustUpdate(t, s, func(tx policy.Tx) error {
				if _, err := tx.BumpRevision("acme", now); err != nil {
					return err
				}
				return tx.AppendPolicyChange(changes.Entry{EntityID: "acme", Revision: rev, Kind: changes.EntryDelta,
					Payload: []byte(`{"ops":[]}`), At: now, Items: []byte(items)}, changes.Keep)
			})
		}
		if err := s.Update(ctx, func(tx policy.Tx) error { _, err := tx.BumpRevision("acme", now); return err }); err != nil {
			t.Fatal(err)
		}
		type entry struct {
			rev   int64
			items string
			null  bool
		}
		var got []entry
		rev, inc, err := s.ReadChangeItems(ctx, "acme", 0, 1000, 100, func(r int64, b []byte) bool {
			got = append(got, entry{r, string(b), b == nil})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if rev != 6 || inc == "" || len(got) != 4 {
			t.Fatalf("read: revision %d, incarnation %q, %d entries", rev, inc, len(got))
		}
		if !got[0].null || got[0].rev != 2 || got[1].items != `[{"t":"role","o":"put","r":"r1"}]` || got[2].items != `[]` || got[3].items != big {
			t.Fatalf("entries: %+v", got[:3])
		}
		// The catch-up reads the same entries, deltas only.
		rev, _, changes, err := s.PolicyChanges(ctx, "acme", 1, changes.Keep)
		if err != nil || rev != 6 || len(changes) != 4 || changes[0].Revision != 2 || string(changes[0].Payload) != `{"ops":[]}` {
			t.Fatalf("catch-up read: %d, %d changes, %v", rev, len(changes), err)
		}
	})
}
