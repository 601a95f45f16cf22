package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/condition"
	"github.com/rolegate/rolegate/engine"
)

// conditionalPolicy is the large tenant with a condition on every tenth
// right, one source per role ("resource.amount <= <n>.0 && resource.currency
// == 'EUR'"), and attributes on every user.
func conditionalPolicy(pol engine.Policy) engine.Policy {
	out := copyPolicy(pol)
	out.Conditions = map[string]string{}
	out.Attributes = map[string]map[string]any{}
	k := 0
	for _, r := range out.Rules {
		if r.PType != "p" {
			if r.PType == "g" {
				out.Attributes[strings.TrimPrefix(r.Values[0], "u:")] = map[string]any{"limit": 1000.0, "department": "finance"}
			}
			continue
		}
		if k++; k%10 != 0 {
			continue
		}
		src := fmt.Sprintf("resource.amount <= %s.0 && resource.currency == 'EUR'", strings.TrimPrefix(r.Values[0], "r:role-"))
		h := condition.Hash(src)
		out.Conditions[h] = src
		r.Values[4] += ":" + h
	}
	return out
}

// BenchmarkConditions measures checks of the large tenant (1,000 roles x 20
// rights, 100,000 users) with conditions on a tenth of the rights:
//
//   - uncached/plain: the checks below on the tenant without conditions;
//
//   - uncached/one-condition: the same checks, each of which matches exactly
//     one conditional right (evaluated over a two-attribute resource);
//
//   - cached/plain and cached/conditional-tenant: checks that match no
//     conditional right, answered from the decision cache, on either tenant.
//
//     go test -run '^$' -bench 'BenchmarkConditions' -benchtime 2s ./engine
func BenchmarkConditions(b *testing.B) {
	ctx := context.Background()
	size := scaleSizes[1]
	plain := scalePolicy(b, size.name, size.m)
	cond := conditionalPolicy(plain)
	resource := map[string]any{"amount": 500.0, "currency": "EUR"}
	newEngine := func(pol engine.Policy, maxDecisions int) *engine.Engine {
		e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: fixedLoader{pol}, MaxDecisions: maxDecisions})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	// The checks that match exactly one conditional right, and those that
	// match none.
	probe := newEngine(cond, -1)
	var one, none []engine.Request
	for _, r := range scaleReqs(size.m) {
		r.Resource, r.Explain, r.NoGrantable = resource, true, true
		d, err := probe.Check(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, m := range d.Matched {
			if m.Condition != "" {
				n++
			}
		}
		r.Explain = false
		switch {
		case n == 1:
			one = append(one, r)
		case n == 0 && len(none) < 64:
			none = append(none, r)
		}
	}
	if len(one) < 100 {
		b.Fatalf("only %d checks match one condition", len(one))
	}
	run := func(b *testing.B, e *engine.Engine, reqs []engine.Request) {
		for _, r := range reqs {
			if _, err := e.Check(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		took := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := e.Check(ctx, reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t0))
		}
		b.StopTimer()
		reportP50(b, took)
	}
	// The load of either tenant and the heap it takes (conditions compile
	// on first use: a tenth of the rights, one source per role, 1,000).
	for _, c := range []struct {
		name string
		pol  engine.Policy
	}{{"load/plain", plain}, {"load/conditional-tenant", cond}} {
		b.Run(c.name, func(b *testing.B) {
			var heap uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				pol := copyPolicy(c.pol)
				pol.Conditions, pol.Attributes = c.pol.Conditions, c.pol.Attributes
				e := newEngine(pol, -1)
				b.StartTimer()
				if _, err := e.Revision(ctx, "big"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				pol = engine.Policy{}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
				runtime.KeepAlive(e)
				b.StartTimer()
			}
			b.ReportMetric(float64(heap), "heap-bytes")
		})
	}
	b.Run("uncached/plain", func(b *testing.B) { run(b, newEngine(copyPolicy(plain), -1), one) })
	b.Run("uncached/one-condition", func(b *testing.B) { run(b, newEngine(cond, -1), one) })
	b.Run("cached/plain", func(b *testing.B) { run(b, newEngine(copyPolicy(plain), 0), none) })
	b.Run("cached/conditional-tenant", func(b *testing.B) { run(b, newEngine(cond, 0), none) })
}

// BenchmarkConditionMemory reports the heap one compiled condition takes,
// over 1,000 distinct ones of the shape roles use.
//
//	go test -run '^$' -bench 'BenchmarkConditionMemory' ./engine
func BenchmarkConditionMemory(b *testing.B) {
	const n = 1000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		prgs := make([]*condition.Program, n)
		for k := range prgs {
			p, err := condition.Compile(fmt.Sprintf("resource.amount <= %d.0 && resource.currency == 'EUR' && user.department in ['finance', 'audit']", k))
			if err != nil {
				b.Fatal(err)
			}
			prgs[k] = p
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(prgs)
		b.ReportMetric(float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))/n, "bytes/condition")
	}
}

// BenchmarkUnconditionalChecks compares uncached checks of the small tenant
// (no conditions) under the model's matcher and under the matcher before
// conditions, in one process: what an unconditional check pays for them.
//
//	go test -run '^$' -bench 'BenchmarkUnconditionalChecks' -count 5 ./engine
func BenchmarkUnconditionalChecks(b *testing.B) {
	const now = `(p.cond == "any" || cond(p.cond, p.eft))`
	before := strings.Replace(rolegate.CasbinModel, now, `(p.cond == "any" || r.owner == r.sub)`, 1)
	if before == rolegate.CasbinModel {
		b.Fatal("model.conf's matcher changed; update the benchmark")
	}
	ctx := context.Background()
	size := scaleSizes[0]
	pol := scalePolicy(b, size.name, size.m)
	reqs := scaleReqs(size.m)
	for _, c := range []struct{ name, model string }{{"matcher-before", before}, {"matcher", rolegate.CasbinModel}} {
		b.Run(c.name, func(b *testing.B) {
			e, err := engine.New(engine.Config{Model: c.model, Loader: fixedLoader{copyPolicy(pol)}, MaxDecisions: -1})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Check(ctx, reqs[0]); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Check(ctx, reqs[i&(len(reqs)-1)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
