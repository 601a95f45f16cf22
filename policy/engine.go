package policy

import (
	"context"
	"fmt"
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
	// MaxDecisions bounds the decisions cached over all entities, shared out
	// evenly among the entities held (at least 64, at most 65,536 each). 0
	// means 1,000,000 (about 150 MiB); negative disables the cache.
	MaxDecisions int
	// LoadTimeout bounds loading one entity. 0 means 10 s.
	LoadTimeout time.Duration
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
}

// Decision is the answer to a check. Permission is the deciding value:
// denied when a deny matched, allowed or allowed_for_own when allowed,
// not_allowed when nothing matched. Matched is set when explained.
type Decision struct {
	Allowed    bool
	Permission Permission
	Revision   int64
	Matched    []Match
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
	Loaded     int64 // entities held now
	Loads      int64 // policy loads since start (first uses and reloads)
	Reloads    int64 // reloads of a held entity after a change (Refresh)
	LoadErrors int64 // loads that failed
	Evictions  int64
	// Checks counts the checks answered since start by deciding value
	// (allowed, allowed_for_own, denied, not_allowed).
	Checks map[Permission]int64
	// CheckErrors counts the checks that failed (answered as a deny with an
	// error, such as a policy that cannot be loaded).
	CheckErrors int64
}

// decisionValues are the deciding values, in the order of Engine.checks.
var decisionValues = [...]Permission{Allowed, AllowedForOwn, Denied, NotAllowed}

// counter is an atomic counter alone on its cache line, so that cores
// counting different things do not contend.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// Engine answers checks from one Casbin enforcer per entity. Each entity's
// enforcer is built from that entity's rules only, on first use, and replaced
// as a whole (never mutated) when the policy changes, so checks run without
// locks against an immutable snapshot.
type Engine struct {
	modelText    string
	loader       PolicyLoader
	maxEntities  int
	maxDecisions int
	loadTimeout  time.Duration

	entities sync.Map // entity id -> *slot
	count    atomic.Int64
	gen      atomic.Uint64
	flights  singleflight.Group
	evictMu  sync.Mutex

	loads      atomic.Int64
	reloads    atomic.Int64
	loadErrors atomic.Int64
	evictions  atomic.Int64
	// checks counts answers by deciding value (decisionValues' order).
	checks      [len(decisionValues)]counter
	checkErrors counter
}

// slot holds one entity's current snapshot. A slot removed from the map is
// orphaned: loads that started before keep installing into it, unseen.
type slot struct {
	gen      uint64
	snap     atomic.Pointer[snapshot]
	lastUsed atomic.Int64
}

// snapshot is one entity's policy at one revision: immutable once built.
type snapshot struct {
	entityID  string
	revision  int64
	exists    bool
	modelText string
	// shards split the p rules by object type: the shard of a type holds its
	// rules and the wildcard ones; fallback holds only the wildcard ones.
	// Casbin evaluates the matcher once per rule, so a check scans one
	// shard, not the whole entity. Each shard's enforcer is built on first use.
	shards    map[string]*shard
	fallback  *shard
	grules    [][]string
	roleNames map[string]string // role id -> name
	rights    map[string][]Rule // subject -> its p rules
	links     map[string][]string
	// decisions caches answers this snapshot's enforcer gave; it goes with
	// the snapshot, so no answer outlives the policy that gave it.
	decisions sync.Map
	cached    atomic.Int64
}

// shard is the rules of one object type and, once built, their enforcer.
type shard struct {
	rules [][]string
	once  sync.Once
	enf   *casbin.Enforcer
	err   error
}

// enforcer builds the shard's enforcer on first use.
func (s *snapshot) enforcer(sh *shard) (*casbin.Enforcer, error) {
	sh.once.Do(func() {
		m, err := model.NewModelFromString(s.modelText)
		if err != nil {
			sh.err = err
			return
		}
		if len(sh.rules) > 0 {
			if err := m.AddPolicies("p", "p", sh.rules); err != nil {
				sh.err = err
				return
			}
		}
		if len(s.grules) > 0 {
			if err := m.AddPolicies("g", "g", s.grules); err != nil {
				sh.err = err
				return
			}
		}
		enf, err := casbin.NewEnforcer(m)
		if err != nil {
			sh.err = err
			return
		}
		if err := enf.BuildRoleLinks(); err != nil {
			sh.err = err
			return
		}
		sh.enf = enf
	})
	if sh.err != nil {
		return nil, fmt.Errorf("entity %q: enforcer: %w", s.entityID, sh.err)
	}
	return sh.enf, nil
}

type cachedDecision struct {
	allowed    bool
	permission Permission
}

