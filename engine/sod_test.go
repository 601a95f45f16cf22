package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
)

// sodModel is an entity's policy as the service holds it: roles' rights,
// users' own rights, assignments (entity-wide or scoped, some expiring).
// The oracle reads violations from it directly; the engine reads the rules
// it compiles to.
type sodModel struct {
	roles   map[string]rolegate.Permissions // role id -> rights
	names   map[string]string               // active roles' names
	own     map[string]rolegate.Permissions // user -> own rights
	assigns []rolegate.Assignment
}

func (m sodModel) clone() sodModel {
	return sodModel{roles: maps.Clone(m.roles), names: maps.Clone(m.names), own: maps.Clone(m.own), assigns: slices.Clone(m.assigns)}
}

func (m sodModel) policy(id string, rev int64) Policy {
	pol := Policy{Revision: rev, RoleNames: maps.Clone(m.names), Conditions: map[string]string{}, Hashed: map[string]HashedName{}}
	for _, r := range slices.Sorted(maps.Keys(m.roles)) {
		pol.Rules = append(pol.Rules, CompileRights(RoleSubject(r), id, m.roles[r])...)
		maps.Copy(pol.Conditions, Conditions(m.roles[r]))
	}
	for _, u := range slices.Sorted(maps.Keys(m.own)) {
		pol.Rules = append(pol.Rules, CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: m.own[u]})...)
		maps.Copy(pol.Conditions, Conditions(m.own[u]))
		if sub, hashed := HashedSubject(u, ""); hashed {
			pol.Hashed[sub] = HashedName{UserID: u}
		}
	}
	for _, a := range m.assigns {
		pol.Rules = append(pol.Rules, CompileAssignment(a))
		if sub, hashed := HashedSubject(a.UserID, a.Scope); hashed {
			pol.Hashed[sub] = HashedName{UserID: a.UserID, Scope: a.Scope}
		}
	}
	return pol
}

func (m sodModel) users() []string {
	set := map[string]bool{}
	for u := range m.own {
		set[u] = true
	}
	for _, a := range m.assigns {
		set[a.UserID] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func (m sodModel) scopes(user string) []string {
	var out []string
	for _, a := range m.assigns {
		if a.UserID == user && a.Scope != "" && !slices.Contains(out, a.Scope) {
			out = append(out, a.Scope)
		}
	}
	slices.Sort(out)
	return out
}

// heldByRules reads, straight from the rules, how a user holds one right
// entity-wide (scope "") or in a scope at now: every source (its own
// rights, each live role assignment entity-wide or in the scope) whose
// rights name the right or a wildcard over it; an unconditional deny masks
// it; else any allow gives allowed, any allow on own objects
// allowed_for_own, held under a condition unless an unconditional one of
// that kind gives it and no conditional deny applies. nil: not held.
func (m sodModel) heldByRules(user, scope, obj, act string, now time.Time) *rolegate.HeldRight {
	type source struct {
		p    rolegate.Permissions
		via  *rolegate.HeldVia
		self bool
	}
	sources := []source{{p: m.own[user], self: true}}
	for _, a := range m.assigns {
		if a.UserID != user || (a.Scope != "" && a.Scope != scope) || (a.ExpiresAt != nil && !now.Before(*a.ExpiresAt)) {
			continue
		}
		if p, ok := m.roles[a.RoleID]; ok {
			sources = append(sources, source{p: p, via: &rolegate.HeldVia{RoleID: a.RoleID, RoleName: m.names[a.RoleID], Scope: a.Scope}})
		}
	}
	type side struct {
		any, plain bool
		roles      []rolegate.HeldVia
		own        bool
	}
	var allow, own side
	masked, condDeny := false, false
	for _, src := range sources {
		for _, op := range src.p.Objects {
			if op.ObjectType != rolegate.Wildcard && op.ObjectType != obj {
				continue
			}
			for _, ap := range op.Actions {
				if ap.ActionName != rolegate.Wildcard && ap.ActionName != act {
					continue
				}
				var sd *side
				switch ap.Permission {
				case rolegate.Denied:
					if ap.Condition == "" {
						masked = true
					} else {
						condDeny = true
					}
					continue
				case rolegate.Allowed:
					sd = &allow
				case rolegate.AllowedForOwn:
					sd = &own
				default:
					continue
				}
				sd.any = true
				sd.plain = sd.plain || ap.Condition == ""
				if src.self {
					sd.own = true
				} else if !slices.Contains(sd.roles, *src.via) {
					sd.roles = append(sd.roles, *src.via)
				}
			}
		}
	}
	var sd side
	hr := &rolegate.HeldRight{ObjectType: obj, Action: act}
	switch {
	case masked:
		return nil
	case allow.any:
		sd, hr.Permission = allow, rolegate.Allowed
	case own.any:
		sd, hr.Permission = own, rolegate.AllowedForOwn
	default:
		return nil
	}
	slices.SortFunc(sd.roles, func(a, b rolegate.HeldVia) int {
		for _, c := range []int{strings.Compare(a.RoleName, b.RoleName), strings.Compare(a.RoleID, b.RoleID), strings.Compare(a.Scope, b.Scope)} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
	hr.Roles, hr.Own = sd.roles, sd.own
	if !sd.plain || condDeny {
		hr.Condition = "conditional"
	}
	return hr
}

// heldSets are, per constraint, the rights a user holds of it (in its
// order) entity-wide or in a scope.
func (m sodModel) heldSets(user, scope string, cs []rolegate.Constraint, now time.Time) [][]rolegate.HeldRight {
	out := make([][]rolegate.HeldRight, len(cs))
	for ci, c := range cs {
		for _, r := range c.Rights {
			if hr := m.heldByRules(user, scope, r.ObjectType, r.Action, now); hr != nil {
				out[ci] = append(out[ci], *hr)
			}
		}
	}
	return out
}

func sameRights(a, b []rolegate.HeldRight) bool {
	return slices.EqualFunc(a, b, func(x, y rolegate.HeldRight) bool { return x.ObjectType == y.ObjectType && x.Action == y.Action })
}

func subsetRights(a, b []rolegate.HeldRight) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y rolegate.HeldRight) bool { return x.ObjectType == y.ObjectType && x.Action == y.Action }) {
			return false
		}
	}
	return true
}

