package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// sodBenchConstraints are 20 constraints over the large tenant's rights,
// each of two or three rights.
func sodBenchConstraints() []rolegate.Constraint {
	rng := rand.New(rand.NewPCG(26, 26))
	var cs []rolegate.Constraint
	for c := range 20 {
		con := rolegate.Constraint{ID: fmt.Sprintf("c%d", c), Name: fmt.Sprintf("rule %d", c), Mode: rolegate.ConstraintEnforce}
		for len(con.Rights) < 2+c%2 {
			r := rolegate.ConstraintRight{ObjectType: benchObjects[rng.IntN(len(benchObjects))], Action: benchActions[rng.IntN(len(benchActions))]}
			if !slices.Contains(con.Rights, r) {
				con.Rights = append(con.Rights, r)
			}
		}
		cs = append(cs, con)
	}
	return cs
}

// BenchmarkSoD measures separation of duties on the large tenant (1,000
// roles x 20 rights, 100,000 users with 2 roles each: 200 holders a role)
// with 20 constraints: a role's rights replaced, checked by Violations (its
// 200 holders read before and after), and the scan of every user; then the
// same with rights of their own for a tenth of the users and the role's
// holders.
//
//	go test -run '^$' -bench 'BenchmarkSoD' -benchtime 20x ./engine
func BenchmarkSoD(b *testing.B) {
	for _, own := range []bool{false, true} {
		name := "large"
		if own {
			name = "large-own-rights"
		}
		b.Run(name, func(b *testing.B) { benchSoD(b, own) })
	}
}

// benchSoD runs BenchmarkSoD on the large tenant; with own, every holder of
// the role changed and one user in ten hold a right of their own besides
// their roles: each is then read on its own (users with the same roles and
// no rights of their own share one reading).
func benchSoD(b *testing.B, own bool) {
	ctx := context.Background()
	size := scaleSizes[1]
	cs := sodBenchConstraints()
	pol := copyPolicy(scalePolicy(b, size.name, size.m))
	if own {
		for u := 0; u < size.m.users; u++ {
			if u%10 == 0 || u%size.m.roles == 3 || (u+1)%size.m.roles == 3 {
				p := rolegate.Permissions{Objects: []rolegate.ObjectPermissions{{ObjectType: benchObjects[u%len(benchObjects)],
					Actions: []rolegate.ActionPermission{{ActionName: benchActions[u%len(benchActions)], Permission: rolegate.Allowed}}}}}
				pol.Rules = append(pol.Rules, engine.CompileUser(rolegate.User{ID: fmt.Sprintf("user-%d", u), EntityID: "big", Permissions: p})...)
			}
		}
	}
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: fixedLoader{pol}})
	if err != nil {
		b.Fatal(err)
	}
	rev, err := e.Revision(ctx, "big")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("role-edit", func(b *testing.B) {
		role := engine.RoleSubject("role-3")
		var edits [2]engine.Delta
		for k := range edits {
			edits[k].Record(engine.OpReplace, role, engine.CompileRights(role, "big", *randomRights(rand.New(rand.NewPCG(uint64(k), 1)), 30)))
		}
		// The grant index is built on first use, then carried by every
		// delta: not part of one write.
		if _, err := e.Violations(ctx, "big", rev+1, edits[1], cs); err != nil {
			b.Fatal(err)
		}
		found := 0
		took := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			vs, err := e.Violations(ctx, "big", rev+1, edits[i%2], cs)
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
			found = len(vs)
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		reportP50(b, took)
		b.ReportMetric(float64(found), "violations")
	})
	b.Run("scan", func(b *testing.B) {
		found := 0
		b.ReportAllocs()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			vs, _, err := e.ScanViolations(ctx, "big", cs)
			if err != nil {
				b.Fatal(err)
			}
			found = len(vs)
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(found), "violations")
	})
}

// cpuTime is the CPU time the process used (user and system, every thread:
// the garbage collector's too), in ns: on a loaded machine, what an
// operation cost rather than how long it waited.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
