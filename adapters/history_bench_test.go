package adapters

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// noHistoryStore is a store whose writes record no history: what a write
// cost before the history was kept, for BenchmarkHistoryWrite only.
type noHistoryStore struct{ *Store }

func (s noHistoryStore) Update(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.Store.Update(ctx, func(tx policy.Tx) error { return fn(noHistoryTx{tx}) })
}

type noHistoryTx struct{ policy.Tx }

func (noHistoryTx) AppendHistory(rolegate.Revision, *rolegate.HistoryChange, engine.Delta) error {
	return nil
}

// timedHistoryStore is a store that times its writes' AppendHistory, for
// BenchmarkHistoryWrite only: what the history's statements cost, apart
// from what its pages add to the commit.
type timedHistoryStore struct {
	*Store
	appends []time.Duration
}

func (s *timedHistoryStore) Update(ctx context.Context, fn func(tx policy.Tx) error) error {
	return s.Store.Update(ctx, func(tx policy.Tx) error { return fn(timedHistoryTx{tx, s}) })
}

type timedHistoryTx struct {
	policy.Tx
	s *timedHistoryStore
}

func (t timedHistoryTx) AppendHistory(rev rolegate.Revision, change *rolegate.HistoryChange, d engine.Delta) error {
	start := time.Now()
	err := t.Tx.AppendHistory(rev, change, d)
	t.s.appends = append(t.s.appends, time.Since(start))
	return err
}

// BenchmarkHistoryWrite measures what keeping the history adds to a write
// through the service, on SQLite and (when ROLEGATE_TEST_POSTGRES_URL /
// ROLEGATE_TEST_MYSQL_URL name a server) in a fresh PostgreSQL schema (its
// tables then as restored, before any ANALYZE: restoredState) and MySQL
// database, on the large tenant (1,000 roles x 20 rights, 100,000
// users with 2 roles each): a role's rights replaced (4 of its 20 rules
// change) and a role assigned then unassigned. Two copies of the tenant, one
// written without the history and one with it, are written in turn, so that
// the machine's load weighs on both alike; it reports the median write of
// each (ms-without, ms-with), their ratio, the ratio of their means
// (ratio-mean: the work, filings included) and their 99th percentiles
// (ms-p99-without, ms-p99-with), the median AppendHistory
// (ms-append: the rest of the difference is what the history's pages add to
// the commit), and the bytes the history takes per write (SQLite: dbstat's
// pages of history_rows, history_revisions and their indexes; PostgreSQL:
// pg_total_relation_size of both; not on MySQL, whose sizes lag).
// policy-at (SQLite) reads the tenant's policy from its history (PolicyAt)
// and reports LoadPolicy's time beside it; role-update-pages (SQLite) counts
// the pages a role update writes, without and with the history, and the
// history's by table and index.
//
//	go test -run '^$' -bench BenchmarkHistoryWrite -benchtime 300x -timeout 60m ./adapters
func BenchmarkHistoryWrite(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		store, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "large.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		historyWrite(b, store, "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE '%history%'")
	})
	for _, db := range []struct {
		name, env, bytes string
		newURL           func(testing.TB, string) string
	}{
		{"postgres", "ROLEGATE_TEST_POSTGRES_URL", "SELECT pg_total_relation_size('history_rows') + pg_total_relation_size('history_revisions')", postgresSchemaURL},
		{"mysql", "ROLEGATE_TEST_MYSQL_URL", "", mysqlDatabaseURL},
	} {
		b.Run(db.name, func(b *testing.B) {
			base := os.Getenv(db.env)
			if base == "" {
				b.Skipf("%s not set", db.env)
			}
			historyWrite(b, openOrFail(b, db.newURL(b, base)), db.bytes)
		})
	}
}

