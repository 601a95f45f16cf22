package engine

import (
	"container/list"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rolegate/rolegate"
)

// Answers from a past policy (issue 25). The service resolves an as-of
// instant to the revision then in force and asks Past for it: a snapshot
// built from that revision's policy (the same build as a live load), kept in
// a small cache bounded by count and by the rules the snapshots hold, so
// that the next question about that revision costs what a live one does. A
// past snapshot is never installed as the entity's live one.
//
// Each answer reads the past snapshot at the as-of instant (a view: the
// snapshot with its clock set to that instant): expiring assignments count
// as they stood then, and conditions reading now see it. The views share
// the snapshot's units, indexes and decision table; a decision cached by one
// instant serves another only when the assignments live at both are the
// same (its key holds the earliest expiry ahead, as a live one's does), and
// conditional answers are never cached.

// Past is an entity's policy at one past revision.
type Past struct {
	e *Engine
	s *snapshot
}

// The defaults of the past snapshots' cache (Config.MaxPast,
// Config.MaxPastRules), and the size of each one's decision table.
const (
	defaultMaxPast      = 8
	defaultMaxPastRules = 1_000_000
	pastDecisions       = 4096
)

// pastCache holds the past snapshots built, least recently used first out.
type pastCache struct {
	mu       sync.Mutex
	maxCount int
	maxRules int
	rules    int
	order    *list.List // of *pastEntry, most recently used at the front
	byKey    map[pastKey]*list.Element
}

// pastKey names a past snapshot: the entity, its incarnation (an entity
// deleted and created again under one id has another history) and the
// revision. A struct, so that finding one held allocates nothing.
type pastKey struct {
	entity, incarnation string
	rev                 int64
}

type pastEntry struct {
	key   pastKey
	s     *snapshot
	rules int
}

func newPastCache(maxCount, maxRules int) *pastCache {
	if maxCount == 0 {
		maxCount = defaultMaxPast
	}
	if maxRules == 0 {
		maxRules = defaultMaxPastRules
	}
	return &pastCache{maxCount: maxCount, maxRules: maxRules, order: list.New(), byKey: map[pastKey]*list.Element{}}
}

func (c *pastCache) get(key pastKey) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*pastEntry).s
}

// put keeps s (holding rules rules), dropping the least recently used until
// the bounds hold; it returns the snapshots dropped (their tables go back to
// the budget). A snapshot larger than the rules' bound alone is not kept.
func (c *pastCache) put(key pastKey, s *snapshot, rules int) (dropped []*snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxCount < 0 || rules > c.maxRules {
		return []*snapshot{s}
	}
	if el, ok := c.byKey[key]; ok { // built twice: keep the first
		c.order.MoveToFront(el)
		return []*snapshot{s}
	}
	c.byKey[key] = c.order.PushFront(&pastEntry{key: key, s: s, rules: rules})
	c.rules += rules
	for c.order.Len() > c.maxCount || c.rules > c.maxRules {
		el := c.order.Back()
		pe := el.Value.(*pastEntry)
		c.order.Remove(el)
		delete(c.byKey, pe.key)
		c.rules -= pe.rules
		dropped = append(dropped, pe.s)
	}
	return dropped
}

// forget drops every past snapshot of an entity.
func (c *pastCache) forget(entityID string) (dropped []*snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if pe := el.Value.(*pastEntry); pe.s.entityID == entityID {
			c.order.Remove(el)
			delete(c.byKey, pe.key)
			c.rules -= pe.rules
			dropped = append(dropped, pe.s)
		}
		el = next
	}
	return dropped
}

