package policy

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"golang.org/x/sync/singleflight"
)

// PolicyLoader reads one entity's stored policy. Store implements it.
type PolicyLoader interface {
	// LoadPolicy returns ErrNotFound for an unknown entity.
	LoadPolicy(ctx context.Context, entityID string) (EntityPolicy, error)
}

// EngineConfig configures an Engine.
type EngineConfig struct {
	Model  string       // the text of model.conf
	Loader PolicyLoader // where entities' policies come from
	// MaxEntities bounds how many entities are held in memory; the least
	// recently used go first and reload on demand. 0 means 100,000.
	MaxEntities int
	// MaxDecisions bounds the decisions cached over all entities. Each
	// entity's cache starts at 256 decisions and doubles (up to 65,536) when
	// its questions keep overwriting each other, while the budget allows;
	// every entity keeps at least its first 256. One decision takes 16 bytes.
	// 0 means 4,000,000 (about 64 MiB); negative disables the cache.
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
}

// CheckRequest is one question: may UserID do Action on ObjectType in
// EntityID? OwnerID is who owns the object (for allowed_for_own); Scope
// counts the user's assignments inside that scope too.
type CheckRequest struct {
	EntityID   string
	UserID     string
	ObjectType string
	Action     string
	OwnerID    string
	Scope      string
	Explain    bool
	// MinRevision, when positive, is the oldest revision of the entity's
	// policy the answer may come from (a revision a write returned): an
	// older policy held is reloaded first, and the check fails with
	// stale_policy rather than answer from it.
	MinRevision int64
}

// Decision is the answer to a check. Permission is the deciding value:
// denied when a deny matched, allowed or allowed_for_own when allowed,
// not_allowed when nothing matched. Matched is set when explained.
type Decision struct {
	Allowed    bool
	Permission Permission
	Revision   int64
	Matched    []Match
	// On an explained refusal (whocan.go): DeniedBy are the denying rights
	// when denied; GrantableBy the roles whose assignment would allow it when
	// not_allowed.
	DeniedBy    []Match
	GrantableBy []Match
	// ValidUntil is the earliest expiry (Unix ms) of the user's assignments
	// still ahead that the answer may depend on, 0 when none: a copy of the
	// answer kept elsewhere (a client's cache) must not be used from then on.
	ValidUntil int64
}

// Match is one right that matched a check: from a role, or held by the user
// directly (RoleID empty).
type Match struct {
	RoleID     string
	RoleName   string
	Permission Permission
}

