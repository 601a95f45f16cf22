package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/policy"
)

// clientTokenBench measures hot checks sent with an API client's token (what
// a real service sends) against the same checks with the admin token, in
// alternating rounds through the same load generator (-client-token).
func clientTokenBench(ctx context.Context, base string, svc *policy.Service, tokens *auth.Tokens, c config, hotBody func(*rand.Rand) []byte) ([]row, error) {
	cl, secret, err := svc.CreateClient(ctx, auth.ClientInput{Name: "bench-checker", Scopes: []string{auth.ScopeCheck}})
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