// oracleViolations reads every violation from the rules: entity-wide, then
// each scope the user holds roles in unless it holds there exactly the
// constraint's rights it holds entity-wide. With before set, only those
// the user did not hold all of before (same user and scope).
func oracleViolations(m sodModel, before *sodModel, cs []rolegate.Constraint, now time.Time) []rolegate.Violation {
	var out []rolegate.Violation
	for ci, c := range cs {
		for _, u := range m.users() {
			wide := m.heldSets(u, "", cs, now)
			scopes := m.scopes(u)
			if before != nil {
				for _, sc := range before.scopes(u) {
					if !slices.Contains(scopes, sc) {
						scopes = append(scopes, sc)
					}
				}
				slices.Sort(scopes)
			}
			for _, sc := range append([]string{""}, scopes...) {
				held := wide[ci]
				if sc != "" {
					held = m.heldSets(u, sc, cs, now)[ci]
					if sameRights(held, wide[ci]) {
						continue
					}
				}
				if len(held) < 2 {
					continue
				}
				if before != nil && subsetRights(held, before.heldSets(u, sc, cs, now)[ci]) {
					continue
				}
				out = append(out, rolegate.Violation{ConstraintID: c.ID, ConstraintName: c.Name, UserID: u, Scope: sc, Rights: held})
			}
		}
	}
	return out
}

// normalViolations makes the engine's violations comparable with the
// oracle's: a condition only says whether there is one.
func normalViolations(vs []rolegate.Violation) []rolegate.Violation {
	for i := range vs {
		for j := range vs[i].Rights {
			if vs[i].Rights[j].Condition != "" {
				vs[i].Rights[j].Condition = "conditional"
			}
		}
	}
	return vs
}

var (
	sodObjs  = []string{"payable", "receipt", "counterpart", rolegate.Wildcard}
	sodActs  = []string{"create", "approve", "pay", rolegate.Wildcard}
	sodPerms = []rolegate.Permission{rolegate.Allowed, rolegate.Allowed, rolegate.AllowedForOwn, rolegate.Denied, rolegate.NotAllowed}
)

func sodRandomRights(rng *rand.Rand, n int) rolegate.Permissions {
	var p rolegate.Permissions
	seen := map[string]bool{}
	for range n {
		o, a := sodObjs[rng.IntN(len(sodObjs))], sodActs[rng.IntN(len(sodActs))]
		if seen[o+"/"+a] {
			continue
		}
		seen[o+"/"+a] = true
		ap := rolegate.ActionPermission{ActionName: a, Permission: sodPerms[rng.IntN(len(sodPerms))]}
		if rng.IntN(4) == 0 {
			ap.Condition = oracleConditions[rng.IntN(len(oracleConditions))]
		}
		i := slices.IndexFunc(p.Objects, func(op rolegate.ObjectPermissions) bool { return op.ObjectType == o })
		if i < 0 {
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o})
			i = len(p.Objects) - 1
		}
		p.Objects[i].Actions = append(p.Objects[i].Actions, ap)
	}
	return p
}

