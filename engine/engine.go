package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2/model"
	"golang.org/x/sync/singleflight"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// Loader reads one entity's stored policy; the store implements it.
type Loader interface {
	// LoadPolicy returns rolegate.ErrNotFound for an unknown entity.
	LoadPolicy(ctx context.Context, entityID string) (Policy, error)
}

// Policy is one entity's compiled policy as stored.
type Policy struct {
	Revision int64
	// Created tells apart an entity deleted and created again under one id.
	Created   time.Time
	Rules     []rolegate.Rule
	RoleNames map[string]string // role id -> name, active roles only
	// Hashed names the user (and scope) behind each hashed subject of the
	// rules (u#..., s#...), so that who-can, dry runs and reports can list
	// them; a loader may leave out subjects no rule holds.
	Hashed map[string]HashedName
	// Conditions are the sources of the conditions the rules name, by
	// their hash (ConditionHash); a loader may hold more than the rules name.
	Conditions map[string]string
	// Attributes are the users' attributes (rolegate.User.Attributes) by
	// user id, for those that have any.
	Attributes map[string]map[string]any
}

// Config configures an Engine.
type Config struct {
	Model  string // the text of model.conf
	Loader Loader // where entities' policies come from
	// MaxEntities bounds how many entities are held in memory; the least
	// recently used go first and reload on demand. 0 means 100,000.
	MaxEntities int
	// MaxDecisions bounds the decisions cached over all entities (16 bytes
	// each). An entity's cache holds 256, doubling up to 65,536 while its
	// answers overwrite each other and the budget allows. 0 means 4,000,000
	// (about 64 MiB); negative disables the cache.
	MaxDecisions int
	// LoadTimeout bounds loading one entity. 0 means 10 s.
	LoadTimeout time.Duration
	// StaleWait bounds how long a check with a MinRevision newer than the
	// policy held waits for this instance to catch up (reloading the entity)
	// before it fails with stale_policy. 0 means 2 s.
	StaleWait time.Duration
	// Now is the clock expiring assignments are judged by; nil is
	// time.Now (tests set another).
	Now func() time.Time
	// MaxPast and MaxPastRules bound the past policies held for answers as
	// of a past instant (past.go): how many, and the rules they hold
	// together (the large tenant, 220,000 rules, holds about 30 MiB with its
	// grant index). 0 means 8 and 1,000,000; a negative MaxPast holds none.
	MaxPast      int
	MaxPastRules int
}

// Stats are counters for operators.
type Stats struct {
	Loaded  int64 // entities held now
	Loads   int64 // policy loads since start (first uses and reloads)
	Reloads int64 // full reloads of a held entity after a change (Refresh)
	// Deltas counts the changes applied to a held entity without reloading it
	// (a write's delta, here or read from the change log).
	Deltas     int64
	LoadErrors int64 // loads that failed
	Evictions  int64
	// Checks counts the checks answered since start by deciding value
	// (allowed, allowed_for_own, denied, not_allowed).
	Checks map[rolegate.Permission]int64
	// CheckErrors counts the checks that failed (answered as a deny with an
	// error, such as a policy that cannot be loaded).
	CheckErrors int64
	// DecisionCapacity is how many decisions the held entities' caches hold
	// at most, together.
	DecisionCapacity int64
	// Unknown is how many entity ids are remembered as not existing (at most
	// MaxEntities, and 10,000): they hold no policy and no decisions.
	Unknown int64
}

// decisionValues are the deciding values, in the order of Engine.checks.
var decisionValues = [...]rolegate.Permission{rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}

// counter is an atomic counter alone on its cache line, so that cores
// counting different things do not contend.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// Engine holds each entity's policy as an immutable snapshot (see the package
// comment): a change installs a new one, so checks take no locks.
type Engine struct {
	modelText    string
	loader       Loader
	maxEntities  int
	maxDecisions int
	loadTimeout  time.Duration
	staleWait    time.Duration
	now          func() time.Time

	entities *entityMap // entity id -> *slot
	unknown  *unknownSet
	count    atomic.Int64
	gen      atomic.Uint64
	flights  singleflight.Group
	evictMu  sync.Mutex

	loads      atomic.Int64
	reloads    atomic.Int64
	deltas     atomic.Int64
	loadErrors atomic.Int64
	evictions  atomic.Int64
	// checks counts answers by deciding value (decisionValues' order).
	checks      [len(decisionValues)]counter
	checkErrors counter
	// deciders are pooled Casbin enforcers of the model (see decider).
	deciders sync.Pool
	// enforceOnly has deciders call Casbin's Enforce rather than their
	// compiled matcher (matcher.go): the reference the tests compare with.
	enforceOnly bool
	// tableUsed is the decisions the held snapshots' tables hold, against
	// maxDecisions.
	tableUsed atomic.Int64
	// condCache shares compiled conditions between entities and snapshots.
	condCache *condition.Cache
	// past holds the past policies built for answers as of an instant.
	past *pastCache
}

