package engine

import (
	"context"
	"math/bits"
	"slices"
	"strings"

	"github.com/rolegate/rolegate"
)

// Separation of duties (rolegate.Constraint): which users hold two or more
// of a constraint's rights. A constraint's right is held when the value the
// user's subjects give that very (object type, action) after deny-override
// is allowed or allowed_for_own, under a condition or not (judge, holding:
// as who-can and effective rights read it): a wildcard right holds every
// right it covers, and an unconditional deny that covers a right (itself a
// wildcard or not) masks it. A user is read entity-wide (its own rights and
// entity-wide roles) and in each scope it holds roles in (the scoped roles
// with the entity-wide ones); a scope whose held rights of a constraint are
// those held entity-wide adds no violation of its own. A violation's Rights
// are in the constraint's order, and shared by the violations read from
// the same roles: read only.

// Violations returns the violations of cs that applying d (a write recorded
// at revision rev, as DryRun takes it) would create: for each user the delta
// touches (as DryRun finds them: holders of a changed role, users whose own
// rights or assignments change), entity-wide and in each scope the user
// holds roles in, the constraints of which the user would hold two or more
// rights and did not hold them all before. Exceptions are not looked at (the
// caller filters). It costs what the write touches, not the entity.
func (e *Engine) Violations(ctx context.Context, entityID string, rev int64, d Delta, cs []rolegate.Constraint) ([]rolegate.Violation, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	s, next, err := e.dryRunSnapshots(ctx, entityID, rev, d)
	if err != nil {
		return nil, err
	}
	rs := newSodRights(cs)
	before, after := newSodReader(s, rs), newSodReader(next, rs)
	// Each touched user, entity-wide and in the scopes touched.
	type pair struct{ user, scope string }
	seen := map[pair]bool{}
	var todo []pair
	for link := range touchedLinks(s, next, d) {
		u, scope := next.linkUser(link)
		if u == "" {
			u, scope = s.linkUser(link)
		}
		if u == "" {
			continue
		}
		for _, p := range []pair{{u, scope}, {u, ""}} {
			if !seen[p] {
				seen[p] = true
				todo = append(todo, p)
			}
		}
	}
	var hits []sodHit
	for n, p := range todo {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		now := after.held(p.user, p.scope)
		var wide, was *sodHeld
		if p.scope != "" {
			wide = after.held(p.user, "")
		}
		for ci := range cs {
			held := now.mask(after, ci)
			if bits.OnesCount64(held) < 2 {
				continue
			}
			if wide != nil && wide.mask(after, ci) == held {
				continue // the entity-wide violation, reported once
			}
			if was == nil {
				was = before.held(p.user, p.scope)
			}
			if held&^was.mask(before, ci) == 0 {
				continue // all held before: not created by this write
			}
			hits = append(hits, sodHit{ci, p.user, p.scope, now.violating(after, ci)})
		}
	}
	slices.SortFunc(hits, func(a, b sodHit) int {
		if a.ci != b.ci {
			return a.ci - b.ci
		}
		if c := strings.Compare(a.user, b.user); c != 0 {
			return c
		}
		return strings.Compare(a.scope, b.scope)
	})
	return byConstraint(cs, sodHits{hits}), nil
}

