package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// Answers as of a past instant (issue 25). Every write records what it
// changed in the entity's history, in its own transaction (HistoryStore);
// these answer from the policy of a past revision. They are guarded like
// the live answers plus the audit log's right (ObjectAuditEvent read):
// history reveals past roles and users.
//
// An AsOf is resolved to a revision of the entity's history (asOf): an
// instant to the last revision committed at or before it, read at that
// instant (expiring assignments count as they stood then; conditions
// reading now see it); a revision to itself, read at its commit time. Bad
// ones are refused with 422, the field named: an instant before the entity
// was created (before_entity), older than the history kept (the retention:
// beyond_retention), in the future, or an AsOf naming both an instant and a
// revision (invalid_as_of); a revision past the entity's current one or
// below 1 (invalid_revision), or older than the history kept
// (beyond_retention).
//
// An as-of answer is never the live one: a check's ValidUntil is the
// instant it was given, so that no client's cache keeps it.

// asOfFields names an AsOf's fields in errors: the instant's and the
// revision's.
type asOfFields struct{ time, revision string }

func fieldsOf(prefix string) asOfFields {
	return asOfFields{time: prefix + "as_of", revision: prefix + "at_revision"}
}

// resolvedAsOf is an AsOf resolved: the revision answered from, the instant
// it is read at, and the entity's incarnation (the past policies' cache key).
type resolvedAsOf struct {
	rev         int64
	at          time.Time
	incarnation string
}

// checkAsOf refuses an AsOf that cannot name a past state whatever the
// entity: both an instant and a revision, a revision below 1, an instant in
// the future.
func (s *Service) checkAsOf(at rolegate.AsOf, f asOfFields) error {
	switch {
	case at.Revision != 0 && !at.Time.IsZero():
		return rolegate.Invalid("invalid_as_of", f.time, "%s and %s name one past state: give one of them", f.time, f.revision)
	case at.Revision < 0:
		return rolegate.Invalid("invalid_revision", f.revision, "%s must be a revision of the entity (1 or more)", f.revision)
	case !at.Time.IsZero() && at.Time.After(s.now()):
		return rolegate.Invalid("invalid_as_of", f.time, "%s must not be in the future (now is %s)", f.time, s.clock().Format(time.RFC3339Nano))
	}
	return nil
}

// asOf resolves a past AsOf of the entity through its history (the entity
// must exist now: 404 otherwise), or from the resolutions kept when that
// cannot have changed (historycache.go).
func (s *Service) asOf(ctx context.Context, entityID string, at rolegate.AsOf, f asOfFields) (resolvedAsOf, error) {
	if err := s.checkAsOf(at, f); err != nil {
		return resolvedAsOf{}, err
	}
	now := s.now()
	k := asOfKeyOf(entityID, at)
	if r, ok := s.asOfs.get(k, now); ok {
		if at.Revision == 0 {
			r.at = at.Time // the instant as asked, as a store read gives it
		}
		return r, nil
	}
	epoch := s.asOfs.snapshot()
	r, err := s.resolveAsOf(ctx, entityID, at, f)
	if err == nil {
		s.asOfs.put(k, r, now, epoch)
	}
	return r, err
}

