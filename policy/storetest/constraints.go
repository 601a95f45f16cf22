package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/policy"
)

// NewConstraint is an enforcing constraint of entity over two rights, not
// yet stored.
func NewConstraint(name, entity string, at time.Time) rolegate.Constraint {
	return rolegate.Constraint{ID: uuid.NewString(), EntityID: entity, Name: name, Mode: rolegate.ConstraintEnforce,
		Rights:    []rolegate.ConstraintRight{{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}},
		CreatedAt: at, CreatedBy: "client:ops", UpdatedAt: at, UpdatedBy: "client:ops"}
}

// testConstraints: constraints read back as written (rights in order,
// exceptions with their reasons and expiries, times in UTC to the
// millisecond, text of every kind at its bounds); a name is unique within its
// entity only; an update keeps the creation; a list is the entity's, by name;
// a rolled-back write leaves nothing; DeleteEntity removes them.
func testConstraints(t *testing.T, s policy.Store) {
	NewEntity(t, s, "e")
	NewEntity(t, s, "other")
	at := ms(time.Now())
	later := at.Add(90 * 24 * time.Hour)
	full := NewConstraint("Zahlungen \"freigeben\" ü", "e", at)
	full.Description = strings.Repeat("é", 1000)
	for i := range rolegate.MaxConstraintRights - 2 {
		full.Rights = append(full.Rights, rolegate.ConstraintRight{ObjectType: "obj_" + string(rune('a'+i)), Action: "act"})
	}
	for i := range rolegate.MaxConstraintExceptions {
		full.Exceptions = append(full.Exceptions, rolegate.ConstraintException{UserID: strings.Repeat("u", 200) + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Reason: strings.Repeat("ü", 500), ExpiresAt: later.Add(time.Duration(i) * time.Millisecond)})
	}
	plain := NewConstraint("a-first", "e", at)
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertConstraint(&full); err != nil {
			return err
		}
		return tx.InsertConstraint(&plain)
	})
	get := func(entityID, id string) (rolegate.Constraint, error) {
		var c rolegate.Constraint
		err := s.View(ctx, func(tx policy.Tx) error {
			var err error
			c, err = tx.GetConstraint(entityID, id)
			return err
		})
		return c, err
	}
	list := func(entityID string) []rolegate.Constraint {
		t.Helper()
		var cs []rolegate.Constraint
		if err := s.View(ctx, func(tx policy.Tx) error {
			var err error
			cs, err = tx.ListConstraints(entityID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	got, err := get("e", full.ID)
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("read back differs from what was written (%v)", err)
	}
	if got, err := get("e", plain.ID); err != nil || got.Exceptions != nil || !reflect.DeepEqual(got, plain) {
		t.Fatalf("read back without exceptions: %+v %v", got, err)
	}
	if _, err := get("other", full.ID); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("another entity's constraint: %v", err)
	}
	// By name, as bytes: "Z" before "a".
	if cs := list("e"); len(cs) != 2 || cs[0].ID != full.ID || cs[1].ID != plain.ID || !reflect.DeepEqual(cs[0], full) {
		t.Fatalf("list: %d constraints, want %q then %q", len(cs), full.Name, plain.Name)
	}
	if cs := list("other"); len(cs) != 0 {
		t.Fatalf("list of another entity: %+v", cs)
	}
	// What writes are checked against: the same constraints, in the same
	// order, without descriptions, exceptions or times.
	var rules []rolegate.Constraint
	if err := s.View(ctx, func(tx policy.Tx) error {
		var err error
		rules, err = tx.ConstraintRules("e")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, c := range []rolegate.Constraint{full, plain} {
		want := rolegate.Constraint{ID: c.ID, EntityID: c.EntityID, Name: c.Name, Rights: c.Rights, Mode: c.Mode}
		if len(rules) != 2 || !reflect.DeepEqual(rules[i], want) {
			t.Fatalf("constraint rules: %d, want %q and %q as written but for their descriptions, exceptions and times", len(rules), full.Name, plain.Name)
		}
	}

	// Names: unique within the entity, free in another; ids unique.
	taken := NewConstraint(plain.Name, "e", at)
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.InsertConstraint(&taken) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("taken name: %v", err)
	}
	sameID := NewConstraint("fresh", "e", at)
	sameID.ID = plain.ID
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.InsertConstraint(&sameID) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("taken id: %v", err)
	}
	elsewhere := NewConstraint(plain.Name, "other", at)
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertConstraint(&elsewhere) })

	// Update: everything but the creation; a taken name or a missing one fail.
	upd := plain
	upd.Name, upd.Description, upd.Mode = "b-renamed", "now reporting", rolegate.ConstraintReport
	upd.Rights = []rolegate.ConstraintRight{{ObjectType: "vendor", Action: "create"}, {ObjectType: "payment", Action: "execute"}, {ObjectType: "payable", Action: "approve"}}
	upd.Exceptions = []rolegate.ConstraintException{{UserID: "u-1", Reason: "holiday", ExpiresAt: later}}
	upd.CreatedAt, upd.CreatedBy = at.Add(time.Hour), "someone else"
	upd.UpdatedAt, upd.UpdatedBy = at.Add(time.Minute), "user:u-9"
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.UpdateConstraint(&upd) })
	want := upd
	want.CreatedAt, want.CreatedBy = plain.CreatedAt, plain.CreatedBy
	if got, err := get("e", plain.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("updated:\n%+v\n%v\nwant %+v", got, err, want)
	}
	// Writing what is stored already is no error.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.UpdateConstraint(&want) })
	clash := want
	clash.Name = full.Name
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.UpdateConstraint(&clash) }); !errors.Is(err, rolegate.ErrDuplicate) {
		t.Fatalf("update to a taken name: %v", err)
	}
	for _, c := range []rolegate.Constraint{NewConstraint("nope", "e", at), {ID: plain.ID, EntityID: "other", Name: "x", Mode: "enforce"}} {
		if err := s.Update(ctx, func(tx policy.Tx) error { return tx.UpdateConstraint(&c) }); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("update of a missing constraint: %v", err)
		}
	}

	// A rolled-back write leaves nothing.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx policy.Tx) error {
		c := NewConstraint("rolled back", "e", at)
		if err := tx.InsertConstraint(&c); err != nil {
			return err
		}
		if err := tx.DeleteConstraint("e", full.ID); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled back: %v", err)
	}
	if cs := list("e"); len(cs) != 2 {
		t.Fatalf("after a rollback: %+v", cs)
	}

	// Delete: one; a missing one or another entity's is ErrNotFound.
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.DeleteConstraint("other", full.ID) }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("delete another entity's: %v", err)
	}
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteConstraint("e", full.ID) })
	if _, err := get("e", full.ID); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if err := s.Update(ctx, func(tx policy.Tx) error { return tx.DeleteConstraint("e", full.ID) }); !errors.Is(err, rolegate.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}

	// DeleteEntity takes the entity's constraints, not another's; an
	// entity made again under the id has none.
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.DeleteEntity("e") })
	NewEntity(t, s, "e")
	if cs := list("e"); len(cs) != 0 {
		t.Fatalf("constraints outlived their entity: %+v", cs)
	}
	if cs := list("other"); len(cs) != 1 || cs[0].ID != elsewhere.ID {
		t.Fatalf("another entity's constraints: %+v", cs)
	}
	// Its name is free again.
	again := NewConstraint(plain.Name, "e", at)
	MustUpdate(t, s, func(tx policy.Tx) error { return tx.InsertConstraint(&again) })
}