// ScanViolations returns every violation of cs in the entity's policy held
// now (every user, entity-wide and in each scope), ordered by constraint (in
// the order of cs), user and scope, and the revision it read. Exceptions are
// not looked at. It reads, through the grant index, the subjects that allow
// a constraint's right and their holders, and only the users reached by two
// rights of one constraint.
func (e *Engine) ScanViolations(ctx context.Context, entityID string, cs []rolegate.Constraint) ([]rolegate.Violation, int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return nil, 0, err
	}
	if !s.exists || len(cs) == 0 {
		return nil, s.revision, nil
	}
	rs := newSodRights(cs)
	r := newSodReader(s, rs)
	idx := s.grants()
	// The rights each subject allowing one gives (as a set of indexes into
	// rs.rights), then those each user is reached by: through its own
	// rights and the roles any of its links holds.
	given := map[string][]uint64{}
	for i, k := range rs.rights {
		for _, sub := range s.subjectsNaming(idx, k.obj) {
			if !s.allows(sub, k.obj, k.act) {
				continue
			}
			set := given[sub]
			if set == nil {
				set = make([]uint64, rs.words)
				given[sub] = set
			}
			set[i/64] |= 1 << (i % 64)
		}
	}
	reached := map[string][]uint64{}
	or := func(u string, set []uint64) {
		to := reached[u]
		if to == nil {
			to = make([]uint64, rs.words)
			reached[u] = to
		}
		for w := range set {
			to[w] |= set[w]
		}
	}
	for sub, set := range given {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if roleIDOf(sub) == "" {
			if u := s.userOfSubject(sub); u != "" {
				or(u, set)
			}
			continue
		}
		holders, _ := idx.holders.get(sub)
		holders.each(func(link string, _ struct{}) {
			if u, _ := s.linkUser(link); u != "" {
				or(u, set)
			}
		})
	}
	users := make([]string, 0, len(reached))
	for u, set := range reached {
		for ci := range cs {
			if rs.reaches(set, ci) >= 2 {
				users = append(users, u)
				break
			}
		}
	}
	slices.Sort(users)
	// Users in order, each entity-wide then in its scopes (sorted): each
	// constraint's violations come in order.
	var (
		hits      sodHits
		cands     []int
		wideMasks []uint64
	)
	for n, u := range users {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		set := reached[u]
		cands, wideMasks = cands[:0], wideMasks[:0]
		for ci := range cs {
			if rs.reaches(set, ci) >= 2 {
				cands = append(cands, ci)
			}
		}
		wide := r.held(u, "")
		for _, ci := range cands {
			held := wide.mask(r, ci)
			wideMasks = append(wideMasks, held)
			if bits.OnesCount64(held) >= 2 {
				hits.add(sodHit{ci, u, "", wide.violating(r, ci)})
			}
		}
		scopes, _ := idx.scopes.get(u)
		for _, sc := range scopes {
			h := r.held(u, sc)
			for j, ci := range cands {
				if held := h.mask(r, ci); bits.OnesCount64(held) >= 2 && held != wideMasks[j] {
					hits.add(sodHit{ci, u, sc, h.violating(r, ci)})
				}
			}
		}
	}
	return byConstraint(cs, hits), s.revision, nil
}

// sodHit is one violation found: of the ci-th constraint, by a user in a
// scope ("" entity-wide), holding rights.
type sodHit struct {
	ci          int
	user, scope string
	rights      []rolegate.HeldRight
}

// sodHits are violations found, in blocks (a scan finds hundreds of
// thousands: none is copied as they grow).
type sodHits [][]sodHit

func (hs *sodHits) add(h sodHit) {
	if n := len(*hs); n == 0 || len((*hs)[n-1]) == cap((*hs)[n-1]) {
		*hs = append(*hs, make([]sodHit, 0, 4096))
	}
	last := &(*hs)[len(*hs)-1]
	*last = append(*last, h)
}

// byConstraint returns the violations hits name, ordered by constraint (in
// the order of cs) and, within one, as found.
func byConstraint(cs []rolegate.Constraint, hits sodHits) []rolegate.Violation {
	at := make([]int, len(cs)+1)
	for _, block := range hits {
		for _, h := range block {
			at[h.ci+1]++
		}
	}
	for ci := range cs {
		at[ci+1] += at[ci]
	}
	if at[len(cs)] == 0 {
		return nil
	}
	out := make([]rolegate.Violation, at[len(cs)])
	for _, block := range hits {
		for _, h := range block {
			c := &cs[h.ci]
			out[at[h.ci]] = rolegate.Violation{ConstraintID: c.ID, ConstraintName: c.Name, UserID: h.user, Scope: h.scope, Rights: h.rights}
			at[h.ci]++
		}
	}
	return out
}

// sodRights are the distinct rights of a list of constraints, and each
// constraint's as indexes into them.
type sodRights struct {
	rights []rightKey
	of     [][]int // per constraint, in its order
	words  int     // uint64 words of a set of rights
}

