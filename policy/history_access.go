package policy

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// A user's access history (issue 25): since when, through what, granted by
// whom. It costs the user's history, not the entity's: the rules of the
// user's subjects (its own rights and its assignments, entity-wide and
// inside the scope asked), then the rules and names of the roles those
// assignments named, read for the window only. The right is judged, with
// the engine's own code (engine.Judge) over a policy made of the rows in
// force, at each revision where one of those rows changes and at each
// instant inside the window where one of the user's assignments expires.
//
// An interval opens where the right starts to hold and closes where it stops
// or where what gives it (its value, condition, or the roles and scopes
// behind it) changes, a new interval then opening. Its From and To are the
// revision and instant of those points with the revision's actor, and
// Opened and Closed the audited change the revision was. A point that is no
// change, an expiry or the start of the window (when it falls after the
// revision then in force committed: the right was held before), has no
// change and no actor: its Revision is the one in force, its At the
// instant. An interval still held at the end of the window has no To.

// AccessHistory returns the intervals during which the user could do the
// query's action, oldest first, and the entity's current revision.
func (s *Service) AccessHistory(ctx context.Context, entityID, userID string, q HistoryQuery) ([]rolegate.AccessInterval, int64, error) {
	if err := s.authorizeReview(ctx, entityID); err != nil {
		return nil, 0, err
	}
	if err := validHistoryQuery(q, s.now()); err != nil {
		return nil, 0, err
	}
	if err := s.authorizeHistory(ctx, entityID); err != nil {
		return nil, 0, err
	}
	var (
		h   userHistory
		err error
	)
	err = s.store.Snapshot(ctx, func(tx Tx) error {
		h, err = readUserHistory(tx, entityID, userID, q, s.now())
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out, err := h.intervals(s.engine)
	if err != nil {
		return nil, 0, unavailable(err)
	}
	return out, h.current, nil
}

// validHistoryQuery checks an access-history question.
func validHistoryQuery(q HistoryQuery, now time.Time) error {
	switch {
	case q.ObjectType == "":
		return rolegate.Invalid("missing_field", "object_type", "object_type is required")
	case q.ObjectType == rolegate.Wildcard || !ValidObjectType(q.ObjectType):
		return rolegate.Invalid("invalid_object_type", "object_type", "object_type must be an object type such as payable (not *)")
	case q.Action == "":
		return rolegate.Invalid("missing_field", "action", "action is required")
	case q.Action == rolegate.Wildcard || !ValidIdent(q.Action):
		return rolegate.Invalid("invalid_action", "action", "action must be an action such as approve (not *)")
	case q.Scope != "" && !ValidScope(q.Scope):
		return invalidScope("scope")
	case !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To):
		return rolegate.Invalid("invalid_field", "from", "from must not be after to")
	case !q.From.IsZero() && q.From.After(now):
		return rolegate.Invalid("invalid_field", "from", "from must not be in the future")
	}
	return nil
}

// userHistory is what a user's access history is worked out from: the rows
// of its subjects and of the roles they named, over the window's
// revisions, and those revisions' commits.
type userHistory struct {
	entityID, userID string
	q                HistoryQuery
	current          int64
	fromRev, toRev   int64
	start, end       time.Time // the window; end zero: up to now
	now              time.Time
	rules            []HistoryRule // the user's subjects' and its roles'
	roles            []HistoryRole
	conds            map[string]string
	revs             map[int64]HistoryEntry
	expiries         []historyPoint // the assignments' expiries inside the window
}

// readUserHistory reads, in one snapshot of the store, what the user's
// access history is worked out from.
func readUserHistory(tx Tx, entityID, userID string, q HistoryQuery, now time.Time) (userHistory, error) {
	h := userHistory{entityID: entityID, userID: userID, q: q, now: now}
	ent, err := tx.GetEntity(entityID)
	if err != nil {
		if rolegate.IsNotFound(err) {
			return h, EntityNotFound(entityID)
		}
		return h, err
	}
	h.current = ent.Revision
	start, err := tx.HistoryStart(entityID)
	if rolegate.IsNotFound(err) {
		return h, rolegate.Invalid("beyond_retention", "from", "no history is kept for entity %q", entityID)
	}
	if err != nil {
		return h, err
	}
	subjects := userSubjects(userID, q.Scope)
	if _, err := tx.GetUser(entityID, userID); rolegate.IsNotFound(err) {
		all, err := tx.RuleHistory(entityID, subjects, 0, 0)
		if err != nil {
			return h, err
		}
		if len(all) == 0 {
			return h, userNotFound(userID)
		}
	} else if err != nil {
		return h, err
	}
	// The window, as revisions: the one in force at its start (the history's
	// first when it starts before), up to the one in force at its end.
	h.start, h.fromRev = start.At, start.Revision
	if !q.From.IsZero() && q.From.After(start.At) {
		r, err := tx.HistoryRevisionAt(entityID, q.From)
		if err != nil && !rolegate.IsNotFound(err) {
			return h, err
		}
		h.start, h.fromRev = q.From, max(r.Revision, start.Revision)
	} else if !q.From.IsZero() && !q.From.Before(ent.CreatedAt) && q.From.Before(start.At) {
		return h, rolegate.Invalid("beyond_retention", "from", "from is older than the history kept (from %s)", start.At.UTC().Format(time.RFC3339Nano))
	}
	h.toRev = ent.Revision
	if !q.To.IsZero() && q.To.Before(now) {
		h.end = q.To
		r, err := tx.HistoryRevisionAt(entityID, q.To)
		switch {
		case rolegate.IsNotFound(err) || (err == nil && r.Revision < h.fromRev):
			return h, rolegate.Invalid("beyond_retention", "to", "to is before the history kept (from %s)", start.At.UTC().Format(time.RFC3339Nano))
		case err != nil:
			return h, err
		}
		h.toRev = r.Revision
	}
	if h.rules, err = tx.RuleHistory(entityID, subjects, h.fromRev, h.toRev); err != nil {
		return h, err
	}
	var roleSubs, roleIDs []string
	for _, r := range h.rules {
		if r.Rule.PType == "g" && len(r.Rule.Values) >= 2 && !slices.Contains(roleSubs, r.Rule.Values[1]) {
			roleSubs = append(roleSubs, r.Rule.Values[1])
			roleIDs = append(roleIDs, strings.TrimPrefix(r.Rule.Values[1], "r:"))
		}
	}
	if len(roleSubs) > 0 {
		rs, err := tx.RuleHistory(entityID, roleSubs, h.fromRev, h.toRev)
		if err != nil {
			return h, err
		}
		for _, r := range rs {
			if r.Rule.PType == "p" {
				h.rules = append(h.rules, r)
			}
		}
		if h.roles, err = tx.RoleHistory(entityID, roleIDs, h.fromRev, h.toRev); err != nil {
			return h, err
		}
	}
	// Only the rights naming the question's object type and action (or
	// every one) can change the answer: the others are left out, so that
	// neither their changes nor their rules are judged.
	h.rules = slices.DeleteFunc(h.rules, func(r HistoryRule) bool {
		v := r.Rule.Values
		return r.Rule.PType == "p" && (len(v) < 4 || (v[2] != q.ObjectType && v[2] != rolegate.Wildcard) || (v[3] != q.Action && v[3] != rolegate.Wildcard))
	})
	if slices.ContainsFunc(h.rules, func(r HistoryRule) bool {
		return r.Rule.PType == "p" && len(r.Rule.Values) > 4 && strings.Contains(r.Rule.Values[4], ":")
	}) {
		if h.conds, err = tx.EntityConditions(entityID); err != nil {
			return h, err
		}
	}
	// The revisions where a row changes, and the window's first.
	revs := []int64{h.fromRev}
	note := func(r int64) {
		if r > h.fromRev && r <= h.toRev {
			revs = append(revs, r)
		}
	}
	for _, r := range h.rules {
		note(r.From)
		note(r.To)
	}
	for _, r := range h.roles {
		note(r.From)
		note(r.To)
	}
	slices.Sort(revs)
	revs = slices.Compact(revs)
	if h.revs, err = tx.HistoryRevisions(entityID, revs); err != nil {
		return h, err
	}
	// Each expiry inside the window is judged in the revision then in force.
	end := h.end
	if end.IsZero() {
		end = now
	}
	seen := map[time.Time]bool{}
	for _, r := range h.rules {
		at, ok := ruleExpiry(r.Rule)
		if !ok || !at.After(h.start) || at.After(end) || seen[at] {
			continue
		}
		seen[at] = true
		in, err := tx.HistoryRevisionAt(entityID, at)
		if err != nil {
			return h, err
		}
		h.expiries = append(h.expiries, historyPoint{rev: in.Revision, at: at})
	}
	return h, nil
}

// historyPoint is an instant the right is judged at: a revision where a row
// changes (change set), the window's start, or an expiry.
type historyPoint struct {
	rev    int64
	at     time.Time
	change bool
}

// points returns the instants to judge the right at, in time order.
func (h *userHistory) points() []historyPoint {
	var pts []historyPoint
	for rev, e := range h.revs {
		p := historyPoint{rev: rev, at: e.At, change: true}
		if rev == h.fromRev && h.start.After(e.At) {
			p.at, p.change = h.start, false // held, or not, before the window
		}
		pts = append(pts, p)
	}
	slices.SortFunc(pts, func(a, b historyPoint) int { return cmp.Compare(a.rev, b.rev) })
	pts = append(pts, h.expiries...)
	slices.SortStableFunc(pts, func(a, b historyPoint) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.rev, b.rev)
	})
	return pts
}