// restoredState puts the tables of store's PostgreSQL schema in the state
// of a database restored, or just migrated, before its first ANALYZE (or
// on a server whose autovacuum is off): their sizes known (VACUUM), none of
// their columns' statistics (cleared: a superuser can). It is the
// planner's worst case (TestHistoryInForcePlan).
func restoredState(b *testing.B, store *Store) {
	var tables []string
	if err := store.w.Raw("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").Scan(&tables).Error; err != nil {
		b.Fatal(err)
	}
	for _, t := range tables {
		if err := store.w.Exec("VACUUM " + t).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := store.w.Exec("DELETE FROM pg_statistic WHERE starelid IN (SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace)").Error; err != nil {
		b.Fatalf("clear the schema's statistics (a superuser can): %v", err)
	}
}

// historyWrite is BenchmarkHistoryWrite on one store; bytes is the query of
// the history's size in bytes ("": not reported).
func historyWrite(b *testing.B, store *Store, bytes string) {
	const roles, users = 1000, 100_000
	ctx := auth.Internal(context.Background())
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		b.Fatal(err)
	}
	type tenant struct {
		id  string
		svc *policy.Service
	}
	timed := &timedHistoryStore{Store: store}
	with := tenant{"large-with", policy.NewService(policy.Config{Store: timed, Engine: eng})}
	without := tenant{"large-without", policy.NewService(policy.Config{Store: noHistoryStore{store}, Engine: eng})}
	for _, t := range []tenant{without, with} {
		seedLargeTenant(b, store, t.id, roles, users)
		// The first write with the history rebases it on the tenant.
		start := time.Now()
		if _, _, err := t.svc.CreateUser(ctx, t.id, policy.UserInput{ID: "bench-user"}); err != nil {
			b.Fatal(err)
		}
		if t.id == with.id {
			b.Logf("first write with the history (its rebase on %d rules): %s", 20*roles+2*users, time.Since(start))
		}
	}
	if store.dialect == "postgres" {
		restoredState(b, store)
	}
	rights := func(i int) *rolegate.Permissions {
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
	historyBytes := func() int64 {
		var n int64
		if bytes == "" {
			return 0
		}
		if err := store.w.Raw(bytes).Scan(&n).Error; err != nil {
			b.Fatal(err)
		}
		return n
	}
	role := func(t tenant, i int) {
		if _, _, err := t.svc.UpdateRole(ctx, t.id, t.id+"-role-7", policy.RoleInput{Permissions: rights(i)}, policy.Patch, 0); err != nil {
			b.Fatal(err)
		}
	}
	assign := func(t tenant, i int) {
		var err error
		if i%2 == 0 {
			_, _, err = t.svc.AssignRole(ctx, t.id, "bench-user", t.id+"-role-9", "")
		} else {
			_, err = t.svc.UnassignRole(ctx, t.id, "bench-user", t.id+"-role-9", "")
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	role(with, 0)
	role(without, 0)
	// PolicyAt of the tenant's first revision with the history, and
	// LoadPolicy, each in full (the rows of 220,000 rules).
	b.Run("policy-at", func(b *testing.B) {
		if store.dialect != "sqlite" {
			b.Skip("measured on SQLite")
		}
		var rev int64
		store.View(ctx, func(tx policy.Tx) error {
			start, err := tx.HistoryStart(with.id)
			rev = start.Revision
			return err
		})
		var load time.Duration
		for i := 0; i < b.N; i++ {
			if err := store.View(ctx, func(tx policy.Tx) error {
				pol, err := tx.PolicyAt(with.id, rev)
				if err == nil && len(pol.Rules) != 20*roles+2*users {
					err = fmt.Errorf("PolicyAt gave %d rules", len(pol.Rules))
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			t0 := time.Now()
			if _, err := store.LoadPolicy(ctx, with.id); err != nil {
				b.Fatal(err)
			}
			load += time.Since(t0)
			b.StartTimer()
		}
		b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "ms-loadpolicy")
	})
	for _, w := range []struct {
		name string
		fn   func(tenant, int)
	}{{"role-update", func(t tenant, i int) { role(t, i+1) }}, {"assignment", assign}} {
		b.Run(w.name, func(b *testing.B) {
			var dWith, dWithout []time.Duration
			timed.appends = nil
			before := historyBytes()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				w.fn(without, i)
				t1 := time.Now()
				w.fn(with, i)
				t2 := time.Now()
				dWithout, dWith = append(dWithout, t1.Sub(t0)), append(dWith, t2.Sub(t1))
			}
			median := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)/2]) / 1e6
			}
			mean := func(ds []time.Duration) float64 {
				var sum time.Duration
				for _, d := range ds {
					sum += d
				}
				return float64(sum) / float64(len(ds)) / 1e6
			}
			p99 := func(ds []time.Duration) float64 { // sorted by median
				return float64(ds[len(ds)*99/100]) / 1e6
			}
			mw, mo := median(dWith), median(dWithout)
			b.ReportMetric(mo, "ms-without")
			b.ReportMetric(mw, "ms-with")
			b.ReportMetric(mw/mo, "ratio")
			// The mean is the work done: every historyBatch-th write files
			// the plans the writes before it left (historyBatch), and the
			// 99th percentile is that write's.
			b.ReportMetric(mean(dWith)/mean(dWithout), "ratio-mean")
			b.ReportMetric(p99(dWithout), "ms-p99-without")
			b.ReportMetric(p99(dWith), "ms-p99-with")
			b.ReportMetric(median(timed.appends), "ms-append")
			if bytes != "" {
				b.ReportMetric(float64(historyBytes()-before)/float64(b.N), "history-bytes/write")
			}
		})
	}
	// The pages a role update writes on SQLite, without and with the
	// history, and the history's by table and index: its WAL frames, the
	// WAL kept from checkpoints meanwhile (last: it slows what follows).
	b.Run("role-update-pages", func(b *testing.B) {
		if store.dialect != "sqlite" {
			b.Skip("SQLite's WAL")
		}
		var wal string
		if err := store.w.Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&wal).Error; err != nil {
			b.Fatal(err)
		}
		wal += "-wal"
		var pageSize int64
		if err := store.w.Raw("PRAGMA page_size").Scan(&pageSize).Error; err != nil {
			b.Fatal(err)
		}
		if err := store.w.Exec("PRAGMA wal_autocheckpoint = 0").Error; err != nil {
			b.Fatal(err)
		}
		defer store.w.Exec("PRAGMA wal_autocheckpoint = 1000")
		// frames returns the page of each frame fn wrote to the WAL,
		// emptied first (a WAL checkpointed whole would be written again
		// from its start).
		frames := func(fn func()) []uint32 {
			if err := store.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
				b.Fatal(err)
			}
			fn()
			data, err := os.ReadFile(wal)
			if err != nil {
				b.Fatal(err)
			}
			var pages []uint32
			for off := int64(32); off+24+pageSize <= int64(len(data)); off += 24 + pageSize { // after the WAL's header
				pages = append(pages, binary.BigEndian.Uint32(data[off:]))
			}
			return pages
		}
		run := func(t tenant) []uint32 {
			return frames(func() {
				for i := 0; i < b.N; i++ {
					role(t, i+1)
				}
			})
		}
		without, with := run(without), run(with)
		var objects []struct {
			Pageno uint32
			Name   string
		}
		if err := store.w.Raw("SELECT pageno, name FROM dbstat").Scan(&objects).Error; err != nil {
			b.Fatal(err)
		}
		names := make(map[uint32]string, len(objects))
		for _, o := range objects {
			names[o.Pageno] = o.Name
		}
		per := func(n int) float64 { return float64(n) / float64(b.N) }
		b.ReportMetric(per(len(without)), "pages/write-without")
		b.ReportMetric(per(len(with)), "pages/write-with")
		byName := map[string]int{}
		for _, p := range with {
			if n := names[p]; strings.Contains(n, "history") {
				byName[n]++
			}
		}
		for n, c := range byName {
			b.ReportMetric(per(c), "pages/write-"+n)
		}
	})
}

// seedLargeTenant stores the large tenant: roles <ent>-role-0... with 20 rights
// each, and users' assignment rules (two roles each; no user rows).
func seedLargeTenant(b *testing.B, store *Store, ent string, roles, users int) {
	b.Helper()
	now := time.Now().UTC()
	err := store.Update(context.Background(), func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: ent, Name: ent, Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		var rules []rolegate.Rule
		for r := 0; r < roles; r++ {
			role := rolegate.Role{ID: fmt.Sprintf("%s-role-%d", ent, r), EntityID: ent, Name: fmt.Sprintf("role %d", r), RoleType: rolegate.RoleCustom,
				Scope: rolegate.ScopeAccount, Status: rolegate.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			for k := 0; k < 20; k++ {
				role.Permissions.Objects = append(role.Permissions.Objects, rolegate.ObjectPermissions{ObjectType: fmt.Sprintf("obj_%d", k/4),
					Actions: []rolegate.ActionPermission{{ActionName: []string{"read", "write", "delete", "approve"}[k%4], Permission: rolegate.Allowed}}})
			}
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
