package adapters

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
	"github.com/rolegate/rolegate/policy/storetest"
)

// TestHistoryFiledInBatches runs the conformance suite's history tests with
// every write filing its own plan (historyBatch 1) and with plans filed by
// every 5th revision; TestStorage runs them with the default batch.
func TestHistoryFiledInBatches(t *testing.T) {
	for _, batch := range []int64{1, 5} {
		t.Run(fmt.Sprintf("batch-%d", batch), func(t *testing.T) {
			defer func(was int64) { historyBatch = was }(historyBatch)
			historyBatch = batch
			onEveryDatabase(t, "history suite", func(t *testing.T, open func(t *testing.T) *Store) {
				storetest.RunHistory(t, func(t *testing.T) policy.Store { return open(t) })
			})
		})
	}
}

// TestHistoryKeptPlans: the plans writes leave in their revision rows wait
// there until the write of every historyBatch-th revision, or a read of the
// entity's rows, files them; every answer is then the one each write filing
// its own plan gives, after a restart and beside a second instance too; a
// sweep keeps the revisions whose plans wait; a large plan is filed by its
// own write.
func TestHistoryKeptPlans(t *testing.T) {
	onEveryDatabaseURL(t, "kept plans test", func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		s := openOrFail(t, url)
		ctx := auth.Internal(context.Background())
		var tick atomic.Int64
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		now := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }
		service := func(s *Store) *policy.Service {
			eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: s, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return policy.NewService(policy.Config{Store: s, Engine: eng, Now: now})
		}
		svc := service(s)
		const ent = "kept"
		if _, err := svc.CreateEntity(ctx, policy.EntityInput{ID: ent}); err != nil {
			t.Fatal(err)
		}
		kept := map[int64]engine.Policy{}
		var rev int64
		keep := func(s *Store, r int64, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			pol, err := s.LoadPolicy(context.Background(), ent)
			if err != nil {
				t.Fatal(err)
			}
			if pol.Revision != r {
				t.Fatalf("write of revision %d: LoadPolicy read %d", r, pol.Revision)
			}
			kept[r], rev = pol, r
		}
		rights := func(i int) *rolegate.Permissions {
			p := &rolegate.Permissions{}
			for k := range 3 {
				p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("obj_%d", (i+k)%5),
					Actions: []rolegate.ActionPermission{{ActionName: []string{"read", "pay"}[(i+k)%2], Permission: rolegate.Allowed}}})
			}
			return p
		}
		var roles []string
		name := func(n string) *string { return &n }
		writes := func(s *Store, svc *policy.Service, from, n int) {
			t.Helper()
			for i := from; i < from+n; i++ {
				if len(roles) < 3 {
					role, r, err := svc.CreateRole(ctx, ent, policy.RoleInput{Name: name(fmt.Sprintf("role %d", i)), Permissions: rights(i)})
					keep(s, r, err)
					roles = append(roles, role.ID)
					continue
				}
				role := roles[i%3]
				switch i % 4 {
				case 0:
					_, r, err := svc.UpdateRole(ctx, ent, role, policy.RoleInput{Permissions: rights(i)}, policy.Patch, 0)
					keep(s, r, err)
				case 1:
					if _, err := svc.GetUser(ctx, ent, "alice"); rolegate.IsNotFound(err) {
						_, r, err := svc.CreateUser(ctx, ent, policy.UserInput{ID: "alice"})
						keep(s, r, err)
					}
					_, r, err := svc.AssignRole(ctx, ent, "alice", role, "")
					if err == nil {
						keep(s, r, err)
					}
				case 2:
					r, err := svc.UnassignRole(ctx, ent, "alice", roles[(i+1)%3], "")
					if err == nil {
						keep(s, r, err)
					}
				case 3:
					_, r, err := svc.UpdateRole(ctx, ent, role, policy.RoleInput{Name: name(fmt.Sprintf("role %d", i)), Permissions: rights(i + 1)}, policy.Patch, 0)
					keep(s, r, err)
				}
			}
		}
		waiting := func() (n int64) {
			t.Helper()
			if err := s.r.Raw("SELECT count(*) FROM history_revisions WHERE entity_id = ? AND delta IS NOT NULL", ent).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		check := func(s *Store) {
			t.Helper()
			for r, want := range kept {
				var got engine.Policy
				if err := s.View(context.Background(), func(tx policy.Tx) (err error) {
					got, err = tx.PolicyAt(ent, r)
					return err
				}); err != nil {
					t.Fatalf("PolicyAt %d: %v", r, err)
				}
				if g, w := ruleSet(got), ruleSet(want); g != w {
					t.Fatalf("PolicyAt %d:\n%s\nLoadPolicy then:\n%s", r, g, w)
				}
				if fmt.Sprint(got.RoleNames) != fmt.Sprint(want.RoleNames) {
					t.Fatalf("PolicyAt %d: roles %v, then %v", r, got.RoleNames, want.RoleNames)
				}
			}
		}

		// Writes below a batch leave their plans waiting; a read in a
		// read-only transaction files them, and answers as each write
		// filing its own would.
		writes(s, svc, 0, 12)
		if n := waiting(); n == 0 || n >= historyBatch {
			t.Fatalf("%d plans wait after %d revisions (batch %d)", n, rev, historyBatch)
		}
		check(s)
		if n := waiting(); n != 0 {
			t.Fatalf("%d plans wait after a read of the rows", n)
		}
		// The write of every historyBatch-th revision files those before.
		writes(s, svc, 12, 90)
		if n := waiting(); n != rev%historyBatch {
			t.Fatalf("at revision %d, %d plans wait (batch %d)", rev, n, historyBatch)
		}
		// A second instance writes; the first reads what it left waiting.
		s2 := openOrFail(t, url)
		writes(s2, service(s2), 102, 7)
		if waiting() == 0 {
			t.Fatal("no plan waits after the second instance's writes")
		}
		check(s)
		// A restart with plans waiting.
		writes(s, svc, 109, 9)
		s.Close()
		s2.Close()
		s = openOrFail(t, url)
		if waiting() == 0 {
			t.Fatal("no plan waits across the restart")
		}
		check(s)

		// A sweep keeps the revisions whose plans wait, and what answers
		// them.
		svc = service(s)
		writes(s, svc, 118, 5)
		for i := 123; waiting() < 2; i++ {
			writes(s, svc, i, 1)
		}
		first := rev - waiting() + 1
		if err := s.Update(context.Background(), func(tx policy.Tx) error {
			_, err := tx.SweepHistory(base.Add(time.Duration(tick.Load()+10)*time.Second), 1_000_000)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var start rolegate.Revision
		if err := s.View(context.Background(), func(tx policy.Tx) (err error) {
			start, err = tx.HistoryStart(ent)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if start.Revision != first {
			t.Fatalf("after the sweep the history starts at %d; the first plan waiting is %d's", start.Revision, first)
		}
		for r := range kept {
			if r < first {
				delete(kept, r)
			}
		}
		check(s)

		// A plan larger than historyKeepMax is filed by its write, after
		// those waiting.
		writes(s, svc, 200, 3)
		for i := 203; (rev+1)%historyBatch == 0 || waiting() == 0; i++ { // not a filing write's
			writes(s, svc, i, 1)
		}
		if waiting() == 0 {
			t.Fatal("no plan waits before the large write")
		}
		big := &rolegate.Permissions{}
		for k := range 1000 {
			big.Objects = append(big.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("object_type_with_a_longer_name_%04d", k),
				Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}})
		}
		_, r, err := svc.CreateRole(ctx, ent, policy.RoleInput{Name: name("big"), Permissions: big})
		keep(s, r, err)
		if n := waiting(); n != 0 {
			t.Fatalf("%d plans wait after a write of %d rights", n, 1000)
		}
		check(s)
	})
}