func newSodRights(cs []rolegate.Constraint) *sodRights {
	rs := &sodRights{of: make([][]int, len(cs))}
	at := map[rightKey]int{}
	for ci, c := range cs {
		for _, cr := range c.Rights {
			k := rightKey{cr.ObjectType, cr.Action}
			i, ok := at[k]
			if !ok {
				i = len(rs.rights)
				at[k] = i
				rs.rights = append(rs.rights, k)
			}
			if !slices.Contains(rs.of[ci], i) {
				rs.of[ci] = append(rs.of[ci], i)
			}
		}
	}
	rs.words = (len(rs.rights) + 63) / 64
	return rs
}

// reaches counts the rights of constraint ci in set.
func (rs *sodRights) reaches(set []uint64, ci int) int {
	n := 0
	for _, i := range rs.of[ci] {
		if set[i/64]&(1<<(i%64)) != 0 {
			n++
		}
	}
	return n
}

// sodReader reads which constraint rights users hold in one snapshot, at
// one instant of its clock. Users holding the same roles in the same scope
// without rights of their own hold the same rights: their reading is shared.
type sodReader struct {
	s     *snapshot
	rs    *sodRights
	now   int64
	memo  map[string]*sodHeld
	key   []byte
	units map[*unit][]int8 // effects
}

func newSodReader(s *snapshot, rs *sodRights) *sodReader {
	r := &sodReader{s: s, rs: rs, memo: map[string]*sodHeld{}, units: map[*unit][]int8{}}
	if s.expiry.len() > 0 {
		r.now = s.clock()
	}
	return r
}

// sodHeld is what one user holds entity-wide or in one scope: the subjects
// read and, per right of sodRights read so far, whether it is held and how.
type sodHeld struct {
	subjects     []string
	wide, scoped []string // the role subjects held entity-wide and in the scope
	units        []*unit  // the subjects' units
	scope        string
	has          []int8                 // per right: 0 not read yet, 1 held, 2 not
	held         []*rolegate.HeldRight  // how, once a violation names it
	rights       [][]rolegate.HeldRight // per constraint, once violating
}

// held returns the reading of a user entity-wide (scope "") or in a scope.
func (r *sodReader) held(user, scope string) *sodHeld {
	s := r.s
	sub := UserSubject(user)
	roles, _ := s.links.get(sub)
	wide := s.live(sub, roles, r.now)
	var scoped []string
	if scope != "" {
		ssub := ScopedSubject(scope, user)
		roles, _ = s.links.get(ssub)
		scoped = s.live(ssub, roles, r.now)
	}
	_, own := s.units.get(sub)
	if !own {
		b := append(r.key[:0], scope...)
		for _, l := range [][]string{wide, scoped} {
			b = append(b, 0)
			for _, role := range l {
				b = append(append(b, role...), 1)
			}
		}
		r.key = b
		if h, ok := r.memo[string(b)]; ok {
			return h
		}
	}
	subjects := make([]string, 0, 1+len(wide)+len(scoped))
	subjects = append(append(append(subjects, sub), wide...), scoped...)
	h := &sodHeld{subjects: subjects, wide: wide, scoped: scoped, scope: scope, has: make([]int8, len(r.rs.rights))}
	for _, sub := range subjects {
		if u, ok := s.units.get(sub); ok {
			h.units = append(h.units, u)
		}
	}
	if !own {
		r.memo[string(r.key)] = h
	}
	return h
}

