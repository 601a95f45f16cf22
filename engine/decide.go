package engine

import (
	"fmt"
	"slices"
	"sort"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/govaluate"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// decider is one Casbin enforcer of model.conf whose p rules are set, for one
// check at a time, to the rules gathered from the units of the subjects the
// user holds. holds(a, b) is g(a, b, dom) answered from that user's own g
// rules: a is b, or a g rule links a to b (roles hold no roles, so one level).
// Deciders are pooled: each serves one check at a time.
type decider struct {
	enf *casbin.Enforcer
	// matcher is the model's matcher compiled once (matcher.go), nil when
	// the model is one enf's Enforce decides.
	matcher   *compiledMatcher
	policy    *model.Assertion
	sub, ssub string
	subRoles  []string
	ssubRoles []string
	buf       [][]string
	// The check's conditions (cond): what they are evaluated over, read on
	// first need, and each condition's value once evaluated, so that
	// Casbin's matcher and matches evaluate it once.
	snap     *snapshot
	owner    string // the owner's subject (r.owner), "" for none
	userID   string
	resource map[string]any
	input    condition.Input
	inputSet bool
	evals    []condEval
	// readNow: a condition evaluated in the check under way reads now.
	readNow bool
}

// condEval is one condition's value (or error) in the check under way.
type condEval struct {
	hash  string
	value bool
	err   error
}

// eval returns a condition's value in the check under way, evaluating it on
// first use.
func (d *decider) eval(hash string) (bool, error) {
	for _, e := range d.evals {
		if e.hash == hash {
			return e.value, e.err
		}
	}
	if !d.inputSet {
		d.input = d.snap.conditionInput(d.resource, condition.WithinLimits(d.resource), d.userID)
		d.inputSet = true
	}
	v, readsNow, err := d.snap.evalConditionNow(hash, d.input)
	d.evals = append(d.evals, condEval{hash: hash, value: v, err: err})
	d.readNow = d.readNow || readsNow
	return v, err
}

// cond(p.cond, p.eft) decides a rule whose cond is not a plain any: own
// (and own:<hash>) needs the user to own the object; a condition (any:<hash>,
// own:<hash>) then decides: an allow matches when it is true, a deny when it
// is true or cannot be evaluated.
func (d *decider) cond(args ...any) (any, error) {
	if len(args) != 2 {
		return false, fmt.Errorf("cond takes 2 arguments, not %d", len(args))
	}
	c, _ := args[0].(string)
	eft, _ := args[1].(string)
	own, hash := splitCond(c)
	if own && d.owner != d.sub {
		return false, nil
	}
	if hash == "" {
		return true, nil
	}
	v, err := d.eval(hash)
	return condApplies(eft, v, err), nil
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
	enf.AddFunction("cond", d.cond)
	if !e.enforceOnly {
		d.matcher, _ = compileMatcher(enf, map[string]govaluate.ExpressionFunction{"holds": d.holds, "cond": d.cond})
	}
	return d, nil
}

// check answers one question from the snapshot: the decision is Casbin's, over
// the rules of the units of the subjects the user holds (its own, its roles
// entity-wide and inside the scope) for the object type and wildcards, cached
// per snapshot; the deciding value and the explanation come from the rules
// that matched.
func (s *snapshot) check(req Request) (Decision, error) {
	d := Decision{Revision: s.revision, Permission: rolegate.NotAllowed}
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
	dc.snap, dc.owner, dc.userID, dc.resource = s, owner, req.UserID, req.Resource
	defer func() {
		clear(rules)
		dc.buf = rules[:0]
		dc.subRoles, dc.ssubRoles = nil, nil
		dc.snap, dc.resource = nil, nil
		dc.input, dc.inputSet, dc.readNow = condition.Input{}, false, false
		clear(dc.evals)
		dc.evals = dc.evals[:0]
	}()
	allowed := false
	if len(rules) > 0 {
		if dc.matcher != nil {
			allowed, err = dc.matcher.enforce(rules, dc.sub, dc.ssub, s.entityID, req.ObjectType, req.Action, owner)
		} else {
			dc.policy.Policy = rules
			allowed, err = dc.enf.Enforce(dc.sub, dc.ssub, s.entityID, req.ObjectType, req.Action, owner)
			dc.policy.Policy = nil
		}
		if err != nil {
			return d, fmt.Errorf("enforce: %w", err)
		}
	}
	matched := s.matches(dc, rules, dc.sub, req.ObjectType, req.Action, owner)
	d.Allowed = allowed
	d.Permission = deciding(allowed, matched)
	conditional := false
	for _, m := range matched {
		if m.conditional() {
			conditional = true
			break
		}
	}
	if req.Explain {
		d.Matched = matched
		if d.Matched == nil {
			d.Matched = []Match{}
		}
	}
	// An answer that read a condition depends on the attributes: it is not
	// cached, so that every cached answer holds whatever the attributes.
	// One that read now may change with time alone: it is valid until the
	// instant it was given, so that no copy kept elsewhere (a client's
	// cache) is used again.
	if conditional {
		if dc.readNow {
			d.ValidUntil = dc.input.Now.UnixMilli()
		}
		return d, nil
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
		if obj != rolegate.Wildcard {
			out = append(out, u.byObj[rolegate.Wildcard]...)
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
// allowed_for_own, among the matched rights that apply (a conditional allow
// whose condition is true, a conditional deny whose condition is true or
// errs); the Casbin decision has the last word.
func deciding(allowed bool, matched []Match) rolegate.Permission {
	var any, own, deny bool
	for _, m := range matched {
		if !m.applies() {
			continue
		}
		switch m.Permission {
		case rolegate.Allowed:
			any = true
		case rolegate.AllowedForOwn:
			own = true
		case rolegate.Denied:
			deny = true
		}
	}
	switch {
	case allowed && any:
		return rolegate.Allowed
	case allowed && own:
		return rolegate.AllowedForOwn
	case allowed:
		return rolegate.Allowed
	case deny:
		return rolegate.Denied
	}
	return rolegate.NotAllowed
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

// matches lists the rights among the gathered rules that match a request,
// each conditional one with its condition's value or error in this check
// (evaluated through the decider, once per condition).
func (s *snapshot) matches(dc *decider, rules [][]string, sub, obj, act, owner string) []Match {
	var out []Match
	for _, v := range rules {
		if (v[2] != rolegate.Wildcard && v[2] != obj) || (v[3] != rolegate.Wildcard && v[3] != act) {
			continue
		}
		own, hash := splitCond(v[4])
		if own && owner != sub {
			continue
		}
		m := Match{RoleID: roleIDOf(v[0]), Permission: rulePermission(rolegate.Rule{Values: v})}
		m.RoleName, _ = s.roleNames.get(m.RoleID)
		if hash != "" {
			m.Condition = s.conditionSource(hash)
			if val, err := dc.eval(hash); err != nil {
				m.ConditionError = err.Error()
			} else {
				m.ConditionValue = &val
			}
		}
		if !slices.ContainsFunc(out, m.same) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return matchLess(out[i], out[j]) })
	return out
}

// same reports whether two matches name the same right.
func (m Match) same(o Match) bool {
	return m.RoleID == o.RoleID && m.RoleName == o.RoleName && m.Permission == o.Permission &&
		m.Condition == o.Condition && m.ConditionError == o.ConditionError &&
		(m.ConditionValue == nil) == (o.ConditionValue == nil) && (m.ConditionValue == nil || *m.ConditionValue == *o.ConditionValue)
}

// matchLess orders matches by role name, role id, value, then condition.
func matchLess(a, b Match) bool {
	if a.RoleName != b.RoleName {
		return a.RoleName < b.RoleName
	}
	if a.RoleID != b.RoleID {
		return a.RoleID < b.RoleID
	}
	if a.Permission != b.Permission {
		return a.Permission < b.Permission
	}
	return a.Condition < b.Condition
}

func rulePermission(r rolegate.Rule) rolegate.Permission {
	if r.Values[5] == EftDeny {
		return rolegate.Denied
	}
	if own, _ := splitCond(r.Values[4]); own {
		return rolegate.AllowedForOwn
	}
	return rolegate.Allowed
}