func sodRandomConstraints(rng *rand.Rand) []rolegate.Constraint {
	var cs []rolegate.Constraint
	for c := range 1 + rng.IntN(4) {
		con := rolegate.Constraint{ID: fmt.Sprintf("c%d", c), Name: fmt.Sprintf("rule %d", c), Mode: rolegate.ConstraintEnforce}
		for range 2 + rng.IntN(3) {
			r := rolegate.ConstraintRight{ObjectType: sodObjs[rng.IntN(len(sodObjs)-1)], Action: sodActs[rng.IntN(len(sodActs)-1)]}
			if !slices.Contains(con.Rights, r) {
				con.Rights = append(con.Rights, r)
			}
		}
		if len(con.Rights) >= 2 {
			cs = append(cs, con)
		}
	}
	return cs
}

// sodRandomUser is a user id: a few too long for a rule's subject.
func sodRandomUser(rng *rand.Rand) string {
	u := rng.IntN(8)
	if u == 7 {
		return "user-7-" + strings.Repeat("x", 120)
	}
	return fmt.Sprintf("user-%d", u)
}

func sodRandomAssignment(rng *rand.Rand, id string, roles int, clock time.Time) rolegate.Assignment {
	a := rolegate.Assignment{EntityID: id, UserID: sodRandomUser(rng), RoleID: fmt.Sprintf("r%d", rng.IntN(roles))}
	switch rng.IntN(4) {
	case 0:
		a.Scope = "team:1"
	case 1:
		a.Scope = "team:2"
	}
	switch rng.IntN(6) {
	case 0:
		at := clock.Add(-time.Hour) // expired: no longer counts
		a.ExpiresAt = &at
	case 1:
		at := clock.Add(time.Hour)
		a.ExpiresAt = &at
	}
	return a
}

func sodRandomModel(rng *rand.Rand, id string, clock time.Time) sodModel {
	m := sodModel{roles: map[string]rolegate.Permissions{}, names: map[string]string{}, own: map[string]rolegate.Permissions{}}
	nroles := 2 + rng.IntN(4)
	for r := range nroles {
		rid := fmt.Sprintf("r%d", r)
		m.roles[rid] = sodRandomRights(rng, rng.IntN(6))
		if rng.IntN(6) > 0 {
			m.names[rid] = "role " + rid
		}
	}
	for range rng.IntN(4) {
		m.own[sodRandomUser(rng)] = sodRandomRights(rng, 1+rng.IntN(3))
	}
	for range 3 + rng.IntN(10) {
		m.addAssignment(sodRandomAssignment(rng, id, nroles, clock))
	}
	return m
}

// addAssignment adds an assignment unless the user holds the role in that
// scope already (the service keeps one).
func (m *sodModel) addAssignment(a rolegate.Assignment) bool {
	if slices.ContainsFunc(m.assigns, func(b rolegate.Assignment) bool {
		return b.UserID == a.UserID && b.RoleID == a.RoleID && b.Scope == a.Scope
	}) {
		return false
	}
	m.assigns = append(m.assigns, a)
	return true
}

// sodRandomWrite changes m as one write would and returns its delta: a
// role's rights replaced (or the role deleted), an assignment added or
// removed, a user's own rights replaced.
func sodRandomWrite(rng *rand.Rand, m *sodModel, id string, clock time.Time) Delta {
	var d Delta
	nroles := len(m.roles)
	switch rng.IntN(6) {
	case 0, 1:
		rid := fmt.Sprintf("r%d", rng.IntN(nroles))
		p := sodRandomRights(rng, rng.IntN(6))
		if rng.IntN(5) == 0 {
			p = rolegate.Permissions{} // deleted, or emptied
		}
		m.roles[rid] = p
		d.Record(OpReplace, RoleSubject(rid), CompileRights(RoleSubject(rid), id, p))
		d.Conditions = Conditions(p)
	case 2, 3:
		a := sodRandomAssignment(rng, id, nroles, clock)
		if m.addAssignment(a) {
			d.Record(OpAdd, "", []rolegate.Rule{CompileAssignment(a)})
			d.RecordUser(a.UserID, a.Scope)
		}
	case 4:
		if len(m.assigns) > 0 {
			i := rng.IntN(len(m.assigns))
			a := m.assigns[i]
			m.assigns = slices.Delete(m.assigns, i, i+1)
			d.Record(OpRemove, "", []rolegate.Rule{CompileAssignment(a)})
		}
	case 5:
		u := sodRandomUser(rng)
		p := sodRandomRights(rng, rng.IntN(4))
		m.own[u] = p
		d.Record(OpReplace, UserSubject(u), CompileUser(rolegate.User{ID: u, EntityID: id, Permissions: p}))
		d.RecordUser(u, "")
		d.Conditions = Conditions(p)
	}
	return d
}