// right returns how right i is held, nil when it is not.
func (h *sodHeld) right(r *sodReader, i int) *rolegate.HeldRight {
	if !h.holds(r, i) {
		return nil
	}
	if h.held == nil {
		h.held = make([]*rolegate.HeldRight, len(r.rs.rights))
	}
	if h.held[i] != nil {
		return h.held[i]
	}
	k := r.rs.rights[i]
	p, via, cond := r.s.judge(h.subjects, k.obj, k.act, nil).holding()
	if p != rolegate.Allowed && p != rolegate.AllowedForOwn {
		return nil
	}
	hr := &rolegate.HeldRight{ObjectType: k.obj, Action: k.act, Permission: p, Condition: cond}
	for _, m := range via {
		if m.RoleID == "" {
			hr.Own = true
			continue
		}
		// A role may give the right through two rules (under two
		// conditions, or a wildcard's and its own): listed once per
		// assignment.
		role := RoleSubject(m.RoleID)
		if hv := (rolegate.HeldVia{RoleID: m.RoleID, RoleName: m.RoleName}); slices.Contains(h.wide, role) && !slices.Contains(hr.Roles, hv) {
			hr.Roles = append(hr.Roles, hv)
		}
		if hv := (rolegate.HeldVia{RoleID: m.RoleID, RoleName: m.RoleName, Scope: h.scope}); slices.Contains(h.scoped, role) && !slices.Contains(hr.Roles, hv) {
			hr.Roles = append(hr.Roles, hv)
		}
	}
	h.held[i] = hr
	return hr
}

// holds reports whether right i is held: whether right would return one,
// without saying how (no allocation). As judge and holding read it, an
// unconditional deny (or one naming an unknown condition) masks the right,
// an allow naming an unknown condition gives nothing, any other allow (on
// any or own objects, under a condition or not) gives it.
func (h *sodHeld) holds(r *sodReader, i int) bool {
	if h.has[i] == 0 {
		h.has[i] = 2
		allowed := false
		for _, u := range h.units {
			switch r.effects(u)[i] {
			case sodMasks:
				return false
			case sodAllows:
				allowed = true
			}
		}
		if allowed {
			h.has[i] = 1
		}
	}
	return h.has[i] == 1
}

// What one subject's rules do to a right: nothing, give it, or mask it.
const (
	sodNone int8 = iota
	sodAllows
	sodMasks
)

// effects returns what a unit's rules do to each right of sodRights, read
// once per unit: a role's serve all its holders.
func (r *sodReader) effects(u *unit) []int8 {
	if e, ok := r.units[u]; ok {
		return e
	}
	e := make([]int8, len(r.rs.rights))
	for i, k := range r.rs.rights {
		e[i] = r.s.effect(u, k.obj, k.act)
	}
	r.units[u] = e
	return e
}

// effect is what a unit's rules do to (obj, act): an unconditional deny (or
// one naming an unknown condition) masks it, else an allow (on any or own
// objects, under a known condition or none) gives it.
func (s *snapshot) effect(u *unit, obj, act string) int8 {
	out := sodNone
	for _, rules := range [2][][]string{u.byObj[obj], u.byObj[rolegate.Wildcard]} {
		for _, rule := range rules {
			if !ruleMatches(rule, obj, act) {
				continue
			}
			_, hash := splitCond(rule[4])
			known := hash == "" || s.conditionSource(hash) != ""
			if rule[5] == EftDeny {
				if hash == "" || !known {
					return sodMasks
				}
				continue
			}
			if known {
				out = sodAllows
			}
		}
		if obj == rolegate.Wildcard {
			break
		}
	}
	return out
}

// mask returns which rights of constraint ci are held, bit j standing for
// its j-th right (a constraint has at most MaxConstraintRights, well
// within 64).
func (h *sodHeld) mask(r *sodReader, ci int) uint64 {
	var m uint64
	for j, i := range r.rs.of[ci] {
		if j < 64 && h.holds(r, i) {
			m |= 1 << j
		}
	}
	return m
}

// violating returns the rights of constraint ci held, in the constraint's
// order: shared by every violation read from this reading (read only).
func (h *sodHeld) violating(r *sodReader, ci int) []rolegate.HeldRight {
	if h.rights == nil {
		h.rights = make([][]rolegate.HeldRight, len(r.rs.of))
	}
	if h.rights[ci] == nil {
		h.rights[ci] = make([]rolegate.HeldRight, 0, len(r.rs.of[ci]))
		for _, i := range r.rs.of[ci] {
			if hr := h.right(r, i); hr != nil {
				h.rights[ci] = append(h.rights[ci], *hr)
			}
		}
	}
	return h.rights[ci]
}
