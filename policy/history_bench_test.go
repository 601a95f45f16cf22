package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// seedLarge stores the large tenant of the tenant-scale issue: roles
// <ent>-role-N with 20 rights each, and users' assignment rules (two roles
// each; no user rows), as adapters' benchmarks do.
func seedLarge(b *testing.B, store policy.Store, ent string, roles, users int, at time.Time) {
	b.Helper()
	err := store.Update(context.Background(), func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: ent, Name: ent, Revision: 1, CreatedAt: at, UpdatedAt: at}); err != nil {
			return err
		}
		var rules []rolegate.Rule
		for r := 0; r < roles; r++ {
			role := rolegate.Role{ID: fmt.Sprintf("%s-role-%d", ent, r), EntityID: ent, Name: fmt.Sprintf("role %d", r), RoleType: rolegate.RoleCustom,
				Scope: rolegate.ScopeAccount, Status: rolegate.StatusActive, Version: 1, CreatedAt: at, UpdatedAt: at}
			role.Permissions = *benchRights(0)
			if err := tx.InsertRole(&role); err != nil {
				return err
			}
			rules = append(rules, engine.Compile(role)...)
		}
		for u := 0; u < users; u++ {
			for _, r := range []int{u % roles, (u*7 + 1) % roles} {
				rules = append(rules, engine.CompileAssignment(rolegate.Assignment{EntityID: ent, UserID: fmt.Sprintf("user-%d", u), RoleID: fmt.Sprintf("%s-role-%d", ent, r)}))
			}
		}
		return tx.AddRules(rules)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// benchRights are a role's 20 rights; i varies 4 of them.
func benchRights(i int) *rolegate.Permissions {
	p := &rolegate.Permissions{}
	for k := 0; k < 20; k++ {
		act := []string{"read", "write", "delete", "approve"}[k%4]
		if k < 4 && i%2 == 1 {
			act += "_alt"
		}
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("obj_%d", k/4),
			Actions: []rolegate.ActionPermission{{ActionName: act, Permission: rolegate.Allowed}}})
	}
	return p
}