// EngineStats are counters for operators.
type EngineStats struct {
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
	Checks map[Permission]int64
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
var decisionValues = [...]Permission{Allowed, AllowedForOwn, Denied, NotAllowed}

// counter is an atomic counter alone on its cache line, so that cores
// counting different things do not contend.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// Engine answers checks with Casbin over an entity's rules, loaded on first
// use and held per entity as a snapshot of units (one per role and per user
// with own rights) and a user -> roles index. A check asks Casbin over the
// units of the subjects the user holds only. A snapshot is never mutated: a
// change (a reload, or a delta applied) installs a new one sharing what it
// did not touch, so checks run without locks against an immutable snapshot.
type Engine struct {
	modelText    string
	loader       PolicyLoader
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
	// tableUsed is the decisions the held snapshots' tables hold, against
	// maxDecisions.
	tableUsed atomic.Int64
}

// slot holds one entity's current snapshot. A slot removed from the map is
// orphaned: loads that started before keep installing into it, unseen.
type slot struct {
	gen      uint64
	snap     atomic.Pointer[snapshot]
	lastUsed atomic.Int64
	counted  atomic.Bool // counted among the entities held (unknown.go)
}

// snapshot is one entity's policy at one revision: immutable once built. A
// change makes a new snapshot that shares every unit and index bucket it does
// not touch (copy-on-write).
type snapshot struct {
	entityID string
	revision int64
	created  time.Time // when the entity was created (EntityPolicy.Created)
	exists   bool
	// units holds each subject's p rules (r:<role>, u:<user>) in its own
	// small unit, indexed by object type. A check gathers only the units of
	// the subjects the user holds, for the object type asked and wildcards,
	// and lets Casbin decide over those rules: it costs what the user holds,
	// not what the entity holds.
	units *pmap[*unit]
	// links are the entity's g rules: u:<user> or s:<scope>|<user> -> the
	// role subjects it holds.
	links     *pmap[[]string]
	roleNames *pmap[string] // role id -> name, active roles
	// expiry holds the expiring assignments (expiry.go): link and role ->
	// when it stops counting, in Unix milliseconds.
	expiry *pmap[int64]
	// decisions caches answers this snapshot gave; it goes with the
	// snapshot, so no answer outlives the policy that gave it.
	decisions atomic.Pointer[decisionTable]
	released  atomic.Bool // its table was given back to the budget
	engine    *Engine
	// grantIdx indexes who names an object type and who holds a role
	// (grants.go): built on first use, carried over by deltas.
	grantIdx atomic.Pointer[grantIndex]
}

// unit is one subject's p rules, grouped by object type (Wildcard: the rules
// for every object type).
type unit struct {
	rules []Rule
	byObj map[string][][]string
}

func newUnit(rules []Rule) *unit {
	u := &unit{rules: rules, byObj: make(map[string][][]string, 4)}
	for _, r := range rules {
		u.byObj[r.Values[2]] = append(u.byObj[r.Values[2]], r.Values)
	}
	return u
}

// decider is one Casbin enforcer of model.conf whose p rules are set, for one
// check at a time, to the rules gathered from the units of the subjects the
// user holds. holds(a, b) is g(a, b, dom) answered from that user's own g
// rules: a is b, or a g rule links a to b (roles hold no roles, so one level).
// Deciders are pooled: each serves one check at a time.
type decider struct {
	enf       *casbin.Enforcer
	policy    *model.Assertion
	sub, ssub string
	subRoles  []string
	ssubRoles []string
	buf       [][]string
}

func (d *decider) holds(args ...any) (any, error) {
	if len(args) != 2 {
		return false, fmt.Errorf("holds takes 2 arguments, not %d", len(args))
	}
	a, _ := args[0].(string)
	b, _ := args[1].(string)
	if a == "" {
		return false, nil
	}
	if a == b {
		return true, nil
	}
	var roles []string
	switch a {
	case d.sub:
		roles = d.subRoles
	case d.ssub:
		roles = d.ssubRoles
	}
	for _, role := range roles {
		if role == b {
			return true, nil
		}
	}
	return false, nil
}

// newDecider builds a decider of the engine's model.
func (e *Engine) newDecider() (*decider, error) {
	m, err := model.NewModelFromString(e.modelText)
	if err != nil {
		return nil, err
	}
	enf, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	d := &decider{enf: enf, policy: m["p"]["p"]}
	enf.AddFunction("holds", d.holds)
	return d, nil
}

// decisionTable is a fixed-size cache of decisions, safe for concurrent use
// without locks: buckets of four entries (one cache line), a question being
// known by two independent 64-bit hashes of its fields, seeded per process so
// that nobody can aim at a collision. The first hash picks the bucket and must
// equal an entry's first word; the second (its low byte replaced by the
// decision) must equal that entry's second word. A new answer takes a free
// entry of its bucket or overwrites one. A torn pair of words from concurrent
// writers matches no question, so the worst a race costs is a miss.
type decisionTable struct {
	buckets []decisionBucket
	mask    uint64
	// overwrites counts answers that pushed another out; many of them mean
	// the table is too small for the entity's questions.
	overwrites atomic.Int64
}

type decisionBucket [4]decisionEntry

type decisionEntry struct{ h1, h2 atomic.Uint64 }

// decisionKey is what a decision depends on besides the policy.
type decisionKey struct {
	user, scope, obj, act, owner string
	epoch                        int64 // the earliest expiry the answer depends on (0: none)
}

var decisionSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// The decisions as stored in an entry's low byte; 0 is an empty entry.
var decisionCodes = [...]Permission{1: Allowed, 2: AllowedForOwn, 3: Denied, 4: NotAllowed}

// newDecisionTable holds about capacity decisions (rounded up to a power of
// two of buckets).
func newDecisionTable(capacity int) *decisionTable {
	n := 1
	for n*len(decisionBucket{}) < capacity {
		n <<= 1
	}
	return &decisionTable{buckets: make([]decisionBucket, n), mask: uint64(n - 1)}
}

func (t *decisionTable) size() int {
	if t == nil {
		return 0
	}
	return len(t.buckets) * len(decisionBucket{})
}

// The sizes of an entity's decision table.
const (
	minDecisions = 256
	maxDecisions = 65536
)

// newTable makes the first decision table of a snapshot being built, counted
// against the budget until release.
func (e *Engine) newTable() *decisionTable { return e.tableLike(nil) }

// tableLike makes an empty decision table for a snapshot replacing one whose
// table is prev: as large as prev (the entity's questions needed it) when the
// budget allows, else of the first size.
func (e *Engine) tableLike(prev *decisionTable) *decisionTable {
	if e.maxDecisions < 0 {
		return nil
	}
	if n := prev.size(); n > minDecisions {
		if e.tableUsed.Add(int64(n)) <= int64(e.maxDecisions) {
			return newDecisionTable(n)
		}
		e.tableUsed.Add(-int64(n))
	}
	t := newDecisionTable(minDecisions)
	e.tableUsed.Add(int64(t.size()))
	return t
}

// grow replaces a snapshot's table t, whose answers keep overwriting each
// other, by one twice its size when the budget allows. The new table starts
// empty: answers are cheap to ask again, and dropping them keeps it simple.
func (e *Engine) grow(s *snapshot, t *decisionTable) {
	n := 2 * t.size()
	if n > maxDecisions || s.released.Load() {
		return
	}
	if e.tableUsed.Add(int64(n)) > int64(e.maxDecisions) {
		e.tableUsed.Add(-int64(n))
		t.overwrites.Store(0) // try again after as many overwrites
		return
	}
	if !s.decisions.CompareAndSwap(t, newDecisionTable(n)) {
		e.tableUsed.Add(-int64(n))
		return
	}
	e.tableUsed.Add(-int64(t.size()))
}

// release gives a dropped snapshot's decision table back to the budget, once.
// A table grown after this is not counted: grow gives up on released snapshots.
func (e *Engine) release(s *snapshot) {
	if s != nil && s.released.CompareAndSwap(false, true) {
		e.tableUsed.Add(-int64(s.decisions.Load().size()))
	}
}

func hashes(k decisionKey) (uint64, uint64) {
	return maphash.Comparable(decisionSeeds[0], k), maphash.Comparable(decisionSeeds[1], k) &^ 0xff
}

// get returns the cached decision of a question, if any.
func (t *decisionTable) get(h1, h2 uint64) (allowed bool, p Permission, ok bool) {
	if t == nil {
		return false, "", false
	}
	b := &t.buckets[h1&t.mask]
	for i := range b {
		if b[i].h1.Load() != h1 {
			continue
		}
		w := b[i].h2.Load()
		code := w & 0xff
		if w&^0xff != h2 || code == 0 || code >= uint64(len(decisionCodes)) {
			continue
		}
		p = decisionCodes[code]
		return p == Allowed || p == AllowedForOwn, p, true
	}
	return false, "", false
}

// put caches a decision and reports whether it pushed another one out.
func (t *decisionTable) put(h1, h2 uint64, p Permission) (overwrote bool) {
	if t == nil {
		return false
	}
	code := uint64(0)
	for i, v := range decisionCodes {
		if v == p && i > 0 {
			code = uint64(i)
		}
	}
	if code == 0 {
		return false
	}
	b := &t.buckets[h1&t.mask]
	victim := &b[(h2>>8)&3] // a full bucket loses a pseudo-random entry
	overwrote = true
	for i := range b {
		if b[i].h2.Load() == 0 {
			victim, overwrote = &b[i], false
			break
		}
	}
	victim.h2.Store(0) // never a moment where the entry pairs h1 with an old answer
	victim.h1.Store(h1)
	victim.h2.Store(h2 | code)
	return overwrote
}

// NewEngine checks the model and returns an engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if _, err := model.NewModelFromString(cfg.Model); err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e := &Engine{entities: newEntityMap(), modelText: cfg.Model, loader: cfg.Loader, maxEntities: cfg.MaxEntities,
		maxDecisions: cfg.MaxDecisions, loadTimeout: cfg.LoadTimeout, staleWait: cfg.StaleWait, now: cfg.Now}
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
func (e *Engine) Check(ctx context.Context, req CheckRequest) (Decision, error) {
	s, err := e.snapshot(ctx, req.EntityID)
	if err == nil && s.revision < req.MinRevision {
		s, err = e.catchUp(ctx, req.EntityID, req.MinRevision)
	}
	if err != nil {
		e.checkErrors.Add(1)
		return Decision{Permission: NotAllowed}, err
	}
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
func (e *Engine) countDecision(p Permission) {
	for i, v := range decisionValues {
		if v == p {
			e.checks[i].Add(1)
			return
		}
	}
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

// Refresh brings an entity's policy up to date if it is held, after a
// committed write: by applying the change log's entries after the revision
// held when the store keeps a log that reaches back, else by reloading it in
// full. A policy older than the one held is never installed. An entity not held is
// left to load on its next check; one that no longer exists is dropped.
func (e *Engine) Refresh(ctx context.Context, entityID string) error {
	sl, ok := e.entities.load(entityID)
	if !ok {
		if !e.unknown.remove(entityID) {
			return nil
		}
		// Held as unknown, as at revision 0: it may exist now.
		e.reloads.Add(1)
		_, err := e.snapshot(ctx, entityID)
		return err
	}
	if cur := sl.snap.Load(); cur != nil {
		if next, _ := e.catchUpFromLog(ctx, cur); next != nil {
			if next == cur || e.swap(sl, cur, next) {
				e.deltas.Add(next.revision - cur.revision)
				return nil
			}
			if s := sl.snap.Load(); s != nil && s.revision >= next.revision {
				return nil // another catch-up got there
			}
		}
	}
	e.reloads.Add(1)
	s, err := e.load(ctx, entityID)
	if err != nil {
		// The held policy is now older than the store's: drop it so that the
		// next check loads afresh rather than answering from it.
		e.Forget(entityID)
		return err
	}
	if !s.exists {
		// Deleted: the policy held (of a revision > 0) would win over the
		// "unknown entity" one (revision 0), so drop it instead.
		e.release(s)
		e.Forget(entityID)
		return nil
	}
	e.install(sl, s)
	return nil
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

// catchUp reloads an entity whose policy held is older than want, waiting up
// to the engine's StaleWait for the store to show it (another instance's write
// may not be visible yet to this one's reads). Concurrent waiters share the
// reloads; each reload starts after the previous one ended, so none answers
// from a load that began before the write it waits for.
func (e *Engine) catchUp(ctx context.Context, entityID string, want int64) (*snapshot, error) {
	wctx, cancel := context.WithTimeout(ctx, e.staleWait)
	defer cancel()
	held, _ := e.Held(entityID)
	delay := 10 * time.Millisecond
	for {
		ch := e.flights.DoChan("catch-up\x00"+entityID, func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.staleWait)
			defer cancel()
			return nil, e.Refresh(lctx, entityID)
		})
		select {
		case <-ch:
		case <-wctx.Done():
			return nil, stalePolicy(entityID, held, want)
		}
		s, err := e.snapshot(wctx, entityID)
		if err == nil {
			if s.revision >= want {
				return s, nil
			}
			held = s.revision
		}
		select {
		case <-time.After(delay):
		case <-wctx.Done():
			return nil, stalePolicy(entityID, held, want)
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// stalePolicy is the 503 of a check that asked for a newer policy than this
// instance could reach in time.
func stalePolicy(entityID string, held, want int64) error {
	return Errorf(KindUnavailable, "stale_policy",
		"this instance holds revision %d of entity %q, not yet %d; try again", held, entityID, want)
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
func (e *Engine) Stats() EngineStats {
	st := EngineStats{Loaded: e.count.Load(), Loads: e.loads.Load(), Reloads: e.reloads.Load(), Deltas: e.deltas.Load(),
		LoadErrors: e.loadErrors.Load(), Evictions: e.evictions.Load(),
		Checks: make(map[Permission]int64, len(decisionValues)), CheckErrors: e.checkErrors.Load(),
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
		if !isNotFound(err) {
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

// build makes a snapshot from an entity's rules, in one pass over them: the
// p rules grouped into one unit per subject, the g rules into the user index.
func (e *Engine) build(entityID string, pol EntityPolicy) (*snapshot, error) {
	s := &snapshot{entityID: entityID, revision: pol.Revision, created: pol.Created}
	rights := map[string][]Rule{}
	ng := 0
	for _, r := range pol.Rules {
		if r.PType == "g" {
			ng++
		}
	}
	// Users hold a few roles each: about half as many users as g rules.
	links := sizedPmap[[]string](ng / 2)
	// The rules of the units and the role ids repeat the same strings: keep
	// one copy of each. (A g rule's user becomes a key of links, kept once
	// as it is.)
	in := make(interner, 256)
	// A user's g rules mostly come one after the other: its roles are
	// gathered, then put once, cut from a shared block.
	var (
		user    string
		pending bool
		held    []string
		block   []string
	)
	flush := func() {
		if !pending {
			return
		}
		if len(block)+len(held) > cap(block) {
			block = make([]string, 0, max(4096, len(held)))
		}
		i := len(block)
		block = append(block, held...)
		links.merge(user, block[i:len(block):len(block)], func(prev, roles []string) []string {
			for _, r := range roles { // rules of the user seen before
				prev = appendOnce(prev, r)
			}
			return prev
		})
		held, pending = held[:0], false
	}
	var expiry map[string]int64
	for _, r := range pol.Rules {
		switch {
		case r.PType == "p" && len(r.Values) == 6:
			in.rule(r)
			rights[r.Values[0]] = append(rights[r.Values[0]], r)
		case r.PType == "g" && validLink(r):
			if !pending || r.Values[0] != user {
				flush()
				user, pending = r.Values[0], true
			}
			held = appendOnce(held, in.of(r.Values[1]))
			if at, ok := linkExpiry(r); ok {
				if expiry == nil {
					expiry = map[string]int64{}
				}
				expiry[expiryKey(r.Values[0], r.Values[1])] = at
			}
		default:
			return nil, fmt.Errorf("entity %q: malformed rule %q", entityID, r.String())
		}
	}
	flush()
	units := sizedPmap[*unit](len(rights))
	for sub, rs := range rights {
		units.put(sub, newUnit(rs))
	}
	names := make(map[string]string, len(pol.RoleNames))
	for id, n := range pol.RoleNames {
		names[id] = n
	}
	s.units, s.links, s.roleNames = units, links, newPmap(names)
	if expiry != nil {
		s.expiry = newPmap(expiry)
	}
	return s, nil
}

// interner keeps one copy of each string rules repeat.
type interner map[string]string

func (in interner) rule(r Rule) {
	for i, v := range r.Values {
		r.Values[i] = in.of(v)
	}
}

func (in interner) of(v string) string {
	if c, ok := in[v]; ok {
		return c
	}
	in[v] = v
	return v
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// check answers one question from the snapshot: the decision is Casbin's, over
// the rules of the units of the subjects the user holds (its own, its roles
// entity-wide and inside the scope) for the object type and wildcards, cached
// per snapshot; the deciding value and the explanation come from the rules
// that matched.
func (s *snapshot) check(req CheckRequest) (Decision, error) {
	d := Decision{Revision: s.revision, Permission: NotAllowed}
	if !s.exists {
		return d, nil
	}
	now := int64(0)
	var epoch int64
	if s.expiry.len() > 0 {
		// A cached answer is good until the earliest expiry it depends on:
		// that expiry is part of its key, so that once it passes the key
		// changes and the answer is asked again.
		now = s.clock()
		epoch = s.epoch(req.UserID, req.Scope, now)
		d.ValidUntil = epoch
	}
	h1, h2 := hashes(decisionKey{req.UserID, req.Scope, req.ObjectType, req.Action, req.OwnerID, epoch})
	if !req.Explain {
		if allowed, p, ok := s.decisions.Load().get(h1, h2); ok {
			d.Allowed, d.Permission = allowed, p
			return d, nil
		}
	}
	dc, err := s.engine.decider()
	if err != nil {
		return d, fmt.Errorf("entity %q: enforcer: %w", s.entityID, err)
	}
	defer s.engine.deciders.Put(dc)
	dc.sub = UserSubject(req.UserID)
	dc.ssub = ""
	if req.Scope != "" {
		dc.ssub = ScopedSubject(req.Scope, req.UserID)
	}
	owner := ""
	if req.OwnerID != "" {
		owner = UserSubject(req.OwnerID)
	}
	dc.subRoles, _ = s.links.get(dc.sub)
	dc.subRoles = s.live(dc.sub, dc.subRoles, now)
	dc.ssubRoles = nil
	if dc.ssub != "" {
		dc.ssubRoles, _ = s.links.get(dc.ssub)
		dc.ssubRoles = s.live(dc.ssub, dc.ssubRoles, now)
	}
	rules := s.gather(dc.buf[:0], req.ObjectType, dc.sub, dc.subRoles, dc.ssubRoles)
	defer func() {
		clear(rules)
		dc.buf = rules[:0]
		dc.subRoles, dc.ssubRoles = nil, nil
	}()
	allowed := false
	if len(rules) > 0 {
		dc.policy.Policy = rules
		allowed, err = dc.enf.Enforce(dc.sub, dc.ssub, s.entityID, req.ObjectType, req.Action, owner)
		dc.policy.Policy = nil
		if err != nil {
			return d, fmt.Errorf("enforce: %w", err)
		}
	}
	matched := s.matches(rules, dc.sub, req.ObjectType, req.Action, owner)
	d.Allowed = allowed
	d.Permission = deciding(allowed, matched)
	if req.Explain {
		d.Matched = matched
		if d.Matched == nil {
			d.Matched = []Match{}
		}
	}
	if t := s.decisions.Load(); t.put(h1, h2, d.Permission) && t.overwrites.Add(1) > int64(t.size()) {
		s.engine.grow(s, t)
	}
	return d, nil
}

// decider takes a pooled decider, building one when none is free.
func (e *Engine) decider() (*decider, error) {
	if d, ok := e.deciders.Get().(*decider); ok {
		return d, nil
	}
	return e.newDecider()
}

// gather appends the rules of the subjects' units that can match an object
// type: those naming it and the wildcard ones.
func (s *snapshot) gather(out [][]string, obj, sub string, roleLists ...[]string) [][]string {
	add := func(subject string) {
		u, ok := s.units.get(subject)
		if !ok {
			return
		}
		out = append(out, u.byObj[obj]...)
		if obj != Wildcard {
			out = append(out, u.byObj[Wildcard]...)
		}
	}
	add(sub)
	for _, roles := range roleLists {
		for _, r := range roles {
			add(r)
		}
	}
	return out
}

// deciding names the value that decided: denied beats allowed beats
// allowed_for_own; the Casbin decision has the last word.
func deciding(allowed bool, matched []Match) Permission {
	var any, own, deny bool
	for _, m := range matched {
		switch m.Permission {
		case Allowed:
			any = true
		case AllowedForOwn:
			own = true
		case Denied:
			deny = true
		}
	}
	switch {
	case allowed && any:
		return Allowed
	case allowed && own:
		return AllowedForOwn
	case allowed:
		return Allowed
	case deny:
		return Denied
	}
	return NotAllowed
}

// subjects returns the subjects whose rights a user holds in a check: the
// user's own and its roles', entity-wide and inside the scope.
func (s *snapshot) subjects(sub, ssub string) []string {
	now := int64(0)
	if s.expiry.len() > 0 {
		now = s.clock()
	}
	return s.subjectsAt(sub, ssub, now)
}

// subjectsAt is subjects as they will be at now (Unix ms): the assignments
// expired by then do not count.
func (s *snapshot) subjectsAt(sub, ssub string, now int64) []string {
	out := []string{sub}
	roles, _ := s.links.get(sub)
	out = append(out, s.live(sub, roles, now)...)
	if ssub != "" {
		roles, _ = s.links.get(ssub)
		out = append(out, s.live(ssub, roles, now)...)
	}
	return out
}

// matches lists the rights among the gathered rules that match a request.
func (s *snapshot) matches(rules [][]string, sub, obj, act, owner string) []Match {
	var out []Match
	for _, v := range rules {
		if (v[2] != Wildcard && v[2] != obj) || (v[3] != Wildcard && v[3] != act) {
			continue
		}
		if v[4] == CondOwn && owner != sub {
			continue
		}
		m := Match{RoleID: roleIDOf(v[0]), Permission: rulePermission(Rule{Values: v})}
		m.RoleName, _ = s.roleNames.get(m.RoleID)
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RoleName != out[j].RoleName {
			return out[i].RoleName < out[j].RoleName
		}
		if out[i].RoleID != out[j].RoleID {
			return out[i].RoleID < out[j].RoleID
		}
		return out[i].Permission < out[j].Permission
	})
	return out
}

func rulePermission(r Rule) Permission {
	switch {
	case r.Values[5] == EftDeny:
		return Denied
	case r.Values[4] == CondOwn:
		return AllowedForOwn
	}
	return Allowed
}

// Effective returns a user's effective rights in an entity, in the role
// permissions shape: every (object type, action) any of the user's roles or own
// rights names, with its value after deny-override. Scope adds the user's
// assignments inside it.
func (e *Engine) Effective(ctx context.Context, entityID, userID, scope string) (Permissions, int64, error) {
	return e.EffectiveAt(ctx, entityID, userID, scope, 0)
}

// EffectiveAt is Effective as the user's rights will be at the instant at
// (Unix ms; 0: now), when the assignments expiring before it no longer count:
// what the escalation guard reads to know whether a right given until then
// (math.MaxInt64: for good) is held that long.
func (e *Engine) EffectiveAt(ctx context.Context, entityID, userID, scope string, at int64) (Permissions, int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return Permissions{}, 0, err
	}
	sub := UserSubject(userID)
	ssub := ""
	if scope != "" {
		ssub = ScopedSubject(scope, userID)
	}
	subjects := s.subjects(sub, ssub)
	if at != 0 {
		subjects = s.subjectsAt(sub, ssub, at)
	}
	values := s.effective(subjects)
	byObj := map[string][]ActionPermission{}
	for p, v := range values {
		byObj[p.obj] = append(byObj[p.obj], ActionPermission{ActionName: p.act, Permission: v})
	}
	var out Permissions
	for obj, acts := range byObj {
		sort.Slice(acts, func(i, j int) bool { return acts[i].ActionName < acts[j].ActionName })
		out.Objects = append(out.Objects, ObjectPermissions{ObjectType: obj, Actions: acts})
	}
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].ObjectType < out.Objects[j].ObjectType })
	return out, s.revision, nil
}

func rank(p Permission) int {
	switch p {
	case Denied:
		return 3
	case Allowed:
		return 2
	case AllowedForOwn:
		return 1
	}
	return 0
}
