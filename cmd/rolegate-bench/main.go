// Command rolegate-bench measures Rolegate's check path end to end and prints
// one table. It seeds N entities through the real store (SQLite by default),
// starts the real server on a real port, drives POST /v1/check over HTTP from K
// keep-alive connections for D seconds, and in the same run measures the
// baselines: a trivial net/http handler answering the same JSON through the
// same load generator, and one casbin.SyncedEnforcer holding every entity's
// rules (how most Casbin services run).
//
//	go run ./cmd/rolegate-bench -entities 1000 -conns 32 -duration 10s
//
// With -tenant-roles (or -tenant-only) it also runs the large-tenant scenario
// of tenant.go: one entity of many roles and users, imported over HTTP.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/google/uuid"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/adapters"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/engine"
	"github.com/rolegate/rolegate/handlers"
	"github.com/rolegate/rolegate/handlers/grpcapi"
	"github.com/rolegate/rolegate/policy"
)

type config struct {
	entities, roles, rights, users, conns int
	duration                              time.Duration
	db                                    string
	baselineTime                          time.Duration
	skipBaseline                          bool
	memProfile, cpuProfile                string
	tokenJunk                             int
	tokenLimits                           handlers.TokenLimits
	tenant                                tenantConfig
	tenantOnly                            bool
	clientToken                           bool
	wire                                  bool
	wireRounds, grpcConns                 int
	wireRound                             time.Duration
	rateLimitCheck                        float64
}

func main() {
	var c config
	flag.IntVar(&c.entities, "entities", 10, "entities to seed")
	flag.IntVar(&c.roles, "roles", 5, "roles per entity")
	flag.IntVar(&c.rights, "rights", 20, "rights per role")
	flag.IntVar(&c.users, "users", 20, "users per entity")
	flag.IntVar(&c.conns, "conns", 32, "keep-alive connections of the load generator")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "how long each HTTP load runs")
	flag.StringVar(&c.db, "db", "", "SQLite file to seed or reuse (default: a new temporary file)")
	flag.DurationVar(&c.baselineTime, "baseline-time", 5*time.Second, "time budget of the single-enforcer baseline")
	flag.BoolVar(&c.skipBaseline, "skip-baseline", false, "skip the single SyncedEnforcer baseline")
	flag.StringVar(&c.memProfile, "memprofile", "", "write a heap profile with every entity warm to this file")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the in-process engine checks to this file")
	flag.IntVar(&c.tokenJunk, "token-junk", 0, "also measure hot checks while this many loops, each from its own loopback address, send junk to POST /v1/auth/token")
	flag.Float64Var(&c.tokenLimits.FailureCPU, "token-failure-cpu", handlers.DefaultTokenFailureCPU, "the server's ROLEGATE_TOKEN_FAILURE_CPU")
	flag.Float64Var(&c.tokenLimits.FailuresPerAddress, "token-failures-per-address", handlers.DefaultTokenFailuresPerAddress, "the server's ROLEGATE_TOKEN_FAILURES_PER_ADDRESS")
	flag.IntVar(&c.tenant.roles, "tenant-roles", 0, "large-tenant scenario: roles of the tenant (0: no scenario)")
	flag.IntVar(&c.tenant.rights, "tenant-rights", 20, "large-tenant scenario: rights per role")
	flag.IntVar(&c.tenant.users, "tenant-users", 100000, "large-tenant scenario: users, imported over HTTP")
	flag.IntVar(&c.tenant.rolesPerUser, "tenant-roles-per-user", 2, "large-tenant scenario: roles per user")
	flag.IntVar(&c.tenant.references, "tenant-references", 1000, "large-tenant scenario: entities of 130 rules to compare with")
	flag.IntVar(&c.tenant.writes, "tenant-writes", 20, "large-tenant scenario: role PUTs and user creates timed on each entity")
	flag.IntVar(&c.tenant.importBatch, "tenant-import-batch", policy.MaxImportUsers, "large-tenant scenario: users per import request")
	flag.StringVar(&c.tenant.db, "tenant-db", "", "large-tenant scenario: a postgres:// URL to run it on, in a new schema dropped afterwards (default: a new SQLite file)")
	flag.BoolVar(&c.tenantOnly, "tenant-only", false, "run only the large-tenant scenario")
	flag.BoolVar(&c.clientToken, "client-token", false, "also measure hot checks with an API client's token against the admin token, in alternating rounds")
	flag.BoolVar(&c.wire, "wire", false, "run only the wire table (issue 28's first rows: trivial ceilings, Rolegate over HTTP and gRPC with the admin and an API client's token, in alternating rounds) and the batch rows")
	flag.IntVar(&c.wireRounds, "wire-rounds", 3, "-wire: rounds; each target's throughput is the median of its rounds")
	flag.DurationVar(&c.wireRound, "wire-round", 15*time.Second, "-wire: how long each target is loaded in each round")
	flag.IntVar(&c.grpcConns, "grpc-conns", 1, "-wire: gRPC connections the callers share (a gRPC client multiplexes its calls over one)")
	flag.Float64Var(&c.rateLimitCheck, "rate-limit-check", 0, "the server's ROLEGATE_RATE_LIMIT_CHECK (0: unlimited, the default); set it high to measure the limiter's cost")
	flag.Parse()
	if c.tenantOnly && c.tenant.roles == 0 {
		c.tenant.roles = 1000
	}
	var err error
	if !c.tenantOnly {
		err = run(c)
	}
	if err == nil && c.tenant.roles > 0 {
		err = runTenant(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rolegate-bench:", err)
		os.Exit(1)
	}
}

