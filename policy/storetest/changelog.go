package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/policy"
)

// changeLog is what a store that keeps a change log reads of it: the
// engine's catch-up and the changes feed.
type changeLog interface {
	changes.LogReader
	changes.ItemReader
}

// testChangeLog: the change log keeps each entry's items (also large ones),
// reads them for the feed in order after a revision, at most maxRows,
// stopping when asked, nothing past the window; an entry logged without items
// reads back without; the catch-up reads the same entries, without items; a
// write trims entries keep revisions old; an entity's deletion takes its log.
func testChangeLog(t *testing.T, s policy.Store) {
	log, ok := s.(changeLog)
	if !ok {
		t.Skip("the store keeps no change log")
	}
	NewEntity(t, s, "acme")
	now := ms(time.Now())
	big := `[{"t":"user","o":"put","u":"` + strings.Repeat("x", 100<<10) + `"}]`
	for i, items := range []string{"", `[{"t":"role","o":"put","r":"r1"}]`, `[]`, big} {
		rev := int64(2 + i)
		c := changes.Entry{EntityID: "acme", Revision: rev, Kind: changes.EntryDelta, Payload: []byte(`{"ops":[]}`), At: now}
		if i > 0 {
			c.Items = []byte(items)
		}
		MustUpdate(t, s, func(tx policy.Tx) error {
			if _, err := tx.BumpRevision("acme", now); err != nil {
				return err
			}
			return tx.AppendPolicyChange(c, changes.Keep)
		})
	}
	MustUpdate(t, s, func(tx policy.Tx) error { _, err := tx.BumpRevision("acme", now); return err })
	err := s.Update(ctx, func(tx policy.Tx) error {
		return tx.AppendPolicyChange(changes.Entry{EntityID: "acme", Revision: 3, Kind: changes.EntryReload, Payload: []byte{}, At: now}, changes.Keep)
	})
	if !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("a second entry of a revision: %v", err)
	}
	type entry struct {
		rev   int64
		items string
		null  bool
	}
	read := func(after int64, window, maxRows, stopAfter int) (int64, string, []entry) {
		t.Helper()
		var got []entry
		rev, inc, err := log.ReadChangeItems(ctx, "acme", after, window, maxRows, func(r int64, b []byte) bool {
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
	if !got[0].null || got[0].rev != 2 || got[1].items != `[{"t":"role","o":"put","r":"r1"}]` || got[2].items != `[]` || got[2].null || got[3].items != big {
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
	if _, _, err := log.ReadChangeItems(ctx, "nobody", 0, 1000, 100, func(int64, []byte) bool { return true }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("unknown entity: %v", err)
	}
	// The catch-up reads the same entries.
	rev, created, entries, err := log.PolicyChanges(ctx, "acme", 1, changes.Keep)
	if err != nil || rev != 6 || created.IsZero() || len(entries) != 4 || entries[0].Revision != 2 || string(entries[0].Payload) != `{"ops":[]}` {
		t.Fatalf("catch-up read: %d, %d entries, %v", rev, len(entries), err)
	}
	if rev, _, entries, err := log.PolicyChanges(ctx, "acme", 1, 3); err != nil || rev != 6 || len(entries) != 0 {
		t.Fatalf("catch-up past its bound: %d, %d entries, %v", rev, len(entries), err)
	}
	if _, _, _, err := log.PolicyChanges(ctx, "nobody", 0, 10); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("catch-up of an unknown entity: %v", err)
	}
	// Keeping 2 revisions: the entry of revision 7 trims those of 5 and older.
	MustUpdate(t, s, func(tx policy.Tx) error {
		if _, err := tx.BumpRevision("acme", now); err != nil {
			return err
		}
		return tx.AppendPolicyChange(changes.Entry{EntityID: "acme", Revision: 7, Kind: changes.EntryReload, Payload: []byte{}, At: now}, 2)
	})
	if _, _, entries, err := log.PolicyChanges(ctx, "acme", 0, 100); err != nil || len(entries) != 1 || entries[0].Revision != 7 {
		t.Fatalf("after a trim: %+v %v", entries, err)
	}
	// The entity made again starts a log of its own.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("acme") })
	NewEntity(t, s, "acme")
	MustUpdate(t, s, func(tx policy.Tx) error { _, err := tx.BumpRevision("acme", now); return err })
	if rev, _, entries, err := log.PolicyChanges(ctx, "acme", 0, 100); err != nil || rev != 2 || len(entries) != 0 {
		t.Fatalf("the log of an entity made again: %d, %+v %v", rev, entries, err)
	}
}
