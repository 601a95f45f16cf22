package adapters

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// interleaved is a store whose every read of users (in the middle of the
// doctor's diagnosis of an entity, after its roles and before its rules) lets
// a write commit first: a role with its rule, as the service writes it.
type interleaved struct {
	*Store
	writes atomic.Int64
	t      *testing.T
}

func (s *interleaved) Snapshot(ctx context.Context, fn func(policy.Tx) error) error {
	return s.Store.Snapshot(ctx, func(tx policy.Tx) error { return fn(interleavedTx{tx, s}) })
}

func (s *interleaved) View(ctx context.Context, fn func(policy.Tx) error) error {
	return s.Store.View(ctx, func(tx policy.Tx) error { return fn(interleavedTx{tx, s}) })
}

type interleavedTx struct {
	policy.Tx
	s *interleaved
}

func (tx interleavedTx) ListUsers(entityID string, f policy.UserFilter, p policy.Page) ([]rolegate.User, error) {
	n := tx.s.writes.Add(1)
	r := newRole(fmt.Sprintf("w%d", n), entityID, ms(time.Now()))
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
	mustUpdate(tx.s.t, tx.s.Store, func(w policy.Tx) error {
		if _, err := w.BumpRevision(entityID, time.Now()); err != nil {
			return err
		}
		if err := w.InsertRole(&r); err != nil {
			return err
		}
		if err := w.AddRules(engine.Compile(r)); err != nil {
			return err
		}
		return w.RecountEntity(entityID)
	})
	return tx.Tx.ListUsers(entityID, f, p)
}

// TestDoctorReadsOneSnapshot: a write committing in the middle of every read
// of an entity (a busy store) makes the doctor report no problem: it read
// each entity in one snapshot (on PostgreSQL and MySQL it read each
// statement's own, and after five tries reported the mixed reads as an
// orphan rule of a role that "does not exist"). The store is consistent
// after.
func TestDoctorReadsOneSnapshot(t *testing.T) {
	onEveryDatabase(t, "doctor snapshot test", func(t *testing.T, open func(*testing.T) *Store) {
		s := &interleaved{Store: open(t), t: t}
		newEntity(t, s.Store, "e")
		for i := 0; i < 3; i++ {
			rep, err := policy.Doctor(ctx, s, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || len(rep.Unchecked) != 0 || rep.Entities != 1 {
				t.Fatalf("doctor run %d with a write during each read: %s\n%v", i, rep.Summary(), rep.Problems)
			}
		}
		rep, err := policy.Doctor(ctx, s.Store, false)
		if err != nil || rep.Remaining() != 0 || rep.Roles != int(s.writes.Load()) {
			t.Fatalf("doctor after %d writes: %v %s %v", s.writes.Load(), err, rep.Summary(), rep.Problems)
		}
	})
}

// unsettled is a store whose entity revision reads differently every time,
// as one would that has no snapshots under a stream of writes.
type unsettled struct {
	*Store
	n atomic.Int64
}

func (s *unsettled) Snapshot(ctx context.Context, fn func(policy.Tx) error) error {
	return s.Store.Snapshot(ctx, func(tx policy.Tx) error { return fn(unsettledTx{tx, s}) })
}

type unsettledTx struct {
	policy.Tx
	s *unsettled
}

func (tx unsettledTx) GetEntity(id string) (rolegate.Entity, error) {
	e, err := tx.Tx.GetEntity(id)
	e.Revision = tx.s.n.Add(1)
	return e, err
}

// TestDoctorEntityKeptChanging: an entity whose revision moved during every
// read is reported as not checked, never as broken, and does not fail the
// run.
func TestDoctorEntityKeptChanging(t *testing.T) {
	s := &unsettled{Store: openOrFail(t, "sqlite://"+t.TempDir()+"/rolegate.db")}
	newEntity(t, s.Store, "e")
	// Something the doctor would report, were it to trust mixed reads.
	mustUpdate(t, s.Store, func(tx policy.Tx) error {
		return tx.AddRules([]rolegate.Rule{{PType: "g", Values: []string{"u:eve", "r:nope", "e"}}})
	})
	rep, err := policy.Doctor(ctx, s, false)
	if err != nil || len(rep.Problems) != 0 || len(rep.Unchecked) != 1 || rep.Unchecked[0] != "e" || rep.Entities != 0 {
		t.Fatalf("doctor on an entity that kept changing: %v %s %v", err, rep.Summary(), rep.Problems)
	}
	if sum := rep.Summary(); sum != "checked 0 entities, 0 roles, 0 users, 0 assignments, 0 rules: consistent; 1 entity not checked (kept changing): run again" {
		t.Fatalf("summary: %s", sum)
	}
}