// resolveAsOf resolves a past AsOf of the entity through its history, in
// one snapshot of the store.
func (s *Service) resolveAsOf(ctx context.Context, entityID string, at rolegate.AsOf, f asOfFields) (resolvedAsOf, error) {
	var out resolvedAsOf
	err := s.store.Snapshot(ctx, func(tx Tx) error {
		ent, err := tx.GetEntity(entityID)
		if err != nil {
			if rolegate.IsNotFound(err) {
				return EntityNotFound(entityID)
			}
			return err
		}
		out.incarnation = ent.Incarnation
		start, err := tx.HistoryStart(entityID)
		if rolegate.IsNotFound(err) {
			return rolegate.Invalid("beyond_retention", f.time, "no history is kept for entity %q", entityID)
		}
		if err != nil {
			return err
		}
		if at.Revision > 0 {
			switch {
			case at.Revision > ent.Revision:
				return rolegate.Invalid("invalid_revision", f.revision, "%s is past the entity's revision (%d)", f.revision, ent.Revision)
			case at.Revision < start.Revision:
				return rolegate.Invalid("beyond_retention", f.revision, "%s is older than the history kept (from revision %d)", f.revision, start.Revision)
			}
			revs, err := tx.HistoryRevisions(entityID, []int64{at.Revision})
			if err != nil {
				return err
			}
			e, ok := revs[at.Revision]
			if !ok { // swept meanwhile
				return rolegate.Invalid("beyond_retention", f.revision, "%s is older than the history kept", f.revision)
			}
			out.rev, out.at = at.Revision, e.At
			return nil
		}
		if at.Time.Before(ent.CreatedAt) {
			return rolegate.Invalid("before_entity", f.time, "%s is before the entity was created (%s)", f.time, ent.CreatedAt.UTC().Format(time.RFC3339Nano))
		}
		if at.Time.Before(start.At) {
			return rolegate.Invalid("beyond_retention", f.time, "%s is older than the history kept (from %s)", f.time, start.At.UTC().Format(time.RFC3339Nano))
		}
		r, err := tx.HistoryRevisionAt(entityID, at.Time)
		if rolegate.IsNotFound(err) || (err == nil && r.Revision < start.Revision) {
			return rolegate.Invalid("beyond_retention", f.time, "%s is older than the history kept", f.time)
		}
		if err != nil {
			return err
		}
		out.rev, out.at = r.Revision, at.Time
		return nil
	})
	return out, err
}

// past returns the engine's view of the entity's policy at a resolved AsOf:
// built from the live policy when the engine holds it, undoing (or redoing)
// the rows the revisions between changed (read in one transaction, with the
// entity's creation time, which tells the engine whether its live policy is
// of this entity), or from the whole policy at that revision.
func (s *Service) past(ctx context.Context, entityID string, r resolvedAsOf) (*engine.Past, error) {
	if p := s.engine.HeldPast(entityID, r.incarnation, r.rev); p != nil {
		return p, nil
	}
	load := func(ctx context.Context) (engine.Policy, error) {
		var pol engine.Policy
		err := s.store.Snapshot(ctx, func(tx Tx) error {
			var err error
			pol, err = tx.PolicyAt(entityID, r.rev)
			return err
		})
		return pol, err
	}
	changes := func(ctx context.Context, from int64, limit int) (d engine.Delta, created time.Time, ok bool, err error) {
		err = s.store.Snapshot(ctx, func(tx Tx) error {
			ent, err := tx.GetEntity(entityID)
			if err != nil || ent.Incarnation != r.incarnation || from > ent.Revision {
				return err // another incarnation: loaded
			}
			// The rows a sweep removed were closed by the revisions before
			// the first kept: both revisions must be kept.
			start, err := tx.HistoryStart(entityID)
			if err != nil || min(from, r.rev) < start.Revision {
				return err
			}
			rows, all, err := tx.HistoryChanges(entityID, min(from, r.rev), max(from, r.rev), limit)
			if err != nil || !all {
				return err
			}
			if d, err = HistoryDelta(entityID, from, r.rev, rows); err != nil {
				return err
			}
			created, ok = ent.CreatedAt, true
			return nil
		})
		if rolegate.IsNotFound(err) { // gone meanwhile: the load says how
			return engine.Delta{}, time.Time{}, false, nil
		}
		return d, created, ok, err
	}
	p, err := s.engine.PastFrom(ctx, entityID, r.incarnation, r.rev, load, changes)
	if err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}

// authorizeHistory lets a caller read an entity's history: the audit log's
// right, besides what the live answer asks.
func (s *Service) authorizeHistory(ctx context.Context, entityID string) error {
	return s.authorize(ctx, entityID, auth.ScopeManage, ObjectAuditEvent, ActionRead)
}

