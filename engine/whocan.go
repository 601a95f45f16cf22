package engine

import (
	"context"
	"slices"
	"sort"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// Holder is one user allowed an (object type, action): Permission is
// allowed or allowed_for_own (after deny), Via the roles whose rights give
// it, a Match with an empty RoleID standing for the user's own rights.
type Holder struct {
	UserID     string
	Permission rolegate.Permission
	Via        []Match
	// Condition, when WhoCan is asked without a resource and the user is
	// allowed only under conditions, is the condition under which it is
	// allowed ("" when allowed without one).
	Condition string
}

// WhoCan returns, ordered by user id, up to limit users after the user id
// after who may do act on obj in the entity (inside scope too when one is
// given). It reads only the subjects whose rules name obj (or every object
// type) and allow act, and their holders: it costs the roles that grant the
// right and the users who hold them, not the entity. A user id too long for a
// rule's subject comes back as itself, read from the snapshot's names.
func (e *Engine) WhoCan(ctx context.Context, entityID, obj, act, scope, after string, limit int) ([]Holder, int64, error) {
	return e.WhoCanResource(ctx, entityID, obj, act, scope, after, limit, nil)
}

// WhoCanResource is WhoCan for an object with the given attributes: a
// conditional right counts for the users for whom its condition holds over
// resource and their attributes. Without a resource (nil), a user allowed
// only under conditions is listed with Holder.Condition.
func (e *Engine) WhoCanResource(ctx context.Context, entityID, obj, act, scope, after string, limit int, resource map[string]any) ([]Holder, int64, error) {
	s, err := e.snapshot(ctx, entityID)
	if err != nil {
		return nil, 0, err
	}
	hs, err := s.whoCan(ctx, obj, act, scope, after, limit, resource)
	if err != nil {
		return nil, 0, err
	}
	return hs, s.revision, nil
}

// whoCan is WhoCanResource over the snapshot.
func (s *snapshot) whoCan(ctx context.Context, obj, act, scope, after string, limit int, resource map[string]any) ([]Holder, error) {
	if !s.exists {
		return nil, nil
	}
	idx := s.grants()
	seen := map[string]struct{}{}
	for _, sub := range s.subjectsNaming(idx, obj) {
		if !s.allows(sub, obj, act) {
			continue
		}
		if u := s.userOfSubject(sub); u != "" {
			if u > after {
				seen[u] = struct{}{}
			}
			continue
		}
		set, _ := idx.holders.get(sub)
		set.each(func(link string, _ struct{}) {
			u, sc := s.linkUser(link)
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
	resourceChecked := condition.WithinLimits(resource) // once, not per user
	for _, u := range users {
		if len(out) == limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ssub := ""
		if scope != "" {
			ssub = ScopedSubject(scope, u)
		}
		subjects := s.subjects(UserSubject(u), ssub)
		if resource == nil {
			p, via, cond := s.judge(subjects, obj, act, nil).holding()
			if p == rolegate.Allowed || p == rolegate.AllowedForOwn {
				out = append(out, Holder{UserID: u, Permission: p, Via: via, Condition: cond})
			}
			continue
		}
		v := s.judge(subjects, obj, act, s.evaluator(resource, resourceChecked, u)).applying()
		switch v.permission() {
		case rolegate.Allowed:
			out = append(out, Holder{UserID: u, Permission: rolegate.Allowed, Via: v.allow})
		case rolegate.AllowedForOwn:
			out = append(out, Holder{UserID: u, Permission: rolegate.AllowedForOwn, Via: v.own})
		}
	}
	return out, nil
}

// subjectsNaming returns the subjects with a rule on obj or on every object
// type.
func (s *snapshot) subjectsNaming(idx *grantIndex, obj string) []string {
	named, _ := idx.byObj.get(obj)
	if obj == rolegate.Wildcard {
		return named
	}
	all, _ := idx.byObj.get(rolegate.Wildcard)
	return append(slices.Clip(named), all...)
}

// allows reports whether a subject's own rules allow (on any or own
// objects) act on obj.
func (s *snapshot) allows(sub, obj, act string) bool {
	u, ok := s.units.get(sub)
	if !ok {
		return false
	}
	for _, rules := range [][][]string{u.byObj[obj], u.byObj[rolegate.Wildcard]} {
		for _, r := range rules {
			if r[5] == EftAllow && ruleMatches(r, obj, act) {
				return true
			}
		}
	}
	return false
}