func (c *pastCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Past returns the entity's policy at revision rev, built from what load
// returns (the store's policy at that revision) unless the cache holds it.
// incarnation tells apart an entity deleted and created again under one id
// (rolegate.Entity.Incarnation): the cache key holds it. Concurrent first
// uses of one revision share one load.
func (e *Engine) Past(ctx context.Context, entityID, incarnation string, rev int64, load func(context.Context) (Policy, error)) (*Past, error) {
	return e.PastFrom(ctx, entityID, incarnation, rev, load, nil)
}

// HeldPast returns the entity's policy at revision rev if a past snapshot
// of it is held (nil if not): what Past answers without building anything,
// for callers that would otherwise make its loaders on every question.
func (e *Engine) HeldPast(entityID, incarnation string, rev int64) *Past {
	if s := e.past.get(pastKey{entity: entityID, incarnation: incarnation, rev: rev}); s != nil {
		return &Past{e: e, s: s}
	}
	return nil
}

// PastFrom is Past, building the past snapshot from the entity's live one
// (loaded if not held) when changes is not nil: the live snapshot with the
// revisions between undone (or redone) costs what changed since, not what
// the entity holds (past_live.go). When that cannot be, or too much
// changed, it loads the past policy.
func (e *Engine) PastFrom(ctx context.Context, entityID, incarnation string, rev int64, load func(context.Context) (Policy, error), changes PastChanges) (*Past, error) {
	if rev < 1 {
		return nil, fmt.Errorf("entity %q: no revision %d", entityID, rev)
	}
	key := pastKey{entity: entityID, incarnation: incarnation, rev: rev}
	if s := e.past.get(key); s != nil {
		return &Past{e: e, s: s}, nil
	}
	flight := "past\x00" + entityID + "\x00" + incarnation + "\x00" + strconv.FormatInt(rev, 10)
	ch := e.flights.DoChan(flight, func() (any, error) {
		if s := e.past.get(key); s != nil {
			return s, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.loadTimeout)
		defer cancel()
		s, rules, err := e.pastFromLive(lctx, entityID, rev, changes)
		if err != nil {
			return nil, err
		}
		if s == nil {
			pol, err := load(lctx)
			if err != nil {
				return nil, err
			}
			if pol.Revision != rev {
				return nil, fmt.Errorf("entity %q: the policy of revision %d was asked, %d was loaded", entityID, rev, pol.Revision)
			}
			if s, err = e.build(entityID, pol); err != nil {
				return nil, err
			}
			rules = len(pol.Rules)
		}
		s.exists, s.engine = true, e
		if e.maxDecisions >= 0 {
			t := newDecisionTable(pastDecisions)
			e.tableUsed.Add(int64(t.size()))
			s.decisions.Store(t)
		}
		s.grants() // built once, shared by every view
		for _, d := range e.past.put(key, s, rules) {
			e.release(d)
		}
		return s, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return &Past{e: e, s: r.Val.(*snapshot)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ForgetPast drops the past snapshots of an entity held (an entity deleted:
// its history goes with it).
func (e *Engine) ForgetPast(entityID string) {
	for _, d := range e.past.forget(entityID) {
		e.release(d)
	}
}

// Revision is the revision of the policy p answers from.
func (p *Past) Revision() int64 { return p.s.revision }

// at returns a view of the snapshot read at the instant t: it shares every
// part of the snapshot, its decision table and its grant index; its clock
// is t.
func (s *snapshot) at(t time.Time) *snapshot {
	if t.IsZero() {
		t = time.UnixMilli(0) // the zero instant, not the engine's clock
	}
	// Questions about one instant come together (an audit's batch, a
	// who-can's pages): the last view made serves them all.
	if v := s.lastView.Load(); v != nil && v.asOf.Equal(t) {
		return v
	}
	v := &snapshot{entityID: s.entityID, revision: s.revision, created: s.created, exists: s.exists,
		units: s.units, links: s.links, roleNames: s.roleNames, hashed: s.hashed, expiry: s.expiry,
		conds: s.conds, attrs: s.attrs, engine: s.engine, asOf: t}
	v.decisions.Store(s.decisions.Load())
	v.released.Store(true) // the table is the snapshot's: a view never grows it
	v.grantIdx.Store(s.grants())
	s.lastView.Store(v)
	return v
}

// Check answers a question as the policy stood at the instant at: the
// decision code of a live check over the past snapshot. The answer's
// ValidUntil is the instant it was given, so that no copy of it kept
// elsewhere (a client's cache, which keys answers by the question without
// the instant) is used again. MinRevision does not apply.
func (p *Past) Check(req Request, at time.Time) (Decision, error) {
	d, err := p.e.decide(p.s.at(at), req)
	d.ValidUntil = p.e.now().UnixMilli()
	return d, err
}

// CheckBatch answers several questions about the entity, each at its own
// instant (ats[i] for reqs[i]), in order.
func (p *Past) CheckBatch(reqs []Request, ats []time.Time) ([]Decision, []error) {
	out := make([]Decision, len(reqs))
	errs := make([]error, len(reqs))
	var v *snapshot
	for i, req := range reqs {
		if v == nil || !v.asOf.Equal(ats[i]) {
			v = p.s.at(ats[i])
		}
		out[i], errs[i] = p.e.decide(v, req)
		out[i].ValidUntil = p.e.now().UnixMilli()
	}
	return out, errs
}

// WhoCan is WhoCanResource over the past policy, at the instant at.
func (p *Past) WhoCan(ctx context.Context, at time.Time, obj, act, scope, after string, limit int, resource map[string]any) ([]Holder, error) {
	return p.s.at(at).whoCan(ctx, obj, act, scope, after, limit, resource)
}

// Effective is a user's effective rights (Effective) in the past policy, at
// the instant at.
func (p *Past) Effective(at time.Time, userID, scope string) rolegate.Permissions {
	return p.s.at(at).permissions(userID, scope, 0)
}

// Report reads the past policy at the instant at for an access review.
func (p *Past) Report(at time.Time) *Report { return p.s.at(at).report() }

// Judge says what a small policy (the rules of a user's subjects and of the
// roles they hold, as a history keeps them) gives the user on act over obj
// (inside scope too, when given) at the instant at: the effective-rights
// code of who-can over a snapshot of that policy. p is allowed or
// allowed_for_own when the user may, with the rights that give it (via) and
// the condition under which it holds ("" for none); via's matches carry the
// role ids of pol.RoleNames' names.
func (e *Engine) Judge(entityID string, pol Policy, userID, scope, obj, act string, at time.Time) (p rolegate.Permission, via []Match, cond string, err error) {
	s, err := e.build(entityID, pol)
	if err != nil {
		return rolegate.NotAllowed, nil, "", err
	}
	s.exists, s.engine = true, e
	if at.IsZero() {
		at = time.UnixMilli(0)
	}
	s.asOf = at
	ssub := ""
	if scope != "" {
		ssub = ScopedSubject(scope, userID)
	}
	p, via, cond = s.judge(s.subjects(UserSubject(userID), ssub), obj, act, nil).holding()
	return p, via, cond, nil
}

// Users returns, sorted, the users the past policy names: those holding
// rights of their own or roles (entity-wide or inside a scope), a hashed
// subject by the name the policy gives it.
func (p *Past) Users() []string {
	seen := map[string]struct{}{}
	p.s.units.each(func(sub string, _ *unit) {
		if u := p.s.userOfSubject(sub); u != "" {
			seen[u] = struct{}{}
		}
	})
	p.s.links.each(func(link string, _ []string) {
		if u, _ := p.s.linkUser(link); u != "" {
			seen[u] = struct{}{}
		}
	})
	return slices.Sorted(maps.Keys(seen))
}
