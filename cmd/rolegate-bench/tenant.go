package main

// The large-tenant scenario: one entity of many roles and users beside
// reference entities of the usual 130 rules, in one store and one server.
// Its roles are created and its users imported through the HTTP API
// (POST /v1/entities/{e}/users/import); then, with the tenant loaded, the
// figures of the tenant-size targets: cold load, memory, uncached check in
// process, HTTP uniform checks against the reference entities, and role and
// user writes with checks flowing, each against the same on a reference
// entity.
//
//	go run ./cmd/rolegate-bench -tenant-only -tenant-roles 1000 -tenant-users 100000

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/policy"
)

// tenantConfig is the scenario's part of the flags.
type tenantConfig struct {
	roles, rights, users, rolesPerUser int
	references                         int    // reference entities of 130 rules
	writes                             int    // writes of each kind timed
	importBatch                        int    // users per import request
	db                                 string // PostgreSQL URL; empty: SQLite
}

const tenantID = "tenant-large"

func runTenant(c config) error {
	tc := c.tenant
	if tc.roles < tc.rolesPerUser || tc.rolesPerUser < 1 || tc.users < 1 || tc.references < 1 {
		return fmt.Errorf("tenant scenario: need -tenant-roles >= -tenant-roles-per-user >= 1, -tenant-users >= 1, -tenant-references >= 1")
	}
	ctx := auth.Internal(context.Background()) // the bench is Rolegate's own caller
	loadStart := loadAverage()
	store, dropStore, err := tenantStore(ctx, tc.db)
	if err != nil {
		return err
	}
	defer dropStore()

	// Reference entities, the bench's usual shape: 5 roles x 20 rights, 20 users.
	ref := config{entities: tc.references, roles: 5, rights: 20, users: 20, conns: c.conns, duration: c.duration}
	start := time.Now()
	if err := seed(ctx, store, 0, ref); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "tenant scenario: seeded %d reference entities in %v\n", tc.references, time.Since(start).Round(time.Millisecond))

	eng, svc, auth, err := benchService(ctx, store, engine.Config{MaxEntities: tc.references + 10, LoadTimeout: time.Minute})
	if err != nil {
		return err
	}
	base, stop, err := serve(handlers.NewRouter(handlers.Deps{Service: svc, Auth: auth, Logger: quiet}))
	if err != nil {
		return err
	}
	defer stop()
	client := newClient()
	// Writes to a large tenant may take long with an engine that reloads it
	// whole: wait for them rather than fail.
	client.Timeout = 10 * time.Minute
	var rows []row
	// Each figure is also printed as soon as it is measured.
	add := func(rs ...row) {
		for _, r := range rs {
			fmt.Fprintf(os.Stderr, "  %s: %s %s %s %s\n", r.name, r.throughput, r.p50, r.p99, r.note)
		}
		rows = append(rows, rs...)
	}

	// The tenant and its roles, over HTTP.
	if _, err := call(client, "POST", base+"/v1/entities", []byte(`{"id":"`+tenantID+`"}`)); err != nil {
		return err
	}
	roleIDs := make([]string, tc.roles)
	var roleLat []time.Duration
	start = time.Now()
	for r := range roleIDs {
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("role %d", r), "permissions": policy.DocOf(rights(r, tc.rights))})
		t0 := time.Now()
		out, err := call(client, "POST", base+"/v1/entities/"+tenantID+"/roles", body)
		if err != nil {
			return err
		}
		roleLat = append(roleLat, time.Since(t0))
		var role struct{ ID string }
		if err := json.Unmarshal(out, &role); err != nil {
			return err
		}
		roleIDs[r] = role.ID
	}
	add(row{name: fmt.Sprintf("HTTP POST of the tenant's %d roles", tc.roles), p50: dur(pct(roleLat, 50)), p99: dur(pct(roleLat, 99)),
		note: fmt.Sprintf("%v in all; tenant not held in memory", time.Since(start).Round(time.Millisecond))})

	// Its users, through the import endpoint, 1,000 a request.
	userRoles := func(u int) []string {
		out := make([]string, tc.rolesPerUser)
		for j := range out {
			out[j] = roleIDs[(u*tc.rolesPerUser+j)%tc.roles]
		}
		return out
	}
	importBody := func(from, to int, name string) []byte {
		users := make([]map[string]any, 0, to-from)
		for u := from; u < to; u++ {
			users = append(users, map[string]any{"id": userID(u), "email": userID(u) + "@tenant.test", "name": name, "role_ids": userRoles(u)})
		}
		b, _ := json.Marshal(map[string]any{"users": users})
		return b
	}
	var impLat []time.Duration
	start, cpu0 := time.Now(), cpuTime()
	for from := 0; from < tc.users; from += tc.importBatch {
		body := importBody(from, min(from+tc.importBatch, tc.users), "User")
		t0 := time.Now()
		if _, err := call(client, "POST", base+"/v1/entities/"+tenantID+"/users/import", body); err != nil {
			return err
		}
		impLat = append(impLat, time.Since(t0))
		if len(impLat)%10 == 0 {
			fmt.Fprintf(os.Stderr, "\rimporting: %d/%d users", from+tc.importBatch, tc.users)
		}
	}
	importTime, importCPU := time.Since(start), cpuTime()-cpu0
	fmt.Fprintln(os.Stderr)
	rules := tc.roles*tc.rights + tc.users*tc.rolesPerUser
	add(row{name: fmt.Sprintf("HTTP import of %d users", tc.users), throughput: fmt.Sprintf("%.0f users/s", float64(tc.users)/importTime.Seconds()),
		p50: dur(pct(impLat, 50)), p99: dur(pct(impLat, 99)),
		note: fmt.Sprintf("%v in all (target ≤ 60 s), %.1f s of CPU (server and client); %d requests of %d users; tenant not held meanwhile",
			importTime.Round(time.Millisecond), importCPU.Seconds(), len(impLat), tc.importBatch)})

	// Cold load: the first check after the tenant is dropped from memory.
	runtime.GC()
	debug.FreeOSMemory()
	rss0, heap0 := rssMiB(), heapMiB()
	var coldLat []time.Duration
	cpu0 = cpuTime()
	const coldLoads = 5
	for i := 0; i < coldLoads; i++ {
		eng.Forget(tenantID)
		t0 := time.Now()
		if _, err := eng.Check(ctx, engine.Request{EntityID: tenantID, UserID: userID(0), ObjectType: objects[0], Action: actions[0]}); err != nil {
			return err
		}
		coldLat = append(coldLat, time.Since(t0))
	}
	add(row{name: "cold load of the tenant (first check, in process)", p50: dur(pct(coldLat, 50)), p99: dur(pct(coldLat, 99)),
		note: fmt.Sprintf("%d loads of %d rules, %v to %v, %.2f s of CPU each (target ≤ 500 ms)", coldLoads, rules,
			dur(pct(coldLat, 0)), dur(pct(coldLat, 100)), (cpuTime()-cpu0).Seconds()/coldLoads)})
	// Warm: every object type asked, then a spread of questions.
	rng := rand.New(rand.NewPCG(5, 6))
	large := func(rng *rand.Rand) engine.Request {
		r := engine.Request{EntityID: tenantID, UserID: userID(rng.IntN(tc.users)), ObjectType: objects[rng.IntN(len(objects))], Action: actions[rng.IntN(len(actions))]}
		if rng.IntN(2) == 0 {
			r.OwnerID = r.UserID
		}
		return r
	}
	for o := range objects {
		_, _ = eng.Check(ctx, engine.Request{EntityID: tenantID, UserID: userID(0), ObjectType: objects[o], Action: actions[0]})
	}
	for deadline, i := time.Now().Add(5*time.Second), 0; i < 20000 && time.Now().Before(deadline); i++ {
		_, _ = eng.Check(ctx, large(rng))
	}
	runtime.GC()
	debug.FreeOSMemory()
	rss1, heap1 := rssMiB(), heapMiB()
	add(row{name: "memory for the tenant", p50: fmt.Sprintf("%d MiB RSS", rss1-rss0),
		note: fmt.Sprintf("RSS %d -> %d MiB, live heap %d -> %d MiB, loading and warming it (target ≤ 300 MiB)", rss0, rss1, heap0, heap1)})

	// Who-can, a dry run and the access report on the tenant held.
	if err := benchExtras(client, base, tc, roleIDs[1], add); err != nil {
		return err
	}

	// Uncached checks in process, on the tenant and on a reference entity.
	uncached, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, MaxEntities: tc.references + 10, MaxDecisions: -1, LoadTimeout: time.Minute})
	if err != nil {
		return err
	}
	for o := range objects {
		_, _ = uncached.Check(ctx, engine.Request{EntityID: tenantID, UserID: userID(0), ObjectType: objects[o], Action: actions[0]})
	}
	warmAll(ctx, uncached, ref)
	lp50, lp99, ln := latencyWithin(ctx, uncached, 20000, 10*time.Second, func() engine.Request { return large(rng) })
	sp50, sp99, sn := latencyWithin(ctx, uncached, 20000, 10*time.Second, func() engine.Request { return randReq(rng, ref) })
	uncached = nil
	add(
		row{name: "engine check, no decision cache, tenant", p50: dur(lp50), p99: dur(lp99),
			note: fmt.Sprintf("%d checks; %.1fx the 130-rule entities' (target ≤ 20 µs p50)", ln, float64(lp50)/float64(sp50))},
		row{name: "engine check, no decision cache, 130-rule entities", p50: dur(sp50), p99: dur(sp99), note: fmt.Sprintf("%d checks, uniform over %d entities", sn, tc.references)})

	// HTTP uniform questions: the tenant's against the reference entities',
	// taking turns in rounds.
	largeBody := func(rng *rand.Rand) []byte { return body(large(rng)) }
	refBody := func(rng *rand.Rand) []byte { return randBody(rng, ref) }
	var lN, sN int
	var lLat, sLat []time.Duration
	const rounds = 5
	round := ref
	round.duration = c.duration / rounds
	for r := 0; r < rounds; r++ {
		for _, l := range []struct {
			body func(*rand.Rand) []byte
			n    *int
			lat  *[]time.Duration
		}{{largeBody, &lN, &lLat}, {refBody, &sN, &sLat}} {
			lat, err := load(base+"/v1/check", round, l.body)
			if err != nil {
				return err
			}
			*l.n += len(lat)
			*l.lat = append(*l.lat, lat...)
		}
	}
	lRate, sRate := float64(lN)/c.duration.Seconds(), float64(sN)/c.duration.Seconds()
	add(
		row{name: fmt.Sprintf("HTTP /v1/check, %d conns, uniform, tenant", c.conns), throughput: fmt.Sprintf("%.0f/s", lRate), p50: dur(pct(lLat, 50)), p99: dur(pct(lLat, 99)),
			note: fmt.Sprintf("%.0f%% of the 130-rule entities' (target ≥ 90%%)", 100*lRate/sRate)},
		row{name: fmt.Sprintf("HTTP /v1/check, %d conns, uniform, 130-rule entities", c.conns), throughput: fmt.Sprintf("%.0f/s", sRate), p50: dur(pct(sLat, 50)), p99: dur(pct(sLat, 99)),
			note: fmt.Sprintf("%d entities", tc.references)})

	// Writes with checks flowing (8 connections asking the written entity).
	refRoles, err := svc.ListRoles(ctx, entityID(0), policy.RoleFilter{}, policy.Page{Limit: 10, Sort: "name"})
	if err != nil || len(refRoles) < 3 || refRoles[1].Name != "role 1" {
		return fmt.Errorf("reference roles: %v", err)
	}
	targets := []struct {
		name, entity string
		role         rolegate.Role
		give         []string
		flow         func(*rand.Rand) []byte
	}{
		{"tenant", tenantID, rolegate.Role{ID: roleIDs[1], Name: "role 1"}, roleIDs[:tc.rolesPerUser], largeBody},
		{"130-rule entity", entityID(0), refRoles[1], []string{refRoles[0].ID, refRoles[2].ID}, func(rng *rand.Rand) []byte { return randBody(rng, config{entities: 1, users: ref.users}) }},
	}
	var putP50, createP50 [2]time.Duration
	for ti, tg := range targets {
		stopFlow := flow(base+"/v1/check", 8, tg.flow)
		var puts, creates []time.Duration
		for i := 0; i < tc.writes; i++ {
			perms := rights(1, tc.rights)
			if i%2 == 0 {
				perms.Objects[0].Actions[0].Permission = rolegate.Denied
			}
			b, _ := json.Marshal(map[string]any{"name": tg.role.Name, "permissions": policy.DocOf(perms)})
			t0 := time.Now()
			if _, err := call(client, "PUT", base+"/v1/entities/"+tg.entity+"/roles/"+tg.role.ID, b); err != nil {
				stopFlow()
				return err
			}
			puts = append(puts, time.Since(t0))
			b, _ = json.Marshal(map[string]any{"id": fmt.Sprintf("new-user-%d", i), "email": "new@tenant.test", "role_ids": tg.give})
			t0 = time.Now()
			if _, err := call(client, "POST", base+"/v1/entities/"+tg.entity+"/users", b); err != nil {
				stopFlow()
				return err
			}
			creates = append(creates, time.Since(t0))
			fmt.Fprintf(os.Stderr, "\rwrites on the %s: %d/%d (last PUT %v, POST %v)", tg.name, i+1, tc.writes, dur(puts[i]), dur(creates[i]))
		}
		fmt.Fprintln(os.Stderr)
		checks := stopFlow()
		putP50[ti], createP50[ti] = pct(puts, 50), pct(creates, 50)
		add(
			row{name: "HTTP PUT role of 20 rights, checks flowing, " + tg.name, p50: dur(pct(puts, 50)), p99: dur(pct(puts, 99)),
				note: fmt.Sprintf("%d writes; %d checks answered meanwhile", len(puts), checks)},
			row{name: fmt.Sprintf("HTTP POST user with %d roles, checks flowing, %s", len(tg.give), tg.name), p50: dur(pct(creates, 50)), p99: dur(pct(creates, 99)),
				note: fmt.Sprintf("%d writes", len(creates))})
	}
	rows[len(rows)-4].note += fmt.Sprintf("; %.1fx the 130-rule entity's (target ≤ 10 ms, ≤ 1.5x)", float64(putP50[0])/float64(putP50[1]))
	rows[len(rows)-3].note += fmt.Sprintf("; %.1fx the 130-rule entity's (target ≤ 10 ms, ≤ 1.5x)", float64(createP50[0])/float64(createP50[1]))

	// An import of 1,000 users (each renamed) into the tenant while it is held.
	var reLat []time.Duration
	for i := 0; i < 3; i++ {
		b := importBody(0, min(tc.importBatch, tc.users), fmt.Sprintf("Renamed %d", i))
		t0 := time.Now()
		if _, err := call(client, "POST", base+"/v1/entities/"+tenantID+"/users/import", b); err != nil {
			return err
		}
		reLat = append(reLat, time.Since(t0))
	}
	add(row{name: fmt.Sprintf("HTTP import of %d changed users, tenant held", min(tc.importBatch, tc.users)), p50: dur(pct(reLat, 50)), p99: dur(pct(reLat, 99)),
		note: "3 requests; each is one transaction and one delta applied to the tenant's policy"})

	fmt.Printf("\nRolegate bench, large tenant: 1 entity x (%d roles x %d rights, %d users x %d roles) = %d rules, beside %d entities of 130 rules; %s; %d conns x %v; %s, %d CPUs; load average %s at the start, %s at the end\n\n",
		tc.roles, tc.rights, tc.users, tc.rolesPerUser, rules, tc.references, store.Dialect(), c.conns, c.duration, runtime.Version(), runtime.NumCPU(), loadStart, loadAverage())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tthroughput\tp50\tp99\tnote")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.throughput, r.p50, r.p99, r.note)
	}
	return tw.Flush()
}