// ruleExpiry returns the instant a g rule's assignment expires, if it does.
func ruleExpiry(r rolegate.Rule) (time.Time, bool) {
	if r.PType != "g" || len(r.Values) != 4 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(r.Values[3], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// policyAt returns the small policy of the rows in force at rev.
func (h *userHistory) policyAt(rev int64) engine.Policy {
	pol := engine.Policy{Revision: rev, RoleNames: map[string]string{}, Conditions: h.conds}
	for _, r := range h.rules {
		if r.From <= rev && (r.To == 0 || rev < r.To) {
			pol.Rules = append(pol.Rules, r.Rule)
		}
	}
	for _, r := range h.roles {
		if r.Active && r.From <= rev && (r.To == 0 || rev < r.To) {
			pol.RoleNames[r.RoleID] = r.Name
		}
	}
	return pol
}

// heldVia turns the rights that give the right into roles and scopes: a
// role counts entity-wide when an entity-wide assignment of it is in force
// at the instant, else inside the scope asked.
func heldVia(pol engine.Policy, userID, scope string, at time.Time, via []engine.Match) []rolegate.HeldVia {
	wide := engine.UserSubject(userID)
	var out []rolegate.HeldVia
	for _, m := range via {
		v := rolegate.HeldVia{RoleID: m.RoleID, RoleName: m.RoleName}
		if m.RoleID != "" && scope != "" && !linkLive(pol, wide, engine.RoleSubject(m.RoleID), at) {
			v.Scope = scope
		}
		if !slices.ContainsFunc(out, func(o rolegate.HeldVia) bool { return o.RoleID == v.RoleID && o.Scope == v.Scope }) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b rolegate.HeldVia) int {
		return cmp.Or(strings.Compare(a.RoleID, b.RoleID), strings.Compare(a.Scope, b.Scope))
	})
	return out
}

// linkLive reports whether the policy links sub to role, unexpired at at.
func linkLive(pol engine.Policy, sub, role string, at time.Time) bool {
	for _, r := range pol.Rules {
		if r.PType != "g" || len(r.Values) < 2 || r.Values[0] != sub || r.Values[1] != role {
			continue
		}
		if exp, ok := ruleExpiry(r); !ok || at.Before(exp) {
			return true
		}
	}
	return false
}

// sameAccess reports whether two intervals' rights are given alike: value,
// condition, and the roles and scopes (not their names) behind it.
func sameAccess(a, b *rolegate.AccessInterval) bool {
	return a.Permission == b.Permission && a.Condition == b.Condition &&
		slices.EqualFunc(a.Via, b.Via, func(x, y rolegate.HeldVia) bool { return x.RoleID == y.RoleID && x.Scope == y.Scope })
}

// intervals judges the right at each point and returns the intervals.
func (h *userHistory) intervals(e *engine.Engine) ([]rolegate.AccessInterval, error) {
	var (
		out []rolegate.AccessInterval
		cur *rolegate.AccessInterval
	)
	for _, p := range h.points() {
		pol := h.policyAt(p.rev)
		perm, via, cond, err := e.Judge(h.entityID, pol, h.userID, h.q.Scope, h.q.ObjectType, h.q.Action, p.at)
		if err != nil {
			return nil, err
		}
		rev := rolegate.Revision{EntityID: h.entityID, Revision: p.rev, At: p.at}
		var change *rolegate.HistoryChange
		if e, ok := h.revs[p.rev]; ok && p.change {
			rev.Actor, change = e.Actor, e.Change
		}
		var next *rolegate.AccessInterval
		if perm == rolegate.Allowed || perm == rolegate.AllowedForOwn {
			next = &rolegate.AccessInterval{From: rev, Permission: perm, Condition: cond,
				Via: heldVia(pol, h.userID, h.q.Scope, p.at, via), Opened: change}
		}
		if cur != nil && next != nil && sameAccess(cur, next) {
			continue
		}
		if cur != nil {
			to := rev
			cur.To, cur.Closed = &to, change
			out = append(out, *cur)
		}
		cur = next
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out, nil
}
