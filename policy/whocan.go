package policy

import (
	"context"
	"slices"
	"sort"
	"strings"
)

// Holder is one user allowed an (object type, action): Permission is
// allowed or allowed_for_own (after deny), Via the roles whose rights give
// it, a Match with an empty RoleID standing for the user's own rights.
type Holder struct {
	UserID     string
	Permission Permission
	Via        []Match
}

// WhoCan returns, ordered by user id, up to limit users after the user id
// after who may do act on obj in the entity (inside scope too when one is
// given). It reads only the subjects whose rules name obj (or every object
// type) and allow act, and their holders: it costs the roles that grant the
// right and the users who hold them, not the entity. A user id too long for a
// rule's subject is known only by its hash and comes back as "#<sha256 hex>".
func (e *Engine) WhoCan(ctx context.Context, entityID, obj, act, scope, after string, limit int) ([]Holder, int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return nil, 0, err
	}
	if !s.exists {
		return nil, s.revision, nil
	}
	idx := s.grants()
	seen := map[string]struct{}{}
	for _, sub := range s.subjectsNaming(idx, obj) {
		if !s.allows(sub, obj, act) {
			continue
		}
		if u := userOfSubject(sub); u != "" {
			if u > after {
				seen[u] = struct{}{}
			}
			continue
		}
		set, _ := idx.holders.get(sub)
		set.each(func(link string, _ struct{}) {
			u, sc := linkUser(link)
			if u > after && (sc == "" || (scope != "" && sc == scope)) {
				seen[u] = struct{}{}
			}
		})
	}
	users := make([]string, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	sort.Strings(users)
	var out []Holder
	for _, u := range users {
		if len(out) == limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		ssub := ""
		if scope != "" {
			ssub = ScopedSubject(scope, u)
		}
		v := s.judge(s.subjects(UserSubject(u), ssub), obj, act)
		switch v.permission() {
		case Allowed:
			out = append(out, Holder{UserID: u, Permission: Allowed, Via: v.allow})
		case AllowedForOwn:
			out = append(out, Holder{UserID: u, Permission: AllowedForOwn, Via: v.own})
		}
	}
	return out, s.revision, nil
}

// subjectsNaming returns the subjects with a rule on obj or on every object
// type.
func (s *snapshot) subjectsNaming(idx *grantIndex, obj string) []string {
	named, _ := idx.byObj.get(obj)
	if obj == Wildcard {
		return named
	}
	all, _ := idx.byObj.get(Wildcard)
	return append(slices.Clip(named), all...)
}

// allows reports whether a subject's own rules allow (on any or own
// objects) act on obj.
func (s *snapshot) allows(sub, obj, act string) bool {
	u, ok := s.units.get(sub)
	if !ok {
		return false
	}
	for _, rules := range [][][]string{u.byObj[obj], u.byObj[Wildcard]} {
		for _, r := range rules {
			if r[5] == EftAllow && ruleMatches(r, obj, act) {
				return true
			}
		}
	}
	return false
}

// MaxGrantableBy bounds the roles an explained refusal names.
const MaxGrantableBy = 20

// explainRefusal completes an explained refusal: on denied, the rights that
// deny and their roles; on not_allowed, the entity's active roles whose
// assignment (entity-wide) would allow the question, none of which carries a
// deny of it (a deny of the user's own would have made it denied).
func (s *snapshot) explainRefusal(req CheckRequest, d *Decision) {
	if !s.exists || d.Allowed {
		return
	}
	if d.Permission == Denied {
		d.DeniedBy = []Match{}
		for _, m := range d.Matched {
			if m.Permission == Denied {
				d.DeniedBy = append(d.DeniedBy, m)
			}
		}
		return
	}
	d.GrantableBy = []Match{}
	idx := s.grants()
	for _, sub := range s.subjectsNaming(idx, req.ObjectType) {
		id := roleIDOf(sub)
		name, active := s.roleNames.get(id)
		if id == "" || !active {
			continue
		}
		v := s.judge([]string{sub}, req.ObjectType, req.Action)
		own := req.OwnerID != "" && req.OwnerID == req.UserID
		if len(v.deny) > 0 || (len(v.allow) == 0 && !(own && len(v.own) > 0)) {
			continue
		}
		m := Match{RoleID: id, RoleName: name, Permission: Allowed}
		if len(v.allow) == 0 {
			m.Permission = AllowedForOwn
		}
		if !slices.Contains(d.GrantableBy, m) {
			d.GrantableBy = append(d.GrantableBy, m)
		}
	}
	sortMatches(d.GrantableBy)
	if len(d.GrantableBy) > MaxGrantableBy {
		d.GrantableBy = d.GrantableBy[:MaxGrantableBy]
	}
}

// Right is one effective right of a user: what it may do on an object type
// (Wildcard: every one), allowed or allowed_for_own, after deny. Scope is set
// for a right the user holds only inside that scope.
type Right struct {
	UserID     string
	Scope      string
	ObjectType string
	Action     string
	Permission Permission
}

type rightKey struct{ obj, act string }

