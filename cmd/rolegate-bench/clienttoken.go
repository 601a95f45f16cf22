package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/rolegate/rolegate/policy"
)

// clientTokenBench measures hot checks sent with an API client's token (what
// a real service sends) against the same checks with the admin token, in
// alternating rounds through the same load generator (-client-token).
func clientTokenBench(ctx context.Context, base string, svc *policy.Service, tokens *policy.Tokens, c config, hotBody func(*rand.Rand) []byte) ([]row, error) {
	cl, secret, err := svc.CreateClient(ctx, policy.ClientInput{Name: "bench-checker", Scopes: []string{policy.ScopeCheck}})
	if err != nil {
		return nil, err
	}
	tok, _, err := tokens.Issue(ctx, cl.ID, secret, "")
	if err != nil {
		return nil, err
	}
	modes := []struct {
		name, token string
		lat         []time.Duration
		sigs        uint64
	}{{name: "admin token", token: "bench-token"}, {name: "API client's token", token: tok}}
	const rounds = 5
	round := c
	round.duration = c.duration / rounds
	for r := 0; r < rounds; r++ {
		for i := range modes {
			m := &modes[i]
			before := tokens.SignatureChecks()
			lat, err := loadAs(base+"/v1/check", m.token, round, hotBody)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.name, err)
			}
			m.lat = append(m.lat, lat...)
			m.sigs += tokens.SignatureChecks() - before
		}
	}
	adminRate := float64(len(modes[0].lat)) / c.duration.Seconds()
	var rows []row
	for _, m := range modes {
		rate := float64(len(m.lat)) / c.duration.Seconds()
		rows = append(rows, row{name: fmt.Sprintf("HTTP /v1/check, %d conns, hot, %s", c.conns, m.name), throughput: fmt.Sprintf("%.0f/s", rate),
			p50: dur(pct(m.lat, 50)), p99: dur(pct(m.lat, 99)),
			note: fmt.Sprintf("%.2f of the admin token; %d signatures verified for %d checks", rate/adminRate, m.sigs, len(m.lat))})
	}
	return rows, nil
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
			rng := rand.New(rand.NewPCG(uint64(w), 13))
			for time.Now().Before(deadline) {
				r, _ := http.NewRequest("POST", url, bytes.NewReader(body(rng)))
				r.Header.Set("Authorization", "Bearer "+token)
				r.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := client.Do(r)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("POST %s: %d", url, res.StatusCode)
					}
				}
				if err != nil {
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