// row is one line of the result table.
type row struct{ name, throughput, p50, p99, note string }

var objects = []string{"payable", "receivable", "receipt", "counterpart", "product", "project", "tag", "todo_task", "workflow", "comment"}
var actions = []string{"create", "read", "update", "delete", "approve", "pay", "cancel", "submit"}

func run(c config) error {
	ctx := auth.Internal(context.Background()) // the bench is Rolegate's own caller
	dir, err := os.MkdirTemp("", "rolegate-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.db == "" {
		c.db = filepath.Join(dir, "bench.db")
	}
	url := "sqlite://" + c.db
	var rows []row

	// Seed through the real store, unless the file already holds the seed.
	store, err := adapters.Open(ctx, url)
	if err != nil {
		return err
	}
	seeded, err := countEntities(ctx, store)
	if err != nil {
		return err
	}
	start := time.Now()
	if seeded < c.entities {
		if err := seed(ctx, store, seeded, c); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "seeded %d entities in %v\n", c.entities-seeded, time.Since(start).Round(time.Millisecond))
	}
	store.Close()
	nRules := c.entities * (c.roles*c.rights + c.users + c.users/2)

	// Start-up: open the store and answer /readyz; no eager load.
	start = time.Now()
	store, err = adapters.Open(ctx, url)
	if err != nil {
		return err
	}
	defer store.Close()
	eng, svc, admin, err := benchService(ctx, store, engine.Config{MaxEntities: c.entities + 10})
	if err != nil {
		return err
	}
	// As cmd/rolegate serves: metrics on, API clients' tokens, one rate
	// limiter for HTTP and gRPC.
	rates := handlers.NewRateLimiter(handlers.RateLimits{Check: c.rateLimitCheck})
	deps := handlers.Deps{Service: svc, Auth: admin, Logger: quiet, Metrics: prometheus.NewRegistry(), Limiter: rates}
	tokens, err := auth.NewTokens(ctx, store, svc, admin, auth.TokenConfig{})
	if err != nil {
		return err
	}
	deps.Auth, deps.Tokens, deps.TokenLimits = tokens, tokens, c.tokenLimits
	base, stop, err := serve(handlers.NewRouter(deps))
	if err != nil {
		return err
	}
	defer stop()
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gsrv := grpcapi.NewServer(grpcapi.Deps{Service: svc, Auth: tokens, Logger: quiet, Limiter: rates})
	go gsrv.Serve(gln)
	defer gsrv.Stop()
	if _, err := call(http.DefaultClient, "GET", base+"/readyz", nil); err != nil {
		return err
	}
	startup := time.Since(start)
	rows = append(rows, row{name: "start-up to ready", p50: dur(startup), note: fmt.Sprintf("%d rules stored", nRules)})

	client := newClient()
	// Cold entities: the first check of entities not yet loaded, one at a time.
	coldN := min(c.entities, 1000)
	cold := make([]time.Duration, 0, coldN)
	for i := 0; i < coldN; i++ {
		t0 := time.Now()
		if _, err := call(client, "POST", base+"/v1/check", checkBody(i, 0, 0, 0)); err != nil {
			return err
		}
		cold = append(cold, time.Since(t0))
	}
	rows = append(rows, row{name: "first check of a cold entity (HTTP)", p50: dur(pct(cold, 50)), p99: dur(pct(cold, 99)), note: fmt.Sprintf("%d entities", coldN)})
	// Warm the rest.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := coldN + w; i < c.entities; i += 4 {
				_, _ = eng.Check(ctx, req(i, 0, 0, 0))
			}
		}(w)
	}
	wg.Wait()
	// Every entity warm: each object type's enforcer built, and the hot
	// questions asked once.
	warmAll(ctx, eng, c)
	rss := rssMiB()
	debug.FreeOSMemory() // collect, and return what is free to the OS
	rows = append(rows, row{name: "memory with every entity warm", p50: fmt.Sprintf("%d MiB RSS", rssMiB()),
		note: fmt.Sprintf("%d entities loaded; live heap %d MiB; %d MiB RSS before returning free memory", eng.Stats().Loaded, heapMiB(), rss)})
	if c.memProfile != "" {
		if err := writeHeapProfile(c.memProfile); err != nil {
			return err
		}
	}
	if c.cpuProfile != "" {
		stopCPU, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return err
		}
		defer stopCPU()
	}

	if c.wire {
		cl, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "bench-wire", Scopes: []string{auth.ScopeCheck}})
		if err != nil {
			return err
		}
		tok, _, err := tokens.Issue(ctx, cl.ID, secret, "")
		if err != nil {
			return err
		}
		wireRows, err := wireBench(ctx, base, gln.Addr().String(), tok, eng, c)
		if err != nil {
			return err
		}
		rows = append(rows, wireRows...)
		rng := rand.New(rand.NewPCG(1, 2))
		batchRows, err := batchBench(client, base, rng, c)
		if err != nil {
			return err
		}
		rows = append(rows, batchRows...)
		return printRows(c, nRules, rows)
	}

	// Engine in process: one goroutine, then all cores. "Hot" questions are
	// the same 64 per entity at every size (4 users x 4 object types x 4
	// actions), as a service asks the same questions again and again;
	// "uniform" questions are drawn from all 3,200 per entity, which no
	// bounded cache holds at 10,000 entities.
	rng := rand.New(rand.NewPCG(1, 2))
	engineP50, p99 := engineLatency(ctx, eng, 200000, func() engine.Request { return hotReq(rng, c) })
	rows = append(rows, row{name: "engine check, hot questions", p50: dur(engineP50), p99: dur(p99), note: "1 goroutine; answers from the decision cache"})
	rate := parallelRate(ctx, eng, c, 2*time.Second, hotReq)
	rows = append(rows, row{name: "engine checks/s, hot questions", throughput: fmt.Sprintf("%.0f/s", rate), note: fmt.Sprintf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))})
	p50, p99 := engineLatency(ctx, eng, 100000, func() engine.Request { return randReq(rng, c) })
	rows = append(rows, row{name: "engine check, uniform questions", p50: dur(p50), p99: dur(p99), note: "1 goroutine; cache hits and misses"})
	uncached, err := engine.New(engine.Config{Model: rolegate.CasbinModel, Loader: store, MaxEntities: c.entities + 10, MaxDecisions: -1})
	if err != nil {
		return err
	}
	warmAll(ctx, uncached, c)
	uncachedP50, p99 := engineLatency(ctx, uncached, 20000, func() engine.Request { return randReq(rng, c) })
	rows = append(rows, row{name: "engine check, no decision cache", p50: dur(uncachedP50), p99: dur(p99), note: "every check runs Casbin on one entity's rules"})

	// Baseline: one SyncedEnforcer holding every entity's rules.
	if !c.skipBaseline {
		p50, n, build, err := syncedBaseline(ctx, store, c)
		if err != nil {
			return err
		}
		rows = append(rows, row{name: "one casbin.SyncedEnforcer, all rules", p50: dur(p50),
			note: fmt.Sprintf("%d checks; built in %v; %.0fx the uncached engine", n, build.Round(time.Millisecond), float64(p50)/float64(uncachedP50))})
	}

	// HTTP: Rolegate against a trivial handler, same load generator.
	trivial, stopTrivial, err := serve(http.HandlerFunc(trivialHandler))
	if err != nil {
		return err
	}
	defer stopTrivial()
	// The three loads take turns in rounds, so that whatever else the machine
	// does falls on all of them alike.
	hotBody := func(rng *rand.Rand) []byte { return body(hotReq(rng, c)) }
	var rgN, trN, unN int
	var rgLat, trLat, unLat []time.Duration
	const rounds = 5
	round := c
	round.duration = c.duration / rounds
	for r := 0; r < rounds; r++ {
		for _, l := range []struct {
			url  string
			body func(*rand.Rand) []byte
			n    *int
			lat  *[]time.Duration
		}{
			{base + "/v1/check", hotBody, &rgN, &rgLat},
			{trivial + "/v1/check", hotBody, &trN, &trLat},
			{base + "/v1/check", func(rng *rand.Rand) []byte { return randBody(rng, c) }, &unN, &unLat},
		} {
			lat, err := load(l.url, round, l.body)
			if err != nil {
				return err
			}
			*l.n += len(lat)
			*l.lat = append(*l.lat, lat...)
		}
	}
	rgRate, trRate, unRate := float64(rgN)/c.duration.Seconds(), float64(trN)/c.duration.Seconds(), float64(unN)/c.duration.Seconds()
	rows = append(rows,
		row{name: fmt.Sprintf("HTTP /v1/check, %d conns, hot", c.conns), throughput: fmt.Sprintf("%.0f/s", rgRate), p50: dur(pct(rgLat, 50)), p99: dur(pct(rgLat, 99)),
			note: fmt.Sprintf("%.0f%% of the trivial handler", 100*rgRate/trRate)},
		row{name: "HTTP trivial net/http handler", throughput: fmt.Sprintf("%.0f/s", trRate), p50: dur(pct(trLat, 50)), p99: dur(pct(trLat, 99)), note: "decodes the check, answers fixed JSON"},
		row{name: fmt.Sprintf("HTTP /v1/check, %d conns, uniform", c.conns), throughput: fmt.Sprintf("%.0f/s", unRate), p50: dur(pct(unLat, 50)), p99: dur(pct(unLat, 99)),
			note: fmt.Sprintf("%.0f%% of the trivial handler", 100*unRate/trRate)})

	if c.tokenJunk > 0 {
		junkRows, err := tokenJunkBench(ctx, base, svc, tokens, c, hotBody)
		if err != nil {
			return err
		}
		rows = append(rows, junkRows...)
	}
	if c.clientToken {
		tokenRows, err := clientTokenBench(ctx, base, svc, tokens, c, hotBody)
		if err != nil {
			return err
		}
		rows = append(rows, tokenRows...)
	}

	batchRows, err := batchBench(client, base, rng, c)
	if err != nil {
		return err
	}
	rows = append(rows, batchRows...)

	// Writes: replace a role of 20 rights, then check that the next check sees it.
	writes, stale, err := writeBench(ctx, client, base, svc, c)
	if err != nil {
		return err
	}
	rows = append(rows, row{name: "HTTP PUT role of 20 rights", p50: dur(pct(writes, 50)), p99: dur(pct(writes, 99)),
		note: fmt.Sprintf("%d writes; %d checks saw an older policy", len(writes), stale)})
	return printRows(c, nRules, rows)
}