// TestViolationsAgreeWithTheOracle draws random policies (roles with allow,
// deny, own and conditional rights and wildcards; own rights; entity-wide,
// scoped and expiring assignments; user ids stored hashed) and constraints,
// and compares ScanViolations with a direct reading of the rules; then
// random writes, each checked by Violations before it is applied (as a
// delta) and compared with what the reading finds after the write that was
// not all held before, then the scan again.
func TestViolationsAgreeWithTheOracle(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(26, 1))
	counts := map[string]int{}
	for round := range 150 {
		id := fmt.Sprintf("e%d", round)
		m := sodModel{}
		var cs []rolegate.Constraint
		for len(cs) == 0 {
			m = sodRandomModel(rng, id, clock)
			cs = sodRandomConstraints(rng)
		}
		rev := int64(1)
		loader := mapLoader{id: m.policy(id, rev)}
		e, err := New(Config{Model: rolegate.CasbinModel, Loader: loader, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		scan := func(step int) {
			t.Helper()
			got, at, err := e.ScanViolations(ctx, id, cs)
			if err != nil {
				t.Fatal(err)
			}
			if at != rev {
				t.Fatalf("%s step %d: scan read revision %d, want %d", id, step, at, rev)
			}
			want := oracleViolations(m, nil, cs, clock)
			if !reflect.DeepEqual(normalViolations(got), want) {
				t.Fatalf("%s step %d: constraints %+v\npolicy %+v\nscan   %+v\noracle %+v", id, step, cs, m, got, want)
			}
			counts["scanned"] += len(want)
			for _, v := range want {
				if v.Scope != "" {
					counts["scoped"]++
				}
				for _, r := range v.Rights {
					if r.Own {
						counts["own"]++
					}
					if r.Condition != "" {
						counts["conditional"]++
					}
				}
			}
		}
		scan(0)
		for step := 1; step <= 8; step++ {
			before := m.clone()
			d := sodRandomWrite(rng, &m, id, clock)
			if d.Empty() {
				continue
			}
			got, err := e.Violations(ctx, id, rev+1, d, cs)
			if err != nil {
				t.Fatal(err)
			}
			want := oracleViolations(m, &before, cs, clock)
			if !reflect.DeepEqual(normalViolations(got), want) {
				t.Fatalf("%s step %d: constraints %+v\nbefore %+v\nafter  %+v\ndelta %+v\nviolations %+v\noracle     %+v", id, step, cs, before, m, d, got, want)
			}
			counts["created"] += len(want)
			if len(want) == 0 && len(oracleViolations(m, nil, cs, clock)) > 0 {
				counts["write kept violations only"]++
			}
			rev++
			loader[id] = m.policy(id, rev)
			if err := e.Apply(ctx, id, rev, d); err != nil {
				t.Fatal(err)
			}
			scan(step)
		}
		if st := e.Stats(); st.Reloads != 0 {
			t.Fatalf("%s: %d reloads: deltas were not applied as such", id, st.Reloads)
		}
	}
	for _, k := range []string{"scanned", "scoped", "own", "conditional", "created", "write kept violations only"} {
		if counts[k] < 20 {
			t.Fatalf("counts %v: the case does not exercise %s", counts, k)
		}
	}
	t.Logf("%v", counts)
}

// sodRights builds rights from "object/action=value" items.
func sodRightsOf(items ...string) rolegate.Permissions {
	var p rolegate.Permissions
	for _, it := range items {
		right, val, _ := strings.Cut(it, "=")
		obj, act, _ := strings.Cut(right, "/")
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: obj, Actions: []rolegate.ActionPermission{{ActionName: act, Permission: rolegate.Permission(val)}}})
	}
	return p
}

