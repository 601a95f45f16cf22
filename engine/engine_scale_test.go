package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/engine"
)

// The sizes of one entity the scale benchmarks measure: the small entity of
// BENCHMARKS.md (5 roles x 20 rights, 20 users with 2 roles: 130 rules) and
// the large tenant of the tenant-scale issue (1,000 roles x 20 rights,
// 100,000 users with 2 roles: 220,000 rules).
var scaleSizes = []struct {
	name string
	m    memLoader
}{
	{"small", memLoader{5, 20, 20}},
	{"large", memLoader{1000, 20, 100_000}},
}

// onceLoader hands its policy over once (the store's rows are not kept either).
type onceLoader struct{ pol engine.Policy }

func (l *onceLoader) LoadPolicy(context.Context, string) (engine.Policy, error) {
	p := l.pol
	l.pol = engine.Policy{}
	return p, nil
}

// scalePolicy generates one entity's policy once per size.
var scalePolicies = map[string]engine.Policy{}

func scalePolicy(b *testing.B, name string, m memLoader) engine.Policy {
	if p, ok := scalePolicies[name]; ok {
		return p
	}
	p, err := m.LoadPolicy(context.Background(), "big")
	if err != nil {
		b.Fatal(err)
	}
	scalePolicies[name] = p
	return p
}

// copyPolicy returns a policy whose rules the engine may take over.
func copyPolicy(p engine.Policy) engine.Policy {
	out := engine.Policy{Revision: p.Revision, RoleNames: p.RoleNames, Rules: make([]rolegate.Rule, len(p.Rules))}
	for i, r := range p.Rules {
		out.Rules[i] = rolegate.Rule{PType: r.PType, Values: append([]string(nil), r.Values...)}
	}
	return out
}

func scaleReqs(m memLoader) []engine.Request {
	rng := rand.New(rand.NewPCG(9, 10))
	reqs := make([]engine.Request, 1<<14)
	for i := range reqs {
		u := fmt.Sprintf("user-%d", rng.IntN(m.users))
		reqs[i] = engine.Request{EntityID: "big", UserID: u,
			ObjectType: benchObjects[rng.IntN(len(benchObjects))], Action: benchActions[rng.IntN(len(benchActions))]}
		if rng.IntN(2) == 0 {
			reqs[i].OwnerID = u
		}
	}
	return reqs
}

// p50 reports the median of the timed operations.
func reportP50(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkEngineScale measures one entity at the small and the large size:
// checks without and with the decision cache, and a cold load (build of the
// snapshot from rules in memory; the store's part is measured in adapters).
//
//	go test -run '^$' -bench 'BenchmarkEngineScale' -benchtime 2s ./policy
func BenchmarkEngineScale(b *testing.B) {
	ctx := context.Background()
	for _, size := range scaleSizes {
		for _, mode := range []string{"uncached", "cached"} {
			b.Run(size.name+"/check-"+mode, func(b *testing.B) {
				pol := scalePolicy(b, size.name, size.m)
				maxDecisions := 0
				if mode == "uncached" {
					maxDecisions = -1
				}
				e, err := engine.New(engine.Config{Model: rolegate.CasbinModel,
					Loader: fixedLoader{copyPolicy(pol)}, MaxDecisions: maxDecisions})
				if err != nil {
					b.Fatal(err)
				}
				reqs := scaleReqs(size.m)
				if mode == "cached" {
					reqs = reqs[:64]
				}
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
					if _, err := e.Check(ctx, reqs[i&(len(reqs)-1)]); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
				}
				b.StopTimer()
				reportP50(b, took)
			})
		}
		b.Run(size.name+"/load", func(b *testing.B) {
			pol := scalePolicy(b, size.name, size.m)
			var heap uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				// The heap the held entity takes, measured on the first load
				// only (two collections per load would dominate the run).
				measure := i == 0
				var before, after runtime.MemStats
				if measure {
					runtime.GC()
					runtime.ReadMemStats(&before)
				}
				l := &onceLoader{copyPolicy(pol)}
				e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: l})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := e.Revision(ctx, "big"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if measure {
					runtime.GC()
					runtime.ReadMemStats(&after)
					heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
				}
				runtime.KeepAlive(e)
				b.StartTimer()
			}
			b.ReportMetric(float64(heap), "heap-bytes")
		})
	}
}

// BenchmarkEngineScaleApply measures applying one write's delta to a loaded
// entity at the small and the large size: a role edit (its 20 rules
// replaced), one user's assignment (one g rule added or removed), and a user
// created with 2 roles.
//
//	go test -run '^$' -bench 'BenchmarkEngineScaleApply' -benchtime 2s ./policy
func BenchmarkEngineScaleApply(b *testing.B) {
	ctx := context.Background()
	for _, size := range scaleSizes {
		for _, write := range []string{"role-edit", "assignment", "user-create"} {
			b.Run(size.name+"/"+write, func(b *testing.B) {
				pol := scalePolicy(b, size.name, size.m)
				e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: fixedLoader{copyPolicy(pol)}})
				if err != nil {
					b.Fatal(err)
				}
				rev, err := e.Revision(ctx, "big")
				if err != nil {
					b.Fatal(err)
				}
				reqs := scaleReqs(size.m)
				role := engine.RoleSubject("role-3")
				edits := [2][]rolegate.Rule{}
				for k := range edits {
					edits[k] = engine.CompileRights(role, "big", *randomRights(rand.New(rand.NewPCG(uint64(k), 1)), 30))
				}
				took := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var d engine.Delta
					switch write {
					case "role-edit":
						d.Ops = []engine.DeltaOp{{Op: engine.OpReplace, Subject: role, Rules: lines(edits[i%2])}}
					case "assignment":
						op := engine.OpAdd
						if i%2 == 1 {
							op = engine.OpRemove
						}
						g := engine.CompileAssignment(rolegate.Assignment{EntityID: "big", UserID: "user-7", RoleID: "role-9", Scope: "team:1"})
						d.Ops = []engine.DeltaOp{{Op: op, Rules: lines([]rolegate.Rule{g})}}
					case "user-create":
						u := fmt.Sprintf("new-%d", i)
						d.Ops = []engine.DeltaOp{{Op: engine.OpAdd, Rules: lines([]rolegate.Rule{
							engine.CompileAssignment(rolegate.Assignment{EntityID: "big", UserID: u, RoleID: "role-1"}),
							engine.CompileAssignment(rolegate.Assignment{EntityID: "big", UserID: u, RoleID: "role-2"})})}}
					}
					rev++
					t0 := time.Now()
					if err := e.Apply(ctx, "big", rev, d); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
					// checks keep flowing between writes
					b.StopTimer()
					for k := 0; k < 4; k++ {
						e.Check(ctx, reqs[(i*4+k)&(len(reqs)-1)])
					}
					b.StartTimer()
				}
				b.StopTimer()
				if st := e.Stats(); st.Reloads != 0 {
					b.Fatalf("%d full reloads", st.Reloads)
				}
				reportP50(b, took)
			})
		}
	}
}

func lines(rules []rolegate.Rule) [][]string {
	out := make([][]string, len(rules))
	for i, r := range rules {
		out[i] = append([]string{r.PType}, r.Values...)
	}
	return out
}
