package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate/policy"
)

func auditIDs(evs []policy.AuditEvent) string {
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.ObjectID)
	}
	return strings.Join(ids, ",")
}

// testAuditEvents: the audit log's storage reads back events as written, in
// time order either way, in pages, filtered; a rollback leaves none.
func testAuditEvents(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	t0 := ms(time.Now())
	// Events 0-2 share a time, so their ids order them; 3-5 follow, one a
	// millisecond apart. ObjectID names each event's place in time order.
	big := `{"description":"` + strings.Repeat("x", 100_000) + `"}`
	var evs []policy.AuditEvent
	for i := 0; i < 6; i++ {
		at := t0
		if i >= 3 {
			at = t0.Add(time.Duration(i-2) * time.Millisecond)
		}
		e := policy.AuditEvent{ID: fmt.Sprintf("0190c000-0000-7000-8000-%012d", i), EntityID: "e", Time: at,
			Actor: "admin", Action: "role.update", ObjectType: "role", ObjectID: fmt.Sprint(i),
			Before: json.RawMessage(`{"name":"a"}`), After: json.RawMessage(`{"name":"b"}`), RequestID: "req-" + fmt.Sprint(i)}
		switch i {
		case 1:
			e.Action, e.ObjectType, e.Actor, e.Before = "user.create", "user", "client:c1", nil
		case 4:
			e.Action, e.After = "role.delete", json.RawMessage(big)
		case 5:
			e.Actor, e.RequestID = "", ""
		}
		evs = append(evs, e)
	}
	// Stored out of order, and one event of another entity.
	MustUpdate(t, s, func(tx policy.Tx) error {
		for _, i := range []int{3, 0, 5, 1, 4, 2} {
			if err := tx.InsertAuditEvent(&evs[i]); err != nil {
				return err
			}
		}
		o := evs[0]
		o.ID, o.EntityID, o.ObjectID = "0190c000-0000-7000-8000-999999999999", "other", "o"
		return tx.InsertAuditEvent(&o)
	})

	list := func(f policy.AuditFilter, p policy.Page) []policy.AuditEvent {
		t.Helper()
		var out []policy.AuditEvent
		err := s.View(ctx, func(tx policy.Tx) (err error) { out, err = tx.ListAuditEvents("e", f, p); return })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	all := list(policy.AuditFilter{}, policy.Page{Limit: 100, Sort: "time"})
	if got := auditIDs(all); got != "0,1,2,3,4,5" {
		t.Fatalf("oldest first: %s", got)
	}
	for i, e := range all {
		w := evs[i]
		if e.ID != w.ID || e.EntityID != "e" || !e.Time.Equal(w.Time) || e.Time.Location() != time.UTC || e.Actor != w.Actor ||
			e.Action != w.Action || e.ObjectType != w.ObjectType || string(e.Before) != string(w.Before) ||
			string(e.After) != string(w.After) || e.RequestID != w.RequestID {
			t.Errorf("event %d reads back as %+v, want %+v", i, e, w)
		}
	}
	if all[1].Before != nil {
		t.Errorf("a null before reads back as %q", all[1].Before)
	}

	// Newest first, in pages of 2, from cursors.
	var pages []string
	p := policy.Page{Limit: 2, Sort: "time", Desc: true}
	for n := 0; n < 5; n++ {
		page := list(policy.AuditFilter{}, p)
		if len(page) == 0 {
			break
		}
		pages = append(pages, auditIDs(page))
		last := page[len(page)-1]
		p.After = &policy.Cursor{Value: last.Time.Format(time.RFC3339Nano), ID: last.ID}
	}
	if got := strings.Join(pages, "|"); got != "5,4|3,2|1,0" {
		t.Fatalf("newest first in pages of 2: %s", got)
	}
	// Backwards from event 2: the older ones.
	p = policy.Page{Limit: 10, Sort: "time", After: &policy.Cursor{Value: evs[2].Time.Format(time.RFC3339Nano), ID: evs[2].ID}}
	if got := auditIDs(list(policy.AuditFilter{}, p)); got != "3,4,5" {
		t.Fatalf("after event 2, oldest first: %s", got)
	}

	if got := auditIDs(list(policy.AuditFilter{ObjectType: "user"}, policy.Page{Limit: 10})); got != "1" {
		t.Errorf("object_type=user: %s", got)
	}
	if got := auditIDs(list(policy.AuditFilter{Actor: "admin", ObjectType: "role"}, policy.Page{Limit: 10, Desc: true})); got != "4,3,2,0" {
		t.Errorf("actor=admin object_type=role: %s", got)
	}
	if got := list(policy.AuditFilter{}, policy.Page{Limit: 10, After: &policy.Cursor{Value: "not a time", ID: "x"}}); len(got) != 0 {
		t.Errorf("unreadable cursor: %d events", len(got))
	}

	// A rolled back transaction leaves no event.
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx policy.Tx) error {
		e := evs[0]
		e.ID = "0190c000-0000-7000-8000-888888888888"
		if err := tx.InsertAuditEvent(&e); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled back write: %v", err)
	}
	if n := len(list(policy.AuditFilter{}, policy.Page{Limit: 100})); n != 6 {
		t.Fatalf("%d events after a rollback, want 6", n)
	}

	// Deleting one entity's events keeps the others'.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteAuditEvents("e") })
	if n := len(list(policy.AuditFilter{}, policy.Page{Limit: 100})); n != 0 {
		t.Fatalf("%d events left", n)
	}
	s.View(ctx, func(tx policy.Tx) error {
		if o, err := tx.ListAuditEvents("other", policy.AuditFilter{}, policy.Page{Limit: 10}); err != nil || len(o) != 1 {
			t.Fatalf("the other entity's events: %v %v", o, err)
		}
		return nil
	})
}
