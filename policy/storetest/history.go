package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// historyClock is a clock a second ahead at every reading, so that every
// revision commits at its own instant.
type historyClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *historyClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// historyService is a service (and its engine) over s.
func historyService(t *testing.T, s policy.Store, clock *historyClock) *policy.Service {
	t.Helper()
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: s, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewService(policy.Config{Store: s, Engine: eng, Now: clock.now})
}

// kept is the policy LoadPolicy read right after a write, with when the
// write committed (the entity's updated_at).
type kept struct {
	pol engine.Policy
	at  time.Time
}

// historyWriter makes random writes to one entity through the service and
// keeps the policy after each.
type historyWriter struct {
	t      *testing.T
	s      policy.Store
	svc    *policy.Service
	rnd    *rand.Rand
	entity string
	roles  []string
	users  []string
	kept   map[int64]kept
}

var historyCtx = auth.Internal(context.Background())

func (w *historyWriter) keep(rev int64) {
	w.t.Helper()
	pol, err := w.s.LoadPolicy(ctx, w.entity)
	if err != nil {
		w.t.Fatal(err)
	}
	if pol.Revision != rev {
		w.t.Fatalf("LoadPolicy after the write of revision %d read revision %d", rev, pol.Revision)
	}
	var at time.Time
	if err := w.s.View(ctx, func(tx policy.Tx) error {
		e, err := tx.GetEntity(w.entity)
		at = e.UpdatedAt
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
	w.kept[rev] = kept{pol: pol, at: at}
}

func (w *historyWriter) rights() *rolegate.Permissions {
	objs := []string{"doc", "invoice", "report"}
	acts := []string{"read", "write", "pay", "approve"}
	var p rolegate.Permissions
	for _, o := range objs {
		if w.rnd.Intn(2) == 0 {
			continue
		}
		op := rolegate.ObjectPermissions{ObjectType: o}
		for _, a := range acts {
			switch w.rnd.Intn(5) {
			case 0:
				op.Actions = append(op.Actions, ap(a, rolegate.Allowed))
			case 1:
				op.Actions = append(op.Actions, ap(a, rolegate.AllowedForOwn))
			case 2:
				op.Actions = append(op.Actions, rolegate.ActionPermission{ActionName: a, Permission: rolegate.Allowed,
					Condition: fmt.Sprintf("user.limit >= %d", w.rnd.Intn(3))})
			}
		}
		if len(op.Actions) > 0 {
			p.Objects = append(p.Objects, op)
		}
	}
	return &p
}

func (w *historyWriter) pick(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[w.rnd.Intn(len(xs))]
}

func (w *historyWriter) drop(xs []string, x string) []string {
	return slices.DeleteFunc(xs, func(y string) bool { return y == x })
}

// step makes one random write; it returns the revision it made (0: none).
func (w *historyWriter) step(i int) int64 {
	w.t.Helper()
	var rev int64
	var err error
	switch op := w.rnd.Intn(10); {
	case op == 0 || len(w.roles) < 2:
		name := fmt.Sprintf("role %d", i)
		var r rolegate.Role
		r, rev, err = w.svc.CreateRole(historyCtx, w.entity, policy.RoleInput{Name: &name, Permissions: w.rights()})
		if err == nil {
			w.roles = append(w.roles, r.ID)
		}
	case op == 1:
		name := fmt.Sprintf("renamed %d", i)
		_, rev, err = w.svc.UpdateRole(historyCtx, w.entity, w.pick(w.roles), policy.RoleInput{Name: &name}, policy.Patch, 0)
	case op == 2:
		_, rev, err = w.svc.UpdateRole(historyCtx, w.entity, w.pick(w.roles), policy.RoleInput{Permissions: w.rights()}, policy.Patch, 0)
	case op == 3 && len(w.roles) > 3:
		id := w.pick(w.roles)
		_, rev, err = w.svc.DeleteRole(historyCtx, w.entity, id, true, 0)
		if err == nil {
			w.roles = w.drop(w.roles, id)
		}
	case op == 4 || len(w.users) < 2:
		id := fmt.Sprintf("user-%d", i)
		if w.rnd.Intn(4) == 0 {
			id = strings.Repeat("long", 30) + id // a hashed subject
		}
		in := policy.UserInput{ID: id}
		if w.rnd.Intn(2) == 0 {
			attrs := map[string]any{"limit": float64(w.rnd.Intn(3))}
			in.Attributes = &attrs
		}
		if w.rnd.Intn(3) == 0 {
			in.Permissions = w.rights()
		}
		_, rev, err = w.svc.CreateUser(historyCtx, w.entity, in)
		if err == nil {
			w.users = append(w.users, id)
		}
	case op == 5:
		in := policy.UserInput{}
		if w.rnd.Intn(2) == 0 {
			attrs := map[string]any{}
			if w.rnd.Intn(3) > 0 {
				attrs["limit"] = float64(w.rnd.Intn(3))
			}
			in.Attributes = &attrs
		} else {
			in.Permissions = w.rights()
		}
		_, rev, err = w.svc.UpdateUser(historyCtx, w.entity, w.pick(w.users), in)
	case op == 6 && len(w.users) > 3:
		id := w.pick(w.users)
		_, rev, err = w.svc.DeleteUser(historyCtx, w.entity, id)
		if err == nil {
			w.users = w.drop(w.users, id)
		}
	case op == 7:
		var until *time.Time
		if w.rnd.Intn(3) == 0 {
			at := time.Now().Add(time.Duration(1+w.rnd.Intn(100)) * time.Hour).UTC().Truncate(time.Millisecond)
			until = &at
		}
		scope := ""
		if w.rnd.Intn(3) == 0 {
			scope = "team:" + fmt.Sprint(w.rnd.Intn(2))
		}
		_, rev, err = w.svc.AssignRoleUntil(historyCtx, w.entity, w.pick(w.users), w.pick(w.roles), scope, until)
	case op == 8:
		rev, err = w.svc.UnassignRole(historyCtx, w.entity, w.pick(w.users), w.pick(w.roles), "")
	default:
		ids := []string{w.pick(w.roles)}
		if w.rnd.Intn(2) == 0 {
			ids = append(ids, w.pick(w.roles))
		}
		_, rev, err = w.svc.SetScopedRoles(historyCtx, w.entity, w.pick(w.users), "team:"+fmt.Sprint(w.rnd.Intn(2)), ids)
	}
	var re *rolegate.Error
	if err != nil && !(errors.As(err, &re) && re.Kind != rolegate.KindUnavailable) {
		w.t.Fatalf("write %d: %v", i, err)
	}
	if err != nil || rev == 0 {
		return 0
	}
	w.keep(rev)
	return rev
}

// CanonicalPolicy is a policy as compared: rules sorted, hashed subjects
// named only when the rules hold them, conditions left out (checked apart),
// empty rules and maps nil.
func CanonicalPolicy(p engine.Policy) engine.Policy {
	out := engine.Policy{Revision: p.Revision, Created: p.Created.UTC().Truncate(time.Millisecond), Rules: slices.Clone(p.Rules),
		RoleNames: p.RoleNames, Attributes: p.Attributes}
	slices.SortFunc(out.Rules, func(a, b rolegate.Rule) int { return strings.Compare(a.String(), b.String()) })
	for _, r := range out.Rules {
		if n, ok := p.Hashed[r.Values[0]]; ok {
			if out.Hashed == nil {
				out.Hashed = map[string]engine.HashedName{}
			}
			out.Hashed[r.Values[0]] = n
		}
	}
	if len(out.Rules) == 0 {
		out.Rules = nil
	}
	if len(out.RoleNames) == 0 {
		out.RoleNames = nil
	}
	if len(out.Attributes) == 0 {
		out.Attributes = nil
	}
	return out
}

// samePolicy fails unless got (PolicyAt) is want (LoadPolicy then).
func samePolicy(t *testing.T, rev int64, got, want engine.Policy) {
	t.Helper()
	if g, w := CanonicalPolicy(got), CanonicalPolicy(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("revision %d: PolicyAt\n%+v\nLoadPolicy then\n%+v", rev, g, w)
	}
	for h, src := range want.Conditions {
		if got.Conditions[h] != src {
			t.Fatalf("revision %d: condition %s is %q, was %q", rev, h, got.Conditions[h], src)
		}
	}
}

func policyAt(s policy.Store, entity string, rev int64) (engine.Policy, error) {
	var pol engine.Policy
	err := s.View(ctx, func(tx policy.Tx) error {
		var err error
		pol, err = tx.PolicyAt(entity, rev)
		return err
	})
	return pol, err
}

// checkHistory checks every kept revision from `from` on: PolicyAt is what
// LoadPolicy read then, HistoryRevisionAt finds it at its commit instant,
// and the rules' and roles' histories agree with the policies.
func checkHistory(t *testing.T, s policy.Store, entity string, revs map[int64]kept, from int64) {
	t.Helper()
	var subjects, roleIDs []string
	seen := map[string]bool{}
	for rev, k := range revs {
		if rev < from {
			continue
		}
		got, err := policyAt(s, entity, rev)
		if err != nil {
			t.Fatalf("PolicyAt %d: %v", rev, err)
		}
		samePolicy(t, rev, got, k.pol)
		err = s.View(ctx, func(tx policy.Tx) error {
			r, err := tx.HistoryRevisionAt(entity, k.at)
			if err != nil || r.Revision != rev || !r.At.Equal(k.at) {
				return fmt.Errorf("HistoryRevisionAt %s: %+v %v, want revision %d", k.at, r, err, rev)
			}
			if r, err := tx.HistoryRevisionAt(entity, k.at.Add(999*time.Millisecond)); err != nil || r.Revision != rev {
				return fmt.Errorf("HistoryRevisionAt just after %s: %+v %v, want revision %d", k.at, r, err, rev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range k.pol.Rules {
			if !seen[r.Values[0]] {
				seen[r.Values[0]] = true
				subjects = append(subjects, r.Values[0])
			}
		}
		for id := range k.pol.RoleNames {
			if !seen["role "+id] {
				seen["role "+id] = true
				roleIDs = append(roleIDs, id)
			}
		}
	}
	var rules []policy.HistoryRule
	var roles []policy.HistoryRole
	err := s.View(ctx, func(tx policy.Tx) error {
		var err error
		if rules, err = tx.RuleHistory(entity, subjects, from, 0); err != nil {
			return err
		}
		roles, err = tx.RoleHistory(entity, roleIDs, from, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(rules, func(a, b policy.HistoryRule) int { return int(a.From - b.From) }) ||
		!slices.IsSortedFunc(roles, func(a, b policy.HistoryRole) int { return int(a.From - b.From) }) {
		t.Fatal("rule or role history not ordered by From")
	}
	for rev, k := range revs {
		if rev < from {
			continue
		}
		var want, got []string
		for _, r := range k.pol.Rules {
			want = append(want, r.String())
		}
		for _, h := range rules {
			if h.From <= rev && (h.To == 0 || rev < h.To) {
				got = append(got, h.Rule.String())
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("revision %d: rule history gives\n%v\nthe policy was\n%v", rev, got, want)
		}
		names := map[string]string{}
		for _, h := range roles {
			if h.Active && h.From <= rev && (h.To == 0 || rev < h.To) {
				names[h.RoleID] = h.Name
			}
		}
		if !maps.Equal(names, k.pol.RoleNames) {
			t.Fatalf("revision %d: role history gives %v, the policy was %v", rev, names, k.pol.RoleNames)
		}
	}
}

// testHistory: for random writes through the service, the history gives at
// every revision exactly the policy LoadPolicy read right after it; a failed
// write keeps nothing; a sweep keeps every revision in force at or after its
// cutoff; a deleted entity's history is gone.
func testHistory(t *testing.T, s policy.Store) {
	clock := &historyClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	svc := historyService(t, s, clock)
	ent, err := svc.CreateEntity(historyCtx, policy.EntityInput{ID: "hist"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateEntity(historyCtx, policy.EntityInput{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	w := &historyWriter{t: t, s: s, svc: svc, rnd: rand.New(rand.NewSource(25)), entity: ent.ID, kept: map[int64]kept{}}
	w.keep(1)
	system, err := svc.ListRoles(historyCtx, ent.ID, policy.RoleFilter{}, policy.Page{Limit: 100, Sort: "name"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range system {
		w.roles = append(w.roles, r.ID)
	}
	var last int64 = 1
	for i := range 120 {
		if rev := w.step(i); rev != 0 {
			last = rev
		}
	}
	if len(w.kept) < 60 {
		t.Fatalf("only %d writes of 120 made a revision", len(w.kept))
	}
	checkHistory(t, s, ent.ID, w.kept, 1)
	checkHistoryChanges(t, s, ent.ID, w.kept, w.rnd)

	// The revisions' changes: the first audit event of each write.
	err = s.View(ctx, func(tx policy.Tx) error {
		es, err := tx.HistoryRevisions(ent.ID, []int64{1, last, last + 1})
		if err != nil {
			return err
		}
		if len(es) != 2 || es[1].Change == nil || es[1].Change.Action != policy.AuditEntityCreate || es[last].Change == nil ||
			es[last].Change.AuditEventID == "" || es[1].Actor != auth.InternalActor().ID {
			return fmt.Errorf("revisions 1 and %d: %+v", last, es)
		}
		if start, err := tx.HistoryStart(ent.ID); err != nil || start.Revision != 1 {
			return fmt.Errorf("history start %+v %v", start, err)
		}
		if _, err := tx.HistoryRevisionAt(ent.ID, w.kept[1].at.Add(-time.Millisecond)); !errors.Is(err, rolegate.ErrNotFound) {
			return fmt.Errorf("revision before the entity: %v", err)
		}
		if _, err := tx.PolicyAt(ent.ID, last+1); !errors.Is(err, rolegate.ErrNotFound) {
			return fmt.Errorf("PolicyAt past the last revision: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A failed write keeps no history: refused by the service, or failing
	// in the store after its history was appended.
	name := "dup"
	if _, _, err := svc.CreateRole(historyCtx, ent.ID, policy.RoleInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	last++
	w.keep(last)
	if _, _, err := svc.CreateRole(historyCtx, ent.ID, policy.RoleInput{Name: &name}); err == nil {
		t.Fatal("a second role of one name")
	}
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx policy.Tx) error {
		rev, err := tx.BumpRevision(ent.ID, clock.now())
		if err != nil {
			return err
		}
		r := NewRole("lost", ent.ID, clock.now())
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		d := engine.Delta{}
		d.RecordRole(&r)
		if err := tx.AppendHistory(rolegate.Revision{EntityID: ent.ID, Revision: rev, At: clock.now()}, nil, d); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	s.View(ctx, func(tx policy.Tx) error {
		if es, err := tx.HistoryRevisions(ent.ID, []int64{last + 1}); err != nil || len(es) != 0 {
			t.Fatalf("a failed write's revision is kept: %v %v", es, err)
		}
		return nil
	})
	// The next write goes on from the last kept revision.
	last = w.step(1000)
	for last == 0 {
		last = w.step(1001)
	}
	checkHistory(t, s, ent.ID, w.kept, 1)

	// A sweep keeps every revision in force at or after its cutoff.
	revs := slices.Sorted(maps.Keys(w.kept))
	cut := revs[len(revs)/2]
	cutoff := w.kept[cut].at.Add(500 * time.Millisecond) // revision cut is in force then
	var swept map[string]int
	MustUpdate(t, s, func(tx policy.Tx) (err error) { swept, err = tx.SweepHistory(cutoff, 7); return })
	if swept[ent.ID] == 0 || swept[ent.ID] > 7 || swept["other"] != 0 {
		t.Fatalf("swept %v", swept)
	}
	total := swept[ent.ID]
	for {
		MustUpdate(t, s, func(tx policy.Tx) (err error) { swept, err = tx.SweepHistory(cutoff, 7); return })
		if swept[ent.ID] == 0 {
			break
		}
		total += swept[ent.ID]
	}
	if total < int(cut-1) {
		t.Fatalf("the sweep removed %d rows, fewer than the %d revisions before %d", total, cut-1, cut)
	}
	checkHistory(t, s, ent.ID, w.kept, cut)
	s.View(ctx, func(tx policy.Tx) error {
		if start, err := tx.HistoryStart(ent.ID); err != nil || start.Revision != cut {
			t.Fatalf("history start after the sweep: %+v %v, want %d", start, err, cut)
		}
		if _, err := tx.PolicyAt(ent.ID, cut-1); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("PolicyAt before the cutoff: %v", err)
		}
		if r, err := tx.HistoryRevisionAt(ent.ID, cutoff); err != nil || r.Revision != cut {
			t.Fatalf("revision at the cutoff: %+v %v", r, err)
		}
		if _, err := tx.HistoryStart("other"); err != nil {
			t.Fatalf("the other entity's history: %v", err)
		}
		return nil
	})

	// A deleted entity's history goes with it; made again, its history
	// starts again.
	if _, err := svc.DeleteEntity(historyCtx, ent.ID); err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx policy.Tx) error {
		if _, err := tx.HistoryStart(ent.ID); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("a deleted entity's history: %v", err)
		}
		if _, err := tx.PolicyAt(ent.ID, last); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("a deleted entity's policy: %v", err)
		}
		if rs, err := tx.RuleHistory(ent.ID, []string{"u:user-1"}, 0, 0); err != nil || len(rs) != 0 {
			t.Fatalf("a deleted entity's rules: %v %v", rs, err)
		}
		return nil
	})
	if _, err := svc.CreateEntity(historyCtx, policy.EntityInput{ID: ent.ID}); err != nil {
		t.Fatal(err)
	}
	w.kept = map[int64]kept{}
	w.keep(1)
	checkHistory(t, s, ent.ID, w.kept, 1)
}

// testHistoryRebase: an entity whose history is missing (made before the
// store kept any, or by a write that recorded nothing) has its history
// rebased on its rows by its next write.
func testHistoryRebase(t *testing.T, s policy.Store) {
	clock := &historyClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	svc := historyService(t, s, clock)
	now := ms(clock.now())
	r := NewRole("old", "e", now)
	r.Permissions = rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: "doc", Actions: []rolegate.ActionPermission{ap("read", rolegate.Allowed)}}}}
	MustUpdate(t, s, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: "e", Name: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertRole(&r); err != nil {
			return err
		}
		u := rolegate.User{ID: "ada", EntityID: "e", Attributes: map[string]any{"limit": float64(2)}, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertUser(&u); err != nil {
			return err
		}
		a := rolegate.Assignment{EntityID: "e", UserID: "ada", RoleID: r.ID, CreatedAt: now}
		if err := tx.PutAssignment(&a); err != nil {
			return err
		}
		return tx.AddRules(append(engine.Compile(r), engine.CompileAssignment(a)))
	})
	s.View(ctx, func(tx policy.Tx) error {
		if _, err := tx.HistoryStart("e"); !errors.Is(err, rolegate.ErrNotFound) {
			t.Fatalf("history of an entity no write recorded: %v", err)
		}
		return nil
	})
	w := &historyWriter{t: t, s: s, svc: svc, rnd: rand.New(rand.NewSource(7)), entity: "e", kept: map[int64]kept{},
		roles: []string{r.ID}, users: []string{"ada"}}
	name := "new"
	_, rev, err := svc.CreateRole(historyCtx, "e", policy.RoleInput{Name: &name, Permissions: w.rights()})
	if err != nil || rev != 2 {
		t.Fatalf("write: %d %v", rev, err)
	}
	w.keep(2)
	s.View(ctx, func(tx policy.Tx) error {
		if start, err := tx.HistoryStart("e"); err != nil || start.Revision != 2 {
			t.Fatalf("the rebased history starts at %+v %v, want 2", start, err)
		}
		return nil
	})
	for i := range 20 {
		w.step(i)
	}
	checkHistory(t, s, "e", w.kept, 2)
}

// checkHistoryChanges checks HistoryChanges on random pairs of kept
// revisions (c, r), either way: the policy at c with the delta of the rows
// changed between (HistoryDelta) applied is the policy at r; a limit below
// the rows changed reads none.
func checkHistoryChanges(t *testing.T, s policy.Store, entity string, revs map[int64]kept, rnd *rand.Rand) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(revs))
	for range 200 {
		c, r := keys[rnd.Intn(len(keys))], keys[rnd.Intn(len(keys))]
		var rows []policy.HistoryRow
		err := s.View(ctx, func(tx policy.Tx) error {
			var ok bool
			var err error
			rows, ok, err = tx.HistoryChanges(entity, min(c, r), max(c, r), 0)
			if err != nil || !ok {
				return fmt.Errorf("HistoryChanges %d..%d: ok %v, %v", c, r, ok, err)
			}
			changed := 0
			for _, row := range rows {
				if row.ID == 0 || row.From == 0 {
					return fmt.Errorf("HistoryChanges %d..%d: row without its id or span: %+v", c, r, row)
				}
				in := func(rev int64) bool { return rev > min(c, r) && rev <= max(c, r) }
				if in(row.From) || in(row.To) {
					changed++
				} else if row.Kind != policy.HistoryHashed {
					return fmt.Errorf("HistoryChanges %d..%d: row %+v changed nothing between", c, r, row)
				}
			}
			if changed > 1 {
				less, ok, err := tx.HistoryChanges(entity, min(c, r), max(c, r), changed-1)
				if err != nil || ok || less != nil {
					return fmt.Errorf("HistoryChanges %d..%d with a limit of %d (%d changed): %d rows, ok %v, %v", c, r, changed-1, changed, len(less), ok, err)
				}
				if _, ok, err := tx.HistoryChanges(entity, min(c, r), max(c, r), changed); err != nil || !ok {
					return fmt.Errorf("HistoryChanges %d..%d with a limit of %d: ok %v, %v", c, r, changed, ok, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := policy.HistoryDelta(entity, c, r, rows)
		if err != nil {
			t.Fatal(err)
		}
		got := ApplyPolicyDelta(revs[c].pol, r, d)
		want := revs[r].pol
		if g, w := CanonicalPolicy(got), CanonicalPolicy(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("revision %d with the changes to %d applied\n%+v\nLoadPolicy at %d\n%+v", c, r, g, r, w)
		}
	}
}

// ApplyPolicyDelta returns pol with d applied (a delta of rules, roles,
// attributes and hashed names, as HistoryDelta makes), at revision rev, as a
// snapshot takes it: removals and additions of rules in order, roles,
// attributes, names added.
func ApplyPolicyDelta(pol engine.Policy, rev int64, d engine.Delta) engine.Policy {
	out := engine.Policy{Revision: rev, Created: pol.Created, RoleNames: maps.Clone(pol.RoleNames),
		Attributes: maps.Clone(pol.Attributes), Hashed: maps.Clone(pol.Hashed)}
	if out.RoleNames == nil {
		out.RoleNames = map[string]string{}
	}
	if out.Attributes == nil {
		out.Attributes = map[string]map[string]any{}
	}
	if out.Hashed == nil {
		out.Hashed = map[string]engine.HashedName{}
	}
	// An assignment is its user and role: storing it again replaces its
	// expiry, as a snapshot takes it.
	key := func(r rolegate.Rule) string {
		if r.PType == "g" {
			return "g " + r.Values[0] + " " + r.Values[1]
		}
		return r.String()
	}
	rules := map[string]rolegate.Rule{}
	for _, r := range pol.Rules {
		rules[key(r)] = r
	}
	for _, op := range d.Ops {
		switch op.Op {
		case engine.OpAdd, engine.OpRemove:
			for _, line := range op.Rules {
				r := rolegate.Rule{PType: line[0], Values: line[1:]}
				if op.Op == engine.OpAdd {
					rules[key(r)] = r
				} else {
					delete(rules, key(r))
				}
			}
		case engine.OpRole:
			if op.Active {
				out.RoleNames[op.RoleID] = op.Name
			} else {
				delete(out.RoleNames, op.RoleID)
			}
		case engine.OpAttributes:
			if len(op.Attributes) == 0 {
				delete(out.Attributes, op.Subject)
			} else {
				out.Attributes[op.Subject] = op.Attributes
			}
		}
	}
	maps.Copy(out.Hashed, d.Hashed)
	out.Rules = slices.Collect(maps.Values(rules))
	return out
}

// testHistorySeparators: rules holding the characters SQL stores join a
// row's values and rows with (0x1f, 0x1e) are kept and read back exactly,
// by PolicyAt, by the rows a write reads to close and by HistoryChanges
// (the readers fall back to reading column by column).
func testHistorySeparators(t *testing.T, s policy.Store) {
	now := ms(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	odd := rolegate.Rule{PType: "p", Values: []string{"r:a\x1fb", "e", "doc\x1e", "read\x1fany", "any", "allow"}}
	plain := rolegate.Rule{PType: "p", Values: []string{"r:a\x1fb", "e", "doc", "read", "any", "allow"}}
	link := rolegate.Rule{PType: "g", Values: []string{"u:x\x1fy", "r:a\x1fb", "e"}}
	later := rolegate.Rule{PType: "p", Values: []string{"r:a\x1fb", "e", "doc", "write\x1e", "any", "allow"}}
	write := func(rev int64, d engine.Delta, fn func(tx policy.Tx) error) {
		t.Helper()
		MustUpdate(t, s, func(tx policy.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return tx.AppendHistory(rolegate.Revision{EntityID: "e", Revision: rev, At: now.Add(time.Duration(rev) * time.Minute)}, nil, d)
		})
	}
	write(1, engine.Delta{Full: true}, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: "e", Name: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.AddRules([]rolegate.Rule{odd, plain, link})
	})
	var d engine.Delta
	d.Record(engine.OpRemove, "", []rolegate.Rule{odd})
	d.Record(engine.OpAdd, "", []rolegate.Rule{later})
	write(2, d, func(tx policy.Tx) error {
		if err := tx.RemoveRules([]rolegate.Rule{odd}); err != nil {
			return err
		}
		return tx.AddRules([]rolegate.Rule{later})
	})
	want := map[int64][]rolegate.Rule{1: {odd, plain, link}, 2: {plain, later, link}}
	pols := map[int64]engine.Policy{}
	for rev, rules := range want {
		pol, err := policyAt(s, "e", rev)
		if err != nil {
			t.Fatal(err)
		}
		lines := func(rs []rolegate.Rule) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.String())
			}
			slices.Sort(out)
			return out
		}
		if got, exp := lines(pol.Rules), lines(rules); !reflect.DeepEqual(got, exp) {
			t.Fatalf("PolicyAt(%d) = %q, want %q", rev, got, exp)
		}
		pols[rev] = pol
	}
	for _, span := range [][2]int64{{1, 2}, {2, 1}} {
		var rows []policy.HistoryRow
		err := s.View(ctx, func(tx policy.Tx) error {
			var ok bool
			var err error
			rows, ok, err = tx.HistoryChanges("e", 1, 2, 0)
			if err == nil && !ok {
				err = fmt.Errorf("HistoryChanges: not ok")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := policy.HistoryDelta("e", span[0], span[1], rows)
		if err != nil {
			t.Fatal(err)
		}
		got := ApplyPolicyDelta(pols[span[0]], span[1], d)
		if g, w := CanonicalPolicy(got), CanonicalPolicy(pols[span[1]]); !reflect.DeepEqual(g, w) {
			t.Fatalf("revision %d with the changes to %d applied\n%+v\nwant\n%+v", span[0], span[1], g, w)
		}
	}
}
