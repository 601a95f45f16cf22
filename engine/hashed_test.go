package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/rolegate/rolegate"
)

// TestUnnamedHashedSubjectReloads: a delta that gives rules to a hashed
// subject without naming it (as deltas logged before they named them do) is
// not applied: the entity reloads in full, and the load names it. A delta that
// names it applies.
func TestUnnamedHashedSubjectReloads(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("x", 150)
	wide, scoped := UserSubject(long), ScopedSubject("team:1", long)
	reader := rolegate.Rule{PType: "p", Values: []string{"r:reader", "acme", "doc", "read", CondAny, EftAllow}}
	g := func(sub string) rolegate.Rule {
		return rolegate.Rule{PType: "g", Values: []string{sub, "r:reader", "acme"}}
	}
	names := map[string]HashedName{wide: {UserID: long}}
	loader := mapLoader{"acme": {Revision: 1, Rules: []rolegate.Rule{reader, g(wide)}, RoleNames: map[string]string{"reader": "Reader"}, Hashed: names}}
	e, err := New(Config{Model: rolegate.CasbinModel, Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	whoCan := func(scope string) []string {
		t.Helper()
		hs, _, err := e.WhoCan(ctx, "acme", "doc", "read", scope, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.UserID)
		}
		return out
	}
	if got := whoCan(""); len(got) != 1 || got[0] != long {
		t.Fatalf("who can, as loaded: %q", got)
	}

	// Revision 2 gives the user the role in team:1 too; the store has it,
	// the delta does not say whose subject it is.
	var d Delta
	d.Record(OpAdd, "", []rolegate.Rule{g(scoped)})
	loader["acme"] = Policy{Revision: 2, Rules: []rolegate.Rule{reader, g(wide), g(scoped)}, RoleNames: map[string]string{"reader": "Reader"},
		Hashed: map[string]HashedName{wide: {UserID: long}, scoped: {UserID: long, Scope: "team:1"}}}
	if err := e.Apply(ctx, "acme", 2, d); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Reloads != 1 || st.Deltas != 0 {
		t.Fatalf("an unnamed hashed subject was applied: %+v", st)
	}
	s, _ := e.snapshot(ctx, "acme")
	if u, sc := s.linkUser(scoped); u != long || sc != "team:1" {
		t.Fatalf("after the reload, the scoped subject is %q in %q", u, sc)
	}

	// Revision 3 takes the entity-wide role away and gives it in team:2,
	// named: applied as a delta.
	scoped2 := ScopedSubject("team:2", long)
	d = Delta{}
	d.Record(OpRemove, "", []rolegate.Rule{g(wide)})
	d.Record(OpAdd, "", []rolegate.Rule{g(scoped2)})
	d.RecordUser(long, "team:2")
	d.RecordUser("short", "team:2") // not hashed: not named
	if len(d.Hashed) != 1 {
		t.Fatalf("delta names %v", d.Hashed)
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d, err = DecodeDelta(b); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ctx, "acme", 3, d); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Reloads != 1 || st.Deltas != 1 {
		t.Fatalf("a named hashed subject was not applied as a delta: %+v", st)
	}
	for scope, want := range map[string]int{"": 0, "team:1": 1, "team:2": 1, "team:3": 0} {
		if got := whoCan(scope); len(got) != want || (want == 1 && got[0] != long) {
			t.Errorf("who can in %q: %q", scope, got)
		}
	}
}