// NewEngine checks the model and returns an engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if _, err := model.NewModelFromString(cfg.Model); err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e := &Engine{modelText: cfg.Model, loader: cfg.Loader, maxEntities: cfg.MaxEntities,
		maxDecisions: cfg.MaxDecisions, loadTimeout: cfg.LoadTimeout}
	if e.maxEntities <= 0 {
		e.maxEntities = 100_000
	}
	if e.maxDecisions == 0 {
		e.maxDecisions = 1_000_000
	}
	if e.loadTimeout <= 0 {
		e.loadTimeout = 10 * time.Second
	}
	return e, nil
}

// Check answers one question. On any error the decision is a deny.
func (e *Engine) Check(ctx context.Context, req CheckRequest) (Decision, error) {
	s, err := e.snapshot(ctx, req.EntityID)
	if err != nil {
		e.checkErrors.Add(1)
		return Decision{Permission: NotAllowed}, err
	}
	d, err := s.check(req, e.decisionCap())
	if err != nil {
		e.checkErrors.Add(1)
		return d, err
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

// decisionCap is how many decisions one entity may cache now.
func (e *Engine) decisionCap() int {
	if e.maxDecisions < 0 {
		return 0
	}
	n := e.maxDecisions / int(max(1, e.count.Load()))
	return min(max(n, 64), 65536)
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

// Refresh reloads an entity's policy if it is held, after a committed write.
// A policy older than the one held is never installed. An entity not held is
// left to load on its next check.
func (e *Engine) Refresh(ctx context.Context, entityID string) error {
	v, ok := e.entities.Load(entityID)
	if !ok {
		return nil
	}
	sl := v.(*slot)
	e.reloads.Add(1)
	s, err := e.load(ctx, entityID)
	if err != nil {
		// The held policy is now older than the store's: drop it so that the
		// next check loads afresh rather than answering from it.
		e.Forget(entityID)
		return err
	}
	e.install(sl, s)
	return nil
}

// Forget drops an entity's policy from memory (it reloads on demand).
func (e *Engine) Forget(entityID string) {
	if _, ok := e.entities.LoadAndDelete(entityID); ok {
		e.count.Add(-1)
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	st := EngineStats{Loaded: e.count.Load(), Loads: e.loads.Load(), Reloads: e.reloads.Load(),
		LoadErrors: e.loadErrors.Load(), Evictions: e.evictions.Load(),
		Checks: make(map[Permission]int64, len(decisionValues)), CheckErrors: e.checkErrors.Load()}
	for i, v := range decisionValues {
		st.Checks[v] = e.checks[i].Load()
	}
	return st
}

// Loaded returns the ids and revisions of the entities held in memory.
func (e *Engine) Loaded() map[string]int64 {
	out := map[string]int64{}
	e.entities.Range(func(k, v any) bool {
		if s := v.(*slot).snap.Load(); s != nil {
			out[k.(string)] = s.revision
		}
		return true
	})
	return out
}

// snapshot returns the entity's current snapshot, loading it on first use.
// Concurrent first uses share one load.
func (e *Engine) snapshot(ctx context.Context, entityID string) (*snapshot, error) {
	now := time.Now().UnixNano()
	if v, ok := e.entities.Load(entityID); ok {
		sl := v.(*slot)
		if now-sl.lastUsed.Load() > int64(time.Millisecond) {
			sl.lastUsed.Store(now)
		}
		if s := sl.snap.Load(); s != nil {
			return s, nil
		}
		return e.loadInto(ctx, sl, entityID)
	}
	sl := &slot{gen: e.gen.Add(1)}
	sl.lastUsed.Store(now)
	if v, loaded := e.entities.LoadOrStore(entityID, sl); loaded {
		sl = v.(*slot)
	} else if e.count.Add(1) > int64(e.maxEntities) {
		e.evict()
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
			return nil, err
		}
		return e.install(sl, s), nil
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
			return cur
		}
		if sl.snap.CompareAndSwap(cur, s) {
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
	e.entities.Range(func(k, v any) bool {
		sl := v.(*slot)
		all = append(all, aged{k.(string), sl, sl.lastUsed.Load()})
		return true
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
		if e.entities.CompareAndDelete(a.id, a.sl) {
			e.count.Add(-1)
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
	if err != nil {
		e.loadErrors.Add(1)
		return nil, err
	}
	s.exists = exists
	return s, nil
}

// build makes a snapshot from an entity's rules. Enforcers are built per
// object type on first use.
func (e *Engine) build(entityID string, pol EntityPolicy) (*snapshot, error) {
	s := &snapshot{entityID: entityID, revision: pol.Revision, roleNames: pol.RoleNames, modelText: e.modelText,
		rights: map[string][]Rule{}, links: map[string][]string{}, shards: map[string]*shard{}, fallback: &shard{}}
	var wild [][]string
	for _, r := range pol.Rules {
		switch {
		case r.PType == "p" && len(r.Values) == 6:
			s.rights[r.Values[0]] = append(s.rights[r.Values[0]], r)
			if r.Values[2] == Wildcard {
				wild = append(wild, r.Values)
				continue
			}
			sh := s.shards[r.Values[2]]
			if sh == nil {
				sh = &shard{}
				s.shards[r.Values[2]] = sh
			}
			sh.rules = append(sh.rules, r.Values)
		case r.PType == "g" && len(r.Values) == 3:
			s.grules = append(s.grules, r.Values)
			s.links[r.Values[0]] = append(s.links[r.Values[0]], r.Values[1])
		default:
			return nil, fmt.Errorf("entity %q: malformed rule %q", entityID, r.String())
		}
	}
	for _, sh := range s.shards {
		sh.rules = append(sh.rules, wild...)
	}
	s.fallback.rules = wild
	return s, nil
}

// check answers one question from the snapshot: the decision is Casbin's,
// cached per snapshot; the deciding value and the explanation come from the
// rules that matched.
func (s *snapshot) check(req CheckRequest, maxDecisions int) (Decision, error) {
	d := Decision{Revision: s.revision, Permission: NotAllowed}
	if !s.exists {
		return d, nil
	}
	sub := UserSubject(req.UserID)
	ssub := ""
	if req.Scope != "" {
		ssub = ScopedSubject(req.Scope, req.UserID)
	}
	owner := ""
	if req.OwnerID != "" {
		owner = UserSubject(req.OwnerID)
	}
	var key string
	if maxDecisions > 0 {
		key = sub + "\x00" + ssub + "\x00" + req.ObjectType + "\x00" + req.Action + "\x00" + owner
		if !req.Explain {
			if v, ok := s.decisions.Load(key); ok {
				c := v.(cachedDecision)
				d.Allowed, d.Permission = c.allowed, c.permission
				return d, nil
			}
		}
	}
	sh := s.shards[req.ObjectType]
	if sh == nil {
		sh = s.fallback
	}
	allowed := false
	if len(sh.rules) > 0 {
		enf, err := s.enforcer(sh)
		if err == nil {
			allowed, err = enf.Enforce(sub, ssub, s.entityID, req.ObjectType, req.Action, owner)
		}
		if err != nil {
			return Decision{Permission: NotAllowed, Revision: s.revision}, fmt.Errorf("enforce: %w", err)
		}
	}
	matched := s.matches(sub, ssub, req.ObjectType, req.Action, owner)
	d.Allowed = allowed
	d.Permission = deciding(allowed, matched)
	if req.Explain {
		d.Matched = matched
		if d.Matched == nil {
			d.Matched = []Match{}
		}
	}
	if maxDecisions > 0 && s.cached.Load() < int64(maxDecisions) {
		if _, loaded := s.decisions.LoadOrStore(key, cachedDecision{allowed, d.Permission}); !loaded {
			s.cached.Add(1)
		}
	}
	return d, nil
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
	out := []string{sub}
	out = append(out, s.links[sub]...)
	if ssub != "" {
		out = append(out, s.links[ssub]...)
	}
	return out
}

// matches lists the rights that match a request.
func (s *snapshot) matches(sub, ssub, obj, act, owner string) []Match {
	var out []Match
	seen := map[Match]bool{}
	for _, subject := range s.subjects(sub, ssub) {
		for _, r := range s.rights[subject] {
			v := r.Values
			if (v[2] != Wildcard && v[2] != obj) || (v[3] != Wildcard && v[3] != act) {
				continue
			}
			if v[4] == CondOwn && owner != sub {
				continue
			}
			m := Match{RoleID: roleIDOf(subject), Permission: rulePermission(r)}
			m.RoleName = s.roleNames[m.RoleID]
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
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
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return Permissions{}, 0, err
	}
	sub := UserSubject(userID)
	ssub := ""
	if scope != "" {
		ssub = ScopedSubject(scope, userID)
	}
	type pair struct{ obj, act string }
	values := map[pair]Permission{}
	var denies []pair
	for _, subject := range s.subjects(sub, ssub) {
		for _, r := range s.rights[subject] {
			p := pair{r.Values[2], r.Values[3]}
			v := rulePermission(r)
			if v == Denied {
				denies = append(denies, p)
			}
			if rank(v) > rank(values[p]) {
				values[p] = v
			}
		}
	}
	for p, v := range values {
		for _, d := range denies {
			if v != Denied && (d.obj == Wildcard || d.obj == p.obj) && (d.act == Wildcard || d.act == p.act) {
				values[p] = Denied
			}
		}
	}
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