// effective returns the values the subjects' rules give each (object type,
// action) they name, after deny-override: Engine.Effective, who-can, dry
// runs and the access report all read rights through it.
func (s *snapshot) effective(subjects []string) map[rightKey]Permission {
	values := map[rightKey]Permission{}
	var denies []rightKey
	for _, subject := range subjects {
		u, ok := s.units.get(subject)
		if !ok {
			continue
		}
		for _, r := range u.rules {
			p := rightKey{r.Values[2], r.Values[3]}
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
	return values
}

// allowedRights are the allowed and allowed_for_own entries of effective.
func allowedRights(values map[rightKey]Permission) map[rightKey]Permission {
	for k, v := range values {
		if v != Allowed && v != AllowedForOwn {
			delete(values, k)
		}
	}
	return values
}

// diffRights appends to gained the rights of after that before lacks (same
// value) and to lost those of before that after lacks.
func diffRights(user, scope string, before, after map[rightKey]Permission, gained, lost []Right) ([]Right, []Right) {
	for k, v := range after {
		if before[k] != v {
			gained = append(gained, Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v})
		}
	}
	for k, v := range before {
		if after[k] != v {
			lost = append(lost, Right{UserID: user, Scope: scope, ObjectType: k.obj, Action: k.act, Permission: v})
		}
	}
	return gained, lost
}

// SortRights orders rights by user, scope, object type, action and value.
func SortRights(rs []Right) {
	slices.SortFunc(rs, func(a, b Right) int {
		for _, c := range [...]int{strings.Compare(a.UserID, b.UserID), strings.Compare(a.Scope, b.Scope),
			strings.Compare(a.ObjectType, b.ObjectType), strings.Compare(a.Action, b.Action),
			strings.Compare(string(a.Permission), string(b.Permission))} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// DryRun returns what applying a write's delta (recorded at revision rev, then
// rolled back) would change in the effective rights of every user it touches:
// the users holding a role whose rules change, the users whose own rights or
// assignments change. It applies the delta to a copy of the snapshot held
// (copy-on-write, never installed), so it costs what the write touches. A
// snapshot not at rev-1 is refreshed once; if it still is not, the entity
// changed meanwhile and the dry run fails (503, try again).
func (e *Engine) DryRun(ctx context.Context, entityID string, rev int64, d Delta) (gained, lost []Right, err error) {
	s, err := e.snapshot(ctx, entityID)
	if err == nil && s.revision != rev-1 {
		if err = e.Refresh(ctx, entityID); err == nil {
			s, err = e.snapshot(ctx, entityID)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if d.Full || !s.exists || s.revision != rev-1 {
		return nil, nil, Errorf(KindUnavailable, "dry_run_conflict", "the entity changed during the dry run; try again")
	}
	s.grants() // so that next carries the index
	next, err := s.apply(rev, d)
	if err != nil {
		return nil, nil, err
	}
	next.engine = s.engine // its clock, for expiring assignments
	links := map[string]bool{}
	touch := func(sub string) {
		if roleIDOf(sub) == "" {
			links[sub] = true
			return
		}
		for _, snap := range []*snapshot{s, next} {
			set, _ := snap.grants().holders.get(sub)
			set.each(func(link string, _ struct{}) { links[link] = true })
		}
	}
	for _, op := range d.Ops {
		if op.Subject != "" {
			touch(op.Subject)
		}
		for _, line := range op.Rules {
			if r, ok := ruleOfLine(line); ok && len(r.Values) > 0 {
				touch(r.Values[0])
			}
		}
	}
	// A user whose entity-wide rights change may see it inside each scope
	// it holds roles in.
	for link := range links {
		if u, scope := linkUser(link); u != "" && scope == "" {
			for _, snap := range []*snapshot{s, next} {
				list, _ := snap.grants().scopes.get(u)
				for _, sc := range list {
					links[ScopedSubject(sc, u)] = true
				}
			}
		}
	}
	// Each user's entity-wide change, then each scope's beyond it.
	wide := func(u string) (before, after map[rightKey]Permission) {
		sub := UserSubject(u)
		return allowedRights(s.effective(s.subjects(sub, ""))), allowedRights(next.effective(next.subjects(sub, "")))
	}
	for link := range links {
		if u, scope := linkUser(link); u != "" && scope == "" {
			before, after := wide(u)
			gained, lost = diffRights(u, "", before, after, gained, lost)
		}
	}
	for link := range links {
		u, scope := linkUser(link)
		if u == "" || scope == "" || scope == "#" {
			continue
		}
		sub := UserSubject(u)
		before := allowedRights(s.effective(s.subjects(sub, link)))
		after := allowedRights(next.effective(next.subjects(sub, link)))
		g, l := diffRights(u, scope, before, after, nil, nil)
		// A change entity-wide shows in every scope: report it once,
		// without scope.
		wb, wa := wide(u)
		wg, wl := diffRights(u, scope, wb, wa, nil, nil)
		gained = append(gained, without(g, wg)...)
		lost = append(lost, without(l, wl)...)
	}
	SortRights(gained)
	SortRights(lost)
	return gained, lost, nil
}

// without returns the rights of rs that are not in drop.
func without(rs, drop []Right) []Right {
	var out []Right
	for _, r := range rs {
		if !slices.Contains(drop, r) {
			out = append(out, r)
		}
	}
	return out
}