// batchBench times batches of 100 checks against one check, on one
// connection, for both question mixes. A batch names at most
// handlers.MaxBatchEntities entities: its checks are drawn from that many
// of them.
func batchBench(client *http.Client, base string, rng *rand.Rand, c config) ([]row, error) {
	var rows []row
	for _, mix := range []struct {
		name string
		next func() engine.Request
	}{
		{"hot", func() engine.Request { return hotReq(rng, c) }},
		{"uniform", func() engine.Request { return randReq(rng, c) }},
	} {
		single, batch := make([]time.Duration, 0, 500), make([]time.Duration, 0, 500)
		for i := 0; i < 500; i++ {
			t0 := time.Now()
			if _, err := call(client, "POST", base+"/v1/check", body(mix.next())); err != nil {
				return nil, err
			}
			single = append(single, time.Since(t0))
			var items []json.RawMessage
			named := map[string]bool{}
			for len(items) < 100 {
				r := mix.next()
				if !named[r.EntityID] && len(named) == handlers.MaxBatchEntities {
					continue
				}
				named[r.EntityID] = true
				items = append(items, body(r))
			}
			body, _ := json.Marshal(map[string]any{"checks": items})
			t0 = time.Now()
			if _, err := call(client, "POST", base+"/v1/check/batch", body); err != nil {
				return nil, err
			}
			batch = append(batch, time.Since(t0))
		}
		rows = append(rows, row{name: "HTTP batch of 100 checks, " + mix.name, p50: dur(pct(batch, 50)), p99: dur(pct(batch, 99)),
			note: fmt.Sprintf("%.1fx one check (%v)", float64(pct(batch, 50))/float64(pct(single, 50)), dur(pct(single, 50)))})
	}
	return rows, nil
}

