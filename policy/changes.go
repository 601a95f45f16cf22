package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/changes"
	"github.com/rolegate/rolegate/engine"
)

// The service's side of package changes: the feed behind the service's
// guard, each write's entry in the change log, and the store's revisions
// read for the Syncer and min_revision.

// Changes returns the changes of the entity after q.Since (changes.Feed),
// guarded as the audit log is; 404 for an unknown entity.
func (s *Service) Changes(ctx context.Context, entityID string, q changes.Query) (changes.Page, error) {
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectAuditEvent, ActionRead); err != nil {
		return changes.Page{}, err
	}
	reader, _ := s.store.(changes.ItemReader) // nil: the store keeps no log
	page, err := s.feed.Changes(ctx, reader, entityID, auth.ActorFrom(ctx).ID, q)
	if rolegate.IsNotFound(err) {
		return changes.Page{}, EntityNotFound(entityID)
	}
	return page, err
}

// StopWaiting ends every Changes call waiting for a write (they answer at
// once) and makes new ones answer without waiting: the first step of a
// shutdown, so that long polls do not hold it up.
func (s *Service) StopWaiting() { s.feed.Stop() }

// ChangeWaiters returns how many Changes calls wait for a write.
func (s *Service) ChangeWaiters() int { return s.feed.Waiters() }

// logChange appends a write's delta and the items it touched to the change
// log, inside its transaction.
func logChange(tx Tx, entityID string, rev int64, now time.Time, d engine.Delta, t *changes.Touched) error {
	var payload []byte // nil: readers reload
	if !d.Full {
		b, err := d.Encode()
		if err != nil {
			return err
		}
		payload = b
	}
	return changes.Append(tx, entityID, rev, now, payload, t)
}

// reachable refuses a min_revision past the store's revision (changes.Reachable).
func (s *Service) reachable(ctx context.Context, field string, entityID string, minRevision int64) error {
	return changes.Reachable(ctx, s.engine, Revisions(s.store), field, entityID, minRevision)
}

// reachableAll checks the min_revision of every check of a batch, once per
// entity (the highest asked).
func (s *Service) reachableAll(ctx context.Context, reqs []CheckRequest) error {
	highest := map[string]int{}
	for i, r := range reqs {
		if j, ok := highest[r.EntityID]; !ok || r.MinRevision > reqs[j].MinRevision {
			highest[r.EntityID] = i
		}
	}
	for i, r := range reqs {
		if highest[r.EntityID] != i {
			continue
		}
		if err := s.reachable(ctx, fmt.Sprintf("checks[%d].min_revision", i), reqs[i].EntityID, reqs[i].MinRevision); err != nil {
			return err
		}
	}
	return nil
}

// Revisions returns the store's revisions as package changes reads them:
// each call one read-only transaction.
func Revisions(store Store) changes.Revisions { return storeRevisions{store} }

type storeRevisions struct{ store Store }

func (r storeRevisions) EntityRevision(ctx context.Context, entityID string) (int64, error) {
	var rev int64
	err := r.store.View(ctx, func(tx Tx) error {
		e, err := tx.GetEntity(entityID)
		rev = e.Revision
		return err
	})
	return rev, err
}

func (r storeRevisions) EntityRevisions(ctx context.Context, ids []string) (map[string]int64, error) {
	var revs map[string]int64
	err := r.store.View(ctx, func(tx Tx) (err error) {
		revs, err = tx.EntityRevisions(ids)
		return err
	})
	return revs, err
}