// ruleSet is a policy's rules, sorted, one per line.
func ruleSet(pol engine.Policy) string {
	lines := make([]string, 0, len(pol.Rules))
	for _, r := range pol.Rules {
		lines = append(lines, r.PType+","+strings.Join(r.Values, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestHistoryKeptPlansConcurrent: two instances write one entity at once
// while a third reads its history (filing what waits, in its own write
// transaction): no plan is filed twice or lost. The rows in force are then
// exactly the live policy's, none twice, and every span is a revision or
// more.
func TestHistoryKeptPlansConcurrent(t *testing.T) {
	// Small batches: writers and the reader file often, and meet.
	defer func(was int64) { historyBatch = was }(historyBatch)
	historyBatch = 3
	onEveryDatabaseURL(t, "concurrent kept plans test", func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		ctx := auth.Internal(context.Background())
		stores := []*Store{openOrFail(t, url), openOrFail(t, url), openOrFail(t, url)}
		svcs := make([]*policy.Service, 2)
		for i := range svcs {
			eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: stores[i]})
			if err != nil {
				t.Fatal(err)
			}
			svcs[i] = policy.NewService(policy.Config{Store: stores[i], Engine: eng})
		}
		const ent = "busy"
		if _, err := svcs[0].CreateEntity(ctx, policy.EntityInput{ID: ent}); err != nil {
			t.Fatal(err)
		}
		var roles []string
		for i := range 4 {
			n := fmt.Sprintf("role %d", i)
			r, _, err := svcs[0].CreateRole(ctx, ent, policy.RoleInput{Name: &n})
			if err != nil {
				t.Fatal(err)
			}
			roles = append(roles, r.ID)
		}
		for u := range 5 {
			if _, _, err := svcs[0].CreateUser(ctx, ent, policy.UserInput{ID: fmt.Sprintf("user-%d", u)}); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 3)
		for w := range svcs {
			go func() {
				for i := range 60 {
					var err error
					role := roles[(i+w)%len(roles)]
					switch i % 3 {
					case 0:
						p := &rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: fmt.Sprintf("obj_%d", (i*w+i)%7),
							Actions: []rolegate.ActionPermission{{ActionName: "read", Permission: rolegate.Allowed}}}}}
						_, _, err = svcs[w].UpdateRole(ctx, ent, role, policy.RoleInput{Permissions: p}, policy.Patch, 0)
					case 1:
						_, _, err = svcs[w].AssignRole(ctx, ent, fmt.Sprintf("user-%d", i%5), role, "")
					case 2:
						_, err = svcs[w].UnassignRole(ctx, ent, fmt.Sprintf("user-%d", (i+1)%5), role, "")
					}
					if err != nil && !rolegate.IsKind(err, rolegate.KindNotFound) && !rolegate.IsKind(err, rolegate.KindConflict) {
						done <- fmt.Errorf("instance %d, write %d: %w", w, i, err)
						return
					}
				}
				done <- nil
			}()
		}
		go func() {
			for range 150 {
				err := stores[2].View(context.Background(), func(tx policy.Tx) error {
					_, err := tx.RuleHistory(ent, []string{"u:user-1"}, 0, 0)
					return err
				})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 3 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		s := stores[2]
		if err := s.View(context.Background(), func(tx policy.Tx) error {
			_, err := tx.RuleHistory(ent, []string{"u:user-1"}, 0, 0)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		pol, err := s.LoadPolicy(context.Background(), ent)
		if err != nil {
			t.Fatal(err)
		}
		want, err := policy.HistoryRowsOf(ent, pol)
		if err != nil {
			t.Fatal(err)
		}
		var got []policy.HistoryRow
		var waiting, empty int64
		if err := s.Update(context.Background(), func(ptx policy.Tx) (err error) {
			tx := ptx.(*tx)
			if got, err = tx.openHistory(ent, nil); err != nil {
				return err
			}
			if err := tx.db.Raw("SELECT count(*) FROM history_revisions WHERE entity_id = ? AND delta IS NOT NULL", ent).Scan(&waiting).Error; err != nil {
				return err
			}
			return tx.db.Raw("SELECT count(*) FROM history_rows WHERE entity_id = ? AND valid_to <= valid_from", ent).Scan(&empty).Error
		}); err != nil {
			t.Fatal(err)
		}
		if waiting != 0 || empty != 0 {
			t.Fatalf("after a read: %d plans wait, %d rows span no revision", waiting, empty)
		}
		key := func(rows []policy.HistoryRow) []string {
			var out []string
			for _, r := range rows {
				if r.Kind != policy.HistoryHashed {
					out = append(out, fmt.Sprint(r.Kind, r.Subject, r.Values, r.Data))
				}
			}
			slices.Sort(out)
			return out
		}
		if g, w := key(got), key(want); !slices.Equal(g, w) {
			t.Fatalf("rows in force at revision %d:\n%s\nthe live policy's:\n%s", pol.Revision, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	})
}
