package engine

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
)

// condRight is one right for the condition tests.
func condRight(obj, act string, p rolegate.Permission, cond string) rolegate.Permissions {
	return rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: obj,
		Actions: []rolegate.ActionPermission{{ActionName: act, Permission: p, Condition: cond}}}}}
}

// condPolicy is an entity "acme" whose role r<i> holds rights[i] and which
// user u holds entity-wide, with the users' attributes.
func condPolicy(attrs map[string]map[string]any, rights ...rolegate.Permissions) Policy {
	pol := Policy{Revision: 1, RoleNames: map[string]string{}, Conditions: map[string]string{}, Attributes: attrs}
	for i, p := range rights {
		id := "r" + string(rune('0'+i))
		pol.RoleNames[id] = "role " + id
		pol.Rules = append(pol.Rules, CompileRights(RoleSubject(id), "acme", p)...)
		for h, src := range Conditions(p) {
			pol.Conditions[h] = src
		}
		pol.Rules = append(pol.Rules, CompileAssignment(rolegate.Assignment{EntityID: "acme", UserID: "u", RoleID: id}))
	}
	return pol
}

func condEngine(t *testing.T, pol Policy, now func() time.Time) *Engine {
	t.Helper()
	e, err := New(Config{Model: rolegate.CasbinModel, Loader: mapLoader{"acme": pol}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustCheck(t *testing.T, e *Engine, req Request) Decision {
	t.Helper()
	if req.EntityID == "" {
		req.EntityID = "acme"
	}
	if req.UserID == "" {
		req.UserID = "u"
	}
	d, err := e.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCompileConditionalRights(t *testing.T) {
	src := "resource.amount <= 1000.0"
	p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "invoice", Actions: []rolegate.ActionPermission{
		{ActionName: "approve", Permission: rolegate.Allowed, Condition: src},
		{ActionName: "edit", Permission: rolegate.AllowedForOwn, Condition: src},
		{ActionName: "pay", Permission: rolegate.Denied, Condition: src},
		{ActionName: "void", Permission: rolegate.NotAllowed, Condition: src},
		{ActionName: "read", Permission: rolegate.Allowed},
	}}}}
	h := condition.Hash(src)
	got := map[string]string{}
	for _, r := range CompileRights("r:x", "acme", p) {
		got[r.Values[3]] = r.Values[4] + "/" + r.Values[5]
		if len(r.Values[4]) > maxSubjectLen {
			t.Fatalf("cond field %q is wider than a rule's column", r.Values[4])
		}
	}
	want := map[string]string{"approve": "any:" + h + "/allow", "edit": "own:" + h + "/allow", "pay": "any:" + h + "/deny", "read": "any/allow"}
	if len(got) != len(want) {
		t.Fatalf("rules %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("rule of %s: %q, want %q", k, got[k], v)
		}
	}
	if c := Conditions(p); len(c) != 1 || c[h] != src {
		t.Fatalf("Conditions = %v", c)
	}
	if c := Conditions(condRight("a", "b", rolegate.Allowed, "")); c != nil {
		t.Fatalf("Conditions of unconditional rights = %v", c)
	}
}

func TestConditionalAllow(t *testing.T) {
	e := condEngine(t, condPolicy(nil, condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= 1000.0")), nil)
	for _, c := range []struct {
		name     string
		resource map[string]any
		want     rolegate.Permission
		value    *bool
		err      string
	}{
		{"true", map[string]any{"amount": 500.0}, rolegate.Allowed, ptr(true), ""},
		{"false", map[string]any{"amount": 5000.0}, rolegate.NotAllowed, ptr(false), ""},
		{"missing", nil, rolegate.NotAllowed, nil, "no such key"},
		{"wrong type", map[string]any{"amount": "cheap"}, rolegate.NotAllowed, nil, "no such overload"},
	} {
		for _, explain := range []bool{false, true} {
			d := mustCheck(t, e, Request{ObjectType: "invoice", Action: "approve", Resource: c.resource, Explain: explain})
			if d.Permission != c.want || d.Allowed != (c.want == rolegate.Allowed) {
				t.Fatalf("%s: %s (allowed %v), want %s", c.name, d.Permission, d.Allowed, c.want)
			}
			if !explain {
				continue
			}
			if len(d.Matched) != 1 {
				t.Fatalf("%s: matched %+v", c.name, d.Matched)
			}
			m := d.Matched[0]
			if m.Condition != "resource.amount <= 1000.0" || m.RoleID != "r0" || m.Permission != rolegate.Allowed {
				t.Fatalf("%s: match %+v", c.name, m)
			}
			if (m.ConditionValue == nil) != (c.value == nil) || (c.value != nil && *m.ConditionValue != *c.value) {
				t.Fatalf("%s: condition value %v, want %v", c.name, m.ConditionValue, c.value)
			}
			if (c.err == "") != (m.ConditionError == "") || !strings.Contains(m.ConditionError, c.err) {
				t.Fatalf("%s: condition error %q, want %q", c.name, m.ConditionError, c.err)
			}
			if c.want == rolegate.NotAllowed && len(d.DeniedBy) != 0 {
				t.Fatalf("%s: denied_by %+v", c.name, d.DeniedBy)
			}
		}
	}
}

func TestConditionalDeny(t *testing.T) {
	e := condEngine(t, condPolicy(nil,
		condRight("invoice", "approve", rolegate.Allowed, ""),
		condRight("invoice", "approve", rolegate.Denied, "resource.frozen")), nil)
	for _, c := range []struct {
		name     string
		resource map[string]any
		want     rolegate.Permission
	}{
		{"true", map[string]any{"frozen": true}, rolegate.Denied},
		{"false", map[string]any{"frozen": false}, rolegate.Allowed},
		{"missing", nil, rolegate.Denied},
		{"wrong type", map[string]any{"frozen": "no"}, rolegate.Denied},
		{"null", map[string]any{"frozen": nil}, rolegate.Denied},
	} {
		d := mustCheck(t, e, Request{ObjectType: "invoice", Action: "approve", Resource: c.resource, Explain: true})
		if d.Permission != c.want || d.Allowed != (c.want == rolegate.Allowed) {
			t.Fatalf("%s: %s, want %s (matched %+v)", c.name, d.Permission, c.want, d.Matched)
		}
		if len(d.Matched) != 2 {
			t.Fatalf("%s: matched %+v", c.name, d.Matched)
		}
		if c.want == rolegate.Denied && (len(d.DeniedBy) != 1 || d.DeniedBy[0].RoleID != "r1" || d.DeniedBy[0].Condition != "resource.frozen") {
			t.Fatalf("%s: denied_by %+v", c.name, d.DeniedBy)
		}
	}
}

func TestConditionalOwn(t *testing.T) {
	e := condEngine(t, condPolicy(nil, condRight("doc", "edit", rolegate.AllowedForOwn, "resource.draft == true")), nil)
	for _, c := range []struct {
		owner string
		draft bool
		want  rolegate.Permission
		n     int
	}{
		{"u", true, rolegate.AllowedForOwn, 1},
		{"u", false, rolegate.NotAllowed, 1},
		{"v", true, rolegate.NotAllowed, 0},
		{"", true, rolegate.NotAllowed, 0},
	} {
		d := mustCheck(t, e, Request{ObjectType: "doc", Action: "edit", OwnerID: c.owner, Resource: map[string]any{"draft": c.draft}, Explain: true})
		if d.Permission != c.want || len(d.Matched) != c.n {
			t.Fatalf("%+v: %s, matched %+v", c, d.Permission, d.Matched)
		}
	}
}

func TestConditionalWildcards(t *testing.T) {
	e := condEngine(t, condPolicy(nil,
		condRight(rolegate.Wildcard, rolegate.Wildcard, rolegate.Allowed, "resource.public == true"),
		condRight("secret", rolegate.Wildcard, rolegate.Denied, "resource.level > 2.0")), nil)
	for _, c := range []struct {
		obj      string
		resource map[string]any
		want     rolegate.Permission
	}{
		{"doc", map[string]any{"public": true}, rolegate.Allowed},
		{"doc", map[string]any{"public": false}, rolegate.NotAllowed},
		{"secret", map[string]any{"public": true, "level": 1.0}, rolegate.Allowed},
		{"secret", map[string]any{"public": true, "level": 3.0}, rolegate.Denied},
		{"secret", map[string]any{"public": true}, rolegate.Denied}, // level missing: the deny applies
	} {
		d := mustCheck(t, e, Request{ObjectType: c.obj, Action: "read", Resource: c.resource})
		if d.Permission != c.want {
			t.Fatalf("%+v: %s", c, d.Permission)
		}
	}
}

func TestConditionReadsUserAttributes(t *testing.T) {
	attrs := map[string]map[string]any{"u": {"approval_limit": 1000}, "w": {"approval_limit": "lots"}, "j": {"approval_limit": json.Number("1000")}}
	pol := condPolicy(attrs, condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= user.approval_limit"))
	pol.Rules = append(pol.Rules,
		CompileAssignment(rolegate.Assignment{EntityID: "acme", UserID: "v", RoleID: "r0"}),
		CompileAssignment(rolegate.Assignment{EntityID: "acme", UserID: "w", RoleID: "r0"}),
		CompileAssignment(rolegate.Assignment{EntityID: "acme", UserID: "j", RoleID: "r0"}))
	e := condEngine(t, pol, nil)
	for _, c := range []struct {
		user   string
		amount float64
		want   rolegate.Permission
	}{
		{"u", 1000, rolegate.Allowed},
		{"u", 1000.5, rolegate.NotAllowed},
		{"v", 1, rolegate.NotAllowed}, // no attributes
		{"w", 1, rolegate.NotAllowed}, // a string limit
		{"j", 1000, rolegate.Allowed}, // a json.Number, normalized
		{"j", 1001, rolegate.NotAllowed},
	} {
		d := mustCheck(t, e, Request{UserID: c.user, ObjectType: "invoice", Action: "approve", Resource: map[string]any{"amount": c.amount}})
		if d.Permission != c.want {
			t.Fatalf("%+v: %s", c, d.Permission)
		}
	}
}

func TestConditionReadsTheClock(t *testing.T) {
	clock := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	e := condEngine(t, condPolicy(nil, condRight("report", "read", rolegate.Allowed, `now < timestamp("2030-01-01T00:00:00Z")`)), now)
	if d := mustCheck(t, e, Request{ObjectType: "report", Action: "read"}); d.Permission != rolegate.Allowed {
		t.Fatalf("before: %s", d.Permission)
	}
	clock = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := mustCheck(t, e, Request{ObjectType: "report", Action: "read"}); d.Permission != rolegate.NotAllowed {
		t.Fatalf("after: %s (a cached answer?)", d.Permission)
	}
}

// TestClockAnswersAreNotKept: an answer that read now is valid until the
// instant it was given (so no client's cache keeps it); one whose conditions
// read no clock carries no such bound.
func TestClockAnswersAreNotKept(t *testing.T) {
	clock := time.Date(2029, 6, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	e := condEngine(t, condPolicy(nil,
		condRight("report", "read", rolegate.Allowed, `now < timestamp("2030-01-01T00:00:00Z")`),
		condRight("report", "write", rolegate.Allowed, `resource.amount < 10.0`)), now)
	for _, explain := range []bool{false, true} {
		d := mustCheck(t, e, Request{ObjectType: "report", Action: "read", Explain: explain})
		if d.Permission != rolegate.Allowed || d.ValidUntil != clock.UnixMilli() {
			t.Fatalf("explain %v: %s valid until %d, want allowed until %d", explain, d.Permission, d.ValidUntil, clock.UnixMilli())
		}
		d = mustCheck(t, e, Request{ObjectType: "report", Action: "write", Resource: map[string]any{"amount": 1.0}, Explain: explain})
		if d.Permission != rolegate.Allowed || d.ValidUntil != 0 {
			t.Fatalf("explain %v: %s valid until %d, want allowed without a bound", explain, d.Permission, d.ValidUntil)
		}
	}
}

// TestConditionalDecisionsAreNotCached alternates the resource of one
// question: every answer follows its own resource, and only the answers that
// read no condition are cached.
func TestConditionalDecisionsAreNotCached(t *testing.T) {
	e := condEngine(t, condPolicy(nil,
		condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= 1000.0"),
		condRight("invoice", "read", rolegate.Allowed, "")), nil)
	for i := range 20 {
		amount, want := 10.0, rolegate.Allowed
		if i%2 == 1 {
			amount, want = 10000.0, rolegate.NotAllowed
		}
		d := mustCheck(t, e, Request{ObjectType: "invoice", Action: "approve", Resource: map[string]any{"amount": amount}})
		if d.Permission != want {
			t.Fatalf("round %d: %s, want %s", i, d.Permission, want)
		}
		if d := mustCheck(t, e, Request{ObjectType: "invoice", Action: "read", Resource: map[string]any{"amount": amount}}); d.Permission != rolegate.Allowed {
			t.Fatalf("round %d: read %s", i, d.Permission)
		}
	}
	s, err := e.snapshot(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for act, cached := range map[string]bool{"approve": false, "read": true} {
		h1, h2 := hashes(decisionKey{"u", "", "invoice", act, "", 0})
		if _, _, ok := s.decisions.Load().get(h1, h2); ok != cached {
			t.Fatalf("%s: cached %v, want %v", act, ok, cached)
		}
	}
}

func TestUnknownOrBrokenConditions(t *testing.T) {
	pol := condPolicy(nil,
		condRight("a", "x", rolegate.Allowed, "resource.ok"),
		condRight("b", "x", rolegate.Allowed, ""),
		condRight("b", "x", rolegate.Denied, "resource.ok"),
		condRight("c", "x", rolegate.Allowed, "resource.ok +"))
	clear(pol.Conditions)
	pol.Conditions[condition.Hash("resource.ok +")] = "resource.ok +" // stored, does not compile
	e := condEngine(t, pol, nil)
	for obj, want := range map[string]rolegate.Permission{"a": rolegate.NotAllowed, "b": rolegate.Denied, "c": rolegate.NotAllowed} {
		d := mustCheck(t, e, Request{ObjectType: obj, Action: "x", Resource: map[string]any{"ok": true}, Explain: true})
		if d.Permission != want {
			t.Fatalf("%s: %s, want %s", obj, d.Permission, want)
		}
		for _, m := range d.Matched {
			if m.RoleID != "r1" && m.ConditionError == "" {
				t.Fatalf("%s: match %+v has no error", obj, m)
			}
		}
	}
}

func TestDeltaConditionsAndAttributes(t *testing.T) {
	e := condEngine(t, condPolicy(map[string]map[string]any{"u": {"limit": 100}},
		condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= user.limit")), nil)
	ctx := context.Background()
	req := Request{ObjectType: "invoice", Action: "approve", Resource: map[string]any{"amount": 500.0}}
	if d := mustCheck(t, e, req); d.Permission != rolegate.NotAllowed {
		t.Fatalf("before: %s", d.Permission)
	}
	// The user's limit goes up.
	var d Delta
	d.RecordAttributes("u", map[string]any{"limit": 1000})
	if err := e.Apply(ctx, "acme", 2, d); err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, e, req); d.Permission != rolegate.Allowed {
		t.Fatalf("after the attributes: %s", d.Permission)
	}
	// The role's condition changes.
	p := condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= user.limit / 10.0")
	d = Delta{}
	d.Record(OpReplace, RoleSubject("r0"), CompileRights(RoleSubject("r0"), "acme", p))
	d.RecordConditions(Conditions(p))
	if err := e.Apply(ctx, "acme", 3, d); err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, e, req); d.Permission != rolegate.NotAllowed {
		t.Fatalf("after the condition: %s", d.Permission)
	}
	req.Resource = map[string]any{"amount": 100.0}
	if d := mustCheck(t, e, req); d.Permission != rolegate.Allowed {
		t.Fatalf("within the new condition: %s", d.Permission)
	}
	// The attributes go.
	d = Delta{}
	d.RecordAttributes("u", nil)
	if err := e.Apply(ctx, "acme", 4, d); err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, e, req); d.Permission != rolegate.NotAllowed {
		t.Fatalf("without attributes: %s", d.Permission)
	}
	// The delta survives the change log's encoding.
	d = Delta{}
	d.RecordAttributes("u", map[string]any{"limit": 1000})
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d, err = DecodeDelta(b); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ctx, "acme", 5, d); err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, e, req); d.Permission != rolegate.Allowed {
		t.Fatalf("after the decoded delta: %s", d.Permission)
	}
}

func ptr[T any](v T) *T { return &v }

func TestWhoCanAndEffectiveRightsWithConditions(t *testing.T) {
	const (
		small  = "resource.amount <= 100.0"
		mine   = "resource.team == user.team"
		frozen = "resource.frozen"
		late   = "resource.late"
	)
	// u: two conditional allows and a conditional deny; v: an unconditional
	// allow and the deny; w: an allow under a condition and an
	// unconditional deny; x: the allow only.
	pol := Policy{Revision: 1, RoleNames: map[string]string{"a": "A", "b": "B", "c": "C", "d": "D", "f": "F"}, Conditions: map[string]string{},
		Attributes: map[string]map[string]any{"u": {"team": "red"}, "v": {"team": "blue"}}}
	for role, p := range map[string]rolegate.Permissions{
		"a": condRight("invoice", "approve", rolegate.Allowed, small),
		"b": condRight("invoice", "approve", rolegate.Allowed, mine),
		"c": condRight("invoice", rolegate.Wildcard, rolegate.Denied, frozen),
		"d": condRight("invoice", "approve", rolegate.Allowed, ""),
		"f": condRight(rolegate.Wildcard, "approve", rolegate.Denied, ""),
	} {
		pol.Rules = append(pol.Rules, CompileRights(RoleSubject(role), "acme", p)...)
		maps.Copy(pol.Conditions, Conditions(p))
	}
	for user, roles := range map[string][]string{"u": {"a", "b", "c"}, "v": {"d", "c"}, "w": {"a", "f"}, "x": {"a"}} {
		for _, r := range roles {
			pol.Rules = append(pol.Rules, CompileAssignment(rolegate.Assignment{EntityID: "acme", UserID: user, RoleID: r}))
		}
	}
	e := condEngine(t, pol, nil)
	ctx := context.Background()
	holders, _, err := e.WhoCan(ctx, "acme", "invoice", "approve", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"u": "((" + small + ") || (" + mine + ")) && !(" + frozen + ")",
		"v": "!(" + frozen + ")",
		"x": small,
	}
	if len(holders) != len(want) {
		t.Fatalf("holders %+v", holders)
	}
	for _, h := range holders {
		if c, ok := want[h.UserID]; !ok || h.Condition != c || h.Permission != rolegate.Allowed {
			t.Fatalf("holder %+v, want condition %q", h, c)
		}
	}
	for _, c := range []struct {
		resource map[string]any
		users    string
	}{
		{map[string]any{"amount": 50.0, "frozen": false, "team": "blue"}, "uvx"},
		{map[string]any{"amount": 500.0, "frozen": false, "team": "red"}, "uv"},
		{map[string]any{"amount": 500.0, "frozen": false}, "v"},
		{map[string]any{"amount": 50.0}, "x"}, // frozen missing: the deny applies
		{map[string]any{}, ""},
	} {
		holders, _, err := e.WhoCanResource(ctx, "acme", "invoice", "approve", "", "", 10, c.resource)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, h := range holders {
			got += h.UserID
			if h.Condition != "" {
				t.Fatalf("%v: holder %+v has a condition", c.resource, h)
			}
		}
		if got != c.users {
			t.Fatalf("%v: holders %q, want %q", c.resource, got, c.users)
		}
	}
	// Effective rights carry the same conditions.
	for user, wantCond := range want {
		p, _, err := e.Effective(ctx, "acme", user, "")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, o := range p.Objects {
			for _, a := range o.Actions {
				if o.ObjectType == "invoice" && a.ActionName == "approve" {
					found = true
					if a.Permission != rolegate.Allowed || a.Condition != wantCond {
						t.Fatalf("%s: effective %+v, want condition %q", user, a, wantCond)
					}
				}
				if o.ObjectType == "invoice" && a.ActionName == rolegate.Wildcard && (a.Permission != rolegate.Denied || a.Condition != frozen) {
					t.Fatalf("%s: effective %+v", user, a)
				}
			}
		}
		if !found {
			t.Fatalf("%s: effective %+v lacks invoice/approve", user, p)
		}
	}
	// So do the report's rows.
	rep, err := e.Report(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	rows := rep.UserRights("u")
	if len(rows) != 1 || rows[0].Condition != want["u"] || len(rows[0].Via) != 2 {
		t.Fatalf("report rows of u: %+v", rows)
	}
	if rows := rep.UserRights("w"); len(rows) != 0 {
		t.Fatalf("report rows of w: %+v", rows)
	}
	// A dry run changing a condition: lost under the old, gained under the new.
	p := condRight("invoice", "approve", rolegate.Allowed, "resource.amount <= 200.0")
	var d Delta
	d.Record(OpReplace, RoleSubject("a"), CompileRights(RoleSubject("a"), "acme", p))
	d.RecordConditions(Conditions(p))
	gained, lost, err := e.DryRun(ctx, "acme", 2, d)
	if err != nil {
		t.Fatal(err)
	}
	wantGained := []Right{
		{UserID: "u", ObjectType: "invoice", Action: "approve", Permission: rolegate.Allowed, Condition: "((resource.amount <= 200.0) || (" + mine + ")) && !(" + frozen + ")"},
		{UserID: "x", ObjectType: "invoice", Action: "approve", Permission: rolegate.Allowed, Condition: "resource.amount <= 200.0"},
	}
	wantLost := []Right{
		{UserID: "u", ObjectType: "invoice", Action: "approve", Permission: rolegate.Allowed, Condition: want["u"]},
		{UserID: "x", ObjectType: "invoice", Action: "approve", Permission: rolegate.Allowed, Condition: small},
	}
	if !reflect.DeepEqual(gained, wantGained) || !reflect.DeepEqual(lost, wantLost) {
		t.Fatalf("dry run: gained %+v lost %+v\nwant gained %+v lost %+v", gained, lost, wantGained, wantLost)
	}
	// A change of attributes changes no right read without a resource.
	d = Delta{}
	d.RecordAttributes("u", map[string]any{"team": "blue"})
	if gained, lost, err := e.DryRun(ctx, "acme", 2, d); err != nil || len(gained)+len(lost) != 0 {
		t.Fatalf("dry run of attributes: %v %v %v", gained, lost, err)
	}
}

// TestExplainedConditionalRefusal: denied_by names the conditional deny that
// applied; grantable_by names a role whose conditional allow would hold in
// this check, not one whose condition is false.
func TestExplainedConditionalRefusal(t *testing.T) {
	pol := condPolicy(nil, condRight("invoice", "pay", rolegate.Denied, "resource.frozen"))
	for role, cond := range map[string]string{"big": "resource.amount > 100.0", "small": "resource.amount <= 100.0"} {
		p := condRight("invoice", "approve", rolegate.Allowed, cond)
		pol.RoleNames[role] = role
		pol.Rules = append(pol.Rules, CompileRights(RoleSubject(role), "acme", p)...)
		maps.Copy(pol.Conditions, Conditions(p))
	}
	e := condEngine(t, pol, nil)
	d := mustCheck(t, e, Request{ObjectType: "invoice", Action: "approve", Resource: map[string]any{"amount": 50.0}, Explain: true})
	if d.Permission != rolegate.NotAllowed || len(d.GrantableBy) != 1 || d.GrantableBy[0].RoleID != "small" {
		t.Fatalf("%s, grantable_by %+v", d.Permission, d.GrantableBy)
	}
	d = mustCheck(t, e, Request{ObjectType: "invoice", Action: "pay", Resource: map[string]any{"frozen": true}, Explain: true})
	if d.Permission != rolegate.Denied || len(d.DeniedBy) != 1 || d.DeniedBy[0].Condition != "resource.frozen" || d.DeniedBy[0].ConditionValue == nil || !*d.DeniedBy[0].ConditionValue {
		t.Fatalf("%s, denied_by %+v", d.Permission, d.DeniedBy)
	}
}

// TestConditionAttacks sends the largest and strangest resources: huge
// strings and lists (the evaluation's cost limit stops them), values no JSON
// holds, nested objects. An allow never holds on them, a deny always does;
// the check answers.
func TestConditionAttacks(t *testing.T) {
	conds := []string{
		`resource.s.contains("needle")`,
		`resource.l.exists(x, x == "needle")`,
		`resource.n.x == 1.0`,
		`resource.amount <= 10.0`,
	}
	big := strings.Repeat("a", 1<<20)
	list := make([]any, 200_000)
	for i := range list {
		list[i] = "hay"
	}
	resources := []map[string]any{
		{"s": big + "needle", "l": append(list, "needle"), "n": map[string]any{"x": 1.0}, "amount": 1.0}, // nested object: CEL reads it
		{"s": make(chan int), "l": func() {}, "n": struct{}{}, "amount": complex(1, 2)},
		{"s": nil, "l": nil, "n": nil, "amount": nil},
	}
	many := map[string]any{}
	for i := range 100_000 {
		many["k"+strings.Repeat("x", i%50)+string(rune('a'+i%26))] = i
	}
	resources = append(resources, many)
	for i, src := range conds {
		pol := condPolicy(nil, condRight("doc", "read", rolegate.Allowed, src), condRight("doc", "write", rolegate.Allowed, ""),
			condRight("doc", "write", rolegate.Denied, src))
		e := condEngine(t, pol, nil)
		for j, res := range resources {
			read := mustCheck(t, e, Request{ObjectType: "doc", Action: "read", Resource: res, Explain: true})
			write := mustCheck(t, e, Request{ObjectType: "doc", Action: "write", Resource: res, Explain: true})
			// True: read allowed, write denied; false: the reverse; an
			// error: neither allowed.
			m := read.Matched[0]
			want := m.ConditionValue != nil && *m.ConditionValue
			wantWrite := m.ConditionValue != nil && !*m.ConditionValue
			if read.Allowed != want || write.Allowed != wantWrite || (m.ConditionValue == nil) == (m.ConditionError == "") {
				t.Fatalf("condition %d, resource %d: read %s (%+v), write %s (%+v)", i, j, read.Permission, read.Matched, write.Permission, write.Matched)
			}
			if j == 1 || j == 2 || j == 3 {
				if read.Allowed || len(read.Matched) != 1 || read.Matched[0].ConditionError == "" {
					t.Fatalf("condition %d, resource %d: read %s %+v", i, j, read.Permission, read.Matched)
				}
			}
		}
	}
	// A huge string or list costs more than an evaluation may spend.
	e := condEngine(t, condPolicy(nil, condRight("doc", "read", rolegate.Allowed, conds[1])), nil)
	d := mustCheck(t, e, Request{ObjectType: "doc", Action: "read", Resource: resources[0], Explain: true})
	if d.Allowed || !strings.Contains(d.Matched[0].ConditionError, "cost") {
		t.Fatalf("a list of %d items: %s %+v", len(list), d.Permission, d.Matched)
	}
}