// checkAt answers a validated, authorized check as of its AsOf.
func (s *Service) checkAt(ctx context.Context, req CheckRequest, prefix string) (engine.Decision, error) {
	deny := engine.Decision{Permission: rolegate.NotAllowed}
	if err := s.checkAsOf(req.AsOf, fieldsOf(prefix)); err != nil {
		return deny, err
	}
	if err := s.authorizeHistory(ctx, req.EntityID); err != nil {
		return deny, err
	}
	r, err := s.asOf(ctx, req.EntityID, req.AsOf, fieldsOf(prefix))
	if err != nil {
		return deny, err
	}
	p, err := s.past(ctx, req.EntityID, r)
	if err != nil {
		return deny, err
	}
	names := s.explainable(ctx, &req)
	d, err := p.Check(req.question(), r.at)
	if err != nil {
		return deny, unavailable(err)
	}
	if !names {
		hideRoleNames(&d)
	}
	return d, nil
}

// checkBatchAt answers the as-of checks of a validated, authorized batch
// (those whose index is in idx), each from the revision its AsOf names:
// the checks of one entity and revision share one past policy.
func (s *Service) checkBatchAt(ctx context.Context, reqs []CheckRequest, idx []int, out []engine.Decision) error {
	type key struct {
		entity string
		at     rolegate.AsOf
	}
	resolved := map[key]resolvedAsOf{}
	pasts := map[string]*engine.Past{}
	historyOK := map[string]bool{}
	for _, i := range idx {
		req := reqs[i]
		f := fieldsOf(fmt.Sprintf("checks[%d].", i))
		if err := s.checkAsOf(req.AsOf, f); err != nil {
			return err
		}
		if !historyOK[req.EntityID] {
			if err := s.authorizeHistory(ctx, req.EntityID); err != nil {
				return err
			}
			historyOK[req.EntityID] = true
		}
		k := key{req.EntityID, req.AsOf}
		r, ok := resolved[k]
		if !ok {
			var err error
			if r, err = s.asOf(ctx, req.EntityID, req.AsOf, f); err != nil {
				return err
			}
			resolved[k] = r
		}
		pk := req.EntityID + "\x00" + fmt.Sprint(r.rev)
		p := pasts[pk]
		if p == nil {
			var err error
			if p, err = s.past(ctx, req.EntityID, r); err != nil {
				return err
			}
			pasts[pk] = p
		}
		names := s.explainable(ctx, &req)
		d, err := p.Check(req.question(), r.at)
		if err != nil {
			return unavailable(err)
		}
		if !names {
			hideRoleNames(&d)
		}
		out[i] = d
	}
	return nil
}

// WhoCanAt is WhoCan over the policy at (the zero AsOf: now); it returns the
// holders and the revision answered from.
func (s *Service) WhoCanAt(ctx context.Context, at rolegate.AsOf, entityID, obj, act, scope, after string, limit int, resource map[string]any) ([]engine.Holder, int64, error) {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return nil, 0, err
	}
	resource, err := validWhoCan(obj, act, scope, resource)
	if err != nil {
		return nil, 0, err
	}
	if at.IsNow() {
		if err := s.known(ctx, entityID); err != nil {
			return nil, 0, err
		}
		hs, rev, err := s.engine.WhoCanResource(ctx, entityID, obj, act, scope, after, limit, resource)
		if err != nil {
			return nil, 0, unavailable(err)
		}
		return hs, rev, nil
	}
	if err := s.checkAsOf(at, fieldsOf("")); err != nil {
		return nil, 0, err
	}
	if err := s.authorizeHistory(ctx, entityID); err != nil {
		return nil, 0, err
	}
	r, err := s.asOf(ctx, entityID, at, fieldsOf(""))
	if err != nil {
		return nil, 0, err
	}
	p, err := s.past(ctx, entityID, r)
	if err != nil {
		return nil, 0, err
	}
	hs, err := p.WhoCan(ctx, r.at, obj, act, scope, after, limit, resource)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	return hs, r.rev, nil
}

