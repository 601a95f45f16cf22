package adapters

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/policy"
)

// TestChangeItems: the change log keeps each entry's items (also large ones,
// past MySQL's 64 KiB TEXT), reads them for the feed in order after a
// revision, at most maxRows, stopping when asked, nothing past the window;
// entries logged before migration 7 read back without items; and the
// catch-up's read of the same log is unchanged.
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
		read := func(after int64, window, maxRows, stopAfter int) (int64, string, []entry) {
			t.Helper()
			var got []entry
			rev, inc, err := s.ReadChangeItems(ctx, "acme", after, window, maxRows, func(r int64, b []byte) bool {
				got = append(got, entry{r, string(b), b == nil})
				return len(got) < stopAfter
			})
			if err != nil {
				t.Fatal(err)
			}
			return rev, inc, got
		}
		rev, inc, got := read(0, 1000, 100, 100)
		if rev != 6 || inc == "" || len(got) != 4 {
			t.Fatalf("read: revision %d, incarnation %q, %d entries", rev, inc, len(got))
		}
		if !got[0].null || got[0].rev != 2 || got[1].items != `[{"t":"role","o":"put","r":"r1"}]` || got[2].items != `[]` || got[3].items != big {
			t.Fatalf("entries: %+v", got[:3])
		}
		if _, _, got := read(2, 1000, 2, 100); len(got) != 2 || got[0].rev != 3 || got[1].rev != 4 {
			t.Fatalf("after 2, at most 2: %+v", got)
		}
		if _, _, got := read(0, 1000, 100, 1); len(got) != 1 {
			t.Fatalf("stopped after one: %d read", len(got))
		}
		if rev, _, got := read(0, 5, 100, 100); rev != 6 || len(got) != 0 {
			t.Fatalf("past the window: revision %d, %d entries", rev, len(got))
		}
		if rev, _, got := read(6, 1000, 100, 100); rev != 6 || len(got) != 0 {
			t.Fatalf("at the revision: revision %d, %d entries", rev, len(got))
		}
		if _, _, err := s.ReadChangeItems(ctx, "nobody", 0, 1000, 100, func(int64, []byte) bool { return true }); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("unknown entity: %v", err)
		}
		// The catch-up reads the same entries, deltas only.
		rev, _, changes, err := s.PolicyChanges(ctx, "acme", 1, changes.Keep)
		if err != nil || rev != 6 || len(changes) != 4 || changes[0].Revision != 2 || string(changes[0].Payload) != `{"ops":[]}` {
			t.Fatalf("catch-up read: %d, %d changes, %v", rev, len(changes), err)
		}
	})
}