// printRows prints the result table.
func printRows(c config, nRules int, rows []row) error {
	load := fmt.Sprintf("%d conns x %v", c.conns, c.duration)
	if c.wire {
		load = fmt.Sprintf("%d callers, %d rounds of %v a target", c.conns, c.wireRounds, c.wireRound)
	}
	fmt.Printf("\nRolegate bench: %d entities x (%d roles x %d rights, %d users) = %d rules; SQLite; %s; %s, %d CPUs; load average %s at the end\n\n",
		c.entities, c.roles, c.rights, c.users, nRules, load, runtime.Version(), runtime.NumCPU(), loadAverage())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tthroughput\tp50\tp99\tnote")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, r.throughput, r.p50, r.p99, r.note)
	}
	return tw.Flush()
}

// tokenJunkBench measures hot checks in rounds of three kinds, taking turns:
// quiet; while c.tokenJunk loops, each from its own loopback address, send
// junk to POST /v1/auth/token (ids that cannot exist, unknown well-formed
// ids, a real client's id with wrong secrets); and, as a control, while as
// many loops post the same forms to a path with no route (as much HTTP load
// on the same two cores, no token endpoint). Meanwhile the real client asks
// for a token every 100 ms.
func tokenJunkBench(ctx context.Context, base string, svc *policy.Service, tokens *auth.Tokens, c config, hotBody func(*rand.Rand) []byte) ([]row, error) {
	cl, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "bench", Scopes: []string{auth.ScopeCheck}})
	if err != nil {
		return nil, err
	}
	type mode struct {
		name          string
		lat           []time.Duration
		sent, bcrypts int
		status        map[int]int
		real, realOK  int
	}
	modes := []*mode{{name: "quiet"}, {name: "junk"}, {name: "control"}}
	const rounds = 5
	round := c
	round.duration = c.duration / rounds
	for r := 0; r < rounds; r++ {
		for _, m := range modes {
			if m.status == nil {
				m.status = map[int]int{}
			}
			stopLoops := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			loops := 0
			if m.name != "quiet" {
				loops = c.tokenJunk
			}
			for w := 0; w < loops; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					hc := clientFrom(fmt.Sprintf("127.0.2.%d", w%250+1))
					for i := 0; ; i++ {
						select {
						case <-stopLoops:
							return
						default:
						}
						path := "/v1/auth/token"
						if m.name == "control" {
							path = "/v1/no/such/route"
						}
						id, sec := junkCredentials(w, i, cl.ID)
						st, err := status(hc, "POST", base+path, tokenForm(id, sec))
						if err != nil {
							continue
						}
						mu.Lock()
						m.sent++
						m.status[st]++
						mu.Unlock()
					}
				}(w)
			}
			// The real client, every 100 ms.
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc := newClient()
				for {
					select {
					case <-stopLoops:
						return
					case <-time.After(100 * time.Millisecond):
					}
					st, err := status(hc, "POST", base+"/v1/auth/token", tokenForm(cl.ID, secret))
					mu.Lock()
					m.real++
					if err == nil && st == 200 {
						m.realOK++
					}
					mu.Unlock()
				}
			}()
			before := tokens.SecretChecks()
			lat, err := load(base+"/v1/check", round, hotBody)
			close(stopLoops)
			wg.Wait()
			if err != nil {
				return nil, err
			}
			m.bcrypts += int(tokens.SecretChecks() - before)
			m.lat = append(m.lat, lat...)
		}
	}
	secs := c.duration.Seconds()
	quietP99 := pct(modes[0].lat, 99)
	var rows []row
	for _, m := range modes {
		name := fmt.Sprintf("HTTP /v1/check, %d conns, hot, %s", c.conns, m.name)
		note := fmt.Sprintf("real client: %d of %d token requests answered 200", m.realOK, m.real)
		switch m.name {
		case "junk":
			name = fmt.Sprintf("HTTP /v1/check, %d conns, hot, %d junk token loops", c.conns, c.tokenJunk)
		case "control":
			name = fmt.Sprintf("HTTP /v1/check, %d conns, hot, %d loops posting to no route", c.conns, c.tokenJunk)
		}
		if m.name != "quiet" {
			note = fmt.Sprintf("p99 %.2fx quiet; %.0f req/s from the loops %v; %.1f bcrypt/s; ", float64(pct(m.lat, 99))/float64(quietP99),
				float64(m.sent)/secs, m.status, float64(m.bcrypts)/secs) + note
		}
		rows = append(rows, row{name: name, throughput: fmt.Sprintf("%.0f/s", float64(len(m.lat))/secs),
			p50: dur(pct(m.lat, 50)), p99: dur(pct(m.lat, 99)), note: note})
	}
	return rows, nil
}