// UserPermissionsAt is UserPermissions over the policy at; it returns the
// rights and the revision answered from. As of a past instant the user need
// not exist now: a user the history has never known is 404.
func (s *Service) UserPermissionsAt(ctx context.Context, at rolegate.AsOf, entityID, userID, scope string) (rolegate.Permissions, int64, error) {
	if at.IsNow() {
		if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
			return rolegate.Permissions{}, 0, err
		}
		if scope != "" && !ValidScope(scope) {
			return rolegate.Permissions{}, 0, invalidScope("scope")
		}
		if _, err := s.GetUser(ctx, entityID, userID); err != nil {
			return rolegate.Permissions{}, 0, err
		}
		p, rev, err := s.engine.Effective(ctx, entityID, userID, scope)
		if err != nil {
			return rolegate.Permissions{}, 0, unavailable(err)
		}
		return p, rev, nil
	}
	if err := s.authorize(ctx, entityID, auth.ScopeManage, ObjectUser, ActionRead); err != nil {
		return rolegate.Permissions{}, 0, err
	}
	if scope != "" && !ValidScope(scope) {
		return rolegate.Permissions{}, 0, invalidScope("scope")
	}
	if err := s.checkAsOf(at, fieldsOf("")); err != nil {
		return rolegate.Permissions{}, 0, err
	}
	if err := s.authorizeHistory(ctx, entityID); err != nil {
		return rolegate.Permissions{}, 0, err
	}
	r, err := s.asOf(ctx, entityID, at, fieldsOf(""))
	if err != nil {
		return rolegate.Permissions{}, 0, err
	}
	if err := s.knownUser(ctx, entityID, userID, scope); err != nil {
		return rolegate.Permissions{}, 0, err
	}
	p, err := s.past(ctx, entityID, r)
	if err != nil {
		return rolegate.Permissions{}, 0, err
	}
	return p.Effective(r.at, userID, scope), r.rev, nil
}

// knownUser answers 404 for a user that neither exists now nor appears in
// the entity's history (its subjects' rules).
func (s *Service) knownUser(ctx context.Context, entityID, userID, scope string) error {
	return s.store.View(ctx, func(tx Tx) error {
		_, err := tx.GetUser(entityID, userID)
		if !rolegate.IsNotFound(err) {
			return err
		}
		rows, err := tx.RuleHistory(entityID, userSubjects(userID, scope), 0, 0)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return userNotFound(userID)
		}
		return nil
	})
}

// userSubjects are a user's subjects in rules: its own, and inside scope
// when one is given (each the hash of a long one, as compiled).
func userSubjects(userID, scope string) []string {
	subs := []string{engine.UserSubject(userID)}
	if scope != "" {
		if ss := engine.ScopedSubject(scope, userID); ss != "" {
			subs = append(subs, ss)
		}
	}
	return subs
}

// AccessReportAt is AccessReport over the policy at. As of a past instant,
// the users are those the past policy gives rights to (a user deleted since
// included), in id order.
func (s *Service) AccessReportAt(ctx context.Context, at rolegate.AsOf, entityID string, header func(revision int64) error, emit func(engine.ReportRight) error) error {
	if at.IsNow() {
		return s.AccessReport(ctx, entityID, header, emit)
	}
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return err
	}
	if err := s.checkAsOf(at, fieldsOf("")); err != nil {
		return err
	}
	if err := s.authorizeHistory(ctx, entityID); err != nil {
		return err
	}
	r, err := s.asOf(ctx, entityID, at, fieldsOf(""))
	if err != nil {
		return err
	}
	p, err := s.past(ctx, entityID, r)
	if err != nil {
		return err
	}
	rep := p.Report(r.at)
	if err := header(rep.Revision()); err != nil {
		return err
	}
	for _, u := range p.Users() {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, right := range rep.UserRights(u) {
			if err := emit(right); err != nil {
				return err
			}
		}
	}
	return nil
}

// HistoryQuery asks a user's access history: the intervals during which it
// could do Action on ObjectType (inside Scope too, when set) between From
// and To (zero: since the history begins, until now).
type HistoryQuery struct {
	ObjectType string
	Action     string
	Scope      string
	From, To   time.Time
}