// slot holds one entity's current snapshot. A slot removed from the map is
// orphaned: loads that started before keep installing into it, unseen.
type slot struct {
	gen      uint64
	snap     atomic.Pointer[snapshot]
	lastUsed atomic.Int64
	counted  atomic.Bool // counted among the entities held (unknown.go)
}

// New checks the model and returns an engine.
func New(cfg Config) (*Engine, error) {
	if _, err := model.NewModelFromString(cfg.Model); err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e := &Engine{entities: newEntityMap(), modelText: cfg.Model, loader: cfg.Loader, maxEntities: cfg.MaxEntities,
		maxDecisions: cfg.MaxDecisions, loadTimeout: cfg.LoadTimeout, staleWait: cfg.StaleWait, now: cfg.Now,
		condCache: condition.NewCache(maxCachedConditions), past: newPastCache(cfg.MaxPast, cfg.MaxPastRules)}
	if e.now == nil {
		e.now = time.Now
	}
	if e.maxEntities <= 0 {
		e.maxEntities = 100_000
	}
	e.unknown = newUnknownSet(e.maxEntities)
	if e.maxDecisions == 0 {
		e.maxDecisions = 4_000_000
	}
	if e.loadTimeout <= 0 {
		e.loadTimeout = 10 * time.Second
	}
	if e.staleWait <= 0 {
		e.staleWait = 2 * time.Second
	}
	return e, nil
}

// Check answers one question. On any error the decision is a deny.
func (e *Engine) Check(ctx context.Context, req Request) (Decision, error) {
	s, err := e.snapshot(ctx, req.EntityID)
	if err == nil && s.revision < req.MinRevision {
		s, err = e.catchUp(ctx, req.EntityID, req.MinRevision)
	}
	if err != nil {
		e.checkErrors.Add(1)
		return Decision{Permission: rolegate.NotAllowed}, err
	}
	return e.decide(s, req)
}

// decide answers a question from the entity's snapshot s, and counts it.
func (e *Engine) decide(s *snapshot, req Request) (Decision, error) {
	d, err := s.check(req)
	if err != nil {
		e.checkErrors.Add(1)
		return d, err
	}
	if req.Explain {
		s.explainRefusal(req, &d)
	}
	e.countDecision(d.Permission)
	return d, nil
}

// countDecision counts one answer by its deciding value.
func (e *Engine) countDecision(p rolegate.Permission) {
	for i, v := range decisionValues {
		if v == p {
			e.checks[i].Add(1)
			return
		}
	}
}

// Held returns the revision of the entity's policy held in memory, without
// loading it; held is false when the entity is not in memory. An entity whose
// first load is under way is held at revision 0 (so that a change heard
// meanwhile reloads it).
func (e *Engine) Held(entityID string) (revision int64, held bool) {
	sl, ok := e.entities.load(entityID)
	if !ok {
		return 0, e.unknown.has(entityID) // known not to exist: held at revision 0
	}
	if s := sl.snap.Load(); s != nil {
		return s.revision, true
	}
	return 0, true
}

// Revision returns the revision of the entity's policy held in memory,
// loading it if needed.
func (e *Engine) Revision(ctx context.Context, entityID string) (int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return 0, err
	}
	return s.revision, nil
}