// clientFrom is newClient with connections from the loopback address ip.
func clientFrom(ip string) *http.Client {
	hc := newClient()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc.Transport.(*http.Transport).DialContext = d.DialContext
	return hc
}

// junkCredentials are the i-th junk credentials of loop w: an id that
// cannot exist, an unknown well-formed id, or the real id with a wrong secret.
func junkCredentials(w, i int, realID string) (string, string) {
	switch (w + i) % 3 {
	case 0:
		return fmt.Sprintf("junk-%d-%d", w, i), "rgs_junk"
	case 1:
		return uuid.NewString(), "rgs_junk"
	}
	return realID, fmt.Sprintf("rgs_wrong_%d_%d", w, i)
}

func tokenForm(id, secret string) string {
	return "grant_type=client_credentials&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret)
}

// status sends a request (a form body when body is set) and returns the status.
func status(client *http.Client, method, u, body string) (int, error) {
	r, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := client.Do(r)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func entityID(i int) string { return "bench-" + strconv.Itoa(i) }
func userID(u int) string   { return "user-" + strconv.Itoa(u) }

// rights gives role r its rights: mostly allowed, some for own, some denied.
func rights(r, n int) rolegate.Permissions {
	byObj := map[string][]rolegate.ActionPermission{}
	var order []string
	for k := 0; k < n; k++ {
		idx := r*7 + k
		obj := objects[idx%len(objects)]
		act := actions[(idx/len(objects)+k)%len(actions)]
		dup := false
		for _, a := range byObj[obj] {
			if a.ActionName == act {
				dup = true
			}
		}
		if dup {
			act = fmt.Sprintf("custom_%d", k)
		}
		perm := rolegate.Allowed
		switch k % 7 {
		case 3:
			perm = rolegate.AllowedForOwn
		case 6:
			perm = rolegate.Denied
		}
		if _, ok := byObj[obj]; !ok {
			order = append(order, obj)
		}
		byObj[obj] = append(byObj[obj], rolegate.ActionPermission{ActionName: act, Permission: perm})
	}
	var p rolegate.Permissions
	for _, o := range order {
		p.Objects = append(p.Objects, rolegate.ObjectPermissions{ObjectType: o, Actions: byObj[o]})
	}
	return p
}

// seed stores entities [from, c.entities) with their roles, users and rules.
func seed(ctx context.Context, store *adapters.Store, from int, c config) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	const perTx = 20
	for i := from; i < c.entities; i += perTx {
		err := store.Update(ctx, func(tx policy.Tx) error {
			for e := i; e < min(i+perTx, c.entities); e++ {
				ent := entityID(e)
				if err := tx.InsertEntity(&rolegate.Entity{ID: ent, Revision: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
				var rules []rolegate.Rule
				roleIDs := make([]string, c.roles)
				for r := 0; r < c.roles; r++ {
					role := rolegate.Role{ID: uuid.NewString(), EntityID: ent, Name: "role " + strconv.Itoa(r), Permissions: rights(r, c.rights),
						RoleType: rolegate.RoleCustom, Scope: rolegate.ScopeAccount, Status: rolegate.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now, Default: r == 0}
					if err := tx.InsertRole(&role); err != nil {
						return err
					}
					roleIDs[r] = role.ID
					rules = append(rules, engine.Compile(role)...)
				}
				for u := 0; u < c.users; u++ {
					if err := tx.InsertUser(&rolegate.User{ID: userID(u), EntityID: ent, CreatedAt: now, UpdatedAt: now}); err != nil {
						return err
					}
					held := []string{roleIDs[u%c.roles]}
					if u%2 == 0 {
						held = append(held, roleIDs[(u+1)%c.roles])
					}
					for _, rid := range held {
						a := rolegate.Assignment{EntityID: ent, UserID: userID(u), RoleID: rid, CreatedAt: now}
						if err := tx.PutAssignment(&a); err != nil {
							return err
						}
						rules = append(rules, engine.CompileAssignment(a))
					}
				}
				if err := tx.AddRules(rules); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if (i/perTx)%50 == 0 {
			fmt.Fprintf(os.Stderr, "\rseeding: %d/%d entities", i, c.entities)
		}
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

func countEntities(ctx context.Context, store *adapters.Store) (int, error) {
	n := 0
	err := store.View(ctx, func(tx policy.Tx) error {
		after := ""
		for {
			es, err := tx.ListEntities(after, 1000)
			if err != nil {
				return err
			}
			n += len(es)
			if len(es) < 1000 {
				return nil
			}
			after = es[len(es)-1].ID
		}
	})
	return n, err
}

func req(e, u, o, a int) engine.Request {
	return engine.Request{EntityID: entityID(e), UserID: userID(u), ObjectType: objects[o%len(objects)], Action: actions[a%len(actions)]}
}

func randReq(rng *rand.Rand, c config) engine.Request {
	r := req(rng.IntN(c.entities), rng.IntN(c.users), rng.IntN(len(objects)), rng.IntN(len(actions)))
	if rng.IntN(2) == 0 {
		r.OwnerID = r.UserID
	}
	return r
}

func checkBody(e, u, o, a int) []byte {
	r := req(e, u, o, a)
	b, _ := json.Marshal(map[string]any{"entity_id": r.EntityID, "user_id": r.UserID, "object_type": r.ObjectType, "action": r.Action})
	return b
}

func randBody(rng *rand.Rand, c config) []byte { return body(randReq(rng, c)) }

func body(r engine.Request) []byte {
	b, _ := json.Marshal(map[string]any{"entity_id": r.EntityID, "user_id": r.UserID, "object_type": r.ObjectType, "action": r.Action, "owner_id": r.OwnerID})
	return b
}

// hotReq draws one of the 64 hot questions of a random entity.
func hotReq(rng *rand.Rand, c config) engine.Request {
	k := rng.IntN(64)
	return req(rng.IntN(c.entities), k%4, (k/4)%4, k/16)
}

// warmAll builds every entity's enforcers (one per object type) and asks
// each hot question once.
func warmAll(ctx context.Context, e *engine.Engine, c config) {
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < c.entities; i += 2 {
				for o := range objects {
					_, _ = e.Check(ctx, req(i, 0, o, 0))
				}
				for k := 0; k < 64; k++ {
					_, _ = e.Check(ctx, req(i, k%4, (k/4)%4, k/16))
				}
			}
		}(w)
	}
	wg.Wait()
}

// engineLatency times n checks from one goroutine.
func engineLatency(ctx context.Context, e *engine.Engine, n int, next func() engine.Request) (p50, p99 time.Duration) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		r := next()
		t0 := time.Now()
		_, _ = e.Check(ctx, r)
		lat = append(lat, time.Since(t0))
	}
	return pct(lat, 50), pct(lat, 99)
}

func parallelRate(ctx context.Context, e *engine.Engine, c config, d time.Duration, next func(*rand.Rand, config) engine.Request) float64 {
	var wg sync.WaitGroup
	counts := make([]int, runtime.GOMAXPROCS(0))
	deadline := time.Now().Add(d)
	for w := range counts {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				for k := 0; k < 256; k++ {
					_, _ = e.Check(ctx, next(rng, c))
				}
				counts[w] += 256
			}
		}(w)
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	return float64(total) / d.Seconds()
}

// syncedBaseline loads every entity's rules into one SyncedEnforcer and times
// checks on it until the time budget is spent.
func syncedBaseline(ctx context.Context, store *adapters.Store, c config) (time.Duration, int, time.Duration, error) {
	t0 := time.Now()
	// The same model with Casbin's own g() resolving roles, as a service
	// holding every entity in one enforcer would write it; the bench's rights
	// carry no conditions, so cond() is the test of own alone.
	text := strings.Replace(strings.Replace(rolegate.CasbinModel, "holds(r.sub, p.sub) || holds(r.ssub, p.sub)", "g(r.sub, p.sub, r.dom) || g(r.ssub, p.sub, r.dom)", 1), "cond(p.cond, p.eft)", "r.owner == r.sub", -1)
	if text == rolegate.CasbinModel {
		return 0, 0, 0, fmt.Errorf("baseline: model.conf's matcher changed; update the baseline")
	}
	m, err := model.NewModelFromString(text)
	if err != nil {
		return 0, 0, 0, err
	}
	var ps, gs [][]string
	for e := 0; e < c.entities; e++ {
		pol, err := store.LoadPolicy(ctx, entityID(e))
		if err != nil {
			return 0, 0, 0, err
		}
		for _, r := range pol.Rules {
			if r.PType == "p" {
				ps = append(ps, r.Values)
			} else {
				gs = append(gs, r.Values)
			}
		}
	}
	if err := m.AddPolicies("p", "p", ps); err != nil {
		return 0, 0, 0, err
	}
	if err := m.AddPolicies("g", "g", gs); err != nil {
		return 0, 0, 0, err
	}
	se, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := se.BuildRoleLinks(); err != nil {
		return 0, 0, 0, err
	}
	build := time.Since(t0)
	rng := rand.New(rand.NewPCG(3, 4))
	var lat []time.Duration
	deadline := time.Now().Add(c.baselineTime)
	for len(lat) < 20000 && (len(lat) < 5 || time.Now().Before(deadline)) {
		r := randReq(rng, c)
		owner := ""
		if r.OwnerID != "" {
			owner = engine.UserSubject(r.OwnerID)
		}
		t := time.Now()
		if _, err := se.Enforce(engine.UserSubject(r.UserID), "", r.EntityID, r.ObjectType, r.Action, owner); err != nil {
			return 0, 0, 0, err
		}
		lat = append(lat, time.Since(t))
	}
	return pct(lat, 50), len(lat), build, nil
}

func trivialHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		EntityID   string `json:"entity_id"`
		UserID     string `json:"user_id"`
		ObjectType string `json:"object_type"`
		Action     string `json:"action"`
		OwnerID    string `json:"owner_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"allowed": req.UserID != "", "permission": "allowed", "revision": 1})
}

// load drives url with POSTs from c.conns keep-alive connections for c.duration,
// with the bench's admin token.
func load(url string, c config, body func(*rand.Rand) []byte) ([]time.Duration, error) {
	return loadAs(url, "bench-token", c, body)
}

// loadAs is load with a bearer token of the caller's choice.
func loadAs(url, token string, c config, body func(*rand.Rand) []byte) ([]time.Duration, error) {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, c.conns)
	errs := make([]error, c.conns)
	deadline := time.Now().Add(c.duration)
	for w := 0; w < c.conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := newClient()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for time.Now().Before(deadline) {
				b := body(rng)
				t0 := time.Now()
				if _, err := callAs(client, token, "POST", url, b); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	var all []time.Duration
	for w := range lats {
		if errs[w] != nil {
			return nil, errs[w]
		}
		all = append(all, lats[w]...)
	}
	return all, nil
}

func writeBench(ctx context.Context, client *http.Client, base string, svc *policy.Service, c config) ([]time.Duration, int, error) {
	ent := entityID(0)
	roles, err := svc.ListRoles(ctx, ent, policy.RoleFilter{Name: "role 1"}, policy.Page{Limit: 1})
	if err != nil || len(roles) == 0 {
		return nil, 0, fmt.Errorf("role to update: %v", err)
	}
	role := roles[0]
	var lat []time.Duration
	stale := 0
	for i := 0; i < 100; i++ {
		perms := rights(1, c.rights)
		// Flip the first right between allowed and denied.
		want := rolegate.Allowed
		if i%2 == 0 {
			want = rolegate.Denied
		}
		perms.Objects[0].Actions[0].Permission = want
		body, _ := json.Marshal(map[string]any{"name": role.Name, "permissions": policy.DocOf(perms)})
		t0 := time.Now()
		if _, err := call(client, "PUT", base+"/v1/entities/"+ent+"/roles/"+role.ID, body); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t0))
		// user-1 holds role 1 (user u holds role u%roles).
		chk, _ := json.Marshal(map[string]any{"entity_id": ent, "user_id": userID(1), "object_type": perms.Objects[0].ObjectType, "action": perms.Objects[0].Actions[0].ActionName})
		out, err := call(client, "POST", base+"/v1/check", chk)
		if err != nil {
			return nil, 0, err
		}
		var d struct{ Allowed bool }
		_ = json.Unmarshal(out, &d)
		if d.Allowed != (want == rolegate.Allowed) {
			stale++
		}
	}
	return lat, stale, nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}}
}

func call(client *http.Client, method, url string, body []byte) ([]byte, error) {
	return callAs(client, "bench-token", method, url, body)
}

// callAs is call with a bearer token of the caller's choice.
func callAs(client *http.Client, token, method, url string, body []byte) ([]byte, error) {
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	res, err := client.Do(r)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func dur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fµs", float64(d.Nanoseconds())/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d.Nanoseconds())/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func rssMiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb / 1024
		}
	}
	return -1
}

func heapMiB() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc >> 20
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

// startCPUProfile profiles until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// quiet is the logger of the servers the bench runs: their logs would only
// slow them down.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// benchService wires a store into the engine (cfg with the model and loader
// set), the service and the bootstrap admin token "bench-token", as
// cmd/rolegate does, for both scenarios.
func benchService(ctx context.Context, store *adapters.Store, cfg engine.Config) (*engine.Engine, *policy.Service, *auth.Authenticator, error) {
	cfg.Model, cfg.Loader = rolegate.CasbinModel, store
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	svc := policy.NewService(policy.Config{Store: store, Engine: eng, Logger: quiet})
	admin, _, err := auth.BootstrapAdmin(ctx, store, "bench-token")
	if err != nil {
		return nil, nil, nil, err
	}
	return eng, svc, admin, nil
}
