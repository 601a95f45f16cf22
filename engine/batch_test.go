package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
)

// batchOf draws n questions as the bench's uniform batches do: random
// users, object types, actions and owners over at most 10 entities.
func batchOf(rng *rand.Rand, entities, n int) []engine.Request {
	ids := make([]string, min(entities, 10))
	for i := range ids {
		ids[i] = fmt.Sprintf("e%d", rng.IntN(entities))
	}
	reqs := make([]engine.Request, n)
	for i := range reqs {
		u := fmt.Sprintf("user-%d", rng.IntN(20))
		reqs[i] = engine.Request{EntityID: ids[rng.IntN(len(ids))], UserID: u,
			ObjectType: benchObjects[rng.IntN(len(benchObjects))], Action: benchActions[rng.IntN(len(benchActions))]}
		if rng.IntN(2) == 0 {
			reqs[i].OwnerID = u
		}
	}
	return reqs
}

// BenchmarkCheckBatch times 100 uniform questions over 10 of 1,000 warm
// entities, as one batch and as 100 checks, without a decision cache (every
// question runs Casbin, as uniform questions mostly do) and with one.
//
//	go test -run '^$' -bench BenchmarkCheckBatch ./engine
func BenchmarkCheckBatch(b *testing.B) {
	for _, cache := range []int{-1, 0} {
		e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: memLoader{5, 20, 20}, MaxDecisions: cache})
		if err != nil {
			b.Fatal(err)
		}
		ctx := auth.Internal(context.Background())
		for i := 0; i < 1000; i++ {
			e.Check(ctx, engine.Request{EntityID: fmt.Sprintf("e%d", i), UserID: "user-0", ObjectType: "payable", Action: "read"})
		}
		rng := rand.New(rand.NewPCG(3, 4))
		batches := make([][]engine.Request, 64)
		for i := range batches {
			batches[i] = batchOf(rng, 1000, 100)
		}
		name := "uncached"
		if cache == 0 {
			name = "cached"
		}
		for _, batch := range batches { // every question asked once: the cache as warm for both
			e.CheckBatch(ctx, batch)
		}
		b.Run(name+"/batch", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				_, errs := e.CheckBatch(ctx, batches[i%len(batches)])
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
		b.Run(name+"/single", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				for _, r := range batches[i%len(batches)] {
					if _, err := e.Check(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
	}
}

// reportCPU reports the process's CPU time (user and system, all threads:
// the batch's goroutines and the collector) per operation, which a busy
// machine does not inflate as it does the wall time of ns/op.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// randomLoader serves a random policy per entity id, the same for the same
// id: roles with allows, own-object allows, denies and wildcards, users'
// own rights, entity-wide, scoped and expiring assignments (some expired at
// batchNow), and inactive roles. "gone-*" entities do not exist; "broken-*"
// fail to load.
type randomLoader struct{}

var batchNow = time.UnixMilli(1_800_000_000_000)

func (randomLoader) LoadPolicy(_ context.Context, id string) (engine.Policy, error) {
	switch {
	case strings.HasPrefix(id, "gone-"):
		return engine.Policy{}, rolegate.ErrNotFound
	case strings.HasPrefix(id, "broken-"):
		return engine.Policy{}, errors.New("the store is down")
	}
	seed := uint64(0)
	for _, c := range id {
		seed = seed*31 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	pol := engine.Policy{Revision: 3, RoleNames: map[string]string{}}
	for r := range 6 {
		role := fmt.Sprintf("role-%d", r)
		if r != 5 { // role-5 holds rules but is not active
			pol.RoleNames[role] = fmt.Sprintf("name-%d", rng.IntN(4))
		}
		pol.Rules = append(pol.Rules, engine.CompileRights(engine.RoleSubject(role), id, *randomRights(rng, 8))...)
	}
	for u := range 8 {
		user := fmt.Sprintf("user-%d", u)
		if u%4 == 0 {
			pol.Rules = append(pol.Rules, engine.CompileRights(engine.UserSubject(user), id, *randomRights(rng, 3))...)
		}
		for range 1 + rng.IntN(3) {
			a := rolegate.Assignment{EntityID: id, UserID: user, RoleID: fmt.Sprintf("role-%d", rng.IntN(6))}
			if rng.IntN(3) == 0 {
				a.Scope = fmt.Sprintf("team:%d", rng.IntN(2))
			}
			if rng.IntN(4) == 0 {
				at := batchNow.Add(time.Duration(rng.IntN(240)-120) * time.Minute)
				a.ExpiresAt = &at
			}
			pol.Rules = append(pol.Rules, engine.CompileAssignment(a))
		}
	}
	return pol, nil
}

func randomQuestion(rng *rand.Rand, entities []string) engine.Request {
	u := fmt.Sprintf("user-%d", rng.IntN(9)) // user-8 holds nothing
	r := engine.Request{EntityID: entities[rng.IntN(len(entities))], UserID: u,
		ObjectType: deltaObjects[rng.IntN(len(deltaObjects))], Action: deltaActions[rng.IntN(len(deltaActions))]}
	switch rng.IntN(3) {
	case 0:
		r.OwnerID = u
	case 1:
		r.OwnerID = "user-0"
	}
	if rng.IntN(3) == 0 {
		r.Scope = fmt.Sprintf("team:%d", rng.IntN(3))
	}
	if rng.IntN(3) == 0 {
		r.Explain = true
		r.NoGrantable = rng.IntN(2) == 0
	}
	switch rng.IntN(20) {
	case 0:
		r.MinRevision = 3
	case 1:
		r.MinRevision = 4 // newer than the store holds: stale_policy
	}
	return r
}

// A batch answers exactly what single checks answer, in order: the same
// decisions (explained or not, expiring assignments, scopes, owners), the
// same errors (unknown entities, a store that fails, a revision not
// reached), with a decision cache and without, on engines that have
// answered the same questions before and on fresh ones, in batches small
// (one goroutine) and large (shared between goroutines).
func TestCheckBatchAnswersAsSingleChecks(t *testing.T) {
	ctx := auth.Internal(context.Background())
	clock := func() time.Time { return batchNow }
	rng := rand.New(rand.NewPCG(11, 12))
	entities := []string{"e0", "e1", "e2", "e3", "e4", "e5", "gone-1", "broken-1"}
	for _, maxDecisions := range []int{-1, 64, 0} {
		newEngine := func() *engine.Engine {
			e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: randomLoader{}, MaxDecisions: maxDecisions,
				Now: clock, StaleWait: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		single, batched, fresh := newEngine(), newEngine(), newEngine()
		for round := range 40 {
			n := 1 + rng.IntN(12)
			if round%4 == 0 {
				n = 100 + rng.IntN(200)
			}
			reqs := make([]engine.Request, n)
			for i := range reqs {
				reqs[i] = randomQuestion(rng, entities)
			}
			ds, errs := batched.CheckBatch(ctx, reqs)
			if len(ds) != n || len(errs) != n {
				t.Fatalf("%d questions: %d decisions, %d errors", n, len(ds), len(errs))
			}
			var fds []engine.Decision
			var ferrs []error
			if round%8 == 0 {
				fds, ferrs = fresh.CheckBatch(ctx, reqs)
				fresh = newEngine()
			}
			for i, r := range reqs {
				want, werr := single.Check(ctx, r)
				if !sameError(errs[i], werr) || !reflect.DeepEqual(ds[i], want) {
					t.Fatalf("decisions=%d round %d: %+v\nbatch  %+v (%v)\nsingle %+v (%v)", maxDecisions, round, r, ds[i], errs[i], want, werr)
				}
				if fds != nil && (!sameError(ferrs[i], werr) || !reflect.DeepEqual(fds[i], want)) {
					t.Fatalf("decisions=%d round %d, fresh engine: %+v\nbatch  %+v (%v)\nsingle %+v (%v)", maxDecisions, round, r, fds[i], ferrs[i], want, werr)
				}
			}
		}
		// Both engines counted the same answers.
		if s, b := single.Stats(), batched.Stats(); !reflect.DeepEqual(s.Checks, b.Checks) || s.CheckErrors != b.CheckErrors {
			t.Fatalf("decisions=%d: counters differ: single %v %d, batch %v %d", maxDecisions, s.Checks, s.CheckErrors, b.Checks, b.CheckErrors)
		}
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// An empty batch answers nothing; with a cancelled context, a check of an
// entity not yet held fails (context.Canceled) as a deny, as a single
// check does, and one whose entity is held (its load, shared, went on) is
// answered.
func TestCheckBatchEdges(t *testing.T) {
	e, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: randomLoader{}})
	if err != nil {
		t.Fatal(err)
	}
	ds, errs := e.CheckBatch(context.Background(), nil)
	if len(ds) != 0 || len(errs) != 0 {
		t.Fatalf("empty batch: %v %v", ds, errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reqs := make([]engine.Request, 40)
	for i := range reqs {
		reqs[i] = engine.Request{EntityID: fmt.Sprintf("c%d", i%3), UserID: fmt.Sprintf("user-%d", i%8), ObjectType: "doc", Action: "read"}
	}
	ds, errs = e.CheckBatch(ctx, reqs)
	for i := range reqs {
		if errs[i] != nil && (!errors.Is(errs[i], context.Canceled) || ds[i].Allowed || ds[i].Permission != rolegate.NotAllowed) {
			t.Fatalf("check %d: %+v (%v)", i, ds[i], errs[i])
		}
	}
}
