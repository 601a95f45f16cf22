package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// memLoader serves generated entities: 5 roles x 20 rights, 20 users. It is
// a unit double for the engine's benchmarks; the storage suite and the bench
// command measure the real store.
type memLoader struct{ roles, rights, users int }

var benchObjects = []string{"payable", "receivable", "receipt", "counterpart", "product", "project", "tag", "todo_task", "workflow", "comment"}
var benchActions = []string{"create", "read", "update", "delete", "approve", "pay", "cancel", "submit"}

func (m memLoader) LoadPolicy(_ context.Context, entityID string) (engine.Policy, error) {
	pol := engine.Policy{Revision: 1, RoleNames: map[string]string{}}
	for r := 0; r < m.roles; r++ {
		id := fmt.Sprintf("role-%d", r)
		pol.RoleNames[id] = id
		seen := map[string]bool{}
		var p rolegate.Permissions
		for k := 0; k < m.rights; k++ {
			obj := benchObjects[(r*7+k)%len(benchObjects)]
			act := benchActions[(k+r)%len(benchActions)]
			if seen[obj+act] {
				continue
			}
			seen[obj+act] = true
			perm := rolegate.Allowed
			if k%7 == 3 {
				perm = rolegate.AllowedForOwn
			} else if k%7 == 6 {
				perm = rolegate.Denied
			}
			p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: obj, Actions: []rolegate.ActionPermission{{ActionName: act, Permission: perm}}})
		}
		pol.Rules = append(pol.Rules, engine.CompileRights(engine.RoleSubject(id), entityID, p)...)
	}
	for u := 0; u < m.users; u++ {
		for _, r := range []int{u % m.roles, (u + 1) % m.roles} {
			pol.Rules = append(pol.Rules, engine.CompileAssignment(rolegate.Assignment{EntityID: entityID, UserID: fmt.Sprintf("user-%d", u), RoleID: fmt.Sprintf("role-%d", r)}))
		}
	}
	return pol, nil
}

func benchEngine(b *testing.B, maxDecisions int) *engine.Engine {
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: memLoader{5, 20, 20}, MaxDecisions: maxDecisions})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchReqs(entities int) []engine.Request {
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]engine.Request, 4096)
	for i := range reqs {
		u := fmt.Sprintf("user-%d", rng.IntN(20))
		reqs[i] = engine.Request{EntityID: fmt.Sprintf("e%d", rng.IntN(entities)), UserID: u,
			ObjectType: benchObjects[rng.IntN(len(benchObjects))], Action: benchActions[rng.IntN(len(benchActions))]}
		if rng.IntN(2) == 0 {
			reqs[i].OwnerID = u
		}
	}
	return reqs
}

// BenchmarkEngineCheck: one warm entity, repeated questions (decision cache).
func BenchmarkEngineCheck(b *testing.B) {
	e := benchEngine(b, 0)
	reqs := benchReqs(1)
	ctx := auth.Internal(context.Background())
	for _, r := range reqs {
		e.Check(ctx, r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Check(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineCheckUncached: every check runs Casbin.
func BenchmarkEngineCheckUncached(b *testing.B) {
	e := benchEngine(b, -1)
	reqs := benchReqs(1)
	ctx := auth.Internal(context.Background())
	e.Check(ctx, reqs[0])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Check(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineCheckParallel: one warm entity, all cores.
func BenchmarkEngineCheckParallel(b *testing.B) {
	e := benchEngine(b, 0)
	reqs := benchReqs(1)
	ctx := auth.Internal(context.Background())
	for _, r := range reqs {
		e.Check(ctx, r)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e.Check(ctx, reqs[i%len(reqs)])
			i++
		}
	})
}

// BenchmarkEngineEntities compares one check's cost with 10, 1,000 and 10,000
// warm entities of 5 roles x 20 rights and 20 users (130 rules each): "hot"
// draws from the same 64 questions per entity at every size (answered from
// the decision cache), "uncached" runs Casbin on every check.
//
//	go test -run '^$' -bench BenchmarkEngineEntities -benchtime 2s ./policy
func BenchmarkEngineEntities(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		for _, mode := range []string{"hot", "uncached"} {
			var e *engine.Engine
			var reqs []engine.Request
			b.Run(fmt.Sprintf("entities=%d/%s", n, mode), func(b *testing.B) {
				if e == nil { // built once, not once per b.N
					e, reqs = warmEngine(b, n, mode)
				}
				ctx := auth.Internal(context.Background())
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
}

// warmEngine loads n entities, builds every enforcer, asks every hot question
// once, and draws the questions to time.
func warmEngine(b *testing.B, n int, mode string) (*engine.Engine, []engine.Request) {
	maxDecisions := 0
	if mode == "uncached" {
		maxDecisions = -1
	}
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: memLoader{5, 20, 20}, MaxDecisions: maxDecisions})
	if err != nil {
		b.Fatal(err)
	}
	ctx := auth.Internal(context.Background())
	hot := func(ent, k int) engine.Request {
		return engine.Request{EntityID: fmt.Sprintf("e%d", ent), UserID: fmt.Sprintf("user-%d", k%4),
			ObjectType: benchObjects[(k/4)%4], Action: benchActions[k/16]}
	}
	for ent := 0; ent < n; ent++ {
		for o := range benchObjects {
			e.Check(ctx, engine.Request{EntityID: fmt.Sprintf("e%d", ent), UserID: "user-0", ObjectType: benchObjects[o], Action: "read"})
		}
		for k := 0; k < 64; k++ {
			e.Check(ctx, hot(ent, k))
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	reqs := make([]engine.Request, 1<<16)
	for i := range reqs {
		if mode == "hot" {
			reqs[i] = hot(rng.IntN(n), rng.IntN(64))
			continue
		}
		u := fmt.Sprintf("user-%d", rng.IntN(20))
		reqs[i] = engine.Request{EntityID: fmt.Sprintf("e%d", rng.IntN(n)), UserID: u,
			ObjectType: benchObjects[rng.IntN(len(benchObjects))], Action: benchActions[rng.IntN(len(benchActions))]}
	}
	return e, reqs
}