// sodEngine holds m as entity "acme" at revision 1.
func sodEngine(t *testing.T, m sodModel, clock time.Time) *Engine {
	t.Helper()
	e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{"acme": m.policy("acme", 1)}, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// makerChecker: no one may both create and approve a payable.
var makerChecker = []rolegate.Constraint{{ID: "c1", Name: "maker-checker", Rights: []rolegate.ConstraintRight{
	{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}}}}

// sodBrief is a violation as user|scope|right,right.
func sodBrief(vs []rolegate.Violation) []string {
	out := []string{}
	for _, v := range vs {
		var rs []string
		for _, r := range v.Rights {
			via := []string{}
			for _, h := range r.Roles {
				via = append(via, h.RoleID+"@"+h.Scope)
			}
			if r.Own {
				via = append(via, "own")
			}
			rs = append(rs, r.ObjectType+"/"+r.Action+"("+strings.Join(via, " ")+")")
		}
		out = append(out, v.UserID+"|"+v.Scope+"|"+strings.Join(rs, ","))
	}
	return out
}

func TestScanViolationsCases(t *testing.T) {
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := clock.Add(time.Hour), clock.Add(-time.Hour)
	roles := map[string]rolegate.Permissions{
		"maker":    sodRightsOf("payable/create=allowed"),
		"checker":  sodRightsOf("payable/approve=allowed"),
		"freeze":   sodRightsOf("payable/*=denied"),
		"admin":    sodRightsOf("payable/*=allowed"),
		"all":      sodRightsOf("*/*=allowed"),
		"own":      sodRightsOf("payable/approve=allowed_for_own"),
		"cond":     {Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Allowed, Condition: "resource.amount <= 100.0"}}}}},
		"conddeny": {Objects: []rolegate.ObjectPermissions{{ObjectType: "payable", Actions: []rolegate.ActionPermission{{ActionName: "approve", Permission: rolegate.Denied, Condition: "resource.amount > 100.0"}}}}},
	}
	as := func(user, role, scope string, exp *time.Time) rolegate.Assignment {
		return rolegate.Assignment{EntityID: "acme", UserID: user, RoleID: role, Scope: scope, ExpiresAt: exp}
	}
	for _, tc := range []struct {
		name    string
		assigns []rolegate.Assignment
		own     map[string]rolegate.Permissions
		want    []string
	}{
		{"two roles", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(checker@)"}},
		{"a deny masks a right", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", nil), as("u", "freeze", "", nil)}, nil, []string{}},
		{"a wildcard covers both rights through one role", []rolegate.Assignment{as("u", "admin", "", nil)}, nil,
			[]string{"u||payable/create(admin@),payable/approve(admin@)"}},
		{"every object type", []rolegate.Assignment{as("u", "all", "", nil), as("u", "maker", "", nil)}, nil,
			[]string{"u||payable/create(all@ maker@),payable/approve(all@)"}},
		{"a deny masks a wildcard's right", []rolegate.Assignment{as("u", "all", "", nil), as("v", "all", "", nil)},
			map[string]rolegate.Permissions{"u": sodRightsOf("payable/approve=denied")},
			[]string{"v||payable/create(all@),payable/approve(all@)"}},
		{"a right in a scope only", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "team:1", nil)}, nil,
			[]string{"u|team:1|payable/create(maker@),payable/approve(checker@team:1)"}},
		{"rights in two scopes do not meet", []rolegate.Assignment{as("u", "maker", "team:1", nil), as("u", "checker", "team:2", nil)}, nil, []string{}},
		{"reported once, entity-wide", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", nil), as("u", "checker", "team:1", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(checker@)"}},
		{"a scoped deny: entity-wide only", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", nil), as("u", "freeze", "team:1", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(checker@)"}},
		{"own rights", []rolegate.Assignment{as("u", "maker", "", nil)}, map[string]rolegate.Permissions{"u": sodRightsOf("payable/approve=allowed")},
			[]string{"u||payable/create(maker@),payable/approve(own)"}},
		{"own rights alone", nil, map[string]rolegate.Permissions{"u": sodRightsOf("payable/create=allowed", "payable/approve=allowed_for_own")},
			[]string{"u||payable/create(own),payable/approve(own)"}},
		{"allowed for own objects counts", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "own", "", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(own@)"}},
		{"a condition counts", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "cond", "", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(cond@)"}},
		{"a conditional deny does not mask", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", nil), as("u", "conddeny", "", nil)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(checker@)"}},
		{"until its expiry", []rolegate.Assignment{as("u", "maker", "", nil), as("u", "checker", "", &later), as("v", "maker", "", nil), as("v", "checker", "", &earlier)}, nil,
			[]string{"u||payable/create(maker@),payable/approve(checker@)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sodModel{roles: roles, names: map[string]string{}, own: tc.own, assigns: tc.assigns}
			e := sodEngine(t, m, clock)
			got, rev, err := e.ScanViolations(context.Background(), "acme", makerChecker)
			if err != nil || rev != 1 {
				t.Fatal(rev, err)
			}
			if !reflect.DeepEqual(sodBrief(got), tc.want) {
				t.Fatalf("violations %v, want %v", sodBrief(got), tc.want)
			}
			if !reflect.DeepEqual(normalViolations(got), oracleViolations(m, nil, makerChecker, clock)) {
				t.Fatalf("violations %+v, oracle %+v", got, oracleViolations(m, nil, makerChecker, clock))
			}
		})
	}
}