// BenchmarkHistoryAsOf measures answers as of the past on the large tenant
// (1,000 roles x 20 rights, 100,000 users with 2 roles each) on SQLite, with
// 10,000 revisions of history written through the service (100 users
// created, then assignments given and taken, some expiring, and roles'
// rights replaced, a minute apart): an as-of check cold (a new engine: the
// live policy loaded and the changes since undone, or when too many, the
// past policy read by PolicyAt and built), cold with the live policy held,
// and warm (the same revision again,
// through the service and the engine alone) beside a live one, and a user's
// access history over the whole history, also right after 31 writes whose
// plans wait to be filed (the read files them first).
//
//	go test -run '^$' -bench BenchmarkHistoryAsOf -benchtime 1x -timeout 60m ./policy
func BenchmarkHistoryAsOf(b *testing.B) {
	store := openSQLBench(b, "sqlite://"+filepath.Join(b.TempDir(), "large.db"))
	const ent, roles, users, revisions = "large", 1000, 100_000, 10_000
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	seedLarge(b, store, ent, roles, users, clock.now())
	ctx := auth.Internal(context.Background())
	svc := historyService(b, store, clock.now)
	rng := rand.New(rand.NewPCG(25, 25))
	role := func() string { return fmt.Sprintf("%s-role-%d", ent, rng.IntN(roles)) }
	t0 := time.Now()
	for k := 0; k < 100; k++ {
		clock.add(time.Minute)
		if _, _, err := svc.CreateUser(ctx, ent, policy.UserInput{ID: fmt.Sprintf("bench-%d", k)}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("100 users created (the first write rebases the history on the tenant): %s", time.Since(t0))
	// step makes one random write (none when the user chosen holds no
	// role to take).
	step := func() {
		clock.add(time.Minute)
		user := fmt.Sprintf("bench-%d", rng.IntN(100))
		var err error
		switch rng.IntN(10) {
		case 0, 1, 2:
			_, _, err = svc.AssignRole(ctx, ent, user, role(), "")
		case 3:
			until := clock.now().Add(time.Duration(1+rng.IntN(600)) * time.Minute)
			_, _, err = svc.AssignRoleUntil(ctx, ent, user, role(), "", &until)
		case 4, 5, 6:
			held, herr := svc.UserRoles(ctx, ent, user)
			if herr != nil {
				b.Fatal(herr)
			}
			if len(held) == 0 {
				return
			}
			_, err = svc.UnassignRole(ctx, ent, user, held[rng.IntN(len(held))].Role.ID, "")
		default:
			_, _, err = svc.UpdateRole(ctx, ent, role(), policy.RoleInput{Permissions: benchRights(rng.IntN(2))}, policy.Patch, 0)
		}
		if err != nil && !rolegate.IsKind(err, rolegate.KindConflict) {
			b.Fatal(err)
		}
	}
	t0 = time.Now()
	for rev := revisionOfB(b, store, ent); rev < revisions; rev = revisionOfB(b, store, ent) {
		step()
	}
	b.Logf("history written up to revision %d: %s", revisions, time.Since(t0))
	clock.add(time.Minute)
	end := clock.now()
	start := end.Add(-revisions * time.Minute)
	instant := func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(end.Sub(start))))).Truncate(time.Millisecond)
	}
	req := func(at time.Time) policy.CheckRequest {
		u := rng.IntN(users)
		return policy.CheckRequest{EntityID: ent, UserID: fmt.Sprintf("user-%d", u), ObjectType: fmt.Sprintf("obj_%d", rng.IntN(5)),
			Action: []string{"read", "write", "delete", "approve"}[rng.IntN(4)], AsOf: rolegate.AsOf{Time: at}}
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	b.Run("check-cold", func(b *testing.B) {
		var took []time.Duration
		for i := 0; i < max(b.N, 3); i++ {
			fresh := historyService(b, store, clock.now) // a new engine: nothing held
			r := req(instant())
			t0 := time.Now()
			if _, err := fresh.Check(ctx, r); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		b.ReportMetric(float64(median(took))/1e6, "ms-p50")
		b.ReportMetric(float64(slices.Max(took))/1e6, "ms-max")
	})
	// A new engine that holds the entity's live policy (loaded first, not
	// timed but reported): the past policy is the live one with the
	// revisions since undone, read by HistoryChanges.
	b.Run("check-cold-live-held", func(b *testing.B) {
		var took, loads []time.Duration
		for i := 0; i < max(b.N, 3); i++ {
			fresh := historyService(b, store, clock.now)
			t0 := time.Now()
			if _, err := fresh.Engine().Revision(ctx, ent); err != nil {
				b.Fatal(err)
			}
			loads = append(loads, time.Since(t0))
			r := req(instant())
			t0 = time.Now()
			if _, err := fresh.Check(ctx, r); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		b.ReportMetric(float64(median(took))/1e6, "ms-p50")
		b.ReportMetric(float64(slices.Max(took))/1e6, "ms-max")
		b.ReportMetric(float64(median(loads))/1e6, "ms-live-load-p50")
	})
	b.Run("check-warm", func(b *testing.B) {
		at := instant()
		if _, err := svc.Check(ctx, req(at)); err != nil { // the revision built
			b.Fatal(err)
		}
		var rev int64
		if err := store.View(ctx, func(tx policy.Tx) error {
			r, err := tx.HistoryRevisionAt(ent, at)
			rev = r.Revision
			return err
		}); err != nil {
			b.Fatal(err)
		}
		past, err := svc.Engine().Past(ctx, ent, incarnationOf(b, store, ent), rev, nil)
		if err != nil {
			b.Fatal(err)
		}
		const n = 20_000
		var svcPast, svcLive, engPast, engLive []time.Duration
		for i := 0; i < n; i++ {
			r := req(at)
			live := r
			live.AsOf = rolegate.AsOf{}
			q := engine.Request{EntityID: ent, UserID: r.UserID, ObjectType: r.ObjectType, Action: r.Action}
			// The first question about a user pays for bringing its rules
			// into the CPU's caches: the as-of and the live one take turns
			// at being first.
			timed := func(f func() error) time.Duration {
				t0 := time.Now()
				if err := f(); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			svcAsOf := func() error { _, err := svc.Check(ctx, r); return err }
			svcNow := func() error { _, err := svc.Check(ctx, live); return err }
			engAsOf := func() error { _, err := past.Check(q, at); return err }
			engNow := func() error { _, err := svc.Engine().Check(ctx, q); return err }
			if i%2 == 0 {
				svcPast, svcLive = append(svcPast, timed(svcAsOf)), append(svcLive, timed(svcNow))
				engPast, engLive = append(engPast, timed(engAsOf)), append(engLive, timed(engNow))
			} else {
				svcLive, svcPast = append(svcLive, timed(svcNow)), append(svcPast, timed(svcAsOf))
				engLive, engPast = append(engLive, timed(engNow)), append(engPast, timed(engAsOf))
			}
		}
		b.ReportMetric(float64(median(svcPast).Nanoseconds())/1e3, "µs-service-asof")
		b.ReportMetric(float64(median(svcLive).Nanoseconds())/1e3, "µs-service-live")
		b.ReportMetric(float64(median(engPast).Nanoseconds())/1e3, "µs-engine-asof")
		b.ReportMetric(float64(median(engLive).Nanoseconds())/1e3, "µs-engine-live")
	})
	b.Run("access-history", func(b *testing.B) {
		var took []time.Duration
		intervals := 0
		for i := 0; i < max(b.N, 20); i++ {
			user := fmt.Sprintf("bench-%d", rng.IntN(100))
			q := policy.HistoryQuery{ObjectType: fmt.Sprintf("obj_%d", rng.IntN(5)), Action: []string{"read", "write", "delete", "approve"}[rng.IntN(4)]}
			t0 := time.Now()
			ivs, _, err := svc.AccessHistory(ctx, ent, user, q)
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
			intervals += len(ivs)
		}
		b.ReportMetric(float64(median(took))/1e6, "ms-p50")
		b.ReportMetric(float64(slices.Max(took))/1e6, "ms-max")
		b.ReportMetric(float64(intervals)/float64(len(took)), "intervals")
	})
	// The same, each time after the writes of revisions up to one before
	// a filing write's (untimed): the access history files the plans they
	// left waiting first (the most a read meets), in a write transaction.
	b.Run("access-history-plans-waiting", func(b *testing.B) {
		var took []time.Duration
		for i := 0; i < max(b.N, 5); i++ {
			for (revisionOfB(b, store, ent)+1)%32 != 0 {
				step()
			}
			user := fmt.Sprintf("bench-%d", rng.IntN(100))
			q := policy.HistoryQuery{ObjectType: fmt.Sprintf("obj_%d", rng.IntN(5)), Action: []string{"read", "write", "delete", "approve"}[rng.IntN(4)]}
			t0 := time.Now()
			if _, _, err := svc.AccessHistory(ctx, ent, user, q); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		b.ReportMetric(float64(median(took))/1e6, "ms-p50")
		b.ReportMetric(float64(slices.Max(took))/1e6, "ms-max")
	})
}

func openSQLBench(b *testing.B, url string) policy.Store {
	b.Helper()
	s, err := adaptersOpen(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func revisionOfB(b *testing.B, store policy.Store, ent string) int64 {
	var e rolegate.Entity
	if err := store.View(context.Background(), func(tx policy.Tx) error {
		var err error
		e, err = tx.GetEntity(ent)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return e.Revision
}

func incarnationOf(b *testing.B, store policy.Store, ent string) string {
	var e rolegate.Entity
	if err := store.View(context.Background(), func(tx policy.Tx) error {
		var err error
		e, err = tx.GetEntity(ent)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return e.Incarnation
}

func adaptersOpen(url string) (*adapters.Store, error) {
	return adapters.Open(auth.Internal(context.Background()), url)
}