// tenantStore opens the scenario's store: a new SQLite file, or a new schema
// of the PostgreSQL database url names. drop closes and removes it.
func tenantStore(ctx context.Context, url string) (store *adapters.Store, drop func(), err error) {
	if url == "" {
		dir, err := os.MkdirTemp("", "rolegate-bench-tenant")
		if err != nil {
			return nil, nil, err
		}
		store, err := adapters.Open(ctx, "sqlite://"+filepath.Join(dir, "tenant.db"))
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return store, func() { store.Close(); os.RemoveAll(dir) }, nil
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, nil, fmt.Errorf("-tenant-db: a postgres:// URL, not %q", url)
	}
	admin, err := adapters.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	schema := fmt.Sprintf("rolegate_bench_%d", time.Now().UnixNano())
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		admin.Close()
		return nil, nil, err
	}
	dropSchema := func() { admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() }
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if store, err = adapters.Open(ctx, url+sep+"search_path="+schema); err != nil {
		dropSchema()
		return nil, nil, err
	}
	return store, func() { store.Close(); dropSchema() }, nil
}

// loadAverage is the machine's 1-minute load average, as /proc/loadavg says.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencyWithin times up to n checks from one goroutine, for at most budget.
func latencyWithin(ctx context.Context, e *engine.Engine, n int, budget time.Duration, next func() engine.Request) (p50, p99 time.Duration, done int) {
	lat := make([]time.Duration, 0, n)
	deadline := time.Now().Add(budget)
	for len(lat) < n && (len(lat) < 100 || time.Now().Before(deadline)) {
		r := next()
		t0 := time.Now()
		_, _ = e.Check(ctx, r)
		lat = append(lat, time.Since(t0))
	}
	return pct(lat, 50), pct(lat, 99), len(lat)
}

// flow keeps conns keep-alive connections posting checks until the returned
// stop is called, which answers how many were answered.
func flow(url string, conns int, next func(*rand.Rand) []byte) (stop func() int64) {
	n := &atomic.Int64{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := newClient()
			rng := rand.New(rand.NewPCG(uint64(w), 13))
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := call(client, "POST", url, next(rng)); err == nil {
					n.Add(1)
				}
			}
		}(w)
	}
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(done); wg.Wait() })
		return n.Load()
	}
}
