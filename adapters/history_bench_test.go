package adapters

import (
	"context"
	"fmt"
	"path/filepath"
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

// BenchmarkHistoryWrite measures what keeping the history adds to a write
// through the service on SQLite, on the large tenant (1,000 roles x 20
// rights, 100,000 users with 2 roles each): a role's rights replaced (4 of
// its 20 rules change) and a role assigned then unassigned, with and
// without the history; and the bytes the history takes per write (dbstat:
// the pages of history_rows, history_revisions and their indexes).
//
//	go test -run '^$' -bench BenchmarkHistoryWrite -benchtime 400x ./adapters
func BenchmarkHistoryWrite(b *testing.B) {
	store, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "large.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const ent, roles, users = "large", 1000, 100_000
	seedLargeTenant(b, store, ent, roles, users)
	ctx := auth.Internal(context.Background())
	eng, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := policy.NewService(policy.Config{Store: store, Engine: eng}).CreateUser(ctx, ent, policy.UserInput{ID: "bench-user"}); err != nil {
		b.Fatal(err)
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
		if err := store.w.Raw("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE '%history%'").Scan(&n).Error; err != nil {
			b.Fatal(err)
		}
		return n
	}
	for _, mode := range []string{"without-history", "with-history"} {
		var s policy.Store = store
		if mode == "without-history" {
			s = noHistoryStore{store}
		}
		svc := policy.NewService(policy.Config{Store: s, Engine: eng})
		role := func(i int) {
			if _, _, err := svc.UpdateRole(ctx, ent, "role-7", policy.RoleInput{Permissions: rights(i)}, policy.Patch, 0); err != nil {
				b.Fatal(err)
			}
		}
		assign := func(i int) {
			var err error
			if i%2 == 0 {
				_, _, err = svc.AssignRole(ctx, ent, "bench-user", "role-9", "")
			} else {
				_, err = svc.UnassignRole(ctx, ent, "bench-user", "role-9", "")
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		// The first write with the history rebases it on the tenant.
		start := time.Now()
		role(0)
		assign(0)
		assign(1)
		if mode == "with-history" {
			b.Logf("first writes (the rebase on %d rules): %s", 20*roles+2*users, time.Since(start))
		}
		for _, w := range []struct {
			name string
			fn   func(int)
		}{{"role-update", func(i int) { role(i + 1) }}, {"assignment", assign}} {
			b.Run(w.name+"/"+mode, func(b *testing.B) {
				before := historyBytes()
				for i := 0; i < b.N; i++ {
					w.fn(i)
				}
				if mode == "with-history" {
					b.ReportMetric(float64(historyBytes()-before)/float64(b.N), "history-bytes/write")
				}
			})
		}
	}
}

// seedLargeTenant stores the large tenant: roles role-0... with 20 rights
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
			role := rolegate.Role{ID: fmt.Sprintf("role-%d", r), EntityID: ent, Name: fmt.Sprintf("role %d", r), RoleType: rolegate.RoleCustom,
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
				rules = append(rules, engine.CompileAssignment(rolegate.Assignment{EntityID: ent, UserID: fmt.Sprintf("user-%d", u), RoleID: fmt.Sprintf("role-%d", r)}))
			}
		}
		return tx.AddRules(rules)
	})
	if err != nil {
		b.Fatal(err)
	}
}