// Forget drops an entity's policy from memory (it reloads on demand).
func (e *Engine) Forget(entityID string) {
	e.unknown.mu.Lock()
	sl, ok := e.entities.delete(entityID)
	e.unknown.removeLocked(entityID)
	e.unknown.mu.Unlock()
	if ok {
		e.uncount(sl)
		e.release(sl.snap.Load())
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{Loaded: e.count.Load(), Loads: e.loads.Load(), Reloads: e.reloads.Load(), Deltas: e.deltas.Load(),
		LoadErrors: e.loadErrors.Load(), Evictions: e.evictions.Load(),
		Checks: make(map[rolegate.Permission]int64, len(decisionValues)), CheckErrors: e.checkErrors.Load(),
		DecisionCapacity: e.tableUsed.Load(), Unknown: int64(e.unknown.len())}
	for i, v := range decisionValues {
		st.Checks[v] = e.checks[i].Load()
	}
	return st
}

// Loaded returns the ids and revisions of the entities held in memory.
func (e *Engine) Loaded() map[string]int64 {
	out := map[string]int64{}
	e.entities.each(func(id string, sl *slot) {
		if s := sl.snap.Load(); s != nil {
			out[id] = s.revision
		}
	})
	e.unknown.each(func(id string) { out[id] = 0 })
	return out
}

// snapshot returns the entity's current snapshot, loading it on first use.
// Concurrent first uses share one load.
func (e *Engine) snapshot(ctx context.Context, entityID string) (*snapshot, error) {
	now := time.Now().UnixNano()
	if sl, ok := e.entities.load(entityID); ok {
		if now-sl.lastUsed.Load() > int64(time.Millisecond) {
			sl.lastUsed.Store(now)
		}
		if s := sl.snap.Load(); s != nil {
			return s, nil
		}
		return e.loadInto(ctx, sl, entityID)
	}
	if e.unknown.has(entityID) {
		return missing, nil
	}
	// The slot counts among the entities held once its load finds the entity.
	sl := &slot{gen: e.gen.Add(1)}
	sl.lastUsed.Store(now)
	if cur, loaded := e.entities.loadOrStore(entityID, sl); loaded {
		sl = cur
	}
	return e.loadInto(ctx, sl, entityID)
}

func (e *Engine) loadInto(ctx context.Context, sl *slot, entityID string) (*snapshot, error) {
	key := entityID + "\x00" + strconv.FormatUint(sl.gen, 10)
	ch := e.flights.DoChan(key, func() (any, error) {
		if s := sl.snap.Load(); s != nil {
			return s, nil
		}
		// The load is shared: one caller's cancellation must not fail the others.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.loadTimeout)
		defer cancel()
		s, err := e.load(lctx, entityID)
		if err != nil {
			if sl.snap.Load() == nil {
				e.entities.compareAndDelete(entityID, sl) // the next check tries afresh
			}
			return nil, err
		}
		if !s.exists && sl.snap.Load() == nil {
			e.settleUnknown(entityID, sl)
			return s, nil
		}
		cur := e.install(sl, s)
		e.counted(entityID, sl)
		return cur, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*snapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// install puts s into the slot unless the slot already holds a newer policy,
// and returns what the slot holds afterwards.
func (e *Engine) install(sl *slot, s *snapshot) *snapshot {
	for {
		cur := sl.snap.Load()
		if cur != nil && cur.revision > s.revision {
			e.release(s)
			return cur
		}
		if sl.snap.CompareAndSwap(cur, s) {
			e.release(cur)
			return s
		}
	}
}

// evict drops the least recently used tenth of the entities held once there
// are more than allowed.
func (e *Engine) evict() {
	if !e.evictMu.TryLock() {
		return // another goroutine is evicting
	}
	defer e.evictMu.Unlock()
	type aged struct {
		id   string
		sl   *slot
		used int64
	}
	var all []aged
	e.entities.each(func(id string, sl *slot) {
		if sl.counted.Load() {
			all = append(all, aged{id, sl, sl.lastUsed.Load()})
		}
	})
	excess := len(all) - e.maxEntities
	if excess <= 0 {
		return
	}
	n := excess + e.maxEntities/10
	if n > len(all) {
		n = len(all)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used < all[j].used })
	for _, a := range all[:n] {
		if e.entities.compareAndDelete(a.id, a.sl) {
			e.uncount(a.sl)
			e.release(a.sl.snap.Load())
			e.evictions.Add(1)
		}
	}
}

// load reads an entity's policy from the store and builds its snapshot. An
// unknown entity gets an empty snapshot: every check on it is a deny.
func (e *Engine) load(ctx context.Context, entityID string) (*snapshot, error) {
	e.loads.Add(1)
	pol, err := e.loader.LoadPolicy(ctx, entityID)
	exists := true
	if err != nil {
		if !rolegate.IsNotFound(err) {
			e.loadErrors.Add(1)
			return nil, fmt.Errorf("load policy of entity %q: %w", entityID, err)
		}
		exists = false
	}
	s, err := e.build(entityID, pol)
	if err == nil {
		if exists { // an unknown entity's checks never reach a table
			s.decisions.Store(e.newTable())
		}
		s.engine = e
	}
	if err != nil {
		e.loadErrors.Add(1)
		return nil, err
	}
	s.exists = exists
	return s, nil
}
