package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/engine"
)

// The wire table (-wire): the first rows of issue 28's table in one run.
// Hot checks through the same load generator (c.conns callers) against a
// trivial HTTP handler and a trivial gRPC server (the ceilings), and against
// Rolegate over HTTP and over gRPC with the admin token and with an API
// client's token, taking turns in rounds so that whatever else the machine
// does falls on all of them alike. Then each Rolegate target answers 2,000
// questions, compared with the engine's own answers.

// wireTarget is one row: how to send one check, and what it measured.
type wireTarget struct {
	name     string
	rolegate bool // answers are Rolegate's (verified), not a fixed answer
	// newCaller returns one caller's function sending one check, and
	// what to close after.
	newCaller func() (send func(engine.Request) (wireAnswer, error), done func(), err error)

	rates []float64
	lat   []time.Duration
	cpu   time.Duration
	n     int
}

type wireAnswer struct {
	allowed    bool
	permission string
}

// wireBench runs the wire table's rounds against base (Rolegate over HTTP),
// grpcAddr (Rolegate over gRPC) and the two trivial servers it starts.
func wireBench(ctx context.Context, base, grpcAddr, clientTok string, eng *engine.Engine, c config) ([]row, error) {
	trivial, stopTrivial, err := serve(http.HandlerFunc(trivialHandler))
	if err != nil {
		return nil, err
	}
	defer stopTrivial()
	trivialGRPC, stopTrivialGRPC, err := serveTrivialGRPC()
	if err != nil {
		return nil, err
	}
	defer stopTrivialGRPC()

	// One HTTP/2 connection per -grpc-conns share of the callers: a gRPC
	// client multiplexes its calls.
	grpcConns := func(addr string) (func() (rolegatev1.CheckServiceClient, func(), error), func(), error) {
		conns := make([]*grpc.ClientConn, max(1, c.grpcConns))
		for i := range conns {
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return nil, nil, err
			}
			conns[i] = cc
		}
		var mu sync.Mutex
		next := 0
		get := func() (rolegatev1.CheckServiceClient, func(), error) {
			mu.Lock()
			defer mu.Unlock()
			next++
			return rolegatev1.NewCheckServiceClient(conns[next%len(conns)]), func() {}, nil
		}
		return get, func() {
			for _, cc := range conns {
				cc.Close()
			}
		}, nil
	}
	httpTarget := func(name, url, token string, rg bool, resource map[string]any) *wireTarget {
		// The resource's text is made once and spliced into each body, so
		// that the load generator (which shares the cores) spends on it no
		// more than a real caller with its attributes at hand would.
		var extra []byte
		if resource != nil {
			b, _ := json.Marshal(resource)
			extra = append([]byte(`,"resource":`), b...)
		}
		return &wireTarget{name: name, rolegate: rg, newCaller: func() (func(engine.Request) (wireAnswer, error), func(), error) {
			client := newClient()
			return func(r engine.Request) (wireAnswer, error) {
				b := body(r)
				if extra != nil {
					b = append(append(b[:len(b)-1:len(b)-1], extra...), '}')
				}
				out, err := callAs(client, token, "POST", url, b)
				if err != nil {
					return wireAnswer{}, err
				}
				var d struct {
					Allowed    bool   `json:"allowed"`
					Permission string `json:"permission"`
				}
				if err := json.Unmarshal(out, &d); err != nil {
					return wireAnswer{}, err
				}
				return wireAnswer{d.Allowed, d.Permission}, nil
			}, client.CloseIdleConnections, nil
		}}
	}
	var closers []func()
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	grpcTarget := func(name, addr, token string, rg bool) (*wireTarget, error) {
		get, closeAll, err := grpcConns(addr)
		if err != nil {
			return nil, err
		}
		closers = append(closers, closeAll)
		return &wireTarget{name: name, rolegate: rg, newCaller: func() (func(engine.Request) (wireAnswer, error), func(), error) {
			cl, done, err := get()
			if err != nil {
				return nil, nil, err
			}
			octx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
			return func(r engine.Request) (wireAnswer, error) {
				out, err := cl.Check(octx, &rolegatev1.CheckRequest{EntityId: r.EntityID, UserId: r.UserID, ObjectType: r.ObjectType, Action: r.Action, OwnerId: r.OwnerID})
				if err != nil {
					return wireAnswer{}, err
				}
				return wireAnswer{out.GetAllowed(), out.GetPermission()}, nil
			}, done, nil
		}}, nil
	}
	targets := []*wireTarget{
		httpTarget("HTTP trivial net/http handler (ceiling)", trivial+"/v1/check", "bench-token", false, nil),
		httpTarget("HTTP Rolegate, admin token", base+"/v1/check", "bench-token", true, nil),
		httpTarget("HTTP Rolegate, API client's token", base+"/v1/check", clientTok, true, nil),
		// The same questions with an object's attributes (which their
		// rights do not read): what a resource costs a check on the wire.
		httpTarget("HTTP Rolegate, admin token, with a resource", base+"/v1/check", "bench-token", true,
			map[string]any{"amount": 1200, "currency": "EUR", "cost_center": "4711"}),
	}
	for _, g := range []struct {
		name, addr, token string
		rg                bool
	}{
		{"gRPC trivial server (ceiling)", trivialGRPC, "bench-token", false},
		{"gRPC Rolegate, admin token", grpcAddr, "bench-token", true},
		{"gRPC Rolegate, API client's token", grpcAddr, clientTok, true},
	} {
		t, err := grpcTarget(g.name, g.addr, g.token, g.rg)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}

	if c.wireOnly != "" {
		var kept []*wireTarget
		for _, t := range targets {
			if strings.Contains(t.name, c.wireOnly) {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	for r := 0; r < c.wireRounds; r++ {
		for _, t := range targets {
			cpu0 := cpuTime()
			lat, err := loadWith(t, c.conns, c.wireRound, func(rng *rand.Rand) engine.Request { return hotReq(rng, c) })
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			t.cpu += cpuTime() - cpu0
			t.n += len(lat)
			t.rates = append(t.rates, float64(len(lat))/c.wireRound.Seconds())
			t.lat = append(t.lat, lat...)
		}
	}

	// 2,000 answers of each Rolegate target against the engine's.
	rng := rand.New(rand.NewPCG(5, 6))
	questions := make([]engine.Request, 2000)
	for i := range questions {
		questions[i] = randReq(rng, c)
	}
	mismatches := map[*wireTarget]int{}
	for _, t := range targets {
		if !t.rolegate {
			continue
		}
		send, done, err := t.newCaller()
		if err != nil {
			return nil, err
		}
		for _, q := range questions {
			got, err := send(q)
			if err != nil {
				done()
				return nil, fmt.Errorf("%s: verify: %w", t.name, err)
			}
			want, err := eng.Check(ctx, q)
			if err != nil {
				done()
				return nil, err
			}
			if got.allowed != want.Allowed || got.permission != string(want.Permission) {
				mismatches[t]++
			}
		}
		done()
	}

	var rows []row
	var ceiling *wireTarget
	for _, t := range targets {
		if !t.rolegate {
			ceiling = t // the HTTP rows compare with the trivial handler, the gRPC rows with the trivial server
		}
		rate := median(t.rates)
		note := fmt.Sprintf("median of %d rounds of %v; %.0f µs of CPU a check (server and load generator)", len(t.rates), c.wireRound, float64(t.cpu.Microseconds())/float64(max(1, t.n)))
		if ceiling != nil && t != ceiling {
			note += fmt.Sprintf("; %.2f of the ceiling, p99 %.2fx its p99", rate/median(ceiling.rates), float64(pct(t.lat, 99))/float64(pct(ceiling.lat, 99)))
		}
		if t.rolegate {
			note += fmt.Sprintf("; %d of %d answers differ from the engine's", mismatches[t], len(questions))
		}
		rows = append(rows, row{name: t.name, throughput: fmt.Sprintf("%.0f/s", rate), p50: dur(pct(t.lat, 50)), p99: dur(pct(t.lat, 99)), note: note})
	}
	return rows, nil
}

// loadWith drives t from conns callers for d, each sending the next
// question as soon as the last is answered.
func loadWith(t *wireTarget, conns int, d time.Duration, next func(*rand.Rand) engine.Request) ([]time.Duration, error) {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conns)
	errs := make([]error, conns)
	deadline := time.Now().Add(d)
	for w := 0; w < conns; w++ {
		send, done, err := t.newCaller()
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for time.Now().Before(deadline) {
				q := next(rng)
				t0 := time.Now()
				if _, err := send(q); err != nil {
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

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// trivialGRPC answers every check with a fixed answer: the gRPC ceiling.
type trivialGRPC struct {
	rolegatev1.UnimplementedCheckServiceServer
}

func (trivialGRPC) Check(_ context.Context, r *rolegatev1.CheckRequest) (*rolegatev1.CheckResponse, error) {
	return &rolegatev1.CheckResponse{Allowed: r.GetUserId() != "", Permission: "allowed", Revision: 1}, nil
}

func serveTrivialGRPC() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer()
	rolegatev1.RegisterCheckServiceServer(s, trivialGRPC{})
	go s.Serve(ln)
	return ln.Addr().String(), s.Stop, nil
}
