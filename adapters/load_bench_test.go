package adapters

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/policy"
)

// BenchmarkColdLoadLarge measures the cold load of the large tenant of the
// tenant-scale issue from SQLite: 1,000 roles x 20 rights and 100,000 users
// with 2 roles each (220,000 rules), read by LoadPolicy and built into the
// engine's snapshot, with the heap the held entity takes.
//
//	go test -run '^$' -bench BenchmarkColdLoadLarge -benchtime 3x ./adapters
func BenchmarkColdLoadLarge(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		store, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "large.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		coldLoadLarge(b, store, 100_000)
	})
	b.Run("postgres", func(b *testing.B) {
		base := os.Getenv("ROLEGATE_TEST_POSTGRES_URL")
		if base == "" {
			b.Skip("ROLEGATE_TEST_POSTGRES_URL not set")
		}
		admin, err := Open(context.Background(), base)
		if err != nil {
			b.Fatal(err)
		}
		defer admin.Close()
		schema := "rg_bench_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		if err := admin.w.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			b.Fatal(err)
		}
		defer admin.w.Exec("DROP SCHEMA " + schema + " CASCADE")
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		store, err := Open(context.Background(), base+sep+"search_path="+schema)
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		coldLoadLarge(b, store, 100_000)
	})
}

// BenchmarkColdLoadScaling loads the same tenant from SQLite with a quarter,
// half, all and twice its users: the time per rule (ns/rule) stays flat when
// no step of the load grows faster than the rules.
//
//	go test -run '^$' -bench BenchmarkColdLoadScaling -benchtime 3x ./adapters
func BenchmarkColdLoadScaling(b *testing.B) {
	for _, users := range []int{25_000, 50_000, 100_000, 200_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			store, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "large.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			coldLoadLarge(b, store, users)
		})
	}
}

func coldLoadLarge(b *testing.B, store *Store, users int) {
	ctx := context.Background()
	const ent, roles = "big", 1000
	objects := []string{"payable", "receivable", "receipt", "counterpart", "product", "project", "tag", "todo_task", "workflow", "comment"}
	actions := []string{"create", "read", "update", "delete"}
	now := time.Now().UTC()
	err := store.Update(ctx, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: ent, Name: ent, Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		var rules []rolegate.Rule
		for r := 0; r < roles; r++ {
			role := rolegate.Role{ID: fmt.Sprintf("role-%d", r), EntityID: ent, Name: fmt.Sprintf("role %d", r), RoleType: rolegate.RoleCustom,
				Scope: rolegate.ScopeAccount, Status: rolegate.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			for k := 0; k < 20; k++ {
				o := rolegate.ObjectPermissions{ObjectType: objects[(r+k/4)%len(objects)],
					Actions: []rolegate.ActionPermission{{ActionName: actions[k%4], Permission: rolegate.Allowed}}}
				if k == 19 {
					o.Actions[0].Permission = rolegate.Denied
				}
				role.Permissions.Objects = append(role.Permissions.Objects, o)
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
	var heap uint64
	var rules int
	var e *engine.Engine
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e = nil
		e, err = engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		if _, err := e.Check(ctx, engine.Request{EntityID: ent, UserID: "user-3", ObjectType: objects[3], Action: "read"}); err != nil { // loads the entity
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = max(heap, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))
		d, err := e.Check(ctx, engine.Request{EntityID: ent, UserID: "user-3", ObjectType: objects[3], Action: "read", Explain: true})
		if err != nil || !d.Allowed {
			b.Fatalf("check after the load: %+v %v", d, err)
		}
		rules = 20*roles + 2*users
		b.StartTimer()
	}
	b.ReportMetric(float64(heap), "heap-bytes")
	b.ReportMetric(float64(rules), "rules")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rules), "ns/rule")
}

// BenchmarkLoadAttributes measures what LoadPolicy spends reading users'
// attributes in an entity of 100,000 users from SQLite: none with any, and
// 1,000 of them with two.
//
//	go test -run '^$' -bench BenchmarkLoadAttributes ./adapters
func BenchmarkLoadAttributes(b *testing.B) {
	store, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "attrs.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.Update(ctx, func(tx policy.Tx) error {
		if err := tx.InsertEntity(&rolegate.Entity{ID: "e", Name: "e", Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		us := make([]rolegate.User, 100_000)
		for i := range us {
			us[i] = rolegate.User{ID: fmt.Sprintf("user-%06d", i), EntityID: "e", CreatedAt: now, UpdatedAt: now}
		}
		return tx.InsertUsers(us)
	}); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, want int) {
		for b.Loop() {
			var pol engine.Policy
			if err := store.View(ctx, func(ptx policy.Tx) error { return loadAttributes(ptx.(*tx).db, "e", &pol) }); err != nil {
				b.Fatal(err)
			}
			if len(pol.Attributes) != want {
				b.Fatalf("%d users with attributes", len(pol.Attributes))
			}
		}
	}
	b.Run("none", func(b *testing.B) { run(b, 0) })
	if err := store.w.Exec(`UPDATE users SET attributes = '{"approval_limit":5000,"department":"finance"}' WHERE id < 'user-001000'`).Error; err != nil {
		b.Fatal(err)
	}
	b.Run("1000", func(b *testing.B) { run(b, 1000) })
}