func TestViolationsOfAWrite(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	three := []rolegate.Constraint{{ID: "c1", Name: "procure to pay", Rights: []rolegate.ConstraintRight{
		{ObjectType: "payable", Action: "create"}, {ObjectType: "payable", Action: "approve"}, {ObjectType: "payable", Action: "pay"}}}}
	m := sodModel{roles: map[string]rolegate.Permissions{
		"r1": sodRightsOf("payable/create=allowed", "payable/approve=allowed"),
		"r2": sodRightsOf("payable/read=allowed"),
	}, names: map[string]string{"r1": "clerk", "r2": "reader"}, assigns: []rolegate.Assignment{
		{EntityID: "acme", UserID: "u1", RoleID: "r1"}, {EntityID: "acme", UserID: "u2", RoleID: "r2"}}}
	e := sodEngine(t, m, clock)
	role := func(id string, p rolegate.Permissions) Delta {
		var d Delta
		d.Record(OpReplace, RoleSubject(id), CompileRights(RoleSubject(id), "acme", p))
		return d
	}
	for _, tc := range []struct {
		name string
		d    Delta
		want []string
	}{
		{"removing a right from a user in violation", role("r1", sodRightsOf("payable/create=allowed")), []string{}},
		{"a write changing nothing of it", role("r1", sodRightsOf("payable/create=allowed", "payable/approve=allowed", "payable/read=allowed")), []string{}},
		{"a third right to a user in violation", role("r1", sodRightsOf("payable/*=allowed")),
			[]string{"u1||payable/create(r1@),payable/approve(r1@),payable/pay(r1@)"}},
		{"a role change reaches its holders only", role("r2", sodRightsOf("payable/approve=allowed", "payable/pay=allowed")),
			[]string{"u2||payable/approve(r2@),payable/pay(r2@)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Violations(ctx, "acme", 2, tc.d, three)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sodBrief(got), tc.want) {
				t.Fatalf("violations %v, want %v", sodBrief(got), tc.want)
			}
		})
	}
	// A rename changes how a right is held, not whether.
	if got, err := e.Violations(ctx, "acme", 2, Delta{Ops: []DeltaOp{{Op: OpRole, RoleID: "r2", Name: "auditor", Active: true}}}, three); err != nil || len(got) != 0 {
		t.Fatalf("a rename: %v, %v", got, err)
	}
	// Exceptions are the caller's: the engine reports the user.
	excepted := slices.Clone(three)
	excepted[0].Exceptions = []rolegate.ConstraintException{{UserID: "u2", Reason: "holiday", ExpiresAt: clock.Add(time.Hour)}}
	if got, err := e.Violations(ctx, "acme", 2, role("r2", sodRightsOf("payable/*=allowed")), excepted); err != nil || len(got) != 1 || got[0].UserID != "u2" {
		t.Fatalf("an excepted user: %v, %v", got, err)
	}
	// A delta that cannot be applied as such is never read as one.
	if _, err := e.Violations(ctx, "acme", 2, Delta{Full: true}, three); rolegate.AsError(err).Code != "dry_run_conflict" {
		t.Fatalf("a full reload's delta: %v", err)
	}
	// Not a dry run's revision: the entity changed meanwhile.
	if _, err := e.Violations(ctx, "acme", 5, role("r2", sodRightsOf("payable/*=allowed")), three); rolegate.AsError(err).Code != "dry_run_conflict" {
		t.Fatalf("a delta not following the snapshot: %v", err)
	}
	if rev, _ := e.Revision(ctx, "acme"); rev != 1 {
		t.Fatalf("Violations moved the engine to revision %d", rev)
	}
}
